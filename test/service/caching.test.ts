import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  InferenceService,
  LruStore,
  ModelRegistry,
  InvalidInputError,
  ResultCache,
  SemanticCache,
  onnxEmbedder,
  type CacheStore,
  type InferenceResponse,
  type MemoryModel,
  type Tensor,
  type TensorMap,
} from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { LookupHolds } from '../../src/service/lookup-holds.js';

/** y = x * factor: the answer tells which version ran. */
function scale(factor: number): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    run: ({ x }) => ({ y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => v * factor) } }),
  };
}

const request = (a: number, b: number) => ({ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([a, b]) } as Tensor } });
const values = (r: InferenceResponse) => Array.from(r.outputs.y!.data as Float32Array);

async function setup(caches: (service: InferenceService) => void) {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', version: '1', source: scale(10), batching: { maxBatchSize: 8 }, warmup: [] });
  const service = new InferenceService({ registry });
  caches(service);
  return { backend, registry, service };
}

test('the result cache answers repeated requests without running the model, per version, and obeys no-cache / no-store', async () => {
  const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  const events: string[] = [];
  result.on('hit', () => events.push('hit'));
  result.on('miss', (e) => events.push(`miss:${e.reason}`));
  const { backend, registry, service } = await setup((s) => s.setCaching('m', { result }));

  assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
  assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
  assert.equal(backend.calls.length, 1);

  assert.deepEqual(values(await service.infer('m', request(1, 2), { noCache: true })), [10, 20]);
  assert.equal(backend.calls.length, 2);
  await service.infer('m', request(3, 4), { noStore: true });
  await service.infer('m', request(3, 4));
  assert.equal(backend.calls.length, 4);

  // A new version never gets the old version's entries.
  await registry.load({ name: 'm', version: '2', source: scale(100), warmup: [] });
  assert.deepEqual(values(await service.infer('m', request(1, 2))), [100, 200]);
  assert.deepEqual(events, ['miss:absent', 'hit', 'miss:bypass', 'miss:absent', 'miss:absent', 'miss:absent']);
  await registry.close();
});

test('identical requests in flight run one inference', async () => {
  const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  const { backend, registry, service } = await setup((s) => s.setCaching('m', { result }));
  const answers = await Promise.all([1, 2, 3, 4].map(() => service.infer('m', request(5, 6))));
  assert.deepEqual(answers.map(values), [[50, 60], [50, 60], [50, 60], [50, 60]]);
  assert.equal(backend.calls.length, 1);
  await registry.close();
});

test('a priority outside the batcher\'s levels is refused on a cache hit and on a coalesced request, as on a miss', async () => {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', version: '1', source: scale(10), batching: { maxBatchSize: 8, priorityLevels: 2 }, warmup: [] });
  const service = new InferenceService({ registry, caches: { m: { result: new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) } } });
  const refusal = { code: 'ERR_SERVABLE_INVALID_INPUT', message: 'Expected `priority` to be an integer between 1 and 2, got 5 (number)' };
  await assert.rejects(service.infer('m', request(1, 2), { priority: 5 }), refusal);
  assert.deepEqual(values(await service.infer('m', request(1, 2), { priority: 2 })), [10, 20]);
  await assert.rejects(service.infer('m', request(1, 2), { priority: 5 }), refusal);
  const [running, joined] = await Promise.allSettled([service.infer('m', request(3, 4)), service.infer('m', request(3, 4), { priority: 3 })]);
  assert.equal(running.status, 'fulfilled');
  assert.equal(joined.status === 'rejected' && (joined.reason as Error).message, 'Expected `priority` to be an integer between 1 and 2, got 3 (number)');
  assert.equal(backend.calls.length, 2);
  await registry.close();
});

test('a batching config that leaves priorityLevels out has one level on a cache hit, as the batcher has', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: scale(10), batching: { maxBatchSize: 8 }, warmup: [] });
  const service = new InferenceService({ registry, caches: { m: { result: new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) } } });
  assert.deepEqual(values(await service.infer('m', request(1, 2), { priority: 1 })), [10, 20]);
  assert.deepEqual(values(await service.infer('m', request(1, 2), { priority: 1 })), [10, 20]);
  await assert.rejects(service.infer('m', request(1, 2), { priority: 2 }), { code: 'ERR_SERVABLE_INVALID_INPUT', message: 'Expected `priority` to be an integer between 1 and 1, got 2 (number)' });
  await registry.close();
});

