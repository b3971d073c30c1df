/**
 * The backend contract on onnx-node's webgpu device; run by onnx-node-contract.test.ts in a child
 * process whose environment points Dawn at SwiftShader's Vulkan driver.
 */
import { test } from 'node:test';
import { onnxNode } from 'servable/onnx-node';
import { backendContract } from 'servable/testing';
import { linearModel } from '../fixtures/onnx-models.js';
import { B, expected, feeds, W } from './linear-case.js';

const model = linearModel(W, B);

backendContract(test, () => ({ backend: onnxNode({ devices: ['webgpu'], instances: 1, strict: true }), source: model }), {
  name: 'onnx-node webgpu',
  feeds,
  expected,
  tolerance: 1e-4,
  device: 'webgpu',
});
