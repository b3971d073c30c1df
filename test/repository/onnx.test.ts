import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InferenceService, ModelRegistry, memoryBackend, type Tensor } from 'servable';
import { ModelRepository } from 'servable/repository';
import { linearModel, linearReference } from '../fixtures/onnx-models.js';
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