test('a batching config whose priorityLevels is null, as a JSON config file may write it, is refused when it loads, naming the field and quoting null', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const batching = JSON.parse('{"maxBatchSize": 8, "priorityLevels": null}') as { maxBatchSize: number };
  await assert.rejects(registry.load({ name: 'm', version: '1', source: scale(10), batching, warmup: [] }), {
    name: 'TypeError',
    code: 'ERR_SERVABLE_INVALID_OPTION',
    message: 'Expected `batching.priorityLevels` to be set, or left out where it is optional, got null (null)',
  });
  assert.equal(registry.has('m'), false);
  await registry.close();
});

test('a version that stops taking requests as one reaches it still answers it, by its own priority levels, with or without a cache', async () => {
  const answers: string[] = [];
  for (const cached of [false, true]) {
    const registry = new ModelRegistry({ backends: [memoryBackend()] });
    await registry.load({ name: 'm', version: '1', source: scale(10), batching: { maxBatchSize: 8, priorityLevels: 8 }, warmup: [] });
    await registry.load({ name: 'm', version: '2', source: scale(100), batching: { maxBatchSize: 8, priorityLevels: 2 }, warmup: [] });
    const service = new InferenceService({ registry });
    if (cached) service.setCaching('m', { result: new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) });
    await service.infer('m', request(1, 2));
    // Version 2 starts draining the moment the request is handed to it, as a swap at that instant would.
    let drain = true;
    const onVersion = (v: string) => {
      if (drain && v === '2') void registry.unload('m', '2');
      drain = false;
    };
    // Priority 5 is beyond version 2's levels and within version 1's; version 2 holds a cached answer for these inputs.
    await service.infer('m', request(1, 2), { priority: 5, onVersion }).catch((e: Error) => answers.push(`${cached ? 'cached' : 'uncached'}: ${e.message}`));
    await registry.close();
  }
  const refused = 'Expected `priority` to be an integer between 1 and 2, got 5 (number)';
  assert.deepEqual(answers, [`uncached: ${refused}`, `cached: ${refused}`]);
});

test('a failing store turns into a miss: the request still succeeds and the failure is reported', async () => {
  const broken: CacheStore = {
    get: () => Promise.reject(new Error('store down')),
    set: () => Promise.reject(new Error('store down')),
    delete: () => undefined,
    clear: () => undefined,
  };
  const result = new ResultCache({ store: broken });
  const errors: string[] = [];
  result.on('error', (e) => errors.push(e.operation));
  const { registry, service } = await setup((s) => s.setCaching('m', { result }));
  assert.deepEqual(values(await service.infer('m', request(1, 1))), [10, 10]);
  await result.idle();
  assert.deepEqual(errors, ['get', 'set']);
  await registry.close();
});

test('semantic hits stay within a tenant, and the embedder can be a model served by the same registry', async () => {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', source: scale(10), warmup: [] });
  // The embedder model: the input itself, as a vector.
  await registry.load({ name: 'embed', source: scale(1), batching: { maxBatchSize: 8 }, warmup: [] });
  const service = new InferenceService({ registry });
  // The query is the request's inputs (the default); the embedder runs them through 'embed'.
  const semantic = new SemanticCache<TensorMap>({
    embed: onnxEmbedder({ run: service.runner('embed'), feeds: (inputs: TensorMap) => inputs }),
    dimensions: 2,
    threshold: 0.99,
    maxEntries: 100,
  });
  service.setCaching('m', { semantic });
  const modelRuns = () => backend.calls.filter((c) => c.label === 'm:1').length;

  assert.deepEqual(values(await service.infer('m', request(1, 2), { tenant: 'a' })), [10, 20]);
  await semantic.idle(); // entries are stored after the answer is returned
  // Nearly the same direction, same tenant: the cached answer.
  assert.deepEqual(values(await service.infer('m', request(1, 2.001), { tenant: 'a' })), [10, 20]);
  assert.equal(modelRuns(), 1);
  // Another tenant never receives tenant a's answer.
  assert.deepEqual(values(await service.infer('m', request(1, 2.001), { tenant: 'b' })), [10, Math.fround(2.001) * 10].map(Math.fround));
  assert.equal(modelRuns(), 2);
  // A different direction is a miss.
  assert.deepEqual(values(await service.infer('m', request(2, -1), { tenant: 'a' })), [20, -10]);
  assert.equal(modelRuns(), 3);
  await semantic.close();
  await registry.close();
});

/** Settles `promise`, moving `clock` 10 ms whenever nothing else can happen; resolves with the time that took on it. */
async function waitedOn(clock: FakeClock, promise: Promise<unknown>): Promise<number> {
  const start = clock.now();
  let settled = false;
  void promise.then(() => (settled = true), () => (settled = true));
  while (!settled) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!settled) clock.advance(10);
  }
  await promise;
  return clock.now() - start;
}

