import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'eventemitter3';
import { Counter, Registry, register } from 'prom-client';
import { CacheError, DynamicBatcher, ensemble, InferenceService, InvalidInputError, ModelNotFoundError, ModelRegistry, UnavailableError, type Backend, type MemoryModel, type Tensor } from '../../src/index.js';
import { FakeClock, memoryBackend } from '../../src/testing/index.js';
import { LruStore } from '../../src/cache/lru-store.js';
import { ResultCache } from '../../src/cache/result-cache.js';
import { SemanticCache } from '../../src/cache/semantic/semantic-cache.js';
import type { TensorMap } from '../../src/core/index.js';
import { ServingMetrics } from '../../src/metrics/index.js';
import { createHttpHandler } from '../../src/protocol/index.js';
import { disposeFailing, flush } from '../registry/helpers.js';
import { parse, sample } from './exposition.js';
import { doubler, rows } from './doubler.js';
import { loadStepEnsembles, sendStepEnsembles } from './step-ensembles.js';

async function stack() {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  await registry.load({ name: 'm', source: doubler(5), batching: { maxBatchSize: 4, maxQueueDelayMs: 10 }, warmup: [] });
  return { clock, registry, service };
}

test('counts requests by outcome and times queue, compute and end-to-end on a real registry', async () => {
  const { clock, registry, service } = await stack();
  const promRegistry = new Registry();
  const metrics = new ServingMetrics({ promRegistry, service });

  // t=0: three requests fill a batch of 4 items (runs 5 ms); two more wait; one is invalid; one is cancelled.
  const first = [service.infer('m', rows(1)), service.infer('m', rows(2)), service.infer('m', rows(1))];
  await clock.advanceAsync(0);
  const cancel = new AbortController();
  const cancelled = service.infer('m', rows(1), { signal: cancel.signal });
  const waiting = service.infer('m', rows(2));
  await clock.advanceAsync(0);
  const wrongShape = { inputs: { x: { datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) } as Tensor } };
  await assert.rejects(service.infer('m', wrongShape), InvalidInputError);
  await assert.rejects(service.infer('nope', rows(1)), ModelNotFoundError);
  await assert.rejects(service.infer('m', rows(1), { version: '9' }), ModelNotFoundError);

  const during = await promRegistry.metrics();
  assert.equal(sample(during, 'servable_queue_requests', { model: 'm', version: '1' }), 2);
  assert.equal(sample(during, 'servable_queue_items', { model: 'm', version: '1' }), 3);
  assert.equal(sample(during, 'servable_batches_in_flight', { model: 'm', version: '1' }), 1);

  cancel.abort();
  await assert.rejects(cancelled, { code: 'ERR_SERVABLE_CANCELLED' });
  await clock.advanceAsync(5); // the first batch ends; the waiting request's 10 ms delay runs from t=0
  await Promise.all(first);
  await clock.advanceAsync(5); // t=10: it runs alone
  await clock.advanceAsync(5); // t=15: done
  await waiting;

  const text = await promRegistry.metrics();
  const m1 = { model: 'm', version: '1' };
  assert.equal(sample(text, 'servable_requests_total', { ...m1, outcome: 'success' }), 4);
  assert.equal(sample(text, 'servable_requests_total', { ...m1, outcome: 'invalid' }), 1);
  assert.equal(sample(text, 'servable_requests_total', { ...m1, outcome: 'cancelled' }), 1);
  // Unknown names and versions are not echoed into labels: a client cannot mint series.
  assert.equal(sample(text, 'servable_requests_total', { model: '', version: '', outcome: 'not-found' }), 1);
  assert.equal(sample(text, 'servable_requests_total', { model: 'm', version: '', outcome: 'not-found' }), 1);

  // End to end: 5, 5, 5 ms for the first batch, 15 ms for the one that waited.
  assert.equal(sample(text, 'servable_request_duration_seconds_count', m1), 4);
  assert.equal(sample(text, 'servable_request_duration_seconds_bucket', { ...m1, le: '0.005' }), 3);
  assert.equal(sample(text, 'servable_request_duration_seconds_bucket', { ...m1, le: '0.01' }), 3);
  assert.equal(sample(text, 'servable_request_duration_seconds_bucket', { ...m1, le: '0.025' }), 4);

  assert.equal(sample(text, 'servable_inference_items_total', m1), 6);
  assert.equal(sample(text, 'servable_inference_executions_total', { ...m1, reason: 'full' }), 1);
  assert.equal(sample(text, 'servable_inference_executions_total', { ...m1, reason: 'delay' }), 1);
  assert.equal(sample(text, 'servable_batch_size_items_count', m1), 2);
  assert.equal(sample(text, 'servable_batch_size_items_sum', m1), 6);
  assert.equal(sample(text, 'servable_batch_size_items_bucket', { ...m1, le: '2' }), 1);
  assert.equal(sample(text, 'servable_batch_size_items_bucket', { ...m1, le: '4' }), 2);
  assert.equal(sample(text, 'servable_compute_duration_seconds_count', m1), 2);
  assert.equal(sample(text, 'servable_compute_duration_seconds_sum', m1), 0.01);
  assert.equal(sample(text, 'servable_queue_duration_seconds_count', m1), 4);
  assert.equal(sample(text, 'servable_queue_duration_seconds_sum', m1), 0.01);
  assert.equal(sample(text, 'servable_queue_drops_total', { ...m1, reason: 'cancelled', stage: 'queued' }), 1);
  assert.equal(sample(text, 'servable_queue_requests', m1), 0);
  assert.equal(sample(text, 'servable_batches_in_flight', m1), 0);
  assert.equal(sample(text, 'servable_model_versions', { model: 'm', state: 'ready' }), 1);
  assert.equal(sample(text, 'servable_model_version_info', { ...m1, backend: 'memory', device: 'cpu', state: 'ready' }), 1);

  metrics.close();
  const after = service.infer('m', rows(1));
  await clock.advanceAsync(20);
  await after;
  const closed = await promRegistry.metrics();
  assert.equal(sample(closed, 'servable_requests_total', { ...m1, outcome: 'success' }), 4, 'a closed ServingMetrics stops counting');
  assert.equal(sample(closed, 'servable_model_version_info', { ...m1, backend: 'memory', device: 'cpu', state: 'ready' }), undefined);
  assert.equal(register.getMetricsAsArray().length, 0, 'nothing lands on the global registry');
  await registry.close();
});

