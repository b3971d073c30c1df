import assert from 'node:assert/strict';
import test from 'node:test';
import type { LoggedRecord, SemanticLog, SemanticRecord } from '../../src/cache/semantic/record.js';
import { decodeRecord, encodeRecord } from '../../src/cache/semantic/record.js';
import { SemanticEntries } from '../../src/cache/semantic/entries.js';
import { SemanticCache } from '../../src/cache/semantic/semantic-cache.js';
import type { SemanticCacheEvents, SemanticCacheOptions } from '../../src/cache/semantic/types.js';
import { DeadlineExceededError, type TensorMap } from '../../src/core/index.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

/** Embeddings chosen so the cosine similarities are known: a·a2 = 0.98, a·a8 = 0.8, a·b = 0. */
const VECTORS: Record<string, number[]> = {
  a: [1, 0, 0],
  a2: [0.98, Math.sqrt(1 - 0.98 ** 2), 0],
  a8: [0.8, 0.6, 0],
  b: [0, 0, 5],
  zero: [0, 0, 0],
};

const answer = (v: number): TensorMap => ({ y: { datatype: 'FP32', shape: [1], data: Float32Array.from([v]) } });
const y = (value: TensorMap): number => value.y!.data[0] as number;

function setup(options: Partial<SemanticCacheOptions<string>> = {}) {
  const clock = new FakeClock();
  const embedded: string[] = [];
  const cache = new SemanticCache<string>({
    embed: (text) => {
      embedded.push(text);
      const v = VECTORS[text];
      if (!v) throw new Error(`no vector for ${text}`);
      return v;
    },
    dimensions: 3,
    threshold: 0.9,
    maxEntries: 100,
    clock,
    ...options,
  });
  const events: string[] = [];
  const log = (name: keyof SemanticCacheEvents) => (event: object) => {
    const e = event as Record<string, unknown>;
    const detail = e.reason ?? e.operation ?? (e.exact === undefined ? '' : e.exact ? 'exact' : `near ${Number(e.similarity).toFixed(2)}`);
    events.push(detail ? `${name}:${String(detail)}` : name);
  };
  cache.on('hit', log('hit')).on('miss', log('miss')).on('coalesce', log('coalesce')).on('store', log('store')).on('error', log('error'));
  let runs = 0;
  const compute = (v: number) => async () => {
    runs++;
    return answer(v);
  };
  return { cache, clock, embedded, events, compute, runs: () => runs };
}

test('an exact repeat hits without embedding; a similar query hits at its similarity; a dissimilar one misses', async () => {
  const { cache, embedded, events, compute, runs } = setup();
  assert.equal((await cache.run('a', compute(1))).hit, false);
  const exact = await cache.run('a', compute(2));
  assert.deepEqual([exact.hit, exact.exact, exact.similarity, y(exact.value)], [true, true, 1, 1]);
  const near = await cache.run('a2', compute(3));
  assert.deepEqual([near.hit, near.exact, y(near.value)], [true, false, 1]);
  assert.ok(Math.abs(near.similarity! - 0.98) < 1e-6);
  assert.equal((await cache.run('b', compute(4))).hit, false);
  assert.equal(runs(), 2);
  assert.deepEqual(embedded, ['a', 'a2', 'b'], 'the exact repeat is not embedded; a stored miss reuses its embedding');
  assert.deepEqual(events, ['miss:absent', 'store', 'hit:exact', 'hit:near 0.98', 'miss:absent', 'store']);
});

test("run's model and version are named in its lookup's event (hit, miss or coalesce), for metrics labels; they play no part in matching", async () => {
  const { cache, compute } = setup();
  const seen: string[] = [];
  const label = (name: string) => (e: { model?: string; version?: string }) => seen.push(`${name} ${String(e.model)}/${String(e.version)}`);
  cache.on('hit', label('hit')).on('miss', label('miss')).on('coalesce', label('coalesce'));
  await cache.run('a', compute(1), { model: 'm', version: '1' });
  await cache.run('a', compute(2), { model: 'm', version: '1' }); // exact
  await cache.run('a2', compute(3), { model: 'm', version: '2' }); // near: the partition matches, not the labels
  await cache.run('b', compute(4), { model: 'm' });
  await Promise.all([cache.run('a8', compute(5), { model: 'x', noCache: true }), cache.run('a8', compute(6), { model: 'y', version: '3' })]);
  await cache.run('b', compute(7));
  assert.deepEqual(seen, ['miss m/1', 'hit m/1', 'hit m/2', 'miss m/undefined', 'coalesce y/3', 'miss x/undefined', 'hit undefined/undefined']);
  await assert.rejects(cache.run('a', compute(1), { model: 5 as never }), /^TypeError: Expected `model` to be a non-empty string, got 5 \(number\)$/);
  await assert.rejects(cache.run('a', compute(1), { version: null as never }), /^TypeError: Expected `version` to be a non-empty string, got null \(null\)$/);
});

test('the threshold is a minimum similarity: higher is stricter', async () => {
  for (const [threshold, hit] of [[0.79, true], [0.8, true], [0.81, false]] as const) {
    const { cache, compute } = setup({ threshold });
    await cache.run('a', compute(1));
    assert.equal((await cache.run('a8', compute(2))).hit, hit, `threshold ${threshold} vs similarity 0.8`);
  }
  assert.throws(() => setup({ threshold: 1.5 }), /`threshold` to be a number between -1 and 1, got 1.5/);
});

test('at threshold 1, identical and same-direction embeddings match despite float32 rounding, and the similarity never exceeds 1', async () => {
  // Unit vectors stored as float32 have dot products with themselves a few 1e-8 either side of 1.
  const similarities = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    let s = seed;
    const random = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
    const v = Array.from({ length: 384 }, random);
    const cache = new SemanticCache<string>({ embed: (q) => (q === 'tripled' ? v.map((x) => x * 3) : v), dimensions: 384, threshold: 1, maxEntries: 10 });
    await cache.run('stored', async () => answer(1));
    for (const query of ['same', 'tripled']) {
      const found = await cache.run(query, async () => answer(2));
      assert.equal(found.hit, true, `seed ${seed}, ${query}`);
      similarities.add(found.similarity!);
    }
  }
  assert.ok([...similarities].every((s) => s <= 1 && s > 1 - 1e-6), [...similarities].join());
});

