import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Redis } from 'ioredis';
import {
  InferenceService,
  InvalidInputError,
  LruStore,
  ModelRegistry,
  ResultCache,
  SemanticCache,
  TensorHandler,
  type CacheStore,
  type InferenceRequest,
  type Tensor,
  type TensorMap,
} from '../../src/index.js';
import { memoryBackend } from '../../src/testing/index.js';
import { RedisStore } from '../../src/cache/redis/index.js';
import { InferenceStatistics, ServingMetrics } from '../../src/metrics/index.js';
import { createHttpHandler } from '../../src/protocol/index.js';
import { redisMissing, startRedis, type RedisProcess } from '../cache/redis-server.js';
import { parse } from '../metrics/exposition.js';
import { doubler, rows } from '../metrics/doubler.js';

const x = (datatype: string, shape: number[], data: Float32Array | Int32Array) => ({ inputs: { x: { datatype, shape, data } as unknown as Tensor } });

/** Requests the doubler's TensorHandler refuses in `validate`, each a 400. */
const INVALID: Record<string, unknown> = {
  'wrong shape': x('FP32', [1, 3], new Float32Array(3)),
  'wrong datatype': x('INT32', [1, 2], new Int32Array(2)),
  'unknown input': { inputs: { z: rows(1).inputs.x } },
  'missing input': { inputs: {} },
  'unknown output': { ...rows(1), outputs: ['nope'] },
  'no items': x('FP32', [0, 2], new Float32Array(0)),
  'not an object': null,
};

/** A store that counts every call made to it. */
function counted(store: CacheStore): { store: CacheStore; calls: string[] } {
  const calls: string[] = [];
  const counting = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: counting, calls };
}

type Caches = 'none' | 'result' | 'semantic' | 'both';

/** Model 'm' (the doubler) behind `caches`, with what they were asked and what was counted of them. */
async function stack(caches: Caches, store: CacheStore = new LruStore({ maxBytes: 1 << 20 })) {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 4 }, warmup: [] });
  const service = new InferenceService({ registry });
  const { store: counting, calls } = counted(store);
  const embeds: unknown[] = [];
  const events: string[] = [];
  const result = caches === 'result' || caches === 'both' ? new ResultCache({ store: counting }) : undefined;
  const semantic =
    caches === 'semantic' || caches === 'both'
      ? new SemanticCache<TensorMap>({ embed: (inputs) => (embeds.push(inputs), Float32Array.of(1, 1)), dimensions: 2, threshold: 0.99, maxEntries: 10 })
      : undefined;
  for (const [name, cache] of [['result', result], ['semantic', semantic]] as const) {
    for (const event of ['hit', 'miss', 'coalesce', 'error'] as const) cache?.on(event as 'hit', () => events.push(`${name}:${event}`));
    if (cache) {
      // Every run of a cache is a key hashed (the exact cache) or a query embedded (the semantic one).
      const run = cache.run.bind(cache) as (...args: unknown[]) => unknown;
      (cache as { run: unknown }).run = (...args: unknown[]) => (events.push(`${name}:run`), run(...args));
    }
  }
  if (result || semantic) service.setCaching('m', { result, semantic });
  const given = { ...(result ? { result } : {}), ...(semantic ? { semantic } : {}) };
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service, caches: given });
  const statistics = new InferenceStatistics({ service, caches: Object.values(given) });
  const lookups = async () => parse(await promRegistry.metrics()).filter((s) => s.name === 'servable_cache_lookups_total' && s.value > 0).map((s) => `${s.labels.cache}:${s.labels.result}`);
  const statisticsCounts = () => {
    const { cache_hit, cache_miss } = statistics.versionStatistics('m', '1').inference_stats;
    return { hit: cache_hit.count, miss: cache_miss.count };
  };
  const close = async () => {
    await semantic?.close();
    await registry.close();
  };
  return { service, calls, embeds, events, lookups, statisticsCounts, close };
}

/** How `service.infer` refused each invalid request. */
async function refusals(service: InferenceService): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {};
  for (const [what, request] of Object.entries(INVALID)) {
    try {
      await service.infer('m', request as InferenceRequest);
      seen[what] = 'answered';
    } catch (error) {
      const { name, code, status, message } = error as InvalidInputError;
      seen[what] = { name, code, status, message, invalid: error instanceof InvalidInputError };
    }
  }
  return seen;
}

