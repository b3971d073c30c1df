import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'eventemitter3';
import {
  InferenceService,
  InvalidInputError,
  ModelNotFoundError,
  ModelRegistry,
  TensorHandler,
  type InferenceRequest,
  type InferenceResponse,
  type MemoryModel,
  type Tensor,
  type TensorMap,
} from '../../src/index.js';
import { FakeClock, memoryBackend } from '../../src/testing/index.js';
import { LruStore } from '../../src/cache/lru-store.js';
import { ResultCache } from '../../src/cache/result-cache.js';
import { SemanticCache } from '../../src/cache/semantic/semantic-cache.js';
import type { CacheStore } from '../../src/cache/store.js';
import { InferenceStatistics } from '../../src/metrics/index.js';
import { doubler, rows } from './doubler.js';
import { loadStepEnsembles, sendStepEnsembles } from './step-ensembles.js';

const EPOCH = 1_700_000_000_000;
const MS = 1e6;

async function stack() {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  await registry.load({ name: 'm', source: doubler(5), batching: { maxBatchSize: 4, maxQueueDelayMs: 10 }, warmup: [] });
  return { clock, registry, service, now: () => EPOCH + clock.now() };
}

/** The stack with an LRU result cache in front of `m`, and statistics that watch it. */
async function cachedStack() {
  const { clock, registry, service, now } = await stack();
  const results = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }), clock });
  service.setCaching('m', { result: results });
  return { clock, registry, service, now, results, statistics: new InferenceStatistics({ service, caches: [results], now }) };
}

const zero = { count: 0, ns: 0 };
const data = (r: InferenceResponse, name: string) => Array.from(r.outputs[name]!.data as Float32Array);

test("counts requests, queue and compute time, executions and batch sizes in Triton's shape", async () => {
  const { clock, registry, service, now } = await stack();
  const statistics = new InferenceStatistics({ service, now });
  assert.deepEqual(statistics.versionStatistics('m', '1'), {
    name: 'm',
    version: '1',
    last_inference: 0,
    inference_count: 0,
    execution_count: 0,
    inference_stats: { success: zero, fail: zero, queue: zero, compute_input: zero, compute_infer: zero, compute_output: zero, cache_hit: zero, cache_miss: zero },
    batch_stats: [],
  });

  // t=0: three requests fill a batch of 4 items (runs 5 ms); one more waits its 10 ms delay and runs alone.
  const first = [service.infer('m', rows(1)), service.infer('m', rows(2)), service.infer('m', rows(1))];
  await clock.advanceAsync(0);
  const waiting = service.infer('m', rows(2));
  const wrongShape = { inputs: { x: { datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) } as Tensor } };
  await assert.rejects(service.infer('m', wrongShape), InvalidInputError);
  // Refused before a version was chosen: no version to count it under.
  await assert.rejects(service.infer('nope', rows(1)), ModelNotFoundError);
  await assert.rejects(service.infer('m', rows(1), { version: '9' }), ModelNotFoundError);
  await clock.advanceAsync(5);
  await Promise.all(first);
  await clock.advanceAsync(10);
  await waiting;

  assert.deepEqual(statistics.versionStatistics('m', '1'), {
    name: 'm',
    version: '1',
    last_inference: EPOCH + 15,
    inference_count: 6,
    execution_count: 2,
    inference_stats: {
      success: { count: 4, ns: (5 + 5 + 5 + 15) * MS },
      fail: { count: 1, ns: 0 },
      queue: { count: 4, ns: 10 * MS },
      compute_input: { count: 4, ns: 0 },
      compute_infer: { count: 4, ns: (3 * 5 + 5) * MS },
      compute_output: { count: 4, ns: 0 },
      cache_hit: zero,
      cache_miss: zero,
    },
    batch_stats: [
      { batch_size: 2, compute_input: { count: 1, ns: 0 }, compute_infer: { count: 1, ns: 5 * MS }, compute_output: { count: 1, ns: 0 } },
      { batch_size: 4, compute_input: { count: 1, ns: 0 }, compute_infer: { count: 1, ns: 5 * MS }, compute_output: { count: 1, ns: 0 } },
    ],
  });
  statistics.close();
  await registry.close();
});

