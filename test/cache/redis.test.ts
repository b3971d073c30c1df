import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { ResultCache } from '../../src/cache/result-cache.js';
import type { CacheErrorEvent } from '../../src/cache/result-events.js';
import { RedisSemanticLog, RedisStore, type RedisClientLike } from '../../src/cache/redis/index.js';
import { encodeRecord } from '../../src/cache/semantic/record.js';
import { ngramEmbedder } from '../../src/cache/semantic/embedders.js';
import { SemanticCache } from '../../src/cache/semantic/semantic-cache.js';
import { cacheStoreContract } from '../../src/testing/cache-store-contract.js';
import { redisMissing, startRedis, startRedisCluster, type RedisProcess } from './redis-server.js';

const skip = redisMissing ?? false;
let server: RedisProcess | undefined;
let cluster: RedisProcess | undefined;
let client: Redis;
let clusterClient: Cluster;
let prefixes = 0;

before(async () => {
  if (redisMissing) return;
  [server, cluster] = await Promise.all([startRedis(['--rename-command', 'KEYS', '']), startRedisCluster()]);
  client = new Redis({ port: server.ports[0]!, host: '127.0.0.1' });
  clusterClient = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }]);
  await clusterClient.set('warm', '1');
});

after(async () => {
  client?.disconnect();
  clusterClient?.disconnect();
  await Promise.all([server?.stop(), cluster?.stop()]);
});

const contract = (name: string, make: () => RedisClientLike): void =>
  cacheStoreContract(
    (title, fn) => test(title, { skip }, fn),
    () => ({ store: new RedisStore({ client: make(), prefix: `t${prefixes++}:`, scanCount: 50 }) }),
    name,
  );

contract('RedisStore (server with KEYS disabled)', () => client);
contract('RedisStore (3-master cluster)', () => clusterClient);

const y = (v: number) => ({ y: { datatype: 'FP32' as const, shape: [1], data: Float32Array.from([v]) } });

test('RedisStore writes binary values under <prefix><namespace>:<key>, with PX for the TTL', { skip }, async () => {
  const store = new RedisStore({ client, prefix: 'bin:' });
  await store.set('result/m:x', 'k', y(1.5), 60_000);
  const raw = await client.getBuffer('bin:result/m%3Ax:k');
  assert.ok(raw, 'the key layout is <prefix><namespace with : escaped>:<key>');
  assert.deepEqual([...raw.subarray(0, 4)], [0x53, 0x56, 0x54, 0x01], 'binary tensor header, not JSON');
  assert.deepEqual([...raw.subarray(raw.length - 4)], [...new Uint8Array(Float32Array.from([1.5]).buffer)]);
  const pttl = await client.pttl('bin:result/m%3Ax:k');
  assert.ok(pttl > 0 && pttl <= 60_000, `PTTL ${pttl}`);
  await store.set('ns', 'forever', y(2));
  assert.equal(await client.pttl('bin:ns:forever'), -1);
});

test('RedisStore on a cluster spreads keys over the masters and clears them on every master', { skip }, async () => {
  const store = new RedisStore({ client: clusterClient, prefix: 'spread:' });
  for (let i = 0; i < 60; i++) await store.set('ns', `k${i}`, y(i));
  const masters = clusterClient.nodes('master');
  const counts = await Promise.all(masters.map((n) => n.dbsize()));
  assert.ok(counts.filter((c) => c > 0).length >= 2, `keys on ${counts.join('/')} per master`);
  await store.clear('ns');
  for (let i = 0; i < 60; i++) assert.equal(await store.get('ns', `k${i}`), undefined);
});

test('two Node processes sharing one Redis see each other\'s results', { skip }, async () => {
  const peer = fileURLToPath(new URL('./fixtures/redis-peer.ts', import.meta.url));
  const run = async (x: number) => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', peer, String(server!.ports[0]), 'peers:', String(x)]);
    return JSON.parse(stdout) as { hit: boolean; computed: number; y: number[]; pid: number };
  };
  const first = await run(21);
  assert.deepEqual({ hit: first.hit, computed: first.computed, y: first.y }, { hit: false, computed: 1, y: [42, 2] });
  const second = await run(21);
  assert.notEqual(second.pid, first.pid);
  assert.deepEqual({ hit: second.hit, computed: second.computed, y: second.y }, { hit: true, computed: 0, y: [42, 2] });

  const cache = new ResultCache({ store: new RedisStore({ client, prefix: 'peers:' }), timeoutMs: 5000 });
  const inputs = { x: { datatype: 'FP32' as const, shape: [1, 2], data: Float32Array.from([21, 1]) } };
  const here = await cache.run({ model: 'double', version: 1, inputs }, () => Promise.reject(new Error('must not compute')));
  assert.equal(here.hit, true);
  assert.deepEqual(Array.from(here.value.y!.data as Float32Array), [42, 2]);
});

