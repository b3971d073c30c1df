import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { InferenceService, ModelRegistry, type InferenceResponse, type MemoryModel, type Tensor, type TensorMap } from 'servable';
import { memoryBackend } from 'servable/testing';
import { ResultCache } from '../../src/cache/result-cache.js';
import type { CacheErrorEvent, CacheMissEvent } from '../../src/cache/result-events.js';
import { RedisSemanticLog, RedisStore } from '../../src/cache/redis/index.js';
import { SemanticCache } from '../../src/cache/semantic/semantic-cache.js';
import type { SemanticCacheEvents } from '../../src/cache/semantic/types.js';
import { freePort, redisMissing, startRedis } from './redis-server.js';

const skip = redisMissing ?? false;

/** y = x * 10. */
const scale: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
  run: ({ x }) => ({ y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => v * 10) } }),
};

const request = (a: number, b: number) => ({ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([a, b]) } as Tensor } });
const values = (r: InferenceResponse) => Array.from(r.outputs.y!.data as Float32Array);

/** Commands ioredis holds for a server it cannot reach, or has sent and not heard back about. */
function queued(client: Redis): number {
  const { offlineQueue, commandQueue } = client as unknown as { offlineQueue: { length: number }; commandQueue: { length: number } };
  return offlineQueue.length + commandQueue.length;
}

/** Once `client` has connected (and answered its ready check): before then, a call's time includes the connection's. */
async function ready(client: Redis): Promise<void> {
  if (client.status !== 'ready') await once(client, 'ready');
}

/** A service whose model 'm' sits behind a ResultCache on `client` (timeoutMs 50), with what the cache reported. */
async function served(client: Redis, prefix: string) {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', version: '1', source: scale, warmup: [] });
  const result = new ResultCache({ store: new RedisStore({ client, prefix }), timeoutMs: 50 });
  const errors: CacheErrorEvent[] = [];
  const misses: CacheMissEvent['reason'][] = [];
  let hits = 0;
  result.on('error', (e) => errors.push(e));
  result.on('miss', (e) => misses.push(e.reason));
  result.on('hit', () => hits++);
  const service = new InferenceService({ registry, caches: { m: { result } } });
  /** Infers request(a, b), asserting the model's exact answer, and resolves with how long it took. */
  const exact = async (a: number, b: number): Promise<number> => {
    const started = Date.now();
    assert.deepEqual(values(await service.infer('m', request(a, b))), [a * 10, b * 10].map(Math.fround));
    return Date.now() - started;
  };
  /** Once the client is connected again and has answered what it held: a miss is stored, then a hit. */
  const recovers = async (a: number, b: number): Promise<void> => {
    await ready(client);
    await client.ping(); // answered after every command queued before it, late reads included
    const before = hits;
    await exact(a, b);
    await result.idle();
    await exact(a, b);
    assert.equal(hits, before + 1, 'a result stored after the server came back is a hit');
  };
  return { backend, registry, result, errors, misses, exact, recovers };
}

test('Redis killed while requests flow: every request gets the exact answer in bounded time, ioredis queues stay small, and hits resume once a server is back on the port', { skip }, async () => {
  const server = await startRedis();
  const port = server.ports[0]!;
  const client = new Redis({ port, host: '127.0.0.1' });
  const clientErrors: Error[] = [];
  client.on('error', (e: Error) => clientErrors.push(e));
  await ready(client); // the first request's 50 ms would otherwise include the connection
  const s = await served(client, 'killed:');
  let again: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    await s.exact(1, 2);
    await s.result.idle();
    await s.exact(1, 2);
    assert.deepEqual(s.misses, ['absent']);

    // Traffic in flight while the server dies: 8 callers, each asking 40 requests (repeats included).
    let killed = false;
    const longest: number[] = [];
    const callers = [0, 1, 2, 3, 4, 5, 6, 7].map(async (c) => {
      for (let i = 0; i < 40; i++) {
        if (c === 0 && i === 5) {
          await server.kill();
          killed = true;
        }
        longest.push(await s.exact(c, i % 10));
      }
    });
    await Promise.all(callers);
    assert.ok(killed);
    const worst = Math.max(...longest);
    assert.ok(worst < 2000, `a request took ${worst} ms, where the store's timeout is 50 ms`);

    // Still down: 300 more requests, and ioredis holds no more than the calls in flight when the server died.
    const held = queued(client);
    assert.ok(held <= 2 * callers.length, `ioredis holds ${held} commands for the dead server, from ${callers.length} callers`);
    for (let i = 0; i < 300; i++) await s.exact(100 + i, 1);
    assert.ok(queued(client) <= held, `ioredis holds ${queued(client)} commands for the dead server, ${held} before 300 more requests`);
    assert.ok(s.errors.length > 0);
    assert.deepEqual(new Set(s.errors.map((e) => `${e.operation} ${e.error.code}`)), new Set(['get ERR_SERVABLE_CACHE', 'set ERR_SERVABLE_CACHE']));
    assert.ok(s.misses.includes('error'), 'reads the dead server could not answer are misses with reason error');
    assert.ok(clientErrors.length > 0, 'the client reports the lost connection');

    again = await startRedis([], port);
    await s.recovers(-7, 8); // an input the traffic never sent: a write in flight when the server died may land after it is back
  } finally {
    client.disconnect();
    await s.registry.close();
    await again?.stop();
    await server.stop();
  }
});