/** A semantic cache of 2-vectors whose embedder is the model 'embed' served by `service` (or `run`), waiting at most 100 ms on `clock`. */
function embedderCache(service: InferenceService, clock: FakeClock, run: (feeds: TensorMap, signal?: AbortSignal) => Promise<TensorMap> = service.runner('embed')): SemanticCache<TensorMap> {
  return new SemanticCache<TensorMap>({ embed: onnxEmbedder({ run, feeds: (inputs: TensorMap) => inputs }), dimensions: 2, threshold: 0.99, maxEntries: 10, timeoutMs: 100, clock });
}

test('an embedder served by the same registry with no room for it: the version held by a request in its lookup is unloaded for it at once, and loaded again on a miss', async () => {
  for (const withResult of [false, true]) {
    const clock = new FakeClock();
    const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock, maxLoadedVersions: 1 });
    registry.register({ name: 'm', source: scale(10), warmup: [] });
    registry.register({ name: 'embed', source: scale(1), warmup: [] });
    const service = new InferenceService({ registry, clock });
    const semantic = embedderCache(service, clock);
    const events: string[] = [];
    semantic.on('miss', (e) => events.push(`miss:${e.reason}`));
    semantic.on('hit', () => events.push('hit'));
    semantic.on('coalesce', () => events.push('coalesce'));
    service.setCaching('m', { semantic, result: withResult ? new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) : undefined });
    const ask = (a: number, b: number) => service.infer('m', request(a, b)).then(values);
    const answers: Promise<number[]>[] = [ask(1, 2)];
    const waited = [await waitedOn(clock, answers[0]!)];
    answers.push(ask(3, 4), ask(3, 4));
    waited.push(await waitedOn(clock, Promise.all(answers.slice(1))));
    answers.push(ask(1, 2.001));
    waited.push(await waitedOn(clock, answers[3]!));
    assert.deepEqual(await Promise.all(answers), [[10, 20], [30, 40], [30, 40], [10, 20]]);
    assert.deepEqual(waited, [0, 0, 0], 'no lookup waited for the embedder\'s timeout');
    // With a result cache in front, the second identical request joins the first's flight there.
    assert.deepEqual(events, ['miss:absent', ...(withResult ? [] : ['coalesce']), 'miss:absent', 'hit']);
    await semantic.close();
    await registry.close();
  }
});

test('an embedder served by the same registry with no room for it but a version unloaded while its request is in the lookup: the lookup ends at once as a miss, and that version answers the request', async () => {
  for (const withResult of [false, true]) {
    const clock = new FakeClock();
    const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock, maxLoadedVersions: 1 });
    await registry.load({ name: 'm', source: scale(10), warmup: [] });
    registry.register({ name: 'embed', source: scale(1), warmup: [] });
    const service = new InferenceService({ registry, clock });
    const embed = service.runner('embed');
    let unloaded: Promise<void> | undefined;
    // 'm' leaves service (not evicted: unloaded) as its request's lookup asks for the embedding, which needs its room.
    const semantic = embedderCache(service, clock, (feeds, signal) => ((unloaded ??= registry.unload('m', '1')), embed(feeds, signal)));
    const events: string[] = [];
    semantic.on('miss', (e) => events.push(`miss:${e.reason}`));
    semantic.on('error', (e) => events.push(`error:${e.operation}`));
    service.setCaching('m', { semantic, result: withResult ? new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) : undefined });
    const answer = service.infer('m', request(1, 2)).then(values);
    assert.equal(await waitedOn(clock, answer), 0, 'the lookup did not wait for the embedder\'s timeout');
    assert.deepEqual(await answer, [10, 20], 'the version unloaded answered the request routed to it');
    assert.deepEqual(events, ['miss:ended']);
    await unloaded;
    assert.equal(registry.has('m'), false);
    await semantic.close();
    await registry.close();
  }
});

