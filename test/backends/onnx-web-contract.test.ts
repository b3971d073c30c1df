import { test } from 'node:test';
import { backendContract } from 'servable/testing';
import { onnxWeb } from 'servable/onnx-web';
import { linearModel } from '../fixtures/onnx-models.js';
import { B, expected, feeds, W } from './linear-case.js';

const model = linearModel(W, B);

backendContract(test, () => ({ backend: onnxWeb({ devices: ['wasm'] }), source: model }), { name: 'onnx-web wasm', feeds, expected, device: 'wasm' });