test('an execution that fails counts its requests as failures, not as executions', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  const failing: MemoryModel = { ...doubler(3), run: () => { throw new Error('boom'); } };
  await registry.load({ name: 'f', source: failing, batching: { maxBatchSize: 2, maxQueueDelayMs: 0, splitOnFailure: false }, warmup: [] });
  const statistics = new InferenceStatistics({ service, now: () => EPOCH });
  const answers = [service.infer('f', rows(1)), service.infer('f', rows(1))].map((p) => assert.rejects(p));
  await clock.advanceAsync(3);
  await Promise.all(answers);
  const stats = statistics.versionStatistics('f', '1');
  assert.deepEqual([stats.inference_count, stats.execution_count, stats.batch_stats], [0, 0, []]);
  assert.deepEqual(stats.inference_stats.fail, { count: 2, ns: 6 * MS });
  assert.deepEqual(stats.inference_stats.success, zero);
  // Triton's queue holds successes only (UpdateFailure adds no queue time).
  assert.deepEqual(stats.inference_stats.queue, zero);
  assert.deepEqual(stats.inference_stats.compute_infer, zero);
  // Triton moves last_inference when a backend reports a batch, which one that failed as a whole does not.
  assert.equal(stats.last_inference, 0);
  await registry.close();
});

test("a request its batch fails alone (postprocess) counts as a failure only: not in inference_count nor in the queue, as Triton's UpdateFailure; its execution and batch size still count", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  const refusal = new Error('negative');
  // Answers each request alone: an Error for one whose first value is negative.
  const refuser = () => {
    const handler = new TensorHandler();
    const answer = handler.postprocess.bind(handler);
    return Object.assign(handler, {
      postprocess: (outputs: TensorMap, requests: readonly InferenceRequest[]): (InferenceResponse | Error)[] =>
        answer(outputs, requests).map((response, i) => ((requests[i]!.inputs.x!.data as Float32Array)[0]! < 0 ? refusal : response)),
    });
  };
  await registry.load({ name: 'm', source: doubler(5), batching: { maxBatchSize: 4, maxQueueDelayMs: 10 }, handler: refuser, warmup: [] });
  const statistics = new InferenceStatistics({ service, now: () => EPOCH });
  // t=0: the refused request (2 items) queues; t=3: two of 1 item fill the batch of 4, which runs 5 ms.
  const refused = assert.rejects(service.infer('m', rows(2, -1)));
  await clock.advanceAsync(3);
  const answered = Promise.all([service.infer('m', rows(1)), service.infer('m', rows(1))]);
  await clock.advanceAsync(5);
  await Promise.all([refused, answered]);
  // Every request of a batch refused one by one: the execution still counts (Triton's backends
  // report batch statistics unless the execution failed as a whole), its items do not.
  const both = [service.infer('m', rows(2, -1)), service.infer('m', rows(2, -1))].map((p) => assert.rejects(p));
  await clock.advanceAsync(5);
  await Promise.all(both);

  const stats = statistics.versionStatistics('m', '1');
  assert.deepEqual([stats.inference_count, stats.execution_count], [2, 2]);
  assert.deepEqual(stats.batch_stats.map((b) => [b.batch_size, b.compute_infer]), [[4, { count: 2, ns: 10 * MS }]]);
  const { success, fail, queue, compute_infer } = stats.inference_stats;
  assert.deepEqual({ success, fail, queue, compute_infer }, {
    success: { count: 2, ns: 10 * MS },
    fail: { count: 3, ns: (8 + 5 + 5) * MS },
    queue: { count: 2, ns: 0 },
    compute_infer: { count: 2, ns: 10 * MS },
  });
  await registry.close();
});