test('a request refused by a full queue counts as rejected, never as a backend failure, and its drop as queue-full', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  await registry.load({ name: 'm', source: doubler(5), batching: { maxBatchSize: 1, maxQueueSize: 1 }, warmup: [] });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const running = service.infer('m', rows(1));
  await clock.advanceAsync(0);
  const queued = service.infer('m', rows(1));
  await clock.advanceAsync(0);
  await assert.rejects(service.infer('m', rows(1)), { code: 'ERR_SERVABLE_QUEUE_FULL', status: 503 });
  await clock.advanceAsync(10);
  await Promise.all([running, queued]);

  const text = await promRegistry.metrics();
  const m1 = { model: 'm', version: '1' };
  assert.equal(sample(text, 'servable_requests_total', { ...m1, outcome: 'rejected' }), 1);
  assert.equal(sample(text, 'servable_requests_total', { ...m1, outcome: 'backend' }), 0);
  assert.equal(sample(text, 'servable_requests_total', { ...m1, outcome: 'success' }), 2);
  assert.equal(sample(text, 'servable_queue_drops_total', { ...m1, reason: 'queue-full', stage: 'queued' }), 1);
  await registry.close();
});

test('names and versions chosen by clients never become label values, whatever the outcome', async () => {
  const { clock, registry, service } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const http = createHttpHandler({ service, bodyLimit: 1000 });

  // Failures before a version is chosen: a deadline already past, a version the model does not have (before its body), a body too large, one the protocol refuses.
  await assert.rejects(service.infer('m', rows(1), { version: 'asked-1', timeoutMs: 0 }), { code: 'ERR_SERVABLE_DEADLINE_EXCEEDED' });
  await assert.rejects(service.infer('no-such-model', rows(1), { timeoutMs: 0 }), { code: 'ERR_SERVABLE_DEADLINE_EXCEEDED' });
  const statuses = [
    (await http.handle({ method: 'POST', path: '/v2/models/m/versions/asked-2/infer', headers: {}, body: 'not json' })).status,
    (await http.handle({ method: 'POST', path: '/v2/models/m/versions/asked-3/infer', headers: {}, body: 'x'.repeat(2000) })).status,
    (await http.handle({ method: 'POST', path: '/v1/models/m/versions/4:predict', headers: {}, body: '{bad' })).status,
    (await http.handle({ method: 'POST', path: '/v2/models/m/versions/1/infer', headers: {}, body: 'not json' })).status,
  ];
  assert.deepEqual(statuses, [404, 413, 404, 400]);
  const served = service.infer('m', rows(1));
  await clock.advanceAsync(15);
  await served;

  const series = parse(await promRegistry.metrics()).filter((s) => s.name === 'servable_requests_total');
  assert.deepEqual(
    series.map((s) => `${s.labels.model}/${s.labels.version}/${s.labels.outcome}=${s.value}`).sort(),
    ['//timeout=1', 'm//invalid=2', 'm//not-found=2', 'm//timeout=1', 'm/1/backend=0', 'm/1/cancelled=0', 'm/1/invalid=0', 'm/1/rejected=0', 'm/1/success=1', 'm/1/timeout=0'],
  );
  await registry.close();
});

test('a load failure is counted and unloaded versions leave the scrape-time gauges', async () => {
  const { clock, registry } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, registry });
  const broken: MemoryModel = { ...doubler(0), run: () => ({}) };
  await assert.rejects(registry.load({ name: 'm', version: '2', source: broken }));
  await registry.load({ name: 'm', version: '3', source: doubler(0) });
  let text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'm', outcome: 'failure' }), 1);
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'm', outcome: 'success' }), 1);
  assert.equal(sample(text, 'servable_model_versions', { model: 'm', state: 'ready' }), 2);
  await registry.unload('m', '1');
  text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_model_versions', { model: 'm', state: 'ready' }), 1);
  assert.equal(sample(text, 'servable_model_version_info', { model: 'm', version: '1', backend: 'memory', device: 'cpu', state: 'ready' }), undefined);
  assert.equal(sample(text, 'servable_queue_requests', { model: 'm', version: '3' }), 0);
  assert.equal(sample(text, 'servable_queue_requests', { model: 'm', version: '1' }), undefined);
  void clock;
  await registry.close();
});

test('both load outcomes exist at 0 from a model\'s first load on, so a first failed load is an increase', async () => {
  const { clock, registry } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, registry });
  let text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'm', outcome: 'failure' }), 0); // loaded before the metrics
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'm', outcome: 'success' }), 0);

  const broken: MemoryModel = { ...doubler(5), run: () => ({}) };
  const failing = assert.rejects(registry.load({ name: 'n', source: broken }));
  await clock.advanceAsync(0); // warming up: the scrape sees the model before its load ends
  text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'n', outcome: 'failure' }), 0);
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'n', outcome: 'success' }), 0);
  await clock.advanceAsync(5);
  await failing;
  text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'n', outcome: 'failure' }), 1);
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'n', outcome: 'success' }), 0);
  assert.equal(sample(text, 'servable_requests_total', { model: 'm', version: '1', outcome: 'rejected' }), undefined, 'requests are counted only with a service');
  await registry.close();
});

test('a draining version keeps its queue gauges until its queued requests have run', async () => {
  const { clock, registry, service } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const answers = Array.from({ length: 6 }, () => service.infer('m', rows(1)));
  await clock.advanceAsync(0); // 4 run, 2 wait
  const unloaded = registry.unload('m', '1');
  await clock.advanceAsync(0);
  let text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_model_versions', { model: 'm', state: 'draining' }), 1);
  assert.equal(sample(text, 'servable_queue_requests', { model: 'm', version: '1' }), 2);
  assert.equal(sample(text, 'servable_queue_items', { model: 'm', version: '1' }), 2);
  assert.equal(sample(text, 'servable_batches_in_flight', { model: 'm', version: '1' }), 1);
  await clock.advanceAsync(5);
  text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_queue_requests', { model: 'm', version: '1' }), 0);
  assert.equal(sample(text, 'servable_batches_in_flight', { model: 'm', version: '1' }), 1);
  await clock.advanceAsync(5);
  await unloaded;
  assert.equal((await Promise.all(answers)).length, 6);
  text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_queue_requests', { model: 'm', version: '1' }), undefined);
  assert.equal(sample(text, 'servable_batches_in_flight', { model: 'm', version: '1' }), undefined);
  await registry.close();
});

test('a slow cache hit is answered by the version it was routed to, which drains after it and takes its series with it', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const lru = new LruStore({ maxBytes: 1 << 20 });
  let lookupMs = 0; // a remote store whose lookups start taking 50 ms
  const store = {
    get: async (ns: string, key: string) => {
      if (lookupMs > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, lookupMs));
      return lru.get(ns, key);
    },
    set: lru.set.bind(lru),
    delete: lru.delete.bind(lru),
    clear: lru.clear.bind(lru),
  };
  const service = new InferenceService({ registry, clock, caches: { m: { result: new ResultCache({ store }) } } });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  await registry.load({ name: 'm', version: '1', source: doubler(0), batching: { maxBatchSize: 4 }, warmup: [] });
  const first = service.infer('m', rows(1));
  await clock.advanceAsync(1);
  await first;
  lookupMs = 50;
  const hit = service.infer('m', rows(1));
  await clock.advanceAsync(1);
  const swap = registry.load({ name: 'm', version: '2', source: doubler(0), batching: { maxBatchSize: 4 }, warmup: [], versionPolicy: { latest: 1 } });
  await clock.advanceAsync(10);
  await swap;
  assert.deepEqual(registry.list('m').map((v) => `${v.version}:${v.state}`), ['2:ready', '1:draining']); // held by the hit's lookup
  await clock.advanceAsync(100);
  assert.deepEqual(Array.from((await hit).outputs.y!.data as Float32Array), [2, 2]);
  await clock.advanceAsync(1);
  assert.deepEqual(registry.list('m').map((v) => `${v.version}:${v.state}`), ['2:ready']);
  const samples = parse(await promRegistry.metrics());
  assert.deepEqual(samples.filter((s) => s.labels.version === '1').map((s) => s.name), []);
  assert.equal(sample(samples, 'servable_requests_total', { model: 'm', version: '', outcome: 'success' }), undefined);
  await registry.close();
});