test('partitions never share entries: another tenant or version misses, exact or near', async () => {
  const { cache, compute, runs } = setup();
  await cache.run('a', compute(1), { partition: ['m', 1, 'tenant-1'] });
  for (const partition of [['m', 1, 'tenant-2'], ['m', 2, 'tenant-1'], 'm1tenant-1', '["m",1]', undefined]) {
    assert.equal((await cache.run('a', compute(2), { partition, noStore: true })).hit, false, JSON.stringify(partition));
    assert.equal((await cache.run('a2', compute(2), { partition, noStore: true })).hit, false, JSON.stringify(partition));
  }
  assert.equal((await cache.run('a2', compute(3), { partition: ['m', 1, 'tenant-1'] })).hit, true);
  assert.equal(runs(), 11);
});

test('maxEntries bounds all partitions together, evicting the least recently used', async () => {
  const { cache, compute } = setup({ maxEntries: 2 });
  await cache.run('a', compute(1), { partition: 'p1' });
  await cache.run('b', compute(2), { partition: 'p2' });
  await cache.run('a', compute(3), { partition: 'p1' }); // touch: b is now the oldest
  await cache.run('a', compute(4), { partition: 'p3' });
  assert.equal(cache.size, 2);
  assert.equal((await cache.run('b', compute(5), { partition: 'p2', noStore: true })).hit, false);
  assert.equal((await cache.run('a2', compute(6), { partition: 'p1', noStore: true })).hit, true);
});

test('an entry\'s vector is held once, in its partition\'s index, not again beside its answer', () => {
  const entries = new SemanticEntries<string>({ dimensions: 3, maxEntries: 10, clock: new FakeClock(), accelerate: false });
  entries.insert({ partition: 'p', exactKey: 'k', query: 'a', value: answer(1), vector: Float32Array.from([1, 0, 0]), expiresAt: Infinity });
  const exact = entries.exact('p', 'k')!;
  const near = entries.nearest('p', Float32Array.from([1, 0, 0]), 0.9)!;
  assert.deepEqual([exact.query, near.entry.query, near.similarity], ['a', 'a', 1]);
  assert.equal('vector' in exact, false);
});

test('entries expire after ttlMs on the injected clock', async () => {
  const { cache, clock, compute } = setup({ ttlMs: 1000 });
  await cache.run('a', compute(1));
  clock.advance(999);
  assert.equal((await cache.run('a2', compute(2), { noStore: true })).hit, true);
  clock.advance(2);
  assert.equal((await cache.run('a2', compute(3), { noStore: true })).hit, false);
  assert.equal((await cache.run('a', compute(4), { noStore: true })).hit, false);
  assert.equal(cache.size, 0);
});

test('no-cache recomputes and replaces the entry; no-store never writes', async () => {
  const { cache, compute, events } = setup();
  await cache.run('a', compute(1));
  const fresh = await cache.run('a', compute(2), { noCache: true });
  assert.deepEqual([fresh.hit, y(fresh.value)], [false, 2]);
  assert.equal(y((await cache.run('a', compute(3))).value), 2);
  await cache.run('b', compute(4), { noStore: true });
  assert.equal((await cache.run('b', compute(5), { noStore: true })).hit, false);
  assert.deepEqual(events, ['miss:absent', 'store', 'miss:bypass', 'store', 'hit:exact', 'miss:absent', 'miss:absent']);
});

test('a no-cache answer never waits for the embedding that stores it', async () => {
  let release: (() => void) | undefined;
  const embed = (text: string) => new Promise<number[]>((resolve) => (release = () => resolve(VECTORS[text]!)));
  const { cache, clock, compute, events } = setup({ embed });
  let first: unknown = 'still waiting for the embedder';
  void cache.run('a', compute(1), { noCache: true }).then((result) => (first = result));
  await clock.flush();
  assert.deepEqual(first, { value: answer(1), hit: false, exact: false, similarity: undefined, shared: false });
  assert.deepEqual([cache.size, events], [0, ['miss:bypass']]);
  release!();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual([cache.size, events], [1, ['miss:bypass', 'store']], 'stored once embedded');
});

test('identical queries in flight run once', async () => {
  const { cache, events } = setup();
  const releases: (() => void)[] = [];
  const slow = () => new Promise<TensorMap>((resolve) => releases.push(() => resolve(answer(9))));
  const all = [cache.run('a', slow), cache.run('a', slow), cache.run('b', slow)];
  await new Promise((r) => setImmediate(r));
  assert.equal(releases.length, 2);
  for (const release of releases) release();
  const results = await Promise.all(all);
  assert.deepEqual(results.map((r) => r.shared), [false, true, false]);
  assert.ok(events.includes('coalesce'));
});

test('a query whose shared flight failed on another caller\'s deadline runs again with its own computation', async () => {
  const { cache, compute, events } = setup();
  const timedOut = new DeadlineExceededError('the first caller timed out');
  const [first, joined] = await Promise.allSettled([
    cache.run('a', () => new Promise((_, reject) => setImmediate(() => reject(timedOut)))),
    cache.run('a', compute(2)),
  ]);
  assert.equal(first.status === 'rejected' && first.reason, timedOut);
  assert.deepEqual(joined.status === 'fulfilled' && [joined.value.shared, y(joined.value.value)], [false, 2]);
  assert.deepEqual(events, ['coalesce', 'miss:absent', 'miss:absent', 'store']);
});

test('only queries with the same flightGroup share a computation in flight; a stored answer is shared by every group', async () => {
  const { cache, events } = setup();
  const releases: (() => void)[] = [];
  const slow = () => new Promise<TensorMap>((resolve) => releases.push(() => resolve(answer(releases.length))));
  const all = [
    cache.run('a', slow),
    cache.run('a', slow, { flightGroup: '20/undefined' }),
    cache.run('a', slow, { flightGroup: '20/undefined' }),
    cache.run('a', slow, { flightGroup: 'undefined/2' }),
  ];
  await new Promise((r) => setImmediate(r));
  assert.equal(releases.length, 3);
  for (const release of releases) release();
  const results = await Promise.all(all);
  assert.deepEqual(results.map((r) => [r.shared, y(r.value)]), [[false, 3], [false, 3], [true, 3], [false, 3]]);
  assert.equal(events.filter((e) => e === 'coalesce').length, 1);
  const later = await cache.run('a', slow, { flightGroup: 'another' });
  assert.deepEqual([later.hit, later.exact, releases.length], [true, true, 3]);
});