test('cache hits and misses of the caches given, with their lookup and write times; a bypass is neither', async () => {
  const { clock, registry, service, now, results, statistics } = await cachedStack();
  const miss = service.infer('m', rows(1, 7));
  await clock.advanceAsync(15);
  await miss;
  await clock.advanceAsync(0);
  await service.infer('m', rows(1, 7));
  const bypass = service.infer('m', rows(1, 8), { noCache: true, noStore: true });
  await clock.advanceAsync(15);
  await bypass;
  const stats = statistics.versionStatistics('m', '1');
  // The miss and the bypass ran (two executions); the hit did not, but counts as a success, and in
  // the queue's count, which Triton reports as the successes' (TRITONSERVER_ServerModelStatistics).
  assert.equal(stats.inference_stats.success.count, 3);
  assert.deepEqual(stats.inference_stats.cache_hit, { count: 1, ns: 0 });
  assert.deepEqual(stats.inference_stats.cache_miss, { count: 1, ns: 0 });
  assert.deepEqual([stats.inference_count, stats.execution_count, stats.inference_stats.queue.count], [2, 2, 3]);

  // The times (0 on this fake clock's in-memory store): a miss's lookup and the write after it.
  const emitter = new EventEmitter();
  const timed = new InferenceStatistics({ service, caches: [emitter], now });
  emitter.emit('hit', { model: 'm', version: '1', durationMs: 2 });
  emitter.emit('miss', { model: 'm', version: '1', durationMs: 3, reason: 'absent' });
  emitter.emit('store', { model: 'm', version: '1', durationMs: 4 });
  emitter.emit('miss', { model: 'm', version: '1', durationMs: 0, reason: 'bypass' });
  emitter.emit('hit', { model: 'm', version: '9', durationMs: 2 });
  const { cache_hit, cache_miss } = timed.versionStatistics('m', '1').inference_stats;
  assert.deepEqual({ cache_hit, cache_miss }, { cache_hit: { count: 1, ns: 2 * MS }, cache_miss: { count: 1, ns: 7 * MS } });
  await registry.close();
});

test("a no-cache request's write adds nothing to cache_miss: neither a count nor its time", async () => {
  const { clock, registry, service, now } = await stack();
  // Every write takes 4 ms of fake time.
  const lru = new LruStore({ maxBytes: 1 << 20 });
  const store: CacheStore = {
    get: (ns, key) => lru.get(ns, key),
    set: (ns, key, value) => new Promise((resolve) => clock.setTimeout(() => resolve(lru.set(ns, key, value)), 4)),
    delete: (ns, key) => lru.delete(ns, key),
    clear: (ns) => lru.clear(ns),
  };
  const results = new ResultCache({ store, clock });
  service.setCaching('m', { result: results });
  const statistics = new InferenceStatistics({ service, caches: [results], now });
  const miss = service.infer('m', rows(1, 7));
  await clock.advanceAsync(15);
  await miss;
  await clock.advanceAsync(4);
  // Not read, but computed and written, as Cache-Control: no-cache asks.
  const bypass = service.infer('m', rows(1, 8), { noCache: true });
  await clock.advanceAsync(15);
  await bypass;
  await clock.advanceAsync(4);
  await results.idle();
  assert.deepEqual(statistics.versionStatistics('m', '1').inference_stats.cache_miss, { count: 1, ns: 4 * MS });
  await registry.close();
});

test("a request that joined an identical one in flight is a cache hit of 0 ns: every success a hit or a miss, as perf_analyzer reads them", async () => {
  const { clock, registry, service, statistics } = await cachedStack();
  const served = Promise.all([service.infer('m', rows(1, 3)), service.infer('m', rows(1, 3)), service.infer('m', rows(1, 3))]);
  await clock.advanceAsync(15);
  await served;
  const s = statistics.versionStatistics('m', '1').inference_stats;
  // The miss waited its 10 ms queue delay; the hits add 0 ns to the queue but count in it, as successes.
  assert.deepEqual([s.success.count, s.cache_hit, s.cache_miss.count, s.queue, s.compute_infer.count], [3, { count: 2, ns: 0 }, 1, { count: 3, ns: 10 * MS }, 1]);
  statistics.close();
  await registry.close();
});

test('a request its timeout answered while its batch ran is a failure only: its wait, items and compute stay out of the queue, inference_count and compute_infer', async () => {
  const { clock, registry, service, now } = await stack();
  const statistics = new InferenceStatistics({ service, now });
  // t=0: both wait the 10 ms delay, then run 5 ms; the first times out at 12 ms, while the batch runs.
  const late = assert.rejects(service.infer('m', rows(1), { timeoutMs: 12 }));
  const answered = service.infer('m', rows(1));
  await clock.advanceAsync(15);
  await Promise.all([late, answered]);
  const stats = statistics.versionStatistics('m', '1');
  assert.deepEqual([stats.inference_count, stats.execution_count], [1, 1]);
  const { success, fail, queue, compute_infer } = stats.inference_stats;
  assert.deepEqual(
    { success, fail, queue, compute_infer },
    { success: { count: 1, ns: 15 * MS }, fail: { count: 1, ns: 12 * MS }, queue: { count: 1, ns: 10 * MS }, compute_infer: { count: 1, ns: 5 * MS } },
  );
  statistics.close();
  await registry.close();
});

