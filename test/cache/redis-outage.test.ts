import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { InferenceService, ModelRegistry, type InferenceResponse, type MemoryModel, type Tensor } from 'servable';
import { memoryBackend } from 'servable/testing';
import { ResultCache } from '../../src/cache/result-cache.js';
import type { CacheErrorEvent, CacheMissEvent } from '../../src/cache/result-events.js';
import { RedisStore } from '../../src/cache/redis/index.js';
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
    if (client.status !== 'ready') await once(client, 'ready');
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
    await s.recovers(7, 8);
  } finally {
    client.disconnect();
    await s.registry.close();
    await again?.stop();
    await server.stop();
  }
});

test('Redis not reachable from the start: construction neither throws nor waits, requests are misses with error events, and the cache recovers once a server listens', { skip }, async () => {
  const port = await freePort();
  const client = new Redis({ port, host: '127.0.0.1' });
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
    assert.deepEqual(s.errors[0] && [s.errors[0].operation, s.errors[0].error.code, s.errors[0].error.message], ['get', 'ERR_SERVABLE_CACHE', 'Cache get took longer than 50 ms']);
    assert.ok(clientErrors.some((e) => /ECONNREFUSED/.test(e.message)), clientErrors.map((e) => e.message).join('; '));

    server = await startRedis([], port);
    await s.recovers(1, 2);
  } finally {
    client.disconnect();
    await s.registry.close();
    await server?.stop();
  }
});