test('a version unloaded while its request reads the result cache, before its semantic lookup starts: the request skips the lookup, and that version answers it', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock, maxLoadedVersions: 1 });
  await registry.load({ name: 'm', source: scale(10), warmup: [] });
  registry.register({ name: 'embed', source: scale(1), warmup: [] });
  const service = new InferenceService({ registry });
  const semantic = embedderCache(service, clock);
  const events: string[] = [];
  semantic.on('miss', (e) => events.push(`miss:${e.reason}`));
  semantic.on('error', (e) => events.push(`error:${e.operation}`));
  // The result store's read is under way (a Redis round trip, say) when 'm' is unloaded: endLookups finds no lookup yet.
  let read!: () => void;
  let stored = 0;
  const store: CacheStore = { get: () => new Promise<undefined>((resolve) => (read = () => resolve(undefined))), set: () => void stored++, delete: () => undefined, clear: () => undefined };
  service.setCaching('m', { semantic, result: new ResultCache({ store }) });
  const answer = service.infer('m', request(1, 2)).then(values);
  await new Promise<void>((resolve) => setImmediate(resolve));
  const unloaded = registry.unload('m', '1');
  read();
  assert.equal(await waitedOn(clock, answer), 0, "the lookup did not wait for the embedder's timeout");
  assert.deepEqual(await answer, [10, 20], 'the version unloaded answered the request routed to it');
  assert.deepEqual(events, [], 'no lookup was started for a version that had left service');
  assert.equal(stored, 0, 'its answer was not stored, as any answer of a version that left service');
  await unloaded;
  assert.equal(registry.has('m'), false);
  await semantic.close();
  await registry.close();
});

test('a version evicted while its request reads the result cache still has its semantic lookup, whose hit needs no version: only a version that left service holding its requests skips it', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock, maxLoadedVersions: 1 });
  await registry.load({ name: 'm', source: scale(10), warmup: [] });
  registry.register({ name: 'other', source: scale(1), warmup: [] });
  const service = new InferenceService({ registry });
  const semantic = new SemanticCache<TensorMap>({ embed: (q: TensorMap) => Array.from(q.x!.data as Float32Array), dimensions: 2, threshold: 0.99, maxEntries: 10, clock });
  await semantic.store(request(1, 2).inputs, { y: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([7, 7]) } }, { partition: ['m', '1', ''] });
  const events: string[] = [];
  semantic.on('hit', () => events.push('hit'));
  semantic.on('miss', (e) => events.push(`miss:${e.reason}`));
  let read!: () => void;
  const store: CacheStore = { get: () => new Promise<undefined>((resolve) => (read = () => resolve(undefined))), set: () => undefined, delete: () => undefined, clear: () => undefined };
  service.setCaching('m', { semantic, result: new ResultCache({ store }) });
  const answer = service.infer('m', request(1, 2)).then(values);
  await new Promise<void>((resolve) => setImmediate(resolve));
  // 'other' needs the room of 'm', whose request is in a lookup: the eviction lets go of its hold.
  await registry.acquire('other');
  assert.equal(registry.isReady('m'), false);
  read();
  assert.deepEqual(await answer, [7, 7], 'the semantic cache answered, with no version loaded again');
  assert.deepEqual(events, ['hit']);
  assert.equal(registry.isReady('m'), false);
  await semantic.close();
  await registry.close();
});

test('service.infer() refuses a noCache or noStore that is not a boolean and a tenant that is not a string as a 400 quoting it, whether or not the model is cached', async () => {
  for (const cached of [false, true]) {
    const { registry, service } = await setup((s) => cached && s.setCaching('m', { result: new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) }));
    const outcomes: string[] = [];
    service.on('request', (e) => outcomes.push(e.outcome));
    for (const [options, message] of [
      [{ noCache: 'yes' }, 'Expected `noCache` to be a boolean, got "yes" (string)'],
      [{ noStore: 1 }, 'Expected `noStore` to be a boolean, got 1 (number)'],
      [{ tenant: 7 }, 'Expected `tenant` to be a string, got 7 (number)'],
    ] as const) {
      await assert.rejects(service.infer('m', request(1, 2), options as never), (error: Error) => {
        assert.ok(error instanceof InvalidInputError, `cached ${cached}: ${error.name}: ${error.message}`);
        assert.equal(error.message, message);
        return true;
      });
    }
    assert.deepEqual(outcomes, ['invalid', 'invalid', 'invalid']);
    assert.deepEqual(values(await service.infer('m', request(1, 2), { noCache: true, noStore: false, tenant: 'acme' })), [10, 20]);
    await registry.close();
  }
});

