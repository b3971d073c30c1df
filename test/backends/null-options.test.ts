import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBackend } from 'servable/testing';
import { resolveOptions as onnxNodeOptions } from '../../src/backends/onnx-node/options.js';
import { resolveOptions as onnxWebOptions } from '../../src/backends/onnx-web/options.js';
import { nullsTaken } from '../fixtures/null-options.js';

const ONNX_NODE = ['devices', 'instances', 'intraOpNumThreads', 'interOpNumThreads', 'intraOpSpinning', 'graphOptimizationLevel', 'strict', 'transferFeeds', 'spinWaitMs', 'workerNice', 'pipelineDepth', 'runTimeoutMs'];
const ONNX_WEB = ['devices', 'strict', 'numThreads', 'wasmPaths', 'graphOptimizationLevel', 'runtime'];

test('the backends refuse null for every option, naming it and quoting null, where before those read with ?? took it as their default', async () => {
  assert.deepEqual(await nullsTaken(['clock', 'concurrency'], (key) => memoryBackend({ [key]: null } as never)), [], 'memoryBackend');
  assert.deepEqual(await nullsTaken(ONNX_NODE, (key) => onnxNodeOptions({ [key]: null } as never, 8)), [], 'onnxNode');
  assert.deepEqual(await nullsTaken(ONNX_WEB, (key) => onnxWebOptions({ [key]: null } as never)), [], 'onnxWeb');
});