test("last_inference is when the version last ran an execution, as Triton sets it with the batch's statistics: a cache hit and a failure do not move it", async () => {
  const { clock, registry, service, statistics } = await cachedStack();
  const miss = service.infer('m', rows(1, 7));
  await clock.advanceAsync(15);
  await miss;
  assert.equal(statistics.versionStatistics('m', '1').last_inference, EPOCH + 15);
  await clock.advanceAsync(5);
  await service.infer('m', rows(1, 7));
  const wrongShape = { inputs: { x: { datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) } as Tensor } };
  await assert.rejects(service.infer('m', wrongShape), InvalidInputError);
  const stats = statistics.versionStatistics('m', '1');
  assert.deepEqual([stats.inference_stats.cache_hit.count, stats.inference_stats.fail.count, stats.last_inference], [1, 1, EPOCH + 15]);
  statistics.close();
  await registry.close();
});

test('a version counts from its ready event until it is unloaded; its counts go with it, not with a reload in place', async () => {
  const { clock, registry, service } = await stack();
  const statistics = new InferenceStatistics({ service, now: () => EPOCH });
  const v2 = { name: 'm', version: '2', source: doubler(1), batching: { maxBatchSize: 4, maxQueueDelayMs: 0 }, warmup: [] };
  await registry.load(v2);
  const served = service.infer('m', rows(3), { version: '2' });
  await clock.advanceAsync(1);
  await served;
  assert.equal(statistics.versionStatistics('m', '2').inference_count, 3);
  // Loaded again while it serves: the new instance takes over and the counts go on (Triton's restart at 0).
  await registry.load(v2);
  await clock.advanceAsync(0);
  assert.equal(statistics.versionStatistics('m', '2').inference_count, 3);
  await registry.unload('m', '2');
  await clock.advanceAsync(0);
  assert.equal(statistics.versionStatistics('m', '2').inference_count, 0);
  statistics.close();
  await registry.close();
});

test("an ensemble's model steps count as requests of their model, as Triton counts a composing model's: success or fail with its time, and a queue count that is success's", async () => {
  const { clock, registry, service, now } = await stack();
  await loadStepEnsembles(registry);
  const statistics = new InferenceStatistics({ service, now });

  assert.deepEqual(data(await sendStepEnsembles(service, clock), 'y'), [4, 4, 4, 4]);

  const m = statistics.versionStatistics('m', '1');
  assert.deepEqual(
    { inference_count: m.inference_count, execution_count: m.execution_count, success: m.inference_stats.success, fail: m.inference_stats.fail, queue: m.inference_stats.queue, compute_infer: m.inference_stats.compute_infer },
    {
      inference_count: 12,
      execution_count: 4,
      // Six steps of 5 ms, then two of 15 (10 queued, 5 run).
      success: { count: 8, ns: (6 * 5 + 2 * 15) * MS },
      fail: { count: 1, ns: 0 },
      queue: { count: 8, ns: 2 * 10 * MS },
      compute_infer: { count: 8, ns: (6 * 5 + 2 * 5) * MS },
    },
  );
  // The ensemble counts its own requests, as the service's.
  assert.deepEqual([statistics.versionStatistics('pipe', '1').inference_stats.success.count, statistics.versionStatistics('bad', '1').inference_stats.fail.count], [4, 1]);
  statistics.close();
  await registry.close();
});

test('options are checked, quoting the bad value', () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  assert.throws(() => new InferenceStatistics({ service, now: 5 as never }), { message: 'Expected `now` to be a function, got 5 (number)' });
  assert.throws(() => new InferenceStatistics({ service, caches: {} as never }), { message: 'Expected `caches` to be an array of caches, got {} (object)' });
  assert.throws(() => new InferenceStatistics({ service, caches: [{}] as never }), { message: 'Expected `caches[0]` to have on(), off(), got {} (object)' });
  assert.throws(() => new InferenceStatistics({ service: {} as never }), { message: 'Expected `service` to have on(), off(), got {} (object)' });
  assert.throws(() => new InferenceStatistics({ service, clock: 1 } as never), /Unknown option `clock`/);
});