test('fail open: an embedder that throws, returns the wrong length or a zero vector gives a miss and an error event', async () => {
  const { cache, compute, events } = setup({ dimensions: 3 });
  const result = await cache.run('unknown', compute(1));
  assert.deepEqual([result.hit, y(result.value)], [false, 1]);
  await cache.run('zero', compute(2));
  assert.deepEqual(events, ['error:embed', 'miss:error', 'error:embed', 'miss:error']);
  const wrong = setup({ dimensions: 4 });
  await wrong.cache.run('a', wrong.compute(1));
  const errors: string[] = [];
  wrong.cache.on('error', (e) => errors.push(e.error.message));
  await wrong.cache.run('a2', wrong.compute(1));
  assert.deepEqual(errors, ['Expected an embedding of 4 dimensions, got 3']);
  // An embedder of the wrong type: the message shows what it returned.
  const returned: Record<string, unknown> = { number: 7, none: undefined, bigints: [1n, 0n, 0n], text: 'abc', holes: [1, , 0], nan: [NaN, 1, 0] };
  const typed = setup({ embed: (text) => returned[text] as number[] });
  const messages: string[] = [];
  typed.cache.on('error', (e) => messages.push(e.error.message));
  for (const text of Object.keys(returned)) assert.equal((await typed.cache.run(text, typed.compute(1))).hit, false);
  assert.equal(typed.cache.size, 0);
  assert.deepEqual(messages, [
    'Expected an embedding (3 numbers), got 7 (number)',
    'Expected an embedding (3 numbers), got undefined (undefined)',
    'Expected finite embedding values, got 1n (bigint) at index 0',
    'Expected finite embedding values, got "a" (string) at index 0',
    'Expected finite embedding values, got undefined (undefined) at index 1',
    'Expected finite embedding values, got NaN (number) at index 0',
  ]);
});

test('embeddings of huge or tiny magnitude are normalised like any other, not to zero or refused', async () => {
  const scaled: Record<string, number[]> = { huge: [1e200, 0, 0], tiny: [1e-170, 0, 0] };
  const { cache, compute, events } = setup({ embed: (text) => scaled[text] ?? VECTORS[text]! });
  await cache.run('huge', compute(1), { partition: 'h' });
  await cache.run('tiny', compute(2), { partition: 't' });
  const found = await Promise.all([cache.lookup('a', { partition: 'h' }), cache.lookup('a', { partition: 't' })]);
  assert.deepEqual(found.map((f) => f && [f.exact, y(f.value), f.similarity]), [[false, 1, 1], [false, 2, 1]]);
  assert.deepEqual(events, ['miss:absent', 'store', 'miss:absent', 'store']);
});

test('an embedder or a verifier that never answers is bounded by timeoutMs: the query is computed as a miss, and while an embedding is late, lookups skip the embedder', async () => {
  const clock = new FakeClock();
  const late: (() => void)[] = [];
  const embedded: string[] = [];
  const embed = (text: string) => {
    embedded.push(text);
    return text === 'hangs' ? new Promise<number[]>((resolve) => late.push(() => resolve([1, 0, 0]))) : VECTORS[text]!;
  };
  const { cache, compute, events, runs } = setup({ clock, timeoutMs: 100, embed });
  const errors: string[] = [];
  cache.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
  const shared = [cache.run('hangs', compute(1)), cache.run('hangs', compute(2))];
  await new Promise((r) => setImmediate(r));
  clock.advance(100);
  assert.deepEqual((await Promise.all(shared)).map((r) => [r.hit, y(r.value)]), [[false, 1], [false, 1]]);
  // Still late: the next lookup does not queue another call behind it.
  assert.equal((await cache.run('a', compute(3))).hit, false);
  assert.deepEqual(embedded, ['hangs']);
  late.shift()!();
  await new Promise((r) => setImmediate(r));
  await cache.run('a', compute(4));
  assert.deepEqual(embedded, ['hangs', 'a']);
  assert.equal(runs(), 3);
  assert.deepEqual(errors, ['embed: Cache embed took longer than 100 ms', 'embed: Cache embed skipped: the embedder has not answered calls that timed out']);
  assert.deepEqual(events.slice(0, 4), ['coalesce', 'error:embed', 'miss:error', 'error:embed']);

  const stuck = setup({ clock, timeoutMs: 100, verify: () => new Promise<boolean>(() => {}) });
  await stuck.cache.run('a', stuck.compute(1));
  const asked = stuck.cache.run('a2', stuck.compute(2));
  await new Promise((r) => setImmediate(r));
  clock.advance(100);
  assert.deepEqual([(await asked).hit, y((await asked).value)], [false, 2]);
});

test('a joiner with a deadline leaves at it with a DeadlineExceededError while the computation goes on for the others', async () => {
  const { cache, clock, compute, events, runs } = setup();
  const flush = () => new Promise((r) => setImmediate(r));
  const releases: (() => void)[] = [];
  const slow = () => new Promise<TensorMap>((resolve) => releases.push(() => resolve(answer(9))));
  const first = cache.run('a', slow, { timeoutMs: 5000 });
  await flush();
  const errors: unknown[] = [];
  cache.run('a', compute(2), { timeoutMs: 100 }).catch((error: unknown) => errors.push(error));
  await flush();
  clock.advance(99);
  await flush();
  assert.equal(errors.length, 0);
  clock.advance(1);
  await flush();
  const [error] = errors;
  assert.ok(error instanceof DeadlineExceededError && !error.fromModel, String(error));
  assert.equal(runs(), 0, 'it did not run again');
  releases.shift()!();
  assert.deepEqual([(await first).shared, y((await first).value)], [false, 9]);
  assert.deepEqual([events, clock.pending], [['miss:absent', 'coalesce', 'store'], 0]);
});