test('a paused Redis turns into misses within the timeout: the request still succeeds and the failure is an event', { skip }, async () => {
  const own = new Redis({ port: server!.ports[0]!, host: '127.0.0.1' });
  const admin = new Redis({ port: server!.ports[0]!, host: '127.0.0.1' });
  const cache = new ResultCache({ store: new RedisStore({ client: own, prefix: 'paused:' }), timeoutMs: 50 });
  const errors: CacheErrorEvent[] = [];
  cache.on('error', (e) => errors.push(e));
  const inputs = { x: { datatype: 'FP32' as const, shape: [1], data: Float32Array.from([1]) } };
  await own.ping();
  await admin.client('PAUSE', 400, 'ALL'); // far longer than the 50 ms timeout; lifts by itself
  try {
    const result = await cache.run({ model: 'm', version: 1, inputs }, async () => y(7));
    assert.deepEqual({ hit: result.hit, y: result.value.y!.data[0] }, { hit: false, y: 7 });
    await cache.idle();
    assert.deepEqual(errors.map((e) => [e.operation, e.error.code, e.error.message]), [
      ['get', 'ERR_SERVABLE_CACHE', 'Cache get took longer than 50 ms'],
      ['set', 'ERR_SERVABLE_CACHE', 'Cache set skipped: the store has not answered calls that timed out'],
    ]);
    const commands = (own as unknown as { commandQueue: { length: number } }).commandQueue;
    for (let i = 0; i < 50; i++) await cache.run({ model: 'm', version: 1, inputs }, async () => y(7));
    assert.equal(commands.length, 1, 'only the late get waits on the paused server');
    await own.ping(); // the pause lifts; the late get answers before it
    await cache.run({ model: 'm', version: 1, inputs }, async () => y(7));
    await cache.idle();
    assert.equal((await cache.run({ model: 'm', version: 1, inputs }, async () => y(8))).hit, true);
  } finally {
    own.disconnect();
    admin.disconnect();
  }
});

test('replicas of a SemanticCache share entries and clears through a RedisSemanticLog', { skip }, async () => {
  const replica = () =>
    new SemanticCache({
      embed: ngramEmbedder(),
      dimensions: 384,
      threshold: 0.925,
      maxEntries: 100,
      ttlMs: 600_000,
      syncIntervalMs: 0,
      log: new RedisSemanticLog({ client, key: 'test:semantic' }),
    });
  const one = replica();
  const two = replica();
  const answer = { text: { datatype: 'BYTES' as const, shape: [1], data: ['Open Settings, then Security.'] } };
  await one.run('How do I reset my password?', async () => answer, { partition: ['faq', 1, 'acme'] });
  await one.idle();
  await two.sync();
  const shared = await two.run('how do i reset my password', () => Promise.reject(new Error('must not compute')), { partition: ['faq', 1, 'acme'] });
  assert.deepEqual([shared.hit, shared.value.text!.data[0]], [true, 'Open Settings, then Security.']);
  const otherTenant = await two.run('How do I reset my password?', async () => answer, { partition: ['faq', 1, 'globex'], noStore: true });
  assert.equal(otherTenant.hit, false);
  await two.invalidate(['faq', 1, 'acme']);
  await one.sync();
  assert.equal(one.size, 0);
  assert.equal(await client.xlen('test:semantic'), 2);
  await Promise.all([one.close(), two.close()]);
});

