import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, LruStore, ModelRegistry, ResultCache, SemanticCache, type InferenceResponse, type MemoryModel, type Tensor, type TensorMap } from 'servable';
import { memoryBackend } from 'servable/testing';

/** y = x * factor: the answer tells which weights ran. */
function scale(factor: number): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    run: ({ x }) => ({ y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => v * factor) } }),
  };
}

const request = (a: number, b: number) => ({ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([a, b]) } as Tensor } });
const values = (r: InferenceResponse) => Array.from(r.outputs.y!.data as Float32Array);

test('a forced reload under a maxLoadedBytes with no room for both instances, which unloads the old one first, clears the version\'s cached answers as a reload with room does: the new weights answer', async () => {
  for (const kind of ['result', 'semantic'] as const) {
    const result = kind === 'result' ? new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) : undefined;
    const semantic = kind === 'semantic' ? new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10 }) : undefined;
    const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedBytes: 100 });
    const reasons: string[] = [];
    registry.on('draining', (e) => reasons.push(e.reason));
    await registry.load({ name: 'm', version: '1', source: scale(10), sizeBytes: 60, warmup: [] });
    const service = new InferenceService({ registry, caches: { m: { result, semantic } } });
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
    await registry.load({ name: 'm', version: '1', source: scale(100), sizeBytes: 60, warmup: [] });
    await result?.idle();
    assert.deepEqual(reasons, ['replaced'], `${kind}: the old instance was unloaded before the new one loaded, as replaced`);
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [100, 200], kind);
    await semantic?.close();
    await registry.close();
  }
});