test('a request its handler refuses fails before any cache is asked, with the error it gets uncached: no store call, no key hashed, no query embedded, no lookup counted', async () => {
  const uncached = await stack('none');
  const expected = await refusals(uncached.service);
  await uncached.close();
  for (const entry of Object.values(expected)) assert.equal((entry as { code?: string }).code, 'ERR_SERVABLE_INVALID_INPUT', JSON.stringify(expected));
  for (const caches of ['result', 'semantic', 'both'] as const) {
    const s = await stack(caches);
    assert.deepEqual(await refusals(s.service), expected, `${caches}: the same refusals`);
    assert.deepEqual(s.calls, [], `${caches}: no store call`);
    assert.deepEqual(s.embeds, [], `${caches}: nothing embedded`);
    assert.deepEqual(s.events, [], `${caches}: no cache run, hit or miss`);
    assert.deepEqual(await s.lookups(), [], `${caches}: no servable_cache_lookups_total`);
    assert.deepEqual(s.statisticsCounts(), { hit: 0, miss: 0 }, `${caches}: no cache_hit or cache_miss`);
    // A valid request still looks up, and counts one miss (the semantic cache's where there is one, as statistics.md says).
    await s.service.infer('m', rows(1, 3));
    assert.deepEqual(s.statisticsCounts(), { hit: 0, miss: 1 }, `${caches}: a valid request's miss`);
    assert.notDeepEqual(s.events, [], `${caches}: a valid request runs the caches`);
    await s.close();
  }
});

test('over HTTP, a request the handler refuses gets the same 400 body with a cache as without, and no lookup', async () => {
  const bodies = [
    JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }),
    JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }], outputs: [{ name: 'nope' }] }),
    JSON.stringify({ inputs: [{ name: 'z', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] }),
  ];
  const answers: Record<Caches, unknown[]> = { none: [], result: [], semantic: [], both: [] };
  for (const caches of ['none', 'result', 'both'] as const) {
    const s = await stack(caches);
    const http = createHttpHandler({ service: s.service });
    for (const body of bodies) {
      const { status, body: answer } = await http.handle({ method: 'POST', path: '/v2/models/m/infer', headers: { 'content-type': 'application/json' }, body });
      answers[caches].push({ status, body: typeof answer === 'string' ? answer : Buffer.from(answer as Uint8Array).toString() });
    }
    assert.deepEqual([s.calls, s.events, await s.lookups()], [[], [], []], `${caches}: no store call, cache run or lookup counted`);
    await s.close();
  }
  for (const answer of answers.none) assert.equal((answer as { status: number }).status, 400, JSON.stringify(answers.none));
  assert.deepEqual(answers.result, answers.none);
  assert.deepEqual(answers.both, answers.none);
});

test('a request both refused by the handler and of a priority outside the levels gets the handler\'s refusal with a cache, as without', async () => {
  const seen: string[] = [];
  for (const cached of [false, true]) {
    const registry = new ModelRegistry({ backends: [memoryBackend()] });
    await registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 4, priorityLevels: 2 }, warmup: [] });
    const service = new InferenceService({ registry });
    if (cached) service.setCaching('m', { result: new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) }) });
    await service.infer('m', INVALID['unknown input'] as InferenceRequest, { priority: 5 }).catch((e: Error) => seen.push(`${cached ? 'cached' : 'uncached'}: ${e.message}`));
    await registry.close();
  }
  assert.deepEqual(seen, ["uncached: Unknown input 'z'; the model takes 'x'", "cached: Unknown input 'z'; the model takes 'x'"]);
});

/** A TensorHandler that counts its validations, and may validate asynchronously. */
class Counting extends TensorHandler {
  validations = 0;
  readonly async: boolean;
  constructor(async = false) {
    super();
    this.async = async;
  }
  override validate(request: InferenceRequest): void | Promise<void> {
    this.validations++;
    if (!this.async) return super.validate(request);
    return Promise.resolve().then(() => super.validate(request));
  }
}