test('an embedding or a verification still pending at the caller\'s deadline fails the caller then, not the embedder: no miss, no error event', async () => {
  const clock = new FakeClock();
  const flush = () => new Promise((r) => setImmediate(r));
  const late: (() => void)[] = [];
  const embedded: string[] = [];
  const embed = (text: string) => {
    embedded.push(text);
    return text === 'hangs' ? new Promise<number[]>((resolve) => late.push(() => resolve([1, 0, 0]))) : VECTORS[text]!;
  };
  const { cache, compute, events, runs } = setup({ clock, embed });
  const embedding = cache.run('hangs', compute(3), { timeoutMs: 50 });
  await flush();
  clock.advance(50);
  await assert.rejects(embedding, { code: 'ERR_SERVABLE_DEADLINE_EXCEEDED', message: 'The request timed out during the cache embed' });
  assert.deepEqual([runs(), events], [0, []], 'the embedder has 1000 ms');
  clock.advance(950);
  // Late past timeoutMs: the embedder is skipped until it answers.
  assert.equal((await cache.run('b', compute(4), { timeoutMs: 50 })).hit, false);
  assert.deepEqual([embedded, events], [['hangs'], ['error:embed', 'miss:error']]);
  late.shift()!();

  const stuck = setup({ clock, verify: () => new Promise<boolean>(() => {}) });
  await stuck.cache.run('a', stuck.compute(1));
  const asked = stuck.cache.run('a2', stuck.compute(2), { timeoutMs: 10 });
  await flush();
  clock.advance(10);
  await assert.rejects(asked, { message: 'The request timed out during the cache verify' });
  assert.deepEqual([stuck.runs(), clock.pending], [1, 1], 'the verification\'s timer, until its timeoutMs');
});

test('an embedding given up at timeoutMs aborts the embedder\'s signal: one that stops on it (a model behind it drops the work) is not left stalled', async () => {
  const clock = new FakeClock();
  const reasons: string[] = [];
  const embed = (text: string, signal?: AbortSignal) =>
    text === 'slow'
      ? new Promise<number[]>((_, reject) => signal!.addEventListener('abort', () => {
          reasons.push((signal!.reason as Error).message);
          reject(signal!.reason);
        }))
      : VECTORS[text]!;
  const { cache, compute, events } = setup({ embed, clock, timeoutMs: 100 });
  const slow = cache.run('slow', compute(1));
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(100);
  assert.equal((await slow).hit, false);
  assert.deepEqual(reasons, ['Cache embed took longer than 100 ms']);
  await cache.run('a', compute(2));
  assert.equal(y((await cache.run('a2', compute(3))).value), 2, 'the next lookups embed again, as the late call has answered');
  assert.deepEqual(events, ['error:embed', 'miss:error', 'miss:absent', 'store', 'hit:near 0.98']);
  assert.equal(clock.pending, 0);
});

test('while a verification that timed out has not answered, near matches skip the verifier: a miss and an error event each, at once', async () => {
  const clock = new FakeClock();
  const late: (() => void)[] = [];
  const { cache, compute, events } = setup({ clock, timeoutMs: 100, verify: () => new Promise<boolean>((resolve) => late.push(() => resolve(true))) });
  await cache.run('a', compute(1));
  const first = cache.lookup('a2');
  await new Promise((r) => setImmediate(r));
  clock.advance(100);
  assert.equal(await first, undefined);
  // No time passes: the next near match does not wait on the verifier again, nor ask it.
  assert.equal(await cache.lookup('a2'), undefined);
  assert.equal(late.length, 1);
  late.shift()!();
  await new Promise((r) => setImmediate(r));
  const asked = cache.lookup('a2');
  await new Promise((r) => setImmediate(r));
  late.shift()!();
  assert.equal(y((await asked)!.value), 1);
  assert.deepEqual(events.slice(2), ['error:verify', 'error:verify']);
});

test('a verifier can veto a near match (never an exact one)', async () => {
  const seen: string[] = [];
  const { cache, compute, events } = setup({
    verify: (query, match) => {
      seen.push(`${query}~${match.query}@${match.similarity.toFixed(2)}`);
      return false;
    },
  });
  await cache.run('a', compute(1));
  assert.equal((await cache.run('a', compute(2))).hit, true);
  assert.equal((await cache.run('a2', compute(3))).hit, false);
  assert.deepEqual(seen, ['a2~a@0.98']);
  assert.ok(events.includes('miss:rejected'));
});

test('a tensor query is kept as it was asked: a caller reusing its buffers afterwards (as the HTTP adapters reuse a body\'s) changes no stored query', async () => {
  const seen: number[] = [];
  const cache = new SemanticCache<TensorMap>({
    embed: () => [1, 0],
    dimensions: 2,
    threshold: 0.9,
    maxEntries: 10,
    verify: (_query, match) => {
      seen.push((match.query['x']!.data as Float32Array)[0]!);
      return false;
    },
  });
  const buffer = new Float32Array([1, 1]);
  const first: TensorMap = { x: { datatype: 'FP32', shape: [2], data: buffer } };
  await cache.run(first, async () => answer(1));
  buffer.fill(2);
  await cache.run({ x: { datatype: 'FP32', shape: [2], data: new Float32Array([3, 3]) } }, async () => answer(2));
  assert.deepEqual(seen, [1]);
});

test('a no-cache answer is stored for the query as it was asked, though the caller reuses its buffers while it is embedded after the answer', async () => {
  const embeddedFrom: number[] = [];
  let embedded!: () => void;
  const gate = new Promise<void>((resolve) => (embedded = resolve));
  const stored: number[] = [];
  const cache = new SemanticCache<TensorMap>({
    // An embedder that reads its query later, as a model behind a batcher does.
    embed: async (query) => {
      await gate;
      const value = (query['x']!.data as Float32Array)[0]!;
      embeddedFrom.push(value);
      return value === 1 ? [1, 0] : [0, 1];
    },
    dimensions: 2,
    threshold: 0.9,
    maxEntries: 10,
    verify: (_query, match) => {
      stored.push((match.query['x']!.data as Float32Array)[0]!);
      return true;
    },
  });
  const buffer = new Float32Array([1, 1]);
  const result = await cache.run({ x: { datatype: 'FP32', shape: [2], data: buffer } }, async () => answer(1), { noCache: true });
  assert.equal(result.hit, false);
  // Answered: the HTTP adapters hand the body's buffer to the next request.
  buffer.fill(2);
  embedded();
  await cache.idle();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(embeddedFrom, [1], 'the embedding is of the query asked');
  // Near, not exact: `verify` is shown the stored query.
  const near = await cache.run({ x: { datatype: 'FP32', shape: [2], data: new Float32Array([1, 3]) } }, async () => answer(9));
  assert.equal(near.hit, true);
  assert.deepEqual(stored, [1], 'the stored query is the one asked');
});