test('a hold an eviction released is taken again on the version loaded again, or refused with a 503 once the version is no longer served', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: scale(10), warmup: [], versionPolicy: { latest: 1 } });
  const lookups = new LookupHolds(registry);
  const first = registry.resolve('m', { version: '1' });
  const [kept, released] = [first.hold(), first.hold()];
  lookups.track(kept);
  lookups.track(released);
  lookups.evicted({ name: 'm', version: '2' });
  assert.equal(released.released, false, 'another version\'s eviction releases nothing');
  lookups.evicted({ name: 'm', version: '1' });
  assert.deepEqual([kept.released, released.released], [true, true]);
  lookups.untrack(released);
  const again = await lookups.held(released, {});
  assert.deepEqual([again.version.version, again.released], ['1', false]);
  again.release();
  await registry.load({ name: 'm', version: '2', source: scale(100), warmup: [], versionPolicy: { latest: 1 } });
  await assert.rejects(Promise.resolve(lookups.held(released, {})), { code: 'ERR_SERVABLE_MODEL_NOT_READY', message: "Model 'm' version '1' left service while the request was in its cache lookup" });
  const live = registry.resolve('m').hold();
  assert.equal(lookups.held(live, {}), live, 'a hold still live is the one the request is queued with');
  live.release();
  await registry.close();
});

test('with a result cache in front of a semantic cache, a near answer of one tenant never reaches another, stored or in flight', async () => {
  const { backend, registry, service } = await setup(() => {});
  const semantic = new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10 });
  const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  service.setCaching('m', { result, semantic });
  const times10 = (a: number, b: number) => [a, b].map((v) => Math.fround(Math.fround(v) * 10));
  assert.deepEqual(values(await service.infer('m', request(1, 2), { tenant: 'a' })), [10, 20]);
  // Tenant a's near lookup in flight, joined by the same inputs from tenant b: b gets its own answer.
  const [a, b] = await Promise.all([service.infer('m', request(1, 2.001), { tenant: 'a' }), service.infer('m', request(1, 2.001), { tenant: 'b' })]);
  assert.deepEqual([values(a), values(b)], [[10, 20], times10(1, 2.001)]);
  // Tenant a's near answer, stored, then the same inputs from tenant b: b's own answer, not a's.
  assert.deepEqual(values(await service.infer('m', request(2, 1), { tenant: 'a' })), [20, 10]);
  assert.deepEqual(values(await service.infer('m', request(2, 1.001), { tenant: 'a' })), [20, 10]);
  assert.deepEqual(values(await service.infer('m', request(2, 1.001), { tenant: 'b' })), times10(2, 1.001));
  assert.equal(backend.calls.length, 4);
  await semantic.close();
  await registry.close();
});

test('with a result cache in front of a semantic cache, only computed answers are stored exactly, so semantic.invalidate() reaches every near answer', async () => {
  const { backend, registry, service } = await setup(() => {});
  const semantic = new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10 });
  const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  service.setCaching('m', { result, semantic });
  assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
  assert.deepEqual(values(await service.infer('m', request(1, 2.001))), [10, 20]);
  await semantic.invalidate();
  // The near answer is gone with the semantic entries; the model's own answer stays exact.
  assert.deepEqual(values(await service.infer('m', request(1, 2.001))), [10, Math.fround(Math.fround(2.001) * 10)]);
  assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
  assert.equal(backend.calls.length, 2);
  await semantic.close();
  await registry.close();
});

test('a semantic hit is never an answer to other requested outputs or other answer-changing parameters', async () => {
  const twoOutputs: MemoryModel = {
    ...scale(10),
    outputs: [...scale(10).outputs, { name: 'z', datatype: 'FP32', shape: [-1, 2] }],
    run: ({ x }) => ({
      y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => v * 10) },
      z: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => v * 100) },
    }),
  };
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', source: twoOutputs, warmup: [] });
  const semantic = new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10 });
  const service = new InferenceService({ registry, caches: { m: { semantic } } });
  const named = (r: InferenceResponse) => Object.entries(r.outputs).map(([name, t]) => `${name}=${Array.from(t.data as Float32Array)}`);
  assert.deepEqual(named(await service.infer('m', { ...request(1, 2), outputs: ['y'] })), ['y=10,20']);
  assert.deepEqual(named(await service.infer('m', { ...request(1, 2), outputs: ['z'] })), ['z=100,200']);
  assert.deepEqual(named(await service.infer('m', request(1, 2))), ['y=10,20', 'z=100,200']);
  assert.deepEqual(named(await service.infer('m', { ...request(1, 2), parameters: { top_k: 3 } })), ['y=10,20', 'z=100,200']);
  assert.equal(backend.calls.length, 4);
  // The same outputs, in another order, near inputs, and scheduling parameters: the stored answer.
  assert.deepEqual(named(await service.infer('m', { ...request(1, 2.001), outputs: ['y'], parameters: { priority: 1, timeout: 5e6 } })), ['y=10,20']);
  assert.equal(backend.calls.length, 4);
  await semantic.close();
  await registry.close();
});