/** Two stacks, each watched by its own ServingMetrics on one prom registry, each having answered one request of model 'm' version '1'. */
async function twoServedOnOnePromRegistry() {
  const a = await stack();
  const b = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service: a.service });
  new ServingMetrics({ promRegistry, service: b.service });
  const answers = [a.service.infer('m', rows(1)), b.service.infer('m', rows(3))];
  await a.clock.advanceAsync(15); // a lone request waits the 10 ms delay, then runs 5 ms
  await b.clock.advanceAsync(15);
  await Promise.all(answers);
  return { a, b, promRegistry };
}

test('two ServingMetrics on one prom registry share the metrics and add up; buckets must agree', async () => {
  const { a, b, promRegistry } = await twoServedOnOnePromRegistry();
  const text = await promRegistry.metrics();
  const m1 = { model: 'm', version: '1' };
  assert.equal(sample(text, 'servable_requests_total', { ...m1, outcome: 'success' }), 2);
  assert.equal(sample(text, 'servable_inference_items_total', m1), 4);
  assert.equal(sample(text, 'servable_model_versions', { model: 'm', state: 'ready' }), 2);

  assert.throws(() => new ServingMetrics({ promRegistry, service: a.service, buckets: { batchSize: [1, 8] } }), {
    name: 'TypeError',
    message: /^Expected `buckets` to match those of the metrics with prefix 'servable_' already on this registry/,
  });
  const other = new ServingMetrics({ promRegistry, service: a.service, prefix: 'edge_', buckets: { batchSize: [1, 8] } });
  assert.match(await promRegistry.metrics(), /^# TYPE edge_batch_size_items histogram$/m);
  other.close();
  await a.registry.close();
  await b.registry.close();
});

test('a model unloaded from one of two registries on one prom registry keeps the series the other still adds to', async () => {
  const { a, b, promRegistry } = await twoServedOnOnePromRegistry();
  await assert.rejects(b.service.infer('m', rows(1), { version: '9' }), ModelNotFoundError);

  await a.registry.unload('m');
  await a.clock.advanceAsync(0);
  assert.deepEqual(a.registry.names(), []);
  const kept = await promRegistry.metrics();
  const m1 = { model: 'm', version: '1' };
  assert.equal(sample(kept, 'servable_requests_total', { ...m1, outcome: 'success' }), 2);
  assert.equal(sample(kept, 'servable_requests_total', { model: 'm', version: '', outcome: 'not-found' }), 1);
  assert.equal(sample(kept, 'servable_inference_items_total', m1), 4);
  assert.equal(sample(kept, 'servable_batch_size_items_count', m1), 2);
  assert.equal(sample(kept, 'servable_model_loads_total', { model: 'm', outcome: 'failure' }), 0);
  assert.equal(sample(kept, 'servable_model_versions', { model: 'm', state: 'ready' }), 1);

  // Once no registry on it has the model, its series leave.
  await b.registry.unload('m');
  await b.clock.advanceAsync(0);
  assert.deepEqual(parse(await promRegistry.metrics()).filter((s) => s.labels.model === 'm'), []);
  await a.registry.close();
  await b.registry.close();
});

test('a bare DynamicBatcher and caches are measured too', async () => {
  const clock = new FakeClock();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const execute = async (xs: readonly number[]) => {
    await gate;
    return xs.map((x) => x + 1);
  };
  const batcher = new DynamicBatcher<number, number>({ maxBatchSize: 2, maxQueueSize: 2, clock, execute });
  const cache = new EventEmitter();
  const semantic = new EventEmitter();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, batchers: { tokenizer: batcher }, caches: { results: cache, semantic } });

  const answers = [batcher.submit(1), batcher.submit(2)];
  await clock.advanceAsync(0); // [1, 2] runs
  answers.push(batcher.submit(4), batcher.submit(5)); // wait: the first batch is still running
  await assert.rejects(batcher.submit(3), { code: 'ERR_SERVABLE_QUEUE_FULL' });
  const during = await promRegistry.metrics();
  assert.equal(sample(during, 'servable_queue_requests', { model: 'tokenizer', version: '' }), 2);
  assert.equal(sample(during, 'servable_batches_in_flight', { model: 'tokenizer', version: '' }), 1);
  open();
  await clock.advanceAsync(0);
  assert.deepEqual(await Promise.all(answers), [2, 3, 5, 6]);

  cache.emit('hit', { model: 'm', version: '1', durationMs: 2 });
  semantic.emit('hit', { partition: 'tenant-7', exact: false, similarity: 0.93, durationMs: 1 });
  semantic.emit('hit', { partition: 'tenant-7', exact: true, similarity: 1, durationMs: 1 });
  semantic.emit('miss', { partition: 'tenant-7', reason: 'rejected', durationMs: 1 });
  cache.emit('miss', { model: 'm', version: '1', reason: 'absent', durationMs: 4 });
  cache.emit('miss', { model: 'm', version: '1', reason: 'bypass', durationMs: 0 });
  cache.emit('coalesce', { model: 'm', version: '1' });
  cache.emit('error', { operation: 'get', model: 'm', namespace: 'n', error: new Error('down') });

  const text = await promRegistry.metrics();
  const t = { model: 'tokenizer', version: '' };
  assert.equal(sample(text, 'servable_inference_items_total', t), 4);
  assert.equal(sample(text, 'servable_inference_executions_total', { ...t, reason: 'full' }), 2);
  assert.equal(sample(text, 'servable_queue_drops_total', { ...t, reason: 'queue-full', stage: 'queued' }), 1);
  for (const result of ['hit', 'miss', 'bypass', 'coalesced']) {
    assert.equal(sample(text, 'servable_cache_lookups_total', { cache: 'results', model: 'm', result }), 1, result);
  }
  assert.equal(sample(text, 'servable_cache_lookup_duration_seconds_sum', { cache: 'results', result: 'hit' }), 0.002);
  assert.equal(sample(text, 'servable_cache_lookup_duration_seconds_count', { cache: 'results', result: 'miss' }), 1);
  assert.equal(sample(text, 'servable_cache_errors_total', { cache: 'results', operation: 'get' }), 1);
  // A SemanticCache's partition is not a label; only non-exact hits record a similarity.
  assert.equal(sample(text, 'servable_cache_lookups_total', { cache: 'semantic', model: '', result: 'hit' }), 2);
  assert.equal(sample(text, 'servable_cache_lookups_total', { cache: 'semantic', model: '', result: 'miss' }), 1);
  assert.equal(sample(text, 'servable_cache_hit_similarity_count', { cache: 'semantic' }), 1);
  assert.equal(sample(text, 'servable_cache_hit_similarity_bucket', { cache: 'semantic', le: '0.925' }), 0);
  assert.equal(sample(text, 'servable_cache_hit_similarity_bucket', { cache: 'semantic', le: '0.95' }), 1);
});