test('invalidate() clears one partition or all, and the results in flight there are not stored; those of another partition are', async () => {
  const { cache, compute } = setup();
  await cache.run('a', compute(1), { partition: 'x' });
  await cache.run('a', compute(1), { partition: 'y' });
  await cache.invalidate('x');
  assert.equal(cache.size, 1);
  // A clear of one partition stops the results in flight there only.
  const held: (() => void)[] = [];
  const inFlight = ['x', 'y'].map((partition) => cache.run('a8', () => new Promise<TensorMap>((r) => held.push(() => r(answer(8)))), { partition }));
  await new Promise((r) => setImmediate(r));
  await cache.invalidate('x');
  for (const r of held) r();
  await Promise.all(inFlight);
  assert.deepEqual(await Promise.all(['x', 'y'].map(async (partition) => (await cache.lookup('a8', { partition }))?.hit)), [undefined, true]);
  let release!: () => void;
  const pending = cache.run('b', () => new Promise<TensorMap>((r) => (release = () => r(answer(7)))), { partition: 'y' });
  await new Promise((r) => setImmediate(r));
  await cache.invalidate();
  release();
  assert.equal(y((await pending).value), 7);
  assert.equal(cache.size, 0);
});

test('invalidate(parts, { prefix: true }) clears the partitions under those parts only, here and on a replica through the log', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const one = setup({ log, syncIntervalMs: 0 });
  const two = setup({ log, syncIntervalMs: 0 });
  const partitions = [['m', '2'], ['m', '2', 't'], ['m', '2', 't', '{"outputs":["y"]}'], ['m', '22', 't'], ['m', '1', 't'], ['n', '2', 't'], '["m","2"'];
  for (const partition of partitions) await one.cache.run('a', one.compute(1), { partition });
  await one.cache.idle();
  await two.cache.sync();
  await one.cache.invalidate(['m', '2'], { prefix: true });
  await one.cache.idle();
  await two.cache.sync();
  for (const { cache } of [one, two]) {
    const hits = await Promise.all(partitions.map(async (partition) => (await cache.lookup('a', { partition }))?.hit ?? false));
    assert.deepEqual(hits, [false, false, false, true, true, true, true]);
  }
  await assert.rejects(one.cache.invalidate('m', { prefix: true }), /Expected `partition` to be a non-empty array of parts with `prefix`, got "m"/);
  await assert.rejects(one.cache.invalidate([], { prefix: true }), /got \[\]/);
});

test('a sync whose read was under way when invalidate() was called applies nothing it read: it reads again, in log order after the clear', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const { cache } = setup({ log, syncIntervalMs: 0 });
  await cache.store('a', answer(1));
  await cache.idle();
  let release!: () => void;
  const read = log.read.bind(log);
  const gated: SemanticLog = { append: (r) => log.append(r), read: async (cursor) => {
    const answered = read(cursor);
    await new Promise<void>((resolve) => (release = resolve));
    return answered;
  } };
  const reader = setup({ log: gated, syncIntervalMs: 0 });
  await reader.cache.store('a', answer(1));
  const syncing = reader.cache.sync();
  await reader.cache.invalidate();
  release();
  await syncing;
  assert.equal(await reader.cache.lookup('a2'), undefined, 'the entries the clear removed are not put back by a read that predates it');
  const next = reader.cache.sync();
  release();
  await next;
  assert.equal(await reader.cache.lookup('a2'), undefined);
  assert.equal(reader.cache.size, 0);
});

test('a sync that starts while invalidate() is writing its clear to the log reads the log after the clear: another replica\'s entries the clear removed are not put back', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const two = setup({ log, syncIntervalMs: 0 });
  await two.cache.store('a', answer(1), { partition: 'p' });
  let written!: () => void;
  const slow: SemanticLog = {
    append: async (record) => {
      if (record.kind === 'clear') await new Promise<void>((resolve) => (written = resolve));
      log.append(record);
    },
    read: (cursor) => log.read(cursor),
  };
  const one = setup({ log: slow, syncIntervalMs: 0 });
  const clearing = one.cache.invalidate('p');
  await new Promise((r) => setImmediate(r));
  const syncing = one.cache.sync();
  await new Promise((r) => setImmediate(r));
  written();
  await Promise.all([clearing, syncing]);
  assert.equal(await one.cache.lookup('a', { partition: 'p' }), undefined, 'an entry stored before the clear, on another replica, is not served after it');
  await two.cache.store('b', answer(2), { partition: 'p' });
  await one.cache.sync();
  assert.deepEqual([await one.cache.lookup('a', { partition: 'p' }), y((await one.cache.lookup('b', { partition: 'p' }))!.value), one.cache.size], [undefined, 2, 1], 'the entry after the clear is taken');
});

test('endLookups() ends the lookups in flight of a partition, or of those under its parts, as misses at once: run computes, lookup answers undefined', async () => {
  const pending: { text: string; resolve: (v: number[]) => void }[] = [];
  const { cache, events, compute } = setup({ embed: (text) => new Promise<number[]>((resolve) => pending.push({ text, resolve })) });
  const ran = cache.run('a', compute(1), { partition: ['m', '1', 'acme'] });
  const looked = cache.lookup('a2', { partition: ['m', '1', 'beta'] });
  const other = cache.run('b', compute(2), { partition: ['m', '2', 'acme'] });
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(pending.map((p) => p.text).sort(), ['a', 'a2', 'b']);
  cache.endLookups(['m', '1'], { prefix: true });
  const [r, l] = await Promise.all([ran, looked]);
  assert.deepEqual([r.hit, y(r.value), l], [false, 1, undefined]);
  assert.deepEqual(events, ['miss:ended']);
  // The embeddings ended go on unawaited; their answers store nothing. Version 2's lookup was not ended.
  for (const p of pending) p.resolve(VECTORS[p.text]!);
  assert.equal((await other).hit, false);
  assert.deepEqual(events, ['miss:ended', 'miss:absent', 'store']);
  assert.equal(cache.size, 1);
  cache.endLookups(); // none in flight: nothing to end
  assert.throws(() => cache.endLookups('m', { prefix: true }), /^TypeError: Expected `partition` to be a non-empty array of parts with `prefix`, got "m" \(string\)$/);
  assert.throws(() => cache.endLookups(['m'], { prefx: true } as never), /^TypeError: Unknown option `prefx`; endLookups\(\) takes prefix$/);
});