test('with only a semantic cache, a request whose signal aborts is cancelled in the queue and the rest are answered', async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const gated: MemoryModel = {
    ...scale(10),
    run: async (feeds) => {
      await held;
      return scale(10).run(feeds);
    },
  };
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: gated, batching: { maxBatchSize: 1 }, warmup: [] });
  const service = new InferenceService({ registry });
  const semantic = new SemanticCache<TensorMap>({
    embed: (inputs) => inputs.x!.data as Float32Array,
    dimensions: 2,
    threshold: 0.99,
    maxEntries: 10,
  });
  service.setCaching('m', { semantic });

  const running = service.infer('m', request(1, 2));
  const controller = new AbortController();
  const queued = service.infer('m', request(2, -1), { signal: controller.signal });
  const after = service.infer('m', request(-1, 3));
  controller.abort();
  release();
  await assert.rejects(queued, { code: 'ERR_SERVABLE_CANCELLED' });
  assert.deepEqual(values(await running), [10, 20]);
  assert.deepEqual(values(await after), [-10, 30]);
  await semantic.close();
  await registry.close();
});

/** A FakeClock that, while `creeping`, moves 1 µs each time it is read, as the wall clock moves between any two reads. */
class CreepingClock extends FakeClock {
  creeping = false;
  override now(): number {
    if (this.creeping) this.advance(0.001);
    return super.now();
  }
}

/** The two caches in front of a model with `priorityLevels: 2` that logs the first input of every run and takes `latencyMs` on a fake clock. */
async function scheduledSetup(kind: 'result' | 'semantic', latencyMs: number) {
  const clock = new CreepingClock();
  const ran: number[] = [];
  const logged: MemoryModel = {
    ...scale(10),
    latencyMs,
    run: (feeds) => {
      ran.push(feeds.x!.data[0] as number);
      return scale(10).run(feeds);
    },
  };
  const backend = memoryBackend({ clock });
  const registry = new ModelRegistry({ backends: [backend], clock });
  await registry.load({ name: 'm', source: logged, batching: { maxBatchSize: 1, priorityLevels: 2 }, warmup: [] });
  const caching =
    kind === 'result'
      ? { result: new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }), clock }) }
      : { semantic: new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10, clock }) };
  const service = new InferenceService({ registry, caches: { m: caching } });
  const close = async () => {
    await caching.semantic?.close();
    await registry.close();
  };
  return { clock, backend, ran, service, close };
}

/**
 * Settles `calls`, firing `clock`'s timers one time at a time: each outcome is 'ok' or the error's
 * code, with the time it came at to the millisecond. One still pending when no timer is left stays 'pending'.
 */
async function settledOn(clock: FakeClock, calls: Promise<unknown>[]): Promise<string[]> {
  const outcomes = calls.map(() => 'pending');
  const at = () => Math.round(clock.now());
  calls.forEach((call, i) => void call.then(() => (outcomes[i] = `ok at ${at()}`), (e: { code: string }) => (outcomes[i] = `${e.code} at ${at()}`)));
  while (outcomes.includes('pending') && (await clock.next()));
  return outcomes;
}

for (const kind of ['result', 'semantic'] as const) {
  test(`with a ${kind} cache, identical requests in flight share an inference only with the same timeout: one caller's timeout never applies to another`, async () => {
    const { clock, ran, service, close } = await scheduledSetup(kind, 80);
    const late = 'ERR_SERVABLE_DEADLINE_EXCEEDED';
    // The first caller's timeout, where the second set none: the second is queued at once as a
    // request of its own, so it runs after the first's run and before a request queued after it (a
    // joiner would be queued again only when the first's deadline cut it, behind that request).
    const firstTwo = [service.infer('m', request(1, 2), { timeoutMs: 10 }), service.infer('m', request(1, 2))];
    await clock.advanceAsync(5);
    const after = service.infer('m', request(8, -1));
    assert.deepEqual(await settledOn(clock, [...firstTwo, after]), [`${late} at 10`, 'ok at 160', 'ok at 240']);
    // The second caller's timeout, behind a first that set none: it times out in the queue.
    assert.deepEqual(await settledOn(clock, [service.infer('m', request(3, 4)), service.infer('m', request(3, 4), { timeoutMs: 10 })]), ['ok at 320', `${late} at 250`]);
    // The same timeout shares, though the budget left after routing (and the deadline) differs by
    // a microsecond, which the second caller's routing takes.
    const first = service.infer('m', request(5, -6), { timeoutMs: 1000 });
    clock.creeping = true;
    const second = service.infer('m', request(5, -6), { timeoutMs: 1000 });
    clock.creeping = false;
    assert.deepEqual(await settledOn(clock, [first, second]), ['ok at 400', 'ok at 400']);
    assert.deepEqual(ran, [1, 1, 8, 3, 5]);
    await close();
  });

  test(`with a ${kind} cache, identical requests in flight share an inference only with the same priority: a joiner at a higher one is not queued at the first caller's`, async () => {
    const { clock, backend, ran, service, close } = await scheduledSetup(kind, 50);
    const busy = service.infer('m', request(1, 0));
    await clock.flush();
    assert.equal(backend.calls.length, 1, 'the first request is running');
    const queued = [
      service.infer('m', request(0, 1), { priority: 2 }),
      service.infer('m', request(1, -1), { priority: 2 }),
      service.infer('m', request(1, -1), { priority: 1 }),
    ];
    assert.deepEqual(await settledOn(clock, [busy, ...queued]), ['ok at 50', 'ok at 150', 'ok at 200', 'ok at 100']);
    const answers = await Promise.all([busy, ...queued]);
    assert.deepEqual(answers.map(values), [[10, 0], [0, 10], [10, -10], [10, -10]]);
    // The priority-1 request ran before the priority-2 one queued ahead of it.
    assert.deepEqual(ran, [1, 1, 0, 1]);
    await close();
  });
}