test("a cache's first lookup for a model creates its hit and miss series at 0, so a cache that never hits shows a hit ratio of 0, not none", async () => {
  const cache = new EventEmitter();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, caches: { results: cache } });
  assert.equal(sample(await promRegistry.metrics(), 'servable_cache_lookups_total', { cache: 'results', model: 'm', result: 'hit' }), undefined);
  // A store that is down: every lookup misses.
  cache.emit('error', { operation: 'get', model: 'm', namespace: 'n', error: new Error('down') });
  cache.emit('miss', { model: 'm', version: '1', reason: 'error', durationMs: 1 });
  cache.emit('coalesce', { model: 'other', version: '1' });

  const text = await promRegistry.metrics();
  const lookups = parse(text)
    .filter((s) => s.name === 'servable_cache_lookups_total')
    .map((s) => `${s.labels.model}/${s.labels.result}=${s.value}`)
    .sort();
  assert.deepEqual(lookups, ['m/hit=0', 'm/miss=1', 'other/coalesced=1', 'other/hit=0', 'other/miss=0']);
});

test('a real ResultCache: a miss, then a hit, then a coalesced request', async () => {
  const cache = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, caches: { results: cache } });
  const request = { model: 'm', version: '1', inputs: rows(1).inputs };
  let runs = 0;
  const compute = async () => {
    runs++;
    await null;
    return { y: rows(1).inputs.x };
  };
  assert.equal((await cache.run(request, compute)).hit, false);
  assert.equal((await cache.run(request, compute)).hit, true);
  const other = { ...request, version: '2' };
  await Promise.all([cache.run(other, compute), cache.run(other, compute)]);
  assert.equal(runs, 2);

  const text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_cache_lookups_total', { cache: 'results', model: 'm', result: 'miss' }), 2);
  assert.equal(sample(text, 'servable_cache_lookups_total', { cache: 'results', model: 'm', result: 'hit' }), 1);
  assert.equal(sample(text, 'servable_cache_lookups_total', { cache: 'results', model: 'm', result: 'coalesced' }), 1);
  assert.equal(sample(text, 'servable_cache_lookup_duration_seconds_count', { cache: 'results', result: 'miss' }), 2);
});

test('options are checked at construction, quoting the bad value', async () => {
  const { service, registry } = await stack();
  const promRegistry = new Registry();
  assert.throws(() => new ServingMetrics({ service } as never), {
    message: 'Expected `promRegistry` to be a prom-client Registry (pass `register` from prom-client for its global one), got undefined (undefined)',
  });
  assert.throws(() => new ServingMetrics({ promRegistry }), /^TypeError: Expected at least one of `registry`, `service`, `batchers` or `caches`/);
  assert.throws(() => new ServingMetrics({ promRegistry, service, prefix: '9x' }), { message: "Expected `prefix` to be '' or match /^[a-zA-Z_:][a-zA-Z0-9_:]*$/, got \"9x\" (string)" });
  assert.throws(() => new ServingMetrics({ promRegistry, service, buckets: { seconds: [0.1, 0.1] } }), {
    name: 'RangeError',
    message: 'Expected `buckets.seconds` to be strictly increasing, got [0.1,0.1] (array)',
  });
  assert.throws(() => new ServingMetrics({ promRegistry, service, buckets: { batchSize: [] } }), { message: 'Expected `buckets.batchSize` to be a non-empty array of finite numbers, got [] (array)' });
  assert.throws(() => new ServingMetrics({ promRegistry, caches: { results: {} as never } }), { message: 'Expected `caches.results` to have on(), off(), got {} (object)' });
  assert.equal(promRegistry.getMetricsAsArray().length, 0, 'a rejected configuration registers nothing');
  await registry.close();
});

test('servable_model_versions counts the versions of every known model by state, ready 0 included', async () => {
  const clock = new FakeClock();
  const memory = memoryBackend({ clock });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const gated: Backend = { name: 'memory', accepts: (s) => memory.accepts(s), load: async (s, o) => (await gate, memory.load(s, o)) };
  const registry = new ModelRegistry({ backends: [gated], clock });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, registry });
  const states = async () =>
    parse(await promRegistry.metrics())
      .filter((s) => s.name === 'servable_model_versions')
      .map((s) => `${s.labels.model}/${s.labels.state}=${s.value}`)
      .sort();

  const loading = registry.load({ name: 'm', version: '1', source: doubler(0), warmup: [] });
  registry.register({ name: 'm', version: '2', source: doubler(0), warmup: [] });
  await clock.advanceAsync(0);
  assert.deepEqual(await states(), ['m/loading=1', 'm/ready=0', 'm/unloaded=1']);
  open();
  await loading;
  assert.deepEqual(await states(), ['m/ready=1', 'm/unloaded=1']);
  await registry.unload('m', '1');
  assert.deepEqual(await states(), ['m/ready=0', 'm/unloaded=1'], 'a known model with no ready version reports ready 0');
  await registry.unload('m');
  assert.deepEqual(await states(), [], 'a model the registry forgot leaves the gauge');
  await registry.close();
});

test('servable_model_loads_waiting_for_room reports the loads waiting for room under maxLoadedVersions, summed over the registries on one prom registry', async () => {
  const memory = memoryBackend();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const gated: Backend = { name: 'memory', accepts: (s) => memory.accepts(s), load: async (s, o) => (await gate, memory.load(s, o)) };
  const registry = new ModelRegistry({ backends: [gated], maxLoadedVersions: 1 });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, registry });
  // A registry-like source without the property reports none.
  new ServingMetrics({ promRegistry, registry: { on() {}, off() {}, names: () => [], versions: () => [], list: () => [], queues: () => [] } });
  const waiting = async () => sample(await promRegistry.metrics(), 'servable_model_loads_waiting_for_room', {});
  assert.equal(await waiting(), 0);

  const loads = ['a', 'b', 'c'].map((name) => registry.load({ name, source: doubler(0), warmup: [] }));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(registry.loadsWaitingForRoom, 2);
  assert.equal(await waiting(), 2, 'b waits for a to finish loading, c behind it');
  open();
  await Promise.all(loads);
  assert.equal(await waiting(), 0);
  await registry.close();
});