test('a replica replays its own clear, in the log\'s order: an entry another replica logged before the clear is dropped when read after it, and the entries this replica stored after the clear are kept', { skip }, async () => {
  const replica = () =>
    new SemanticCache({ embed: ngramEmbedder(), dimensions: 384, threshold: 0.925, maxEntries: 100, syncIntervalMs: 0, log: new RedisSemanticLog({ client, key: 'test:semantic:own' }) });
  const one = replica();
  const two = replica();
  const partition = ['faq', '1', 'acme'];
  await two.store('How do I reset my password?', y(1), { partition });
  await two.idle(); // logged; one has not read it
  await one.invalidate(partition);
  await one.store('Where is the billing page?', y(2), { partition });
  await one.idle(); // logged after the clear
  await one.sync(); // reads two's entry, then its own clear, then its own entry
  const found = async (query: string) => (await one.lookup(query, { partition }))?.value.y!.data[0];
  assert.deepEqual([await found('How do I reset my password?'), await found('Where is the billing page?'), one.size], [undefined, 2, 1]);
  await two.sync();
  assert.deepEqual([await two.lookup('How do I reset my password?', { partition }), two.size], [undefined, 1]);
  await Promise.all([one.close(), two.close()]);
});

test('RedisSemanticLog works on a cluster and reports ages from the server clock', { skip }, async () => {
  const log = new RedisSemanticLog({ client: clusterClient, key: 'test:semantic:cluster', readCount: 2 });
  for (let i = 0; i < 5; i++) await log.append({ kind: 'clear', partition: `p${i}` });
  const first = await log.read(undefined);
  assert.deepEqual(first.records.map((r) => r.record), [0, 1, 2, 3, 4].map((i) => ({ kind: 'clear', partition: `p${i}` })));
  assert.ok(first.records.every((r) => r.ageMs >= 0 && r.ageMs < 60_000));
  await log.append({ kind: 'clear', partition: undefined });
  const next = await log.read(first.cursor);
  assert.deepEqual(next.records.map((r) => r.record), [{ kind: 'clear', partition: undefined }]);
  await clusterClient.xadd('test:semantic:cluster', '*', 'r', 'not a record');
  const bad = await log.read(next.cursor);
  assert.deepEqual([bad.records.length, bad.errors.map((e) => e.code)], [0, ['ERR_SERVABLE_CACHE']]);
});

test('RedisSemanticLog: a stream that no longer holds the last record read (deleted, or trimmed past it) answers a clear of every partition first, and an error, once', { skip }, async () => {
  const key = 'test:semantic:lost';
  const log = new RedisSemanticLog({ client, key, readCount: 1 });
  const clear = (partition: string) => ({ kind: 'clear' as const, partition });
  await log.append(clear('a'));
  await log.append(clear('b'));
  const first = await log.read(undefined);
  assert.deepEqual([first.records.map((r) => r.record), first.errors], [[clear('a'), clear('b')], []]);
  await log.append(clear('c'));
  const kept = await log.read(first.cursor);
  assert.deepEqual([kept.records.map((r) => r.record), kept.errors], [[clear('c')], []], 'the cursor\'s own record is not read again');

  await client.xtrim(key, 'MAXLEN', 1); // only c is left
  await log.append(clear('d'));
  const trimmed = await log.read(first.cursor);
  assert.deepEqual(trimmed.records.map((r) => r.record), [{ kind: 'clear', partition: undefined }, clear('c'), clear('d')]);
  assert.deepEqual(trimmed.errors.map((e) => [e.code, e.message]), [
    ['ERR_SERVABLE_CACHE', `Stream ${key} no longer holds ${first.cursor}, the last record read: records after it may be lost (a restart without persistence, a flush, or trimming past it); every entry is dropped`],
  ]);

  await client.del(key); // as a restart without persistence leaves it
  const emptied = await log.read(trimmed.cursor);
  assert.deepEqual([emptied.records.map((r) => r.record), emptied.errors.length, emptied.cursor], [[{ kind: 'clear', partition: undefined }], 1, undefined]);
  await log.append(clear('e'));
  const after = await log.read(emptied.cursor);
  assert.deepEqual([after.records.map((r) => r.record), after.errors], [[clear('e')], []]);
  assert.deepEqual(await log.read(after.cursor), { records: [], cursor: after.cursor, errors: [] });
});

