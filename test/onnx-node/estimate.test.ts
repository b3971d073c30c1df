import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onnxNode } from '../../src/backends/onnx-node/index.js';
import { BackendError, CancelledError } from '../../src/core/index.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { identityModel } from './models.js';

test('estimateBytes gives an onnx model\'s size: its bytes\' length, or its file\'s size on disk (with no external data); undefined for a path that is no regular file; a BackendError naming a file it cannot read', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'servable-estimate-'));
  const backend = onnxNode();
  const file = path.join(dir, 'm.onnx');
  const model = identityModel(['FP32']);
  await writeFile(file, model);
  await mkdir(path.join(dir, 'folder.onnx'));
  assert.equal(await backend.estimateBytes(new Uint8Array(77)), 77);
  assert.equal(await backend.estimateBytes(file), model.byteLength);
  assert.equal(await backend.estimateBytes(path.join(dir, 'folder.onnx')), undefined);
  const missing = path.join(dir, 'missing.onnx');
  await assert.rejects(backend.estimateBytes(missing), (e: Error) => e instanceof BackendError && e.message.startsWith(`Cannot read the model file ${missing}: ENOENT`));
  await assert.rejects(backend.estimateBytes('model.json'), (e: Error) => e instanceof TypeError && e.message === 'Expected a path to an .onnx file or the model\'s bytes (Uint8Array), got "model.json" (string)');
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(backend.estimateBytes(file, { signal: controller.signal }), (e: Error) => e instanceof CancelledError);
  // Bytes are measured without reading anything, but an aborted signal is refused all the same.
  await assert.rejects(backend.estimateBytes(new Uint8Array(77), { signal: controller.signal }), (e: Error) => e instanceof CancelledError);
  // Aborted while it reads a file it then cannot: the abort, not the read's error.
  const later = new AbortController();
  const reading = backend.estimateBytes(path.join(dir, 'missing.onnx'), { signal: later.signal });
  later.abort();
  await assert.rejects(reading, (e: Error) => e instanceof CancelledError);
  await rm(dir, { recursive: true, force: true });
});

test('a registry with maxLoadedBytes takes an onnx-node model by its path with no sizeBytes, and a missing file fails its load with the file\'s error, not a request for sizeBytes', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'servable-estimate-'));
  const registry = new ModelRegistry({ backends: [onnxNode()], maxLoadedBytes: 1e9 });
  const failures: string[] = [];
  registry.on('failure', (e) => failures.push(e.error.message));
  const missing = path.join(dir, 'missing.onnx');
  registry.register({ name: 'm', source: missing });
  await assert.rejects(registry.load({ name: 'm', source: missing }), (e: Error) => e instanceof BackendError && e.message.startsWith(`Cannot read the model file ${missing}: ENOENT`));
  assert.equal(failures.length, 1);
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});