test('a session that fails to dispose is not counted as a failed load', async () => {
  const registry = new ModelRegistry({ backends: [disposeFailing()] });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, registry });
  await registry.load({ name: 'm', version: '1', source: doubler(0), warmup: [] });
  await registry.load({ name: 'm', version: '2', source: doubler(0), warmup: [] }); // keeps the model known
  await registry.unload('m', '1');
  const text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'm', outcome: 'success' }), 2);
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'm', outcome: 'failure' }), 0);
});

test("a failed batch split into retries counts each retry as an execution, but each request's queue time once", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  let runs = 0;
  const flaky: MemoryModel = {
    ...doubler(5),
    run: (feeds) => {
      if (runs++ === 0) throw new Error('flaky');
      return doubler(5).run(feeds);
    },
  };
  await registry.load({ name: 'm', source: flaky, batching: { maxBatchSize: 4, maxQueueDelayMs: 10 }, warmup: [] });
  const service = new InferenceService({ registry, clock });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });

  // t=10: the two requests run together and fail at t=15; each is retried alone (t=15-20, t=20-25).
  const answers = [service.infer('m', rows(1)), service.infer('m', rows(1))];
  await clock.advanceAsync(25);
  await Promise.all(answers);

  const text = await promRegistry.metrics();
  const m1 = { model: 'm', version: '1' };
  assert.equal(sample(text, 'servable_inference_executions_total', { ...m1, reason: 'delay' }), 1);
  assert.equal(sample(text, 'servable_inference_executions_total', { ...m1, reason: 'retry' }), 2);
  assert.equal(sample(text, 'servable_inference_items_total', m1), 4);
  assert.equal(sample(text, 'servable_batch_size_items_count', m1), 3);
  assert.equal(sample(text, 'servable_compute_duration_seconds_sum', m1), 0.015);
  assert.equal(sample(text, 'servable_queue_duration_seconds_count', m1), 2);
  assert.equal(sample(text, 'servable_queue_duration_seconds_sum', m1), 0.02);
  assert.equal(sample(text, 'servable_inference_failed_requests_total', m1), undefined);
  await registry.close();
});

test('a request dropped while it runs, and a request split into parts, as a bare batcher reports them', async () => {
  const clock = new FakeClock();
  let fail = false;
  const batcher = new DynamicBatcher<number[], number[]>({
    maxBatchSize: 4,
    maxQueueDelayMs: 1,
    clock,
    splitOnFailure: false,
    sizeOf: (r) => r.length,
    split: (r, sizes) => sizes.map((n, i) => r.slice(sizes.slice(0, i).reduce((a, b) => a + b, 0)).slice(0, n)),
    merge: (parts) => parts.flat(),
    execute: (rs, { signal }) =>
      new Promise((resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason));
        clock.setTimeout(() => (fail ? reject(new Error('boom')) : resolve(rs.map((r) => r.map((x) => 2 * x)))), 2);
      }),
  });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, batchers: { b: batcher } });

  // Ten items run as parts of 4, 4 and 2: three entries, each queued, executed and timed alone.
  const split = batcher.submit([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await clock.advanceAsync(10);
  assert.equal((await split).length, 10);
  // Cancelled while its execution runs: the batcher answers it (a drop); the abandoned execution's failure is not counted again.
  const cancel = new AbortController();
  const cancelled = batcher.submit([1], { signal: cancel.signal });
  await clock.advanceAsync(1.5);
  cancel.abort();
  await assert.rejects(cancelled, { code: 'ERR_SERVABLE_CANCELLED' });
  await clock.advanceAsync(5);
  // A part that fails fails its request, once; the parts not yet run never run.
  fail = true;
  const failing = assert.rejects(batcher.submit([1, 2, 3, 4, 5, 6]), /boom/);
  await clock.advanceAsync(5);
  await failing;

  const text = await promRegistry.metrics();
  const b = { model: 'b', version: '' };
  assert.equal(sample(text, 'servable_inference_executions_total', { ...b, reason: 'full' }), 3);
  assert.equal(sample(text, 'servable_inference_executions_total', { ...b, reason: 'delay' }), 2);
  assert.equal(sample(text, 'servable_inference_items_total', b), 15);
  assert.equal(sample(text, 'servable_queue_duration_seconds_count', b), 5);
  assert.equal(sample(text, 'servable_queue_drops_total', { ...b, reason: 'cancelled', stage: 'running' }), 1);
  assert.equal(sample(text, 'servable_inference_failed_requests_total', b), 1);
});

test('after promRegistry.clear() a new ServingMetrics registers its metrics again', async () => {
  const { clock, registry, service } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service }).close();
  const registered = promRegistry.getMetricsAsArray().length;
  promRegistry.clear();
  new ServingMetrics({ promRegistry, service });
  assert.equal(promRegistry.getMetricsAsArray().length, registered);
  const answer = service.infer('m', rows(1));
  await clock.advanceAsync(15);
  await answer;
  assert.equal(sample(await promRegistry.metrics(), 'servable_requests_total', { model: 'm', version: '1', outcome: 'success' }), 1);
  await registry.close();
});

test('a name taken by another metric fails the constructor without registering anything', async () => {
  const { registry, service } = await stack();
  const promRegistry = new Registry();
  new Counter({ name: 'servable_queue_items', help: 'mine', registers: [promRegistry] });
  assert.throws(() => new ServingMetrics({ promRegistry, service }), {
    name: 'TypeError',
    message: "Expected `promRegistry` to have no metric named 'servable_queue_items' (set another `prefix`), but one is registered",
  });
  assert.deepEqual(promRegistry.getMetricsAsArray().map((m) => m.name), ['servable_queue_items']);
  promRegistry.removeSingleMetric('servable_queue_items');
  new ServingMetrics({ promRegistry, service });
  assert.equal(promRegistry.getMetricsAsArray().length, 21);
  await registry.close();
});

test('unknown options, a prefix reserved by Prometheus and bad buckets are refused, naming the bad bucket', async () => {
  const promRegistry = new Registry();
  const caches = { results: new EventEmitter() };
  const refused = (options: object) => () => new ServingMetrics({ promRegistry, caches, ...options } as never);
  assert.throws(refused({ cache: {} }), {
    name: 'TypeError',
    message: 'Unknown option `cache`; ServingMetrics takes promRegistry, registry, service, batchers, caches, prefix, buckets',
  });
  assert.throws(refused({ buckets: { second: [1] } }), { name: 'TypeError', message: 'Unknown option `buckets.second`; buckets takes seconds, batchSize' });
  assert.throws(refused({ prefix: '__app_' }), { name: 'RangeError', message: 'Expected `prefix` not to start with \'__\' (reserved by Prometheus), got "__app_" (string)' });
  assert.throws(refused({ buckets: { seconds: [0.1, NaN] } }), { name: 'TypeError', message: 'Expected `buckets.seconds[1]` to be a finite number, got NaN (number)' });
  assert.throws(refused({ buckets: { seconds: [0.1, Infinity] } }), { name: 'TypeError', message: 'Expected `buckets.seconds[1]` to be a finite number, got Infinity (number)' });
  assert.throws(refused({ buckets: { seconds: ['0.1'] } }), { name: 'TypeError', message: 'Expected `buckets.seconds[0]` to be a finite number, got "0.1" (string)' });
  assert.throws(refused({ buckets: { seconds: [-1, 0, 1] } }), { name: 'RangeError', message: 'Expected `buckets.seconds[0]` to be >= 0, got -1 (number)' });
  assert.equal(promRegistry.getMetricsAsArray().length, 0);
});