test('RedisSemanticLog: after a loss the whole stream is replayed as it is, records with ids below the lost cursor too (a server restarted on a clock behind the old one)', { skip }, async () => {
  const key = 'test:semantic:behind';
  const log = new RedisSemanticLog({ client, key });
  const clear = (partition: string) => ({ kind: 'clear' as const, partition });
  const write = (id: string, partition: string) => client.xadd(key, id, 'r', Buffer.from(encodeRecord(clear(partition))));
  await write('2000-0', 'a');
  const first = await log.read(undefined);
  assert.equal(first.cursor, '2000-0');
  await client.del(key);
  await write('1000-0', 'b');
  await write('3000-0', 'c');
  const read = await log.read(first.cursor);
  assert.deepEqual([read.records.map((r) => r.record), read.errors.length, read.cursor], [[{ kind: 'clear', partition: undefined }, clear('b'), clear('c')], 1, '3000-0']);
});

test('RedisSemanticLog in normal traffic never reports a loss: two replicas that keep up, their own records last read, MAXLEN ~ trimming the stream, pages of readCount - 1, readCount and readCount + 1, records that cannot be decoded', { skip }, async () => {
  const key = 'test:semantic:steady';
  const replicas = [0, 1].map(() => ({ log: new RedisSemanticLog({ client, key, maxLength: 10, readCount: 4 }), cursor: undefined as string | undefined }));
  const clear = (partition: string) => ({ kind: 'clear' as const, partition });
  let appended = 0;
  for (let round = 0; round < 120; round++) {
    const writer = replicas[round % 2]!;
    const written: string[] = [];
    for (let i = 0; i < round % 7; i++) {
      written.push(`p${appended++}`);
      await writer.log.append(clear(written.at(-1)!));
    }
    const junk = round % 25 === 0;
    if (junk) await client.xadd(key, 'MAXLEN', '~', 10, '*', 'r', 'not a record');
    for (const replica of replicas) {
      const read = await replica.log.read(replica.cursor);
      assert.deepEqual(read.records.map((r) => r.record), written.map(clear), `round ${round}`);
      assert.deepEqual(read.errors.map((e) => e.message.startsWith('Cannot decode')), junk ? [true] : [], `round ${round}`);
      replica.cursor = read.cursor;
    }
  }
  const length = await client.xlen(key);
  assert.ok(length < appended, `the stream was trimmed: ${length} of ${appended} records`);
});

test('invalidating one version clears its keys only, on a server and a cluster, glob characters in the version escaped', { skip }, async () => {
  const versions = ['1', '2', '[2]', '2*', 'v?'];
  for (const redis of [client, clusterClient]) {
    for (const cleared of versions.slice(1)) {
      const cache = new ResultCache({ store: new RedisStore({ client: redis, prefix: `v${prefixes++}:`, scanCount: 5 }), timeoutMs: 5000 });
      const run = (version: string, x: number) => cache.run({ model: 'm', version, inputs: { x: y(x).y } }, async () => y(x), { noStore: true });
      for (const version of versions) for (let x = 0; x < 10; x++) await cache.run({ model: 'm', version, inputs: { x: y(x).y } }, async () => y(x));
      await cache.idle();
      await cache.invalidate('m', cleared);
      for (const version of versions) {
        const hits = await Promise.all([0, 9].map(async (x) => (await run(version, x)).hit));
        assert.deepEqual(hits, version === cleared ? [false, false] : [true, true], `version ${version} after invalidating ${cleared}`);
      }
    }
  }
});

test('RedisStore validates its options, quoting the bad value', () => {
  assert.throws(() => new RedisStore({ client: {} as never }), /`client.getBuffer` to be a function, got undefined/);
  assert.throws(() => new RedisStore({ client: client ?? fakeClient(), ttlMs: 0.5 }), /`ttlMs` to be a number >= 1, got 0.5/);
  assert.throws(() => new RedisStore({ client: client ?? fakeClient(), scanCount: 0 }), /`scanCount` to be an integer >= 1, got 0/);
  assert.throws(() => new RedisStore({ client: client ?? fakeClient(), ttlMS: 1000 } as never), /^TypeError: Unknown option `ttlMS`; RedisStore takes client, prefix, ttlMs, codec, scanCount$/);
  const streams = { xadd: async () => null, xrangeBuffer: async () => [], time: async () => ['0', '0'] };
  assert.throws(() => new RedisSemanticLog({ client: streams as never, maxLen: 10 } as never), /^TypeError: Unknown option `maxLen`; RedisSemanticLog takes client, key, maxLength, readCount$/);
});

function fakeClient(): RedisClientLike {
  const no = () => Promise.reject(new Error('unused'));
  return { getBuffer: no, set: no, unlink: no, scan: no };
}
