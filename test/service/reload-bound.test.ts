import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, LruStore, ModelRegistry, ResultCache, SemanticCache, type Backend, type InferenceResponse, type MemoryModel, type Tensor, type TensorMap } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';

/** y = x * factor: the answer tells which weights ran; `runs` counts the model's runs. */
function scale(factor: number, runs = { count: 0 }): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    run: ({ x }) => {
      runs.count++;
      return { y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => v * factor) } };
    },
  };
}

function caches(kind: 'result' | 'semantic', clock: FakeClock): { result?: ResultCache; semantic?: SemanticCache<TensorMap> } {
  if (kind === 'result') return { result: new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }), clock }) };
  return { semantic: new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10, clock }) };
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

test('a forced reload whose old instance another model\'s load evicts while the new one loads clears the version\'s cached answers: the new instance, replacing none, finds nothing to clear', async () => {
  const inner = memoryBackend();
  let gate: Promise<void> | undefined;
  const backend: Backend = { name: 'memory', accepts: (source) => inner.accepts(source), load: async (source, options) => (await gate, inner.load(source, options)) };
  const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  const registry = new ModelRegistry({ backends: [backend], maxLoadedBytes: 120 });
  const drains: string[] = [];
  registry.on('draining', (e) => drains.push(`${e.name}:${e.version} ${e.reason}`));
  await registry.load({ name: 'x', version: '1', source: scale(1), sizeBytes: 60, warmup: [] });
  await registry.load({ name: 'm', version: '1', source: scale(10), sizeBytes: 60, warmup: [] });
  const service = new InferenceService({ registry, caches: { m: { result } } });
  assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
  await result.idle();

  let open!: () => void;
  gate = new Promise((resolve) => (open = resolve));
  const reload = registry.load({ name: 'm', version: '1', source: scale(100), sizeBytes: 60, warmup: [] }); // evicts x, the least recently used
  while (!drains.includes('x:1 evicted')) await new Promise((resolve) => setImmediate(resolve));
  const other = registry.load({ name: 'y', version: '1', source: scale(2), sizeBytes: 60, warmup: [] }); // evicts m's old instance while its reload loads
  while (drains.length < 2) await new Promise((resolve) => setImmediate(resolve));
  open();
  await Promise.all([reload, other]);
  await result.idle();
  assert.deepEqual(values(await service.infer('m', request(1, 2))), [100, 200]);
  assert.deepEqual(drains, ['x:1 evicted', 'm:1 replaced']);
  await registry.close();
});

test('an explicit load of a version evicted under maxLoadedVersions, with new weights, clears its cached answers before the new instance answers, where no old instance drains to say so', async () => {
  for (const kind of ['result', 'semantic'] as const) {
    const clock = new FakeClock();
    const { result, semantic } = caches(kind, clock);
    const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 1, clock });
    const events: string[] = [];
    registry.on('draining', (e) => events.push(`draining ${e.name}:${e.version} ${e.reason}`));
    registry.on('replace', (e) => events.push(`replace ${e.name}:${e.version}`));
    await registry.load({ name: 'm', version: '1', source: scale(10), warmup: [] });
    const service = new InferenceService({ registry, caches: { m: { result, semantic } } });
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
    await registry.load({ name: 'n', version: '1', source: scale(1), warmup: [] });
    await registry.load({ name: 'm', version: '1', source: scale(100), warmup: [] });
    await result?.idle();
    assert.deepEqual(events, ['draining m:1 evicted', 'draining n:1 evicted', 'replace m:1'], kind);
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [100, 200], kind);
    await semantic?.close();
    await registry.close();
  }
});

test('a version evicted under maxLoadedVersions and loaded again by a request, with the config it had, keeps its cached answers: no replace, the cache answers without a run', async () => {
  for (const kind of ['result', 'semantic'] as const) {
    const clock = new FakeClock();
    const { result, semantic } = caches(kind, clock);
    const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 1, clock });
    const replaced: string[] = [];
    registry.on('replace', (e) => replaced.push(`${e.name}:${e.version}`));
    const runs = { count: 0 };
    await registry.load({ name: 'm', version: '1', source: scale(10, runs), warmup: [] });
    const service = new InferenceService({ registry, caches: { m: { result, semantic } } });
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
    await result?.idle();
    await registry.load({ name: 'n', version: '1', source: scale(1), warmup: [] });
    assert.equal(registry.isReady('m', '1'), false, `${kind}: evicted`);
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20], kind);
    assert.equal(runs.count, 1, `${kind}: answered from the cache`);
    assert.equal(registry.isReady('m', '1'), true, `${kind}: loaded again by the request`);
    assert.deepEqual(replaced, [], kind);
    await semantic?.close();
    await registry.close();
  }
});

test('registry.load() of a version registered and never loaded replaces it once ready; one that fails replaces nothing, and the version then loads on demand with the config it had, no replace', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock: new FakeClock() });
  const replaced: string[] = [];
  registry.on('replace', (e) => replaced.push(`${e.name}:${e.version}`));
  registry.register({ name: 'm', version: '1', source: scale(10), warmup: [] });
  await registry.load({ name: 'm', version: '1', source: scale(100), warmup: [] });
  assert.deepEqual(replaced, ['m:1']);
  registry.register({ name: 'k', version: '1', source: scale(10), warmup: [] });
  const broken: MemoryModel = {
    ...scale(100),
    run: () => {
      throw new Error('corrupt weights');
    },
  };
  await assert.rejects(registry.load({ name: 'k', version: '1', source: broken, warmup: [request(1, 2)] }));
  const service = new InferenceService({ registry });
  assert.deepEqual(values(await service.infer('k', request(1, 2))), [10, 20], 'the config it had, put back');
  assert.deepEqual(replaced, ['m:1']);
  await registry.close();
});

test('a config whose registry.load() of a registered version failed, registered later and loaded on demand, replaces nothing: the failed load leaves no mark on it', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock: new FakeClock() });
  const replaced: string[] = [];
  registry.on('replace', (e) => replaced.push(`${e.name}:${e.version}`));
  registry.register({ name: 'k', version: '1', source: scale(10), warmup: [] });
  let broken = true;
  const flaky: MemoryModel = {
    ...scale(100),
    run: (feeds) => {
      if (broken) throw new Error('corrupt weights');
      return scale(100).run(feeds);
    },
  };
  const config = { name: 'k', version: '1', source: flaky, warmup: [request(1, 2)] };
  await assert.rejects(registry.load(config));
  broken = false;
  registry.register(config);
  const service = new InferenceService({ registry });
  assert.deepEqual(values(await service.infer('k', request(1, 2))), [100, 200]);
  assert.deepEqual(replaced, [], 'register() never replaces');
  await registry.close();
});

test('a version unloaded (registry.unload) and loaded again with the same number clears nothing, as docs/caching.md says: the old answers stay until invalidate', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock });
  const replaced: string[] = [];
  registry.on('replace', (e) => replaced.push(`${e.name}:${e.version}`));
  const { result } = caches('result', clock);
  const service = new InferenceService({ registry, caches: { m: { result } } });
  await registry.load({ name: 'm', version: '1', source: scale(10), warmup: [] });
  assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
  await result!.idle();
  await registry.unload('m', '1');
  await registry.load({ name: 'm', version: '1', source: scale(100), warmup: [] });
  assert.deepEqual([values(await service.infer('m', request(1, 2))), replaced], [[10, 20], []]);
  await registry.close();
});