test("a service's SemanticCache counts its lookups under their version; with a ResultCache too, a request counts one lookup, as Triton's", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: doubler(0), warmup: [] });
  const service = new InferenceService({ registry });
  const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  // Each row's direction is its vector: rows of one value are one direction.
  const semantic = new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10 });
  service.setCaching('m', { result, semantic });
  const semanticOnly = new InferenceStatistics({ service, caches: [semantic] });
  const both = new InferenceStatistics({ service, caches: [result, semantic] });
  // Without the semantic cache's events, the exact cache's misses are the lookups counted.
  const resultOnly = new InferenceStatistics({ service, caches: [result] });
  await service.infer('m', rows(1, 1)); // a miss in each
  await Promise.all([result.idle(), semantic.idle()]);
  await service.infer('m', rows(1, 3)); // an exact miss, then a near hit
  await service.infer('m', rows(1, 1)); // an exact hit: the semantic cache is not asked
  // A call of your own that names no model and version counts nowhere.
  await semantic.run({ x: rows(1, 5).inputs.x! }, async () => rows(1, 5).inputs, { partition: ['m', '1'] });
  // A no-cache request looks nothing up in either.
  await service.infer('m', rows(1, 7), { noCache: true });
  const counts = (s: InferenceStatistics) => {
    const { success, cache_hit, cache_miss } = s.versionStatistics('m', '1').inference_stats;
    return [success.count, cache_hit.count, cache_miss.count];
  };
  assert.deepEqual(counts(semanticOnly), [4, 1, 1], 'semantic only: success, hit, miss');
  assert.deepEqual(counts(both), [4, 2, 1], 'both caches: success, hit, miss');
  assert.deepEqual(counts(resultOnly), [4, 1, 2], 'result only: success, hit, miss');
  await semantic.close();
  await registry.close();
});

test("with a model's result and semantic caches, a hit sums its lookup's time and a miss the semantic lookup's and the exact write's, as Triton's cache_hit and cache_miss", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: doubler(0), warmup: [] });
  const service = new InferenceService({ registry });
  // The caches' own clock, moved by their work: an exact read takes 1 ms, a write 4, an embedding 2.
  const clock = new FakeClock();
  const lru = new LruStore({ maxBytes: 1 << 20 });
  const store: CacheStore = {
    get: (ns, key) => (clock.advance(1), lru.get(ns, key)),
    set: (ns, key, value, ttlMs) => (clock.advance(4), lru.set(ns, key, value, ttlMs)),
    delete: (ns, key) => lru.delete(ns, key),
    clear: (ns, prefix) => lru.clear(ns, prefix),
  };
  const result = new ResultCache({ store, clock });
  const embed = (inputs: TensorMap) => (clock.advance(2), inputs.x!.data as Float32Array);
  const semantic = new SemanticCache<TensorMap>({ embed, dimensions: 2, threshold: 0.99, maxEntries: 10, clock });
  service.setCaching('m', { result, semantic });
  const both = new InferenceStatistics({ service, caches: [result, semantic] });
  const resultOnly = new InferenceStatistics({ service, caches: [result] });
  await service.infer('m', rows(1, 1)); // exact miss 1, semantic miss 2, exact write 4
  await Promise.all([result.idle(), semantic.idle()]);
  await service.infer('m', rows(1, 3)); // exact miss 1, near hit 2, no write
  await service.infer('m', rows(1, 1)); // exact hit 1
  const times = (s: InferenceStatistics) => {
    const { cache_hit, cache_miss } = s.versionStatistics('m', '1').inference_stats;
    return { cache_hit, cache_miss };
  };
  assert.deepEqual(times(both), { cache_hit: { count: 2, ns: 3 * MS }, cache_miss: { count: 1, ns: 6 * MS } }, 'both caches');
  assert.deepEqual(times(resultOnly), { cache_hit: { count: 1, ns: 1 * MS }, cache_miss: { count: 2, ns: 6 * MS } }, 'result cache only');
  await semantic.close();
  await registry.close();
});

test('InferenceStatistics with caches that are not an array throws with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => new InferenceStatistics({ service: new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) }), caches: 'x' as never }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