test('a store() still embedding when invalidate() is called stores nothing, as a result in flight', async () => {
  let release!: () => void;
  const embed = (text: string) => new Promise<number[]>((resolve) => (release = () => resolve(VECTORS[text]!)));
  const { cache, events } = setup({ embed });
  const stored = cache.store('a', answer(1), { partition: 'p' });
  await new Promise((r) => setImmediate(r));
  await cache.invalidate('p');
  release();
  await stored;
  assert.deepEqual([cache.size, events], [0, []]);
});

test('lookup() and store() work without a computation', async () => {
  const { cache } = setup();
  assert.equal(await cache.lookup('a'), undefined);
  await cache.store('a', answer(5), { partition: 'p' });
  const found = await cache.lookup('a8', { partition: 'p' });
  assert.equal(found, undefined, 'similarity 0.8 is under the 0.9 threshold');
  const near = await cache.lookup('a2', { partition: 'p' });
  assert.deepEqual([near?.exact, y(near!.value)], [false, 5]);
});

test('an exactKey that throws or answers with no string: run() computes without the cache, lookup() misses, store() rejects, each an error event', async () => {
  for (const [exactKey, message] of [
    [() => undefined, 'Expected `exactKey` to return a string, got undefined (undefined)'],
    [async () => 5, 'Expected `exactKey` to return a string, got 5 (number)'],
    [() => { throw new Error('no key'); }, 'Semantic cache key failed: no key'],
  ] as const) {
    const { cache, events, compute, runs } = setup({ exactKey: exactKey as never });
    const errors: string[] = [];
    cache.on('error', (e) => errors.push(e.error.message));
    assert.deepEqual([(await cache.run('a', compute(1))).hit, (await cache.run('b', compute(2))).hit], [false, false]);
    assert.equal(y((await cache.run('b', compute(3))).value), 3, 'b is never answered with a\'s result');
    assert.equal(runs(), 3);
    assert.equal(await cache.lookup('a'), undefined);
    await assert.rejects(cache.store('a', answer(1)), { code: 'ERR_SERVABLE_CACHE', message });
    assert.equal(cache.size, 0);
    assert.deepEqual(events, Array(5).fill('error:key'));
    assert.deepEqual(errors, Array(5).fill(message));
  }
});

test('lookup() and store() with a signal already aborted reject with its reason, as run() does, and store nothing', async () => {
  const { cache, embedded } = setup();
  const controller = new AbortController();
  controller.abort(new Error('gone'));
  await assert.rejects(cache.lookup('a', { signal: controller.signal }), /gone/);
  await assert.rejects(cache.store('a', answer(1), { signal: controller.signal }), /gone/);
  assert.deepEqual([cache.size, embedded], [0, []]);
});

test('lookup() and store() are bounded by timeoutMs: a late embedding is a miss for lookup() and a CacheError for store(), each an error event', async () => {
  const clock = new FakeClock();
  const late: (() => void)[] = [];
  const embed = (text: string) => (text === 'hangs' ? new Promise<number[]>((resolve) => late.push(() => resolve([1, 0, 0]))) : VECTORS[text]!);
  const { cache, events } = setup({ clock, timeoutMs: 100, embed });
  const looked = cache.lookup('hangs');
  const stored = cache.store('hangs', answer(1));
  await new Promise((r) => setImmediate(r));
  clock.advance(100);
  assert.equal(await looked, undefined);
  await assert.rejects(stored, { code: 'ERR_SERVABLE_CACHE', message: 'Cache embed took longer than 100 ms' });
  // Still late: neither waits on the embedder again.
  assert.equal(await cache.lookup('a'), undefined);
  await assert.rejects(cache.store('a', answer(2)), /Cache embed skipped: the embedder has not answered calls that timed out/);
  assert.deepEqual([late.length, cache.size], [2, 0]);
  for (const release of late) release();
  await new Promise((r) => setImmediate(r));
  await cache.store('a', answer(3));
  assert.equal(y((await cache.lookup('a2'))!.value), 3);
  assert.deepEqual(events, ['error:embed', 'error:embed', 'error:embed', 'error:embed', 'store']);
});

/** A log kept in memory, with ages on a manual clock: what a Redis stream does, minus Redis. */
function memoryLog(clock: FakeClock): SemanticLog & { records: Uint8Array[] } {
  const records: { bytes: Uint8Array; at: number }[] = [];
  return {
    get records() {
      return records.map((r) => r.bytes);
    },
    append(record: SemanticRecord) {
      records.push({ bytes: encodeRecord(record), at: clock.now() });
    },
    read(cursor: string | undefined) {
      const from = cursor === undefined ? 0 : Number(cursor) + 1;
      const out: LoggedRecord[] = records.slice(from).map((r) => ({ record: decodeRecord(r.bytes), ageMs: clock.now() - r.at }));
      return { records: out, cursor: records.length === 0 ? cursor : String(records.length - 1) };
    },
  };
}

test('replicas sharing a log see each other\'s entries, clears, and remaining TTLs', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const one = setup({ log, syncIntervalMs: 0, ttlMs: 1000 });
  const two = setup({ log, syncIntervalMs: 0, ttlMs: 1000 });
  await one.cache.run('a', one.compute(11), { partition: 't1' });
  await one.cache.idle();
  clock.advance(400);
  await two.cache.sync();
  const seen = await two.cache.run('a2', two.compute(0), { partition: 't1', noStore: true });
  assert.deepEqual([seen.hit, y(seen.value)], [true, 11]);
  assert.equal(two.runs(), 0);
  two.clock.advance(601);
  assert.equal((await two.cache.run('a', two.compute(0), { partition: 't1', noStore: true })).hit, false, 'the TTL left at sync time (600 ms) ran out');
  await two.cache.invalidate('t1');
  await one.cache.sync();
  assert.equal(one.cache.size, 0, 'the clear reached the other replica');
  assert.equal(log.records.length, 2);
});