test('an unloaded version leaves every metric, so deploying version after version does not grow the page', async () => {
  const { clock, registry, service } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  for (let v = 2; v <= 20; v++) {
    await registry.load({ name: 'm', version: String(v), source: doubler(1), batching: { maxBatchSize: 4, maxQueueDelayMs: 0 }, warmup: [] });
    const served = service.infer('m', rows(1), { version: String(v) });
    await clock.advanceAsync(1);
    await served;
    await registry.unload('m', String(v - 1));
  }
  await clock.advanceAsync(0);
  const samples = parse(await promRegistry.metrics());
  const versions = new Set(samples.filter((s) => s.labels.version !== undefined).map((s) => s.labels.version));
  assert.deepEqual([...versions].sort(), ['20']);
  assert.equal(sample(samples, 'servable_requests_total', { model: 'm', version: '20', outcome: 'success' }), 1);
  assert.equal(sample(samples, 'servable_requests_total', { model: 'm', version: '20', outcome: 'rejected' }), 0, 'created at 0 when the version became ready');
  assert.equal(sample(samples, 'servable_queue_duration_seconds_count', { model: 'm', version: '20' }), 1);
  assert.equal(sample(samples, 'servable_model_loads_total', { model: 'm', outcome: 'success' }), 19); // version 1 loaded before the metrics
  await registry.close();
});

test('an unloaded version has left every metric by the time unload() resolves, so a scrape right after it shows none of its series', async () => {
  const { clock, registry, service } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  await registry.load({ name: 'm', version: '2', source: doubler(1), warmup: [] });
  // Version 1 answers a batch, and drops a request cancelled in its queue.
  const served = service.infer('m', rows(1), { version: '1' });
  const cancel = new AbortController();
  const cancelled = service.infer('m', rows(1), { version: '1', signal: cancel.signal });
  await clock.advanceAsync(0);
  cancel.abort();
  await assert.rejects(cancelled, { code: 'ERR_SERVABLE_CANCELLED' });
  await clock.advanceAsync(15); // its 10 ms delay, then 5 ms of compute
  await served;
  const before = parse(await promRegistry.metrics());
  const ofVersion1 = (samples: ReturnType<typeof parse>) => [...new Set(samples.filter((s) => s.labels.version === '1').map((s) => s.name))].sort();
  for (const name of ['servable_inference_executions_total', 'servable_queue_drops_total', 'servable_compute_duration_seconds_count', 'servable_batch_size_items_count']) {
    assert.equal(ofVersion1(before).includes(name), true, `version 1 has ${name} before its unload`);
  }
  await registry.unload('m', '1');
  assert.deepEqual(ofVersion1(parse(await promRegistry.metrics())), [], 'no series of version 1 in the first scrape after unload()');
  await registry.close();
});

test('a model the registry forgets takes its loads, its version-less requests and its cache lookups with it', async () => {
  const { clock, registry, service } = await stack();
  const promRegistry = new Registry();
  const results = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  service.setCaching('m', { result: results });
  new ServingMetrics({ promRegistry, service, caches: { results } });
  for (let round = 0; round < 3; round++) {
    if (round > 0) await registry.load({ name: 'm', source: doubler(1), batching: { maxBatchSize: 4, maxQueueDelayMs: 0 }, warmup: [] });
    const served = service.infer('m', rows(1));
    await clock.advanceAsync(20);
    await served;
    await assert.rejects(service.infer('m', rows(1), { version: '9' }), ModelNotFoundError);
    const before = await promRegistry.metrics();
    assert.equal(sample(before, 'servable_cache_lookups_total', { cache: 'results', model: 'm', result: round === 0 ? 'miss' : 'hit' }), 1);
    assert.equal(sample(before, 'servable_requests_total', { model: 'm', version: '', outcome: 'not-found' }), 1);
    await registry.unload('m');
    await clock.advanceAsync(0);
    assert.deepEqual(registry.names(), []);
    const left = parse(await promRegistry.metrics()).filter((s) => s.labels.model === 'm');
    assert.deepEqual(left, [], `round ${round}`);
  }
  // Loaded again as it is forgotten: the series it starts with are not removed as the forgotten model's.
  await registry.load({ name: 'm', source: doubler(1), batching: { maxBatchSize: 4, maxQueueDelayMs: 0 }, warmup: [] });
  let again: Promise<unknown> | undefined;
  registry.once('unload', () => {
    again = Promise.resolve().then(() => registry.load({ name: 'm', source: doubler(1), batching: { maxBatchSize: 4, maxQueueDelayMs: 0 }, warmup: [] }));
  });
  await registry.unload('m');
  await clock.advanceAsync(0);
  await again;
  const text = await promRegistry.metrics();
  assert.deepEqual(registry.names(), ['m']);
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'm', outcome: 'failure' }), 0);
  assert.ok(sample(text, 'servable_model_loads_total', { model: 'm', outcome: 'success' })! >= 1);
  await registry.close();
});

test('a model unloaded while all its versions were evicted under maxLoadedVersions leaves its series by the next scrape', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock, maxLoadedVersions: 1 });
  const service = new InferenceService({ registry, clock });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const batching = { maxBatchSize: 4, maxQueueDelayMs: 0 };
  await registry.load({ name: 'a', source: doubler(1), batching, warmup: [] });
  const served = service.infer('a', rows(1));
  await clock.advanceAsync(1);
  await served;
  await assert.rejects(service.infer('a', rows(1), { version: '9' }), ModelNotFoundError);
  await registry.load({ name: 'b', source: doubler(1), batching, warmup: [] }); // evicts a's only version
  assert.deepEqual(registry.versions('a'), [{ version: '1', state: 'unloaded' }]);
  assert.equal(sample(await promRegistry.metrics(), 'servable_model_loads_total', { model: 'a', outcome: 'success' }), 1, 'still known: kept');

  await registry.unload('a'); // a version that is not loaded is forgotten without an unload event
  assert.deepEqual(registry.names(), ['b']);
  await promRegistry.metrics();
  await clock.advanceAsync(0);
  const text = await promRegistry.metrics();
  assert.deepEqual(parse(text).filter((s) => s.labels.model === 'a'), []);
  assert.equal(sample(text, 'servable_model_loads_total', { model: 'b', outcome: 'success' }), 1);
  await registry.close();
});

