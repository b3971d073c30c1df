import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { onnxNode } from 'servable/onnx-node';
import { backendContract } from 'servable/testing';
import { linearModel } from '../fixtures/onnx-models.js';
import { B, expected, feeds, W } from './linear-case.js';

const model = linearModel(W, B);
const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

backendContract(test, () => ({ backend: onnxNode({ devices: ['cpu'], instances: 1 }), source: model }), { name: 'onnx-node cpu', feeds, expected, device: 'cpu' });
backendContract(test, () => ({ backend: onnxNode({ devices: ['cpu'], instances: 2 }), source: model }), { name: 'onnx-node cpu x2', feeds, expected, device: 'cpu' });
backendContract(test, () => ({ backend: onnxNode({ devices: ['cpu'], instances: 2, pipelineDepth: 2 }), source: model }), { name: 'onnx-node cpu x2, pipelined', feeds, expected, device: 'cpu' });

// Dawn reads VK_ICD_FILENAMES and dlopens libvulkan.so.1 (shipped in /usr/lib/chromium) when the
// process starts, so the webgpu contract runs in a child process started with that environment.
test('onnx-node webgpu (SwiftShader): the whole contract holds', { skip: !existsSync(ICD) && `no SwiftShader Vulkan driver at ${ICD}` }, async () => {
  // Without NODE_TEST_CONTEXT the child's runner prints its own TAP report instead of feeding ours.
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  const env = {
    ...inherited,
    VK_ICD_FILENAMES: ICD,
    LD_LIBRARY_PATH: ['/usr/lib/chromium', process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':'),
  };
  const child = path.join(import.meta.dirname, 'onnx-node-webgpu-contract.ts');
  const args = ['--conditions=servable-source', '--import', 'tsx', '--test', '--test-reporter=tap', child];
  const { stdout } = await promisify(execFile)(process.execPath, args, { env }).catch((error: { stdout?: string }) => {
    throw new Error(`The webgpu contract failed:\n${error.stdout ?? String(error)}`);
  });
  assert.match(stdout, /^# pass 7$/m, stdout);
  assert.match(stdout, /^# fail 0$/m, stdout);
});