test('a cached model validates each request once, before its caches: on a miss, a hit, a joined flight, and with an asynchronous validate', async () => {
  for (const async of [false, true]) {
    const registry = new ModelRegistry({ backends: [memoryBackend()] });
    let handler: Counting | undefined;
    await registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 4 }, handler: () => (handler = new Counting(async)), warmup: [] });
    const { store, calls } = counted(new LruStore({ maxBytes: 1 << 20 }));
    const result = new ResultCache({ store });
    const service = new InferenceService({ registry, caches: { m: { result } } });
    const counts: number[] = [];
    const validations = () => {
      counts.push(handler!.validations);
      handler!.validations = 0;
    };
    await service.infer('m', rows(1, 1)); // a miss
    validations();
    await result.idle();
    await service.infer('m', rows(1, 1)); // a hit
    validations();
    await Promise.all([service.infer('m', rows(1, 2)), service.infer('m', rows(1, 2)), service.infer('m', rows(1, 2))]); // one flight, two joined
    validations();
    const reads = calls.filter((c) => c === 'get').length;
    await assert.rejects(service.infer('m', rows(0)), { code: 'ERR_SERVABLE_INVALID_INPUT', message: "Input 'x' has batch dimension 0: the request holds no items" });
    validations();
    assert.deepEqual(counts, [1, 1, 3, 1], `${async ? 'asynchronous' : 'synchronous'} validate: once per request`);
    assert.equal(calls.filter((c) => c === 'get').length, reads, 'the refused request read no store');
    await registry.close();
  }
});

const skip = redisMissing ?? false;
let server: RedisProcess | undefined;
let client: Redis | undefined;

before(async () => {
  if (redisMissing) return;
  server = await startRedis();
  client = new Redis({ port: server.ports[0]!, host: '127.0.0.1' });
});

after(async () => {
  client?.disconnect();
  await server?.stop();
});

/** Redis's own count of reads (keyspace hits and misses) and of commands. */
async function redisStats(redis: Redis): Promise<{ reads: number; commands: number }> {
  const info = await redis.info('stats');
  const field = (name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(info)![1]);
  return { reads: field('keyspace_hits') + field('keyspace_misses'), commands: field('total_commands_processed') };
}

test('with a RedisStore, a request the handler refuses makes no round trip to Redis and counts no lookup', { skip }, async () => {
  const s = await stack('result', new RedisStore({ client: client!, prefix: 'validate-first:' }));
  const start = await redisStats(client!);
  const uncached = await stack('none');
  const expected = await refusals(uncached.service);
  await uncached.close();
  assert.deepEqual(await refusals(s.service), expected);
  const end = await redisStats(client!);
  // The INFO calls themselves are the only commands: the first counts in the second's total.
  assert.deepEqual({ reads: end.reads - start.reads, commands: end.commands - start.commands }, { reads: 0, commands: 1 });
  assert.deepEqual([s.calls, s.events, await s.lookups(), s.statisticsCounts()], [[], [], [], { hit: 0, miss: 0 }]);
  // A valid request reads Redis once.
  await s.service.infer('m', rows(1, 4));
  assert.equal((await redisStats(client!)).reads - end.reads, 1);
  await s.close();
});

test('a request whose hold an eviction released during its lookup is validated again by the instance loaded again that runs it', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 1 });
  const handlers: Counting[] = [];
  await registry.load({ name: 'm', source: doubler(0), handler: () => (handlers.push(new Counting()), handlers.at(-1)!), warmup: [] });
  registry.register({ name: 'other', source: doubler(0), warmup: [] });
  const service = new InferenceService({ registry });
  const semantic = new SemanticCache<TensorMap>({ embed: () => Float32Array.of(1, 1), dimensions: 2, threshold: 0.99, maxEntries: 10 });
  let read!: () => void;
  const store: CacheStore = { get: () => new Promise<undefined>((resolve) => (read = () => resolve(undefined))), set: () => undefined, delete: () => undefined, clear: () => undefined };
  service.setCaching('m', { semantic, result: new ResultCache({ store }) });
  const answer = service.infer('m', rows(1, 3));
  await new Promise<void>((resolve) => setImmediate(resolve));
  // 'other' needs the room of 'm', whose request is in its lookup: the eviction lets go of its hold.
  await registry.acquire('other');
  assert.equal(registry.isReady('m'), false, "'m' was evicted");
  read();
  assert.deepEqual(Array.from((await answer).outputs.y!.data as Float32Array), [6, 6]);
  assert.deepEqual(handlers.map((h) => h.validations), [1, 1], 'validated by the first instance before its lookup, and by the one loaded again that ran it');
  await semantic.close();
  await registry.close();
});