test('a ServingMetrics created while a first load is in flight keeps its failed load once the registry forgets the model', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const broken: MemoryModel = { ...doubler(5), run: () => ({}) };
  const loading = assert.rejects(registry.load({ name: 'x', source: broken, warmup: [rows(1)] }), /did not return output 'y'/);
  await clock.advanceAsync(0);
  assert.deepEqual(registry.versions('x'), [{ version: '1', state: 'loading' }]);
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, registry });
  await clock.advanceAsync(5);
  await loading;
  assert.deepEqual(registry.names(), []);
  await promRegistry.metrics();
  await clock.advanceAsync(0);
  assert.equal(sample(await promRegistry.metrics(), 'servable_model_loads_total', { model: 'x', outcome: 'failure' }), 1);
  await registry.close();
});

/**
 * Sends `model` two requests of `n` rows each and, 1 ms later, aborts one with a timeout's reason
 * and the other with an Error of its caller's own: each rejects with its own reason.
 */
async function abortEach(service: InferenceService, clock: FakeClock, model: string, n: number): Promise<void> {
  const reasons = [new DOMException('The operation was aborted due to timeout', 'TimeoutError'), new Error('user gave up')];
  const controllers = reasons.map(() => new AbortController());
  const calls = controllers.map((c) => service.infer(model, rows(n), { signal: c.signal }));
  await clock.advanceAsync(1);
  controllers.forEach((c, i) => c.abort(reasons[i]));
  for (const [i, call] of calls.entries()) await assert.rejects(call, (e) => e === reasons[i]);
}

test('a request whose signal aborts with a reason of its own counts as cancelled, not as a backend failure', async () => {
  const { clock, registry, service } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  await abortEach(service, clock, 'm', 1);
  const text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_requests_total', { model: 'm', version: '1', outcome: 'cancelled' }), 2);
  assert.equal(sample(text, 'servable_requests_total', { model: 'm', version: '1', outcome: 'backend' }), 0);
  await registry.close();
});

test('a tenantOf hook that fails counts its request once, by its error: backend for a throw, a rejection or a non-string answer; on /infer and :predict', async () => {
  const { registry, service } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const events: string[] = [];
  service.on('request', (e) => events.push(`${e.model}/${e.version}/${e.outcome}`));
  const failures: Record<string, () => unknown> = {
    throws: () => {
      throw new Error('no tenant store');
    },
    rejects: () => Promise.reject(new Error('no tenant store')),
    'answers a number': () => 42,
    'refuses the client': () => {
      throw new InvalidInputError('Unknown API key');
    },
  };
  const errors: unknown[] = [];
  const routes = [['/v2/models/m/infer', JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] })], ['/v1/models/m:predict', '{"instances": [[1, 2]]}']] as const;
  const statuses: number[] = [];
  for (const hook of Object.values(failures)) {
    const http = createHttpHandler({ service, tenantOf: hook as never, onError: (error) => errors.push(error) });
    for (const [path, body] of routes) statuses.push((await http.handle({ method: 'POST', path, headers: {}, body })).status);
  }
  assert.deepEqual(statuses, [500, 500, 500, 500, 500, 500, 400, 400]);
  assert.equal(errors.length, 6, 'each 500 reaches onError once');
  assert.deepEqual(events, [...Array(6).fill('m//backend'), 'm//invalid', 'm//invalid']);
  const text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_requests_total', { model: 'm', version: '', outcome: 'backend' }), 6);
  assert.equal(sample(text, 'servable_requests_total', { model: 'm', version: '', outcome: 'invalid' }), 2);
  assert.equal(sample(text, 'servable_requests_total', { model: 'm', version: '1', outcome: 'backend' }), 0);

  // A body refused first is the request's one count: tenantOf's error is not counted beside it.
  const http = createHttpHandler({ service, tenantOf: failures.rejects as never });
  for (const path of ['/v2/models/m/infer', '/v1/models/m:predict']) assert.equal((await http.handle({ method: 'POST', path, headers: {}, body: '{bad' })).status, 400);
  assert.deepEqual(events.slice(8), ['m//invalid', 'm//invalid']);
  await registry.close();
});

test('a client gone while tenantOf is pending counts its request once, as cancelled (499), for a version loaded or not, on /infer and :predict, and loads nothing', async () => {
  const { registry, service } = await stack();
  registry.register({ name: 'm', version: '2', source: doubler(5), warmup: [] });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const events: string[] = [];
  service.on('request', (e) => events.push(`${e.version}/${e.outcome}`));
  const loading: string[] = [];
  registry.on('loading', ({ version }) => loading.push(version));
  const answers: ((tenant: string) => void)[] = [];
  const errors: unknown[] = [];
  const http = createHttpHandler({ service, tenantOf: () => new Promise<string>((resolve) => answers.push(resolve)), onError: (error) => errors.push(error) });
  const infer = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] });
  const statuses: number[] = [];
  for (const [path, body] of [['/v2/models/m/versions/1/infer', infer], ['/v2/models/m/versions/2/infer', infer], ['/v1/models/m/versions/1:predict', '{"instances": [[1, 2]]}'], ['/v1/models/m/versions/2:predict', '{"instances": [[1, 2]]}']]) {
    const client = new AbortController();
    const replying = http.handle({ method: 'POST', path: path!, headers: {}, body, signal: client.signal });
    await flush();
    assert.equal(answers.length, 1, `tenantOf is asked for ${path}`);
    client.abort();
    answers.pop()!('acme');
    statuses.push((await replying).status);
  }
  await flush();
  // Version 1 is routed to before the signal is looked at; version 2 is never reached.
  assert.deepEqual([statuses, events, loading, errors], [[499, 499, 499, 499], ['1/cancelled', '/cancelled', '1/cancelled', '/cancelled'], [], []]);
  const text = await promRegistry.metrics();
  assert.deepEqual(['1', ''].map((version) => sample(text, 'servable_requests_total', { model: 'm', version, outcome: 'cancelled' })), [2, 2]);
  await registry.close();
});

test('servable_model_label_info says which version each label points at, and follows a label as it moves', async () => {
  const { registry } = await stack();
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, registry });
  await registry.load({ name: 'm', version: '2', source: doubler(5), labels: ['canary'], warmup: [] });
  registry.setLabel('m', 'stable', '1');
  const labels = async () =>
    parse(await promRegistry.metrics())
      .filter((s) => s.name === 'servable_model_label_info')
      .map((s) => `${s.labels.model} ${s.labels.label}=${s.labels.version} ${s.value}`)
      .sort();
  assert.deepEqual(await labels(), ['m canary=2 1', 'm stable=1 1']);
  registry.setLabel('m', 'stable', '2');
  assert.deepEqual(await labels(), ['m canary=2 1', 'm stable=2 1']);
  registry.removeLabel('m', 'canary');
  await registry.unload('m', '1');
  assert.deepEqual(await labels(), ['m stable=2 1']);
  await registry.close();
});