for (const [options, first] of [
  [{}, 'Cache get took longer than 50 ms'],
  [{ enableOfflineQueue: false }, "Cache get failed: Stream isn't writeable and enableOfflineQueue options is false"],
] as const) {
  test(`Redis not reachable from the start (ioredis ${JSON.stringify(options)}): construction neither throws nor waits, requests are misses with error events, and the cache recovers once a server listens`, { skip }, async () => {
    const port = await freePort();
    const client = new Redis({ port, host: '127.0.0.1', ...options });
    const clientErrors: Error[] = [];
    client.on('error', (e: Error) => clientErrors.push(e));
    const s = await served(client, 'absent:');
    let server: Awaited<ReturnType<typeof startRedis>> | undefined;
    try {
      for (let i = 0; i < 200; i++) {
        const took = await s.exact(i, 2);
        assert.ok(took < 2000, `request ${i} took ${took} ms, where the store's timeout is 50 ms`);
      }
      assert.equal(s.backend.calls.length, 200, 'every request ran the model');
      assert.ok(queued(client) <= 4, `ioredis holds ${queued(client)} commands for a server that never answered`);
      assert.equal(s.misses.length, 200);
      assert.ok(s.misses.every((r) => r === 'error'), `misses: ${[...new Set(s.misses)].join(', ')}`);
      assert.deepEqual(s.errors[0] && [s.errors[0].operation, s.errors[0].error.code, s.errors[0].error.message], ['get', 'ERR_SERVABLE_CACHE', first]);
      if (clientErrors.length === 0) await once(client, 'error');
      assert.match(clientErrors[0]!.message, /ECONNREFUSED/);

      server = await startRedis([], port);
      await s.recovers(-1, 2);
    } finally {
      client.disconnect();
      await s.registry.close();
      await server?.stop();
    }
  });
}

/** A replica: its own client, registry and service, model 'm' behind a SemanticCache logged to `key` on the server at `port` (manual sync). */
async function replica(port: number, key: string, options: { maxRetriesPerRequest?: number | null } = {}) {
  const client = new Redis({ port, host: '127.0.0.1', ...options });
  client.on('error', () => {}); // the outage is what is tested
  await ready(client);
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', version: '1', source: scale, warmup: [] });
  const semantic = new SemanticCache<TensorMap>({
    embed: (q) => Array.from(q.x!.data as Float32Array),
    dimensions: 2,
    threshold: 0.999,
    maxEntries: 100,
    syncIntervalMs: 0,
    timeoutMs: 200,
    log: new RedisSemanticLog({ client, key }),
  });
  const errors: SemanticCacheEvents['error'][0][] = [];
  semantic.on('error', (e) => errors.push(e));
  const service = new InferenceService({ registry, caches: { m: { semantic } } });
  /** Infers request(a, b), asserting the model's exact answer; resolves with whether the model ran. */
  const ran = async (a: number, b: number): Promise<boolean> => {
    const before = backend.calls.length;
    assert.deepEqual(values(await service.infer('m', request(a, b))), [a * 10, b * 10].map(Math.fround));
    return backend.calls.length > before;
  };
  const close = async () => {
    await semantic.close();
    client.disconnect();
    await registry.close();
  };
  return { client, semantic, errors, ran, close };
}