for (const kind of ['result', 'semantic'] as const) {
  test(`with a ${kind} cache, a request that joined an identical one is failed neither by that one's deadline nor by its disconnect, and keeps its own deadline`, async () => {
    const clock = new FakeClock();
    const gates: (() => void)[] = [];
    const gated: MemoryModel = { ...scale(10), run: (feeds) => new Promise((resolve) => gates.push(() => resolve(scale(10).run(feeds)))) };
    const backend = memoryBackend({ clock });
    const registry = new ModelRegistry({ backends: [backend], clock });
    await registry.load({ name: 'm', source: gated, batching: { maxBatchSize: 1 }, warmup: [] });
    const caching = kind === 'result'
      ? { result: new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }), clock }) }
      : { semantic: new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10, clock }) };
    const service = new InferenceService({ registry, clock, caches: { m: caching } });
    const flush = () => new Promise((r) => setImmediate(r));
    const settled = (p: Promise<InferenceResponse>) => p.then((r) => `ok ${values(r)}`, (e: { code: string }) => e.code);
    // The model is busy with another request, so the next ones wait in the queue.
    const busy = settled(service.infer('m', request(9, 9)));
    await flush();
    const controller = new AbortController();
    const first = settled(service.infer('m', request(1, 2), { timeoutMs: 100, signal: controller.signal }));
    await flush();
    clock.advance(50);
    const joined = settled(service.infer('m', request(1, 2), { timeoutMs: 100, signal: new AbortController().signal }));
    await flush();
    controller.abort(); // the first caller disconnects: the second one still waits
    await flush();
    clock.advance(50);
    await flush();
    gates.shift()!();
    await flush();
    gates.shift()!();
    assert.deepEqual(await Promise.all([busy, first, joined]), ['ok 90,90', 'ERR_SERVABLE_CANCELLED', 'ok 10,20']);
    // Its own deadline, counted from its own start: 100 ms, not 100 ms from when it ran again.
    const late = settled(service.infer('m', request(3, 4)));
    await flush();
    const timed = settled(service.infer('m', request(-5, 6), { timeoutMs: 100 }));
    await flush();
    clock.advance(80);
    let joining = 'pending';
    void settled(service.infer('m', request(-5, 6), { timeoutMs: 100 })).then((outcome) => (joining = outcome));
    await flush();
    clock.advance(20);
    assert.equal(await timed, 'ERR_SERVABLE_DEADLINE_EXCEEDED');
    clock.advance(79);
    await flush();
    assert.equal(joining, 'pending');
    clock.advance(1);
    await flush();
    assert.equal(joining, 'ERR_SERVABLE_DEADLINE_EXCEEDED');
    gates.shift()!();
    assert.equal(await late, 'ok 30,40');
    await caching.semantic?.close();
    await registry.close();
  });
}

