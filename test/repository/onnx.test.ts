import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InferenceService, ModelRegistry, memoryBackend, type Tensor } from 'servable';
import { ModelRepository } from 'servable/repository';
import { linearModel, linearReference } from '../fixtures/onnx-models.js';
import { encode, externalTensor, floats, linearGraph } from '../onnx-node/external-models.js';
import { tempRoot, writeConfig } from './fixtures.js';

const W = [[1, 2], [3, 4]];

/** Publishes a version the safe way: written in a hidden directory, then renamed into place. */
async function publish(root: string, version: string, B: number[]): Promise<void> {
  const staging = path.join(root, 'linear', `.${version}.tmp`);
  await mkdir(staging, { recursive: true });
  await writeFile(path.join(staging, 'model.onnx'), linearModel(W, B));
  await rename(staging, path.join(root, 'linear', version));
}

test('an ONNX repository in poll mode: the default onnx-node backend with the config\'s options, and a new version swapped in', async () => {
  const { root, remove } = await tempRoot();
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 60_000 });
  const failures: string[] = [];
  repository.on('failure', (f) => failures.push(f.error.message));
  try {
    await writeConfig(root, 'linear', {
      backend: { name: 'onnx-node', devices: ['cpu'], instances: 1 },
      batching: { maxBatchSize: 8, maxQueueDelayMs: 1 },
    });
    await publish(root, '1', [10, 20]);
    await repository.start();
    const service = new InferenceService({ registry });
    const ask = async (row: number[]) => {
      const response = await service.infer('linear', { inputs: { X: { datatype: 'FP32', shape: [1, 2], data: new Float32Array(row) } as Tensor } });
      return Array.from(response.outputs.Y!.data as Float32Array);
    };
    assert.deepEqual(await ask([1, 1]), linearReference(W, [10, 20], [1, 1]));
    const meta = registry.get('linear').metadata();
    assert.deepEqual([meta.backend, meta.device, meta.maxBatchSize, meta.sizeBytes > 0], ['onnx-node', 'cpu', 8, true]);

    await publish(root, '2', [100, 200]);
    await repository.poll(); // first sight
    assert.deepEqual(await ask([1, 1]), [14, 26]);
    await repository.poll(); // unchanged since: loaded, then version 1 unloaded
    assert.deepEqual(await ask([2, 3]), linearReference(W, [100, 200], [2, 3]));
    assert.deepEqual(registry.versions('linear'), [{ version: '2', state: 'ready' }]);
    assert.deepEqual(await repository.index(), [{ name: 'linear', version: '1', state: 'UNAVAILABLE', reason: 'not loaded' }, { name: 'linear', version: '2', state: 'READY' }].sort((a, b) => a.version.localeCompare(b.version)));

    await writeConfig(root, 'linear', { backend: { name: 'onnx-node', devices: ['tpu'] } });
    await repository.poll();
    assert.match(failures.at(-1)!, /linear\/config.json: Expected `backend.devices\[0\]` to be/);
    assert.deepEqual(await ask([1, 1]), [104, 206], 'the old version keeps serving');
    assert.deepEqual(failures.length, 1);
  } finally {
    await repository.close();
    await registry.close();
    await remove();
  }
});

/** Writes `<root>/<name>/1/`: Y = X·W + B, X [batch, 256], W [256, 16] in weights.bin beside a few-hundred-byte model.onnx; resolves the .onnx size and the true one. */
async function publishExternal(root: string, name: string): Promise<{ onnxBytes: number; trueBytes: number }> {
  const [k, m] = [256, 16];
  const dir = path.join(root, name, '1');
  await mkdir(dir, { recursive: true });
  const weights = floats(Array.from({ length: k * m + m }, (_, i) => i % 7));
  const model = encode(linearGraph(k, m, externalTensor('W', [k, m], { location: 'weights.bin', offset: 0, length: k * m * 4 }), externalTensor('B', [m], { location: 'weights.bin', offset: k * m * 4, length: m * 4 })));
  await writeFile(path.join(dir, 'weights.bin'), weights);
  await writeFile(path.join(dir, 'model.onnx'), model);
  await writeConfig(root, name, { backend: { name: 'onnx-node', devices: ['cpu'], instances: 1 } });
  return { onnxBytes: model.byteLength, trueBytes: model.byteLength + weights.byteLength };
}

test("a repository's model with external data counts its true size under maxLoadedBytes (the backend's estimate), and its model file's size without the bound", async (t) => {
  const { root, remove } = await tempRoot();
  t.after(remove);
  const { onnxBytes, trueBytes } = await publishExternal(root, 'a');
  await publishExternal(root, 'b');
  // Room for one at its true size, for both at their .onnx files' sizes.
  const maxLoadedBytes = trueBytes + onnxBytes;
  assert.ok(2 * onnxBytes < maxLoadedBytes && maxLoadedBytes < 2 * trueBytes);
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedBytes });
  const repository = new ModelRepository({ root, registry });
  t.after(async () => {
    await repository.close();
    await registry.close();
  });
  await repository.start();
  assert.deepEqual([registry.versions('a'), registry.versions('b')], [[{ version: '1', state: 'unloaded' }], [{ version: '1', state: 'ready' }]], 'b evicts a');
  assert.equal(registry.get('b').metadata().sizeBytes, trueBytes);

  const { root: root2, remove: remove2 } = await tempRoot();
  t.after(remove2);
  await publishExternal(root2, 'c');
  const unbounded = new ModelRegistry({ backends: [memoryBackend()] });
  const plain = new ModelRepository({ root: root2, registry: unbounded });
  t.after(async () => {
    await plain.close();
    await unbounded.close();
  });
  await plain.start();
  assert.equal(unbounded.get('c').metadata().sizeBytes, onnxBytes, 'without the bound nothing is measured: the model file\'s size, as before');
});