test('a clear replayed from the log stops the results in flight of its scope, as a local one does: computed before it was applied, they are stored neither on this replica nor in the log; the rest of the read applies, once', async () => {
  const partitions = ['p', ['p', 't'], ['m'], ['m', '1'], 'o'];
  const cases = [
    { scope: "'p'", clear: (cache: SemanticCache<string>) => cache.invalidate('p'), stopped: [true, false, false, false, false] },
    { scope: "['m'] prefix", clear: (cache: SemanticCache<string>) => cache.invalidate(['m'], { prefix: true }), stopped: [false, false, true, true, false] },
    { scope: 'all', clear: (cache: SemanticCache<string>) => cache.invalidate(), stopped: [true, true, true, true, true] },
  ];
  for (const { scope, clear, stopped } of cases) {
    const clock = new FakeClock();
    const log = memoryLog(clock);
    const reads: number[] = [];
    const counted: SemanticLog = {
      append: (record) => log.append(record),
      read: async (cursor) => {
        const read = await log.read(cursor);
        reads.push(read.records.length);
        return read;
      },
    };
    const one = setup({ log: counted, syncIntervalMs: 0 });
    const two = setup({ log, syncIntervalMs: 0 });
    const release: (() => void)[] = [];
    const flights = partitions.map((partition, i) => one.cache.run('a', () => new Promise<TensorMap>((resolve) => release.push(() => resolve(answer(i)))), { partition }));
    await new Promise((r) => setImmediate(r));
    assert.equal(release.length, partitions.length, 'every computation started before the clear');
    await clear(two.cache);
    await two.cache.store('b', answer(9), { partition: 'o' });
    await one.cache.sync();
    for (const r of release) r();
    assert.deepEqual((await Promise.all(flights)).map((r) => y(r.value)), [0, 1, 2, 3, 4]);
    await one.cache.idle();
    await two.cache.sync();
    const kept = stopped.map((s) => !s);
    for (const [name, { cache }] of [['the replica computing', one], ['the replica clearing', two]] as const) {
      const held = await Promise.all(partitions.map(async (partition) => (await cache.lookup('a', { partition }))?.hit === true));
      assert.deepEqual(held, kept, `clear of ${scope}: entries on ${name}`);
      assert.equal(y((await cache.lookup('b', { partition: 'o' }))!.value), 9, `clear of ${scope}: the entry written after the clear, on ${name}`);
    }
    assert.equal(log.records.length, 2 + kept.filter(Boolean).length, `clear of ${scope}: the results stopped were not appended`);
    await one.cache.sync();
    await one.cache.sync();
    assert.deepEqual(reads, [2, kept.filter(Boolean).length, 0], `clear of ${scope}: each record read once`);
  }
});

test('a store() still embedding, and a no-cache answer still being embedded for storing, when a replayed clear of their partition is applied store nothing; in another partition they store', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const pending: { text: string; resolve: () => void }[] = [];
  const embed = (text: string) => new Promise<number[]>((resolve) => pending.push({ text, resolve: () => resolve(VECTORS[text]!) }));
  const one = setup({ log, syncIntervalMs: 0, embed });
  const two = setup({ log, syncIntervalMs: 0 });
  const stores = [one.cache.store('a', answer(1), { partition: 'p' }), one.cache.store('b', answer(2), { partition: 'o' })];
  const answered = await one.cache.run('a8', one.compute(3), { partition: 'p', noCache: true });
  assert.equal(y(answered.value), 3);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(pending.map((p) => p.text).sort(), ['a', 'a8', 'b']);
  await two.cache.invalidate('p');
  await one.cache.sync();
  for (const p of pending) p.resolve();
  await Promise.all(stores);
  await new Promise((r) => setImmediate(r));
  await one.cache.idle();
  assert.deepEqual([one.cache.size, one.events, log.records.length], [1, ['miss:bypass', 'store'], 2]);
});

test('a log record a replica cannot take (another embedder\'s length) is skipped and reported once; the records after it still replay', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const reader = setup({ log, syncIntervalMs: 0 });
  const narrower = setup({ log, syncIntervalMs: 0, dimensions: 2, embed: () => [1, 0] });
  const writer = setup({ log, syncIntervalMs: 0 });
  await narrower.cache.store('x', answer(1));
  await writer.cache.store('a', answer(2));
  await reader.cache.sync();
  await reader.cache.sync();
  assert.deepEqual(reader.events, ['error:sync']);
  assert.equal(y((await reader.cache.lookup('a2'))!.value), 2);
});

test('while an append that timed out is still pending, later appends are skipped, not queued behind it, and reported', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const late: (() => void)[] = [];
  let calls = 0;
  const stalled: SemanticLog = { read: log.read, append: (record) => (calls++, new Promise<void>((resolve) => late.push(() => resolve(log.append(record))))) };
  const { cache, compute } = setup({ log: stalled, syncIntervalMs: 0, timeoutMs: 50, clock });
  const errors: string[] = [];
  cache.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
  await cache.run('a', compute(1), { partition: 'p' });
  clock.advance(50);
  await cache.idle();
  await cache.run('b', compute(2), { partition: 'p' });
  await cache.idle();
  assert.equal(calls, 1, 'the second append was not handed to the stalled log');
  assert.deepEqual(errors, ['append: Cache append took longer than 50 ms', 'append: Cache append skipped: the log has not answered appends that timed out']);
  late.shift()!();
  await new Promise((r) => setImmediate(r));
  await cache.run('a8', compute(3), { partition: 'p' });
  assert.equal(calls, 2, 'appends resume once the late one answered');
  late.shift()!();
  await cache.idle();
  assert.equal(log.records.length, 2);
});

test('a sync() that waited timeoutMs for a read is one sync error event: the read failing after it reports nothing more (a read ending after it applies what it read)', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const writer = setup({ log, syncIntervalMs: 0 });
  await writer.cache.store('a', answer(1));
  const reads: { answer: () => void; fail: (error: Error) => void }[] = [];
  const held: SemanticLog = { append: (r) => log.append(r), read: (cursor) => new Promise((resolve, reject) => reads.push({ answer: () => resolve(log.read(cursor)), fail: reject })) };
  const { cache, events } = setup({ log: held, syncIntervalMs: 0, timeoutMs: 100, clock });
  const settled = () => new Promise((r) => setImmediate(r));
  const first = cache.sync();
  clock.advance(100);
  await first;
  assert.deepEqual(events, ['error:sync']);
  reads.shift()!.fail(new Error('Reached the max retries per request limit'));
  await settled();
  assert.deepEqual([events, cache.size], [['error:sync'], 0], 'the read the timeout reported is not reported again when it fails');

  const second = cache.sync();
  clock.advance(100);
  await second;
  reads.shift()!.answer();
  await settled();
  assert.deepEqual([events, cache.size], [['error:sync', 'error:sync'], 1], 'a read ending after its timeout applies what it read, silently');

  const third = cache.sync();
  reads.shift()!.fail(new Error('Connection is closed.'));
  await third;
  assert.deepEqual(events, ['error:sync', 'error:sync', 'error:sync'], 'a read failing within timeoutMs is reported');
  assert.equal(clock.pending, 0);
});