for (const kind of ['result', 'semantic'] as const) {
  test(`with a ${kind} cache, a request whose timeout passes while the cache looks it up fails at its timeout, not when the lookup ends`, async () => {
    const clock = new FakeClock();
    const backend = memoryBackend({ clock });
    const registry = new ModelRegistry({ backends: [backend], clock });
    await registry.load({ name: 'm', source: scale(10), batching: { maxBatchSize: 8 }, warmup: [] });
    // A store read, or an embedding, that takes longer than any request's timeout.
    const hanging = () => new Promise<never>(() => {});
    const store: CacheStore = { get: hanging, set: () => undefined, delete: () => undefined, clear: () => undefined };
    const caching = kind === 'result'
      ? { result: new ResultCache({ store, timeoutMs: 1000, clock }) }
      : { semantic: new SemanticCache<TensorMap>({ embed: hanging, dimensions: 2, threshold: 0.99, maxEntries: 10, timeoutMs: 1000, clock }) };
    const service = new InferenceService({ registry, clock, caches: { m: caching } });
    const flush = () => new Promise((r) => setImmediate(r));
    const outcomes: string[] = [];
    const track = (name: string, p: Promise<InferenceResponse>) => p.then(() => outcomes.push(`${name} ok`), (e: { code: string }) => outcomes.push(`${name} ${e.code} at ${clock.now()}`));
    void track('first', service.infer('m', request(1, 2), { timeoutMs: 100 }));
    await flush();
    clock.advance(50);
    // Joins the first one's lookup, then runs again on its own when that one's deadline cuts it.
    void track('second', service.infer('m', request(1, 2), { timeoutMs: 100 }));
    await flush();
    for (let t = 0; t < 100; t += 10) {
      clock.advance(10);
      await flush();
    }
    assert.deepEqual(outcomes, ['first ERR_SERVABLE_DEADLINE_EXCEEDED at 100', 'second ERR_SERVABLE_DEADLINE_EXCEEDED at 150']);
    assert.equal(backend.calls.length, 0);
    clock.advance(1000);
    await caching.semantic?.close();
    await registry.close();
  });
}

test('a reload of a loaded version clears the caches of its model: the new weights answer, not the old ones\' entries', async () => {
  for (const kind of ['result', 'semantic', 'both'] as const) {
    const result = kind === 'semantic' ? undefined : new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
    const semantic = kind === 'result' ? undefined : new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10 });
    const { backend, registry, service } = await setup((s) => s.setCaching('m', { result, semantic }));
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [10, 20]);
    await registry.load({ name: 'm', version: '1', source: scale(100), warmup: [] });
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [100, 200], kind);
    // The new weights' answers are cached again.
    assert.deepEqual(values(await service.infer('m', request(1, 2))), [100, 200], kind);
    assert.equal(backend.calls.length, 2, kind);
    await semantic?.close();
    await registry.close();
  }
});

test('a reload of one version clears that version\'s entries only: the other versions\' stay cached', async () => {
  for (const kind of ['result', 'semantic'] as const) {
    const result = kind === 'result' ? new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) : undefined;
    const semantic = kind === 'semantic' ? new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10 }) : undefined;
    const { backend, registry, service } = await setup((s) => s.setCaching('m', { result, semantic }));
    await registry.load({ name: 'm', version: '2', source: scale(100), versionPolicy: 'all', warmup: [] });
    const ask = async (version: string, tenant?: string) => values(await service.infer('m', request(1, 2), { version, tenant }));
    // Semantic partitions are per tenant: the reload clears every tenant's.
    const tenants = kind === 'semantic' ? [undefined, 't'] : [undefined];
    for (const tenant of tenants) assert.deepEqual([await ask('1', tenant), await ask('2', tenant)], [[10, 20], [100, 200]]);
    assert.equal(backend.calls.length, 2 * tenants.length, kind);
    await registry.load({ name: 'm', version: '2', source: scale(1000), warmup: [] });
    await result?.idle();
    for (const tenant of tenants) assert.deepEqual([await ask('1', tenant), await ask('2', tenant)], [[10, 20], [1000, 2000]], kind);
    assert.equal(backend.calls.length, 3 * tenants.length, `${kind}: version 1 answered from its entries, version 2 recomputed for each tenant`);
    await semantic?.close();
    await registry.close();
  }
});

test('caching options are checked', async () => {
  const { registry, service } = await setup(() => {});
  assert.throws(() => service.setCaching('m', { result: {} as ResultCache }), /Expected `caches.m.result` to be a ResultCache, got \{\} \(object\)/);
  // Misspelt, the model would run with no semantic cache at all, and nothing would say so.
  assert.throws(() => service.setCaching('m', { semantc: {} } as never), /^TypeError: Unknown option `semantc`; caches.m takes result, semantic, query$/);
  await registry.close();
});

test('InferenceService refuses a result cache that is not a ResultCache with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }), caches: { m: { result: {} } } } as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => new InferenceService({ registry: {} as never }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