test('SemanticCache replicas on a RedisSemanticLog across a Redis restart that lost the stream: no replica serves an entry another cleared, none crashes, and sharing resumes', { skip }, async () => {
  const server = await startRedis();
  const port = server.ports[0]!;
  const partition = ['m', '1', ''];
  const [one, two] = await Promise.all([replica(port, 'outage:semantic'), replica(port, 'outage:semantic')]);
  let again: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    assert.equal(await one.ran(1, 2), true);
    await one.semantic.idle();
    await Promise.all([one.semantic.sync(), two.semantic.sync()]);
    assert.equal(await two.ran(1, 2), false, 'two has the entry one made');
    await two.semantic.invalidate(partition); // recorded in the stream; one has not read it yet

    await server.kill();
    assert.equal(await one.ran(3, 4), true);
    await one.semantic.idle();
    assert.deepEqual(one.errors.map((e) => [e.operation, e.error.code]), [['append', 'ERR_SERVABLE_CACHE']]);
    // Documented: invalidate() rejects when the log cannot record the clear (here another tenant's).
    await assert.rejects(two.semantic.invalidate(['m', '1', 'b']), { code: 'ERR_SERVABLE_CACHE', message: 'Cache clear took longer than 200 ms' });
    await one.semantic.sync(); // waited for 200 ms; its read goes on across the restart
    assert.deepEqual(one.errors.slice(1).map((e) => [e.operation, e.error.message]), [['sync', 'Cache sync took longer than 200 ms']]);

    again = await startRedis([], port); // --save '': the stream, and two's clear in it, are gone
    for (const r of [one, two]) await ready(r.client);
    await one.semantic.sync();
    assert.equal(await one.ran(1, 2), true, 'one no longer serves the entry two cleared');
    assert.deepEqual(one.errors.slice(2).map((e) => [e.operation, e.error.code]), [['sync', 'ERR_SERVABLE_CACHE']]);
    assert.match(one.errors[2]!.error.message, /^Stream outage:semantic no longer holds \d+-\d+, the last record read: records after it may be lost \(a restart without persistence, a flush, or trimming past it\); every entry is dropped$/);

    // Sharing resumes on the new stream, and a clear reaches the other replica again.
    await one.semantic.idle();
    assert.equal(await two.ran(5, 6), true);
    await two.semantic.idle();
    await one.semantic.sync();
    assert.equal(await one.ran(5, 6), false, 'one has the entry two made after the restart');
    await two.semantic.invalidate(partition);
    await one.semantic.sync();
    assert.equal(await one.ran(5, 6), true, 'and the clear two made after it');
    assert.equal(one.errors.length, 3, 'the loss is reported once');
  } finally {
    await Promise.all([one.close(), two.close()]);
    await again?.stop();
    await server.stop();
  }
});

test('a SemanticCache closed while Redis is down and a sync waits on the client: close() and the sync return within timeoutMs, and the read applies and reports nothing once it is closed', { skip }, async () => {
  const server = await startRedis();
  const port = server.ports[0]!;
  const r = await replica(port, 'outage:semantic:close');
  let again: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    assert.equal(await r.ran(1, 2), true);
    await r.semantic.idle();
    await r.semantic.sync();
    await server.kill();
    const syncing = r.semantic.sync();
    await r.semantic.close();
    await syncing;
    again = await startRedis([], port); // the sync's read goes on, and finds the stream lost
    await ready(r.client);
    await r.semantic.close(); // waits for that read now that it can end
    assert.deepEqual([r.errors, r.semantic.size], [[], 1]);
  } finally {
    await r.close();
    await again?.stop();
    await server.stop();
  }
});

test('sync() during a Redis outage, on a client that holds commands until it reconnects: the caller waits at most timeoutMs, a sync error event, and later syncs join the read already waiting rather than queue more', { skip, timeout: 10_000 }, async () => {
  const server = await startRedis();
  const port = server.ports[0]!;
  const r = await replica(port, 'outage:semantic:sync', { maxRetriesPerRequest: null });
  let again: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    assert.equal(await r.ran(1, 2), true);
    await r.semantic.idle();
    await r.semantic.sync();
    await server.kill();
    await r.semantic.sync();
    assert.deepEqual(r.errors.map((e) => [e.operation, e.error.code, e.error.message]), [['sync', 'ERR_SERVABLE_CACHE', 'Cache sync took longer than 200 ms']]);
    const held = queued(r.client);
    await r.semantic.sync();
    assert.equal(queued(r.client), held, 'a second sync sends nothing more to the dead server');
    assert.equal(r.errors.length, 2);

    again = await startRedis([], port); // the read that waited goes on, and finds the stream lost
    await ready(r.client);
    await r.semantic.sync();
    assert.deepEqual(r.errors.slice(2).map((e) => e.operation), ['sync']);
    assert.match(r.errors[2]!.error.message, /^Stream outage:semantic:sync no longer holds/);
    assert.equal(r.semantic.size, 0, 'and drops every entry');
  } finally {
    await r.close();
    await again?.stop();
    await server.stop();
  }
});