test('a replica syncs on its interval until closed', async () => {
  const clock = new FakeClock();
  const log = memoryLog(clock);
  const writer = setup({ log, syncIntervalMs: 0 });
  const reader = setup({ log, syncIntervalMs: 500, clock });
  await writer.cache.run('a', writer.compute(3));
  await writer.cache.idle();
  assert.equal(reader.cache.size, 0);
  clock.advance(500);
  await new Promise((r) => setImmediate(r));
  assert.equal(reader.cache.size, 1);
  await reader.cache.close();
  assert.equal(clock.pending, 0);
});

test('SemanticCache validates its options and partitions, quoting the bad value', async () => {
  assert.throws(() => setup({ dimensions: 0 }), /`dimensions` to be an integer between 1 and 65536, got 0/);
  assert.throws(() => setup({ maxEntries: 0 }), /`maxEntries` to be an integer >= 1, got 0/);
  assert.throws(() => setup({ timeoutMs: 2 ** 31 }), /`timeoutMs` to be at most 2147483647 ms, the longest a timer can wait, got 2147483648/);
  assert.throws(() => setup({ syncIntervalMs: 2 ** 31 }), /`syncIntervalMs` to be a number between 0 and 2147483647, got 2147483648/);
  assert.throws(() => setup({ embed: 'no' as never }), /`embed` to be a function, got "no"/);
  assert.throws(() => setup({ log: { append: () => undefined } as never }), /`log.read` to be a function/);
  assert.throws(() => setup({ ttlMS: 1000 } as never), /^TypeError: Unknown option `ttlMS`; SemanticCache takes embed, dimensions, threshold, maxEntries, ttlMs, /);
  assert.throws(() => setup({ accelerate: 'no' as never }), /^TypeError: Expected `accelerate` to be a boolean, got "no" \(string\)$/);
  assert.throws(() => setup({ clock: {} as never }), /^TypeError: Expected `clock` to be a Clock \(\{now, setTimeout, clearTimeout\}\), got \{\} \(object\)$/);
  assert.throws(() => setup({ clock: null as never }), /^TypeError: Expected `clock` to be set, or left out where it is optional, got null \(null\)$/);
  const { cache, compute } = setup();
  await assert.rejects(cache.run('a', compute(1), { partition: 5 as never }), /`partition` to be a string or an array of strings and numbers, got 5 \(number\)/);
  // JSON would write each as null, or leave it out: partitions that must differ would be one.
  for (const [part, shown] of [[undefined, 'undefined (undefined)'], [null, 'null (null)'], [NaN, 'NaN (number)'], [Infinity, 'Infinity (number)'], [{}, '{} (object)']] as const) {
    const refused = new RegExp(`^TypeError: Expected every part of \`partition\` to be a string or a finite number, got ${shown.replace(/[()]/g, '\\$&')} at index 2$`);
    await assert.rejects(cache.run('a', compute(1), { partition: ['m', '1', part as never] }), refused);
    await assert.rejects(cache.lookup('a', { partition: ['m', '1', part as never] }), refused);
    await assert.rejects(cache.store('a', answer(1), { partition: ['m', '1', part as never] }), refused);
    await assert.rejects(cache.invalidate(['m', '1', part as never]), refused);
  }
  await assert.rejects(cache.run('a', compute(1), { flightGroup: '' }), /^TypeError: Expected `flightGroup` to be a non-empty string, got "" \(string\)$/);
  await assert.rejects(cache.run('a', compute(1), { timeoutMs: Number.NaN }), /^TypeError: Expected `timeoutMs` to be a finite number, got NaN/);
  await assert.rejects(cache.run('a', compute(1), { timeoutMs: -5 }), /^RangeError: Expected `timeoutMs` to be a number >= 0, got -5 \(number\)$/);
  // A misspelt per-request option is refused, where it did nothing (a partition left out: every tenant's answers shared).
  await assert.rejects(
    cache.run('a', compute(1), { partiton: ['m', '1'] } as never),
    /^TypeError: Unknown option `partiton`; SemanticCache.run\(\) takes partition, noCache, noStore, signal, timeoutMs, flightGroup, model, version$/,
  );
  await assert.rejects(cache.run('a', compute(1), { noStore: 'yes' } as never), /^TypeError: Expected `noStore` to be a boolean, got "yes" \(string\)$/);
  await assert.rejects(cache.run('a', compute(1), null as never), /^TypeError: Expected `options` to be an object, got null \(null\)$/);
  await assert.rejects(cache.lookup('a', { partiton: 'm' } as never), /^TypeError: Unknown option `partiton`; SemanticCache.lookup\(\) takes partition, signal$/);
  await assert.rejects(cache.store('a', answer(1), { timeoutMs: 5 } as never), /^TypeError: Unknown option `timeoutMs`; SemanticCache.store\(\) takes partition, signal$/);
  await assert.rejects(cache.lookup('a', null as never), /^TypeError: Expected `options` to be an object, got null \(null\)$/);
  assert.equal(cache.size, 0, 'nothing refused was stored');
  // A clear of one partition where all its tenants' were meant would leave their entries served.
  await assert.rejects(cache.invalidate(['m', '1'], { prefix: 'yes' as never }), /^TypeError: Expected `prefix` to be a boolean, got "yes" \(string\)$/);
  await assert.rejects(cache.invalidate(['m', '1'], { prefx: true } as never), /^TypeError: Unknown option `prefx`; invalidate\(\) takes prefix$/);
  await assert.rejects(cache.invalidate(['m', '1'], null as never), /^TypeError: Expected `options` to be an object, got null \(null\)$/);
});

test('a partition that is not strings and finite numbers is refused with code ERR_SERVABLE_INVALID_OPTION', async () => {
  const { cache, compute } = setup();
  for (const partition of [[{}], [NaN], 7]) {
    await assert.rejects((async () => cache.run('a', compute(1), { partition: partition as never }))(), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' }, JSON.stringify(partition));
  }
});