test('a CacheError or an UnavailableError a handler throws counts as backend, an outcome the docs list, never as outcome="cache"', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const throwing = (error: Error): MemoryModel => ({ ...doubler(0), run: () => { throw error; } });
  await registry.load({ name: 'c', source: throwing(new CacheError('the store is down')), warmup: [] });
  await registry.load({ name: 'u', source: throwing(new UnavailableError('no worker')), warmup: [] });
  await assert.rejects(service.infer('c', rows(1)), { code: 'ERR_SERVABLE_CACHE', status: 500 });
  await assert.rejects(service.infer('u', rows(1)), { code: 'ERR_SERVABLE_UNAVAILABLE', status: 503 });
  const text = await promRegistry.metrics();
  assert.equal(sample(text, 'servable_requests_total', { model: 'c', version: '1', outcome: 'backend' }), 1);
  assert.equal(sample(text, 'servable_requests_total', { model: 'u', version: '1', outcome: 'backend' }), 1);
  assert.deepEqual(parse(text).filter((s) => s.name === 'servable_requests_total' && s.labels.outcome === 'cache'), []);
  await registry.close();
});

test("a service's SemanticCache counts its lookups under the model each was for, as a ResultCache does", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  for (const name of ['m', 'other']) await registry.load({ name, source: doubler(0), warmup: [] });
  const service = new InferenceService({ registry });
  // Each row's direction is its vector: rows of one value are one direction.
  const semantic = new SemanticCache<TensorMap>({ embed: (inputs) => inputs.x!.data as Float32Array, dimensions: 2, threshold: 0.99, maxEntries: 10 });
  service.setCaching('m', { semantic });
  service.setCaching('other', { semantic });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, caches: { semantic } });
  await service.infer('m', rows(1, 1));
  await semantic.idle();
  await service.infer('m', rows(1, 3)); // same direction: a near hit
  await service.infer('other', rows(1, 1)); // another model's partition: a miss
  await service.infer('m', rows(1, 1), { noCache: true });

  const text = await promRegistry.metrics();
  const lookups = parse(text)
    .filter((s) => s.name === 'servable_cache_lookups_total')
    .map((s) => `${s.labels.model}/${s.labels.result}=${s.value}`)
    .sort();
  assert.deepEqual(lookups, ['m/bypass=1', 'm/hit=1', 'm/miss=1', 'other/hit=0', 'other/miss=1']);
  await semantic.close();
  await registry.close();
});

test("an ensemble's model steps count as requests of their model, as Triton counts a composing model's: by outcome, and a success with its time", async () => {
  const { clock, registry, service } = await stack();
  await loadStepEnsembles(registry);
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  // Without the service, no request is counted, a step's no more than any other.
  const registryOnly = new Registry();
  new ServingMetrics({ promRegistry: registryOnly, registry });

  await sendStepEnsembles(service, clock);

  const text = await promRegistry.metrics();
  const m = { model: 'm', version: '1' };
  assert.equal(sample(text, 'servable_requests_total', { ...m, outcome: 'success' }), 8, 'four ensemble requests of two steps each');
  assert.equal(sample(text, 'servable_requests_total', { ...m, outcome: 'invalid' }), 1, "the step m refused, as the service counts m's own");
  // Six steps of 5 ms, then two of 15 (10 queued, 5 run).
  assert.equal(sample(text, 'servable_request_duration_seconds_count', m), 8);
  assert.equal(sample(text, 'servable_request_duration_seconds_sum', m), (6 * 0.005 + 2 * 0.015));
  assert.equal(sample(text, 'servable_request_duration_seconds_bucket', { ...m, le: '0.005' }), 6);
  // The ensembles count their own requests, as the service's.
  assert.equal(sample(text, 'servable_requests_total', { model: 'pipe', version: '1', outcome: 'success' }), 4);
  assert.equal(sample(text, 'servable_requests_total', { model: 'bad', version: '1', outcome: 'invalid' }), 1);
  assert.equal(parse(await registryOnly.metrics()).filter((s) => s.name === 'servable_requests_total').length, 0);
  await registry.close();
});

test("an ensemble step whose caller's signal aborts with a reason of its own counts as cancelled for its model, as the ensemble's own request does, not as a backend failure", async () => {
  const { clock, registry, service } = await stack();
  const x2 = [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 2] }];
  const y2 = [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 2] }];
  await registry.load({ name: 'pipe', source: ensemble({ inputs: x2, outputs: y2, steps: [{ model: 'm', inputMap: { x: 'x' }, outputMap: { y: 'y' } }] }) });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  // Each waits in m's queue (10 ms delay for a batch of 4) when its caller gives up; then two more, once their batch runs (5 ms).
  await abortEach(service, clock, 'pipe', 1);
  await abortEach(service, clock, 'pipe', 2); // a batch of 4 runs at once
  await clock.advanceAsync(5);
  const text = await promRegistry.metrics();
  for (const model of ['pipe', 'm']) {
    assert.equal(sample(text, 'servable_requests_total', { model, version: '1', outcome: 'cancelled' }), 4, `${model}: cancelled`);
    assert.equal(sample(text, 'servable_requests_total', { model, version: '1', outcome: 'backend' }), 0, `${model}: backend`);
  }
  await registry.close();
});

test("servable_model_versions{state=\"failed\"} counts a version registry.load() failed to bring in, with the ready one still serving, until a newer version is ready", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  await registry.load({ name: 'm', source: doubler(5), warmup: [] });
  const promRegistry = new Registry();
  const metrics = new ServingMetrics({ promRegistry, service });
  const broken: MemoryModel = { ...doubler(7), run: () => { throw new Error('weights are corrupt'); } };
  await assert.rejects(registry.load({ name: 'm', version: '2', source: broken, warmup: [rows(1)] }), /weights are corrupt/);
  let text = await promRegistry.metrics();
  assert.deepEqual([sample(text, 'servable_model_versions', { model: 'm', state: 'failed' }), sample(text, 'servable_model_versions', { model: 'm', state: 'ready' })], [1, 1]);
  await registry.load({ name: 'm', version: '3', source: doubler(3), warmup: [] });
  text = await promRegistry.metrics();
  // No failed version left: the series goes (only `ready` is reported at 0).
  assert.deepEqual([sample(text, 'servable_model_versions', { model: 'm', state: 'failed' }), sample(text, 'servable_model_versions', { model: 'm', state: 'ready' })], [undefined, 2]);
  metrics.close();
  await registry.close();
});

test('ServingMetrics with nothing to watch, or a bad prefix, throws with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => new ServingMetrics({ promRegistry: new Registry() }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => new ServingMetrics({ registry: new ModelRegistry({ backends: [memoryBackend()] }), promRegistry: new Registry(), prefix: '__x_' }), { name: 'RangeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
