import assert from 'node:assert/strict';
import test from 'node:test';
import { LruStore } from '../../src/cache/lru-store.js';
import { inputsKey, sha256Hasher } from '../../src/cache/key.js';
import { ResultCache, type CacheRequest } from '../../src/cache/result-cache.js';
import type { CacheStore } from '../../src/cache/store.js';
import { CancelledError, DeadlineExceededError, OverloadedError, type TensorMap } from '../../src/core/index.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { catchingUncaught } from '../fixtures/uncaught.js';

const fp32 = (values: number[], shape = [1, values.length]): TensorMap[string] => ({ datatype: 'FP32', shape, data: Float32Array.from(values) });

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A cache on an LruStore, a compute that doubles `x` and counts its runs, and a log of every event. */
function setup(options: { store?: CacheStore; clock?: FakeClock } = {}) {
  const clock = options.clock ?? new FakeClock();
  const store = options.store ?? new LruStore({ maxBytes: 1 << 20, clock });
  const cache = new ResultCache({ store, clock, ttlMs: 60_000 });
  const events: string[] = [];
  const record = (name: string) => (event: object) => {
    const e = event as { reason?: string; operation?: string; error?: Error };
    events.push(e.reason ? `${name}:${e.reason}` : e.operation ? `${name}:${e.operation}:${e.error?.message}` : name);
  };
  cache.on('hit', record('hit')).on('miss', record('miss')).on('coalesce', record('coalesce'));
  cache.on('store', record('store')).on('error', record('error'));
  let runs = 0;
  const compute = async (request: CacheRequest): Promise<TensorMap> => {
    runs++;
    const x = request.inputs.x!.data as Float32Array;
    return { y: fp32(Array.from(x, (v) => v * 2)) };
  };
  return { cache, store, clock, events, compute, runs: () => runs };
}

const request = (x: number[], extra: Partial<CacheRequest> = {}): CacheRequest => ({ model: 'double', version: 1, inputs: { x: fp32(x) }, ...extra });

test('a miss computes and stores; the same request then hits without computing', async () => {
  const { cache, compute, events, runs } = setup();
  const r = request([1, 2]);
  const first = await cache.run(r, () => compute(r));
  const second = await cache.run(request([1, 2]), () => compute(r));
  assert.deepEqual([first.hit, second.hit, runs()], [false, true, 1]);
  assert.deepEqual(Array.from(second.value.y!.data as Float32Array), [2, 4]);
  assert.deepEqual(events, ['miss:absent', 'store', 'hit']);
});

test('the key covers input names, datatypes, shapes, bytes and parameters, and ignores their order', async () => {
  const { cache, runs } = setup();
  const y = async () => ({ y: fp32([0]) });
  const base: CacheRequest = { model: 'm', version: 1, inputs: { a: fp32([1, 2, 3, 4]), b: fp32([5]) }, parameters: { k: 1, j: [1, 2] } };
  await cache.run(base, y);
  const variants: CacheRequest[] = [
    { ...base, inputs: { ...base.inputs, a: fp32([1, 2, 3, 4], [2, 2]) } },
    { ...base, inputs: { ...base.inputs, a: { datatype: 'INT32', shape: [1, 4], data: new Int32Array(Float32Array.from([1, 2, 3, 4]).buffer) } } },
    { ...base, inputs: { c: base.inputs.a!, b: base.inputs.b! } },
    { ...base, inputs: { ...base.inputs, a: fp32([1, 2, 3, 5]) } },
    { ...base, parameters: { k: 2, j: [1, 2] } },
    { ...base, parameters: { k: 1, j: [2, 1] } },
    { ...base, parameters: undefined },
    { ...base, model: 'other' },
  ];
  for (const v of variants) assert.equal((await cache.run(v, y)).hit, false, JSON.stringify({ ...v, inputs: Object.keys(v.inputs) }));
  assert.equal(runs(), 0);
  const reordered: CacheRequest = { model: 'm', version: 1, inputs: { b: fp32([5]), a: fp32([1, 2, 3, 4]) }, parameters: { j: [1, 2], k: 1, unset: undefined } };
  assert.equal((await cache.run(reordered, y)).hit, true);
});

test('BYTES inputs are keyed by their strings, so a boundary shift between strings is a different request', async () => {
  const k1 = await inputsKey({ t: { datatype: 'BYTES', shape: [2], data: ['ab', 'c'] } });
  const k2 = await inputsKey({ t: { datatype: 'BYTES', shape: [2], data: ['a', 'bc'] } });
  const k3 = await inputsKey({ t: { datatype: 'BYTES', shape: [2], data: ['ab', 'c'] } });
  assert.notEqual(k1, k2);
  assert.equal(k1, k3);
  assert.match(k1, /^[0-9a-f]{32}$/);
});

test('a BYTES string with a lone surrogate is not answered from the entry of the same string with U+FFFD', async () => {
  const { cache } = setup();
  let runs = 0;
  const echo = (request: CacheRequest) => async (): Promise<TensorMap> => {
    runs++;
    return { t: request.inputs.t! };
  };
  const answers: unknown[] = [];
  for (const s of ['a\ufffd', 'a\ud800', 'a\ud800']) {
    const r: CacheRequest = { model: 'echo', version: 1, inputs: { t: { datatype: 'BYTES', shape: [1], data: [s] } } };
    answers.push((await cache.run(r, echo(r))).value.t!.data);
  }
  assert.deepEqual([answers, runs], [[['a\ufffd'], ['a\ud800'], ['a\ud800']], 2]);
});

test('a new version never serves an old version\'s entries', async () => {
  const { cache, compute, runs } = setup();
  const v1 = request([3]);
  const v2 = request([3], { version: 2 });
  await cache.run(v1, () => compute(v1));
  assert.equal((await cache.run(v2, () => compute(v2))).hit, false);
  assert.equal((await cache.run(v1, () => compute(v1))).hit, true);
  assert.equal(runs(), 2);
});

test('only successful results are stored', async () => {
  const { cache, compute, runs, events } = setup();
  const r = request([1]);
  await assert.rejects(cache.run(r, () => Promise.reject(new Error('model failed'))), /model failed/);
  const after = await cache.run(r, () => compute(r));
  assert.deepEqual([after.hit, runs()], [false, 1]);
  assert.deepEqual(events, ['miss:absent', 'miss:absent', 'store']);
});

test('invalidate(model) removes every version of that model and no other model', async () => {
  const { cache, compute, runs } = setup();
  const reqs = [request([1]), request([1], { version: 2 }), request([1], { model: 'keep' })];
  for (const r of reqs) await cache.run(r, () => compute(r));
  await cache.invalidate('double');
  const hits = [];
  for (const r of reqs) hits.push((await cache.run(r, () => compute(r))).hit);
  assert.deepEqual(hits, [false, false, true]);
  assert.equal(runs(), 5);
});

test('a computation that started before invalidate() does not store its (old) result', async () => {
  const { cache, store } = setup();
  const gate = deferred<TensorMap>();
  const pending = cache.run(request([1]), () => gate.promise);
  await Promise.resolve();
  await cache.invalidate('double');
  gate.resolve({ y: fp32([99]) });
  assert.equal((await pending).value.y!.data[0], 99);
  await cache.idle();
  assert.equal((await cache.run(request([1]), async () => ({ y: fp32([2]) }))).hit, false);
  assert.ok(store instanceof LruStore && store.size === 1);
});

test('a read while invalidate() is clearing, or that started before it, is a miss, not the entry being cleared', async () => {
  const lru = new LruStore({ maxBytes: 1 << 20 });
  const clearing = deferred<void>();
  let slowGet: ReturnType<typeof deferred<void>> | undefined;
  const store: CacheStore = {
    get: async (ns, key) => {
      await slowGet?.promise;
      return lru.get(ns, key);
    },
    set: async (ns, key, value) => lru.set(ns, key, value),
    delete: async (ns, key) => lru.delete(ns, key),
    clear: async (ns) => {
      await clearing.promise;
      lru.clear(ns);
    },
  };
  const { cache, events } = setup({ store });
  await cache.run(request([1]), async () => ({ y: fp32([1]) }));
  await cache.idle();
  slowGet = deferred<void>();
  const early = cache.run(request([1]), async () => ({ y: fp32([3]) }));
  const invalidated = cache.invalidate('double');
  slowGet.resolve();
  const during = await cache.run(request([1]), async () => ({ y: fp32([2]) }));
  assert.deepEqual([during.hit, during.value.y!.data[0]], [false, 2], 'the clear has not reached the entry yet');
  const before = await early;
  assert.deepEqual([before.hit, before.value.y!.data[0]], [false, 3], 'its read came back after the invalidation began');
  clearing.resolve();
  await invalidated;
  assert.deepEqual(events, ['miss:absent', 'store', 'miss:absent', 'miss:absent', 'store'], "the early read's result is computed for the old generation, so not stored");
});

test('no-cache skips reading but stores the fresh result; no-store reads but never writes', async () => {
  const { cache, compute, runs, events } = setup();
  const writes: boolean[] = [];
  cache.on('store', (e) => writes.push(e.bypass));
  const r = request([1]);
  await cache.run(r, () => compute(r));
  const fresh = await cache.run(r, async () => ({ y: fp32([7]) }), { noCache: true });
  assert.equal(fresh.hit, false);
  assert.equal((await cache.run(r, () => compute(r))).value.y!.data[0], 7, 'the no-cache result replaced the entry');
  const other = request([5]);
  await cache.run(other, () => compute(other), { noStore: true });
  assert.equal((await cache.run(other, () => compute(other), { noStore: true })).hit, false);
  assert.equal(runs(), 3);
  assert.deepEqual(events, ['miss:absent', 'store', 'miss:bypass', 'store', 'hit', 'miss:absent', 'miss:absent']);
  assert.deepEqual(writes, [false, true], "the second write is the no-cache request's");
});

test('a computation that calls control.noStore() is answered to every caller sharing it but never stored', async () => {
  const { cache, events } = setup();
  const r = request([1]);
  const gate = deferred<void>();
  const declined = (_signal: AbortSignal, control: { noStore(): void }) => {
    control.noStore();
    return gate.promise.then(() => ({ y: fp32([9]) }));
  };
  const shared = [cache.run(r, declined), cache.run(r, declined)];
  gate.resolve();
  assert.deepEqual((await Promise.all(shared)).map((o) => o.value.y!.data[0]), [9, 9]);
  assert.equal((await cache.run(r, async () => ({ y: fp32([3]) }))).value.y!.data[0], 3);
  assert.deepEqual(events, ['miss:absent', 'coalesce', 'miss:absent', 'store']);
});

test('identical requests in flight run one computation; different ones run their own', async () => {
  const { cache, events } = setup();
  const gate = deferred<TensorMap>();
  let runs = 0;
  const slow = () => {
    runs++;
    return gate.promise;
  };
  const all = [cache.run(request([1]), slow), cache.run(request([1]), slow), cache.run(request([1]), slow), cache.run(request([2]), slow)];
  assert.equal(cache.inFlight, 2);
  gate.resolve({ y: fp32([42]) });
  const results = await Promise.all(all);
  assert.equal(runs, 2);
  assert.deepEqual(results.map((r) => [r.hit, r.shared, r.value.y!.data[0]]), [[false, false, 42], [false, true, 42], [false, true, 42], [false, false, 42]]);
  assert.deepEqual(events.slice(0, 4), ['miss:absent', 'coalesce', 'coalesce', 'miss:absent']);
  assert.equal(cache.inFlight, 0);
});

test('only calls with the same flightGroup share a computation in flight; a stored answer is shared by every group', async () => {
  const { cache, events } = setup();
  const gates: ReturnType<typeof deferred<TensorMap>>[] = [];
  const slow = () => {
    gates.push(deferred<TensorMap>());
    return gates.at(-1)!.promise;
  };
  const all = [
    cache.run(request([1]), slow),
    cache.run(request([1]), slow, { flightGroup: '20/undefined' }),
    cache.run(request([1]), slow, { flightGroup: '20/undefined' }),
    cache.run(request([1]), slow, { flightGroup: 'undefined/2' }),
  ];
  assert.equal(cache.inFlight, 3);
  await new Promise((r) => setImmediate(r));
  gates.forEach((gate, i) => gate.resolve({ y: fp32([i]) }));
  const results = await Promise.all(all);
  assert.deepEqual(results.map((r) => [r.hit, r.shared, r.value.y!.data[0]]), [[false, false, 0], [false, false, 1], [false, true, 1], [false, false, 2]]);
  assert.deepEqual(events.filter((e) => e !== 'store'), ['miss:absent', 'miss:absent', 'coalesce', 'miss:absent']);
  const later = await cache.run(request([1]), slow, { flightGroup: 'another' });
  assert.deepEqual([later.hit, gates.length], [true, 3]);
});

test('a caller whose shared flight failed on another caller\'s deadline or cancellation runs again with its own computation; any other failure is shared', async () => {
  const { cache, events } = setup();
  const outcomes: unknown[] = [];
  const failures = [new DeadlineExceededError('the first caller timed out'), new CancelledError(), new Error('the model failed')];
  for (const [i, failure] of failures.entries()) {
    const first = deferred<TensorMap>();
    const [a, b] = await Promise.allSettled([
      cache.run(request([i]), () => (setImmediate(() => first.reject(failure)), first.promise)),
      cache.run(request([i]), async () => ({ y: fp32([7]) })),
    ]);
    outcomes.push([a.status === 'rejected' && a.reason === failure, b.status === 'fulfilled' ? b.value.value.y!.data[0] : b.reason === failure]);
  }
  assert.deepEqual(outcomes, [[true, 7], [true, 7], [true, true]]);
  assert.deepEqual(events.slice(0, 4), ['miss:absent', 'coalesce', 'miss:absent', 'store']);
  // A caller whose own signal aborted takes its own cancellation.
  const first = deferred<TensorMap>();
  const controller = new AbortController();
  const a = cache.run(request([5]), () => first.promise);
  const b = cache.run(request([5]), async () => ({ y: fp32([7]) }), { signal: controller.signal });
  controller.abort();
  first.reject(new CancelledError());
  await Promise.allSettled([a]);
  await assert.rejects(b, { code: 'ERR_SERVABLE_CANCELLED' });
});

test("a request shed by adaptive batching, or refused as too slow, fails every caller sharing it at once: the model's verdict; none runs again to be queued anew", async () => {
  for (const verdict of [
    new OverloadedError('The request cannot be answered within maxLatencyMs (50 ms). Shed as overload', 25),
    new DeadlineExceededError('A batch of 1 items takes about 60 ms, more than maxLatencyMs (50 ms)', { fromModel: true }),
  ]) {
    const { cache, events } = setup();
    const first = deferred<TensorMap>();
    let runs = 0;
    const compute = () => (runs++, first.promise);
    const callers = [cache.run(request([1]), compute), cache.run(request([1]), compute), cache.run(request([1]), compute, { signal: new AbortController().signal })];
    first.reject(verdict);
    const settled = await Promise.allSettled(callers);
    assert.deepEqual(settled.map((s) => s.status === 'rejected' && s.reason === verdict), [true, true, true], verdict.message);
    assert.deepEqual([runs, events], [1, ['miss:absent', 'coalesce', 'coalesce']]);
  }
});

test('joiners run again in the order they joined, with or without a signal, so the earliest starts the next flight', async () => {
  const { cache, events } = setup();
  const first = deferred<TensorMap>();
  const started: string[] = [];
  const compute = (name: string) => async () => (started.push(name), { y: fp32([started.length]) });
  const a = cache.run(request([1]), () => first.promise);
  const j = cache.run(request([1]), compute('j'), { signal: new AbortController().signal });
  const k = cache.run(request([1]), compute('k'));
  first.reject(new DeadlineExceededError('the first caller timed out'));
  await assert.rejects(a, DeadlineExceededError);
  const [jr, kr] = await Promise.all([j, k]);
  assert.deepEqual([started, jr.shared, kr.shared], [['j'], false, true]);
  assert.deepEqual(events, ['miss:absent', 'coalesce', 'coalesce', 'miss:absent', 'coalesce', 'store']);
});

test('a caller that aborts leaves alone; the shared computation is aborted only when every caller has left', async () => {
  const { cache } = setup();
  const gate = deferred<TensorMap>();
  let seen: AbortSignal | undefined;
  const slow = (signal: AbortSignal) => {
    seen = signal;
    return gate.promise;
  };
  const a = new AbortController();
  const b = new AbortController();
  const first = cache.run(request([1]), slow, { signal: a.signal });
  const second = cache.run(request([1]), slow, { signal: b.signal });
  await Promise.resolve();
  a.abort();
  await assert.rejects(first, { code: 'ERR_SERVABLE_CANCELLED' });
  assert.equal(seen?.aborted, false);
  gate.resolve({ y: fp32([1]) });
  assert.equal((await second).value.y!.data[0], 1);

  const never = deferred<TensorMap>();
  const c = new AbortController();
  const d = new AbortController();
  const third = cache.run(request([9]), slow, { signal: c.signal });
  const fourth = cache.run(request([9]), slow, { signal: d.signal });
  await Promise.resolve();
  c.abort();
  d.abort(new Error('client went away'));
  await assert.rejects(third, { code: 'ERR_SERVABLE_CANCELLED' });
  await assert.rejects(fourth, /client went away/);
  assert.equal(seen?.aborted, true);
  assert.equal(cache.inFlight, 0);
  never.resolve({});
  await assert.rejects(cache.run(request([3]), slow, { signal: AbortSignal.abort() }), { code: 'ERR_SERVABLE_CANCELLED' });
});

test('a joiner with a deadline leaves at it with a DeadlineExceededError while the computation goes on for the others; it is aborted once every caller has gone', async () => {
  const { cache, clock, events } = setup();
  const gate = deferred<TensorMap>();
  let runs = 0;
  let seen: AbortSignal | undefined;
  const slow = (signal: AbortSignal) => {
    runs++;
    seen = signal;
    return gate.promise;
  };
  const first = cache.run(request([1]), slow, { timeoutMs: 5000 });
  const hasty = cache.run(request([1]), slow, { timeoutMs: 100 });
  const patient = cache.run(request([1]), slow);
  assert.equal(clock.pending, 1, 'one timer: the hasty joiner\'s; the first caller\'s computation bounds its own wait, and the other set none');
  clock.advance(99);
  await clock.flush();
  let hastyError: unknown;
  hasty.catch((error: unknown) => (hastyError = error));
  clock.advance(1);
  await clock.flush();
  assert.ok(hastyError instanceof DeadlineExceededError && !hastyError.fromModel, String(hastyError));
  assert.match((hastyError as Error).message, /while it waited for an identical request in flight/);
  assert.deepEqual([runs, seen?.aborted, cache.inFlight], [1, false, 1], 'it did not run again, and the others still share the computation');
  gate.resolve({ y: fp32([4]) });
  assert.deepEqual((await Promise.all([first, patient])).map((r) => [r.shared, r.value.y!.data[0]]), [[false, 4], [true, 4]]);
  assert.deepEqual(events, ['miss:absent', 'coalesce', 'coalesce', 'store']);

  // Every caller gone: the first by its signal, the joiner at its deadline.
  const never = deferred<TensorMap>();
  const hanging = (signal: AbortSignal) => ((seen = signal), never.promise);
  const controller = new AbortController();
  const left = cache.run(request([2]), hanging, { signal: controller.signal });
  const joined = cache.run(request([2]), hanging, { timeoutMs: 10 });
  controller.abort();
  await assert.rejects(left, { code: 'ERR_SERVABLE_CANCELLED' });
  assert.equal(seen?.aborted, false);
  clock.advance(10);
  await assert.rejects(joined, { code: 'ERR_SERVABLE_DEADLINE_EXCEEDED' });
  assert.deepEqual([seen?.aborted, cache.inFlight, clock.pending], [true, 0, 0]);
  // A deadline already passed fails a joiner at once; an answer before it clears its timer.
  const quick = deferred<TensorMap>();
  const leader = cache.run(request([3]), () => quick.promise);
  await assert.rejects(cache.run(request([3]), slow, { timeoutMs: 0 }), DeadlineExceededError);
  const inTime = cache.run(request([3]), slow, { timeoutMs: 10 });
  quick.resolve({ y: fp32([9]) });
  assert.deepEqual([(await leader).value.y!.data[0], (await inTime).value.y!.data[0], clock.pending], [9, 9, 0]);
});

/** A store whose operations wait for the test to settle them. */
function manualStore() {
  const gets: { key: string; answer: ReturnType<typeof deferred<TensorMap | undefined>> }[] = [];
  const store: CacheStore = {
    get(_ns, key) {
      const answer = deferred<TensorMap | undefined>();
      gets.push({ key, answer });
      return answer.promise;
    },
    set: () => new Promise<void>(() => {}),
    delete: () => undefined,
    clear: () => Promise.reject(new Error('clear refused')),
  };
  return { store, gets };
}

test('a no-cache request does not join a flight that is still reading the store', async () => {
  const { store, gets } = manualStore();
  const { cache } = setup({ store });
  let runs = 0;
  const compute = async () => ({ y: fp32([++runs]) });
  const reading = cache.run(request([1]), compute);
  const fresh = cache.run(request([1]), compute, { noCache: true });
  const joiner = cache.run(request([1]), compute);
  assert.equal((await fresh).shared, false);
  gets[0]!.answer.resolve({ y: fp32([-1]) });
  const [r, j] = await Promise.all([reading, joiner]);
  assert.deepEqual([r.hit, r.value.y!.data[0]], [true, -1]);
  assert.deepEqual([j.shared, j.hit, j.value.y!.data[0]], [true, false, 1], 'a later caller joins the newest flight, the fresh one');
  assert.equal(runs, 1);
});

test('fail open: a store that throws, rejects or hangs turns into a miss and an error event', async () => {
  const clock = new FakeClock();
  const { store, gets } = manualStore();
  const { cache, events, compute } = setup({ store, clock });
  const r = request([1]);
  const hung = cache.run(r, () => compute(r));
  assert.equal(gets.length, 1);
  clock.advance(49);
  gets.length = 0;
  clock.advance(1);
  assert.equal((await hung).value.y!.data[0], 2);
  await cache.idle();
  assert.deepEqual(events, [
    'error:get:Cache get took longer than 50 ms',
    'miss:error',
    'error:set:Cache set skipped: the store has not answered calls that timed out',
  ]);
  assert.equal(clock.pending, 0);

  const throwing: CacheStore = {
    get: () => {
      throw new Error('boom');
    },
    set: () => Promise.reject(new Error('read-only')),
    delete: () => undefined,
    clear: () => undefined,
  };
  const broken = setup({ store: throwing });
  const result = await broken.cache.run(r, () => broken.compute(r));
  await broken.cache.idle();
  assert.equal(result.value.y!.data[0], 2);
  assert.deepEqual(broken.events, ['error:get:Cache get failed: boom', 'miss:error', 'error:set:Cache set failed: read-only']);

  await assert.rejects(cache.invalidate('double'), { code: 'ERR_SERVABLE_CACHE', message: 'Could not clear the cached results of model "double": clear refused' });
  assert.equal(events.at(-1), 'error:clear:Could not clear the cached results of model "double": clear refused');
});

test('while a store call that timed out is pending, the store is skipped, so calls never pile up behind it', async () => {
  const clock = new FakeClock();
  const { store, gets } = manualStore();
  const sets: (() => void)[] = [];
  store.set = () => new Promise<void>((resolve) => sets.push(resolve));
  const { cache, events } = setup({ store, clock });
  let runs = 0;
  const compute = async () => ({ y: fp32([++runs]) });
  const first = cache.run(request([1]), compute);
  clock.advance(50);
  await first;
  const skipped = await cache.run(request([2]), compute);
  assert.deepEqual([skipped.hit, gets.length, sets.length], [false, 1, 0], 'no second get and no set while the first get is pending');
  gets[0]!.answer.resolve(undefined);
  await Promise.resolve();
  const next = cache.run(request([3]), compute);
  assert.equal(gets.length, 2, 'the store is read again once the late get answered');
  gets[1]!.answer.resolve(undefined);
  await next;
  assert.equal(sets.length, 1);
  clock.advance(50);
  await cache.idle();
  await cache.run(request([4]), compute);
  assert.equal(gets.length, 2, 'a late set stalls the store too');
  sets[0]!();
  await Promise.resolve();
  cache.run(request([5]), compute).catch(() => {});
  assert.equal(gets.length, 3);
  const skip = (op: string) => `error:${op}:Cache ${op} skipped: the store has not answered calls that timed out`;
  assert.deepEqual(events, [
    'error:get:Cache get took longer than 50 ms',
    'miss:error',
    skip('set'),
    skip('get'),
    'miss:error',
    skip('set'),
    'miss:absent',
    'error:set:Cache set took longer than 50 ms',
    skip('get'),
    'miss:error',
    skip('set'),
  ]);
});

test('a store read still pending at the caller\'s deadline fails it then; the read still stalls the store once it runs past timeoutMs', async () => {
  const clock = new FakeClock();
  const { store, gets } = manualStore();
  const { cache, events } = setup({ store, clock });
  let runs = 0;
  const compute = async () => ({ y: fp32([++runs]) });
  const first = cache.run(request([1]), compute, { timeoutMs: 20 });
  let firstError: unknown;
  first.catch((error: unknown) => (firstError = error));
  assert.equal(clock.pending, 1, 'the read\'s timer, at the deadline');
  clock.advance(10);
  // Joined while the store is read: the first caller's deadline is not its own, so it runs again.
  const joiner = cache.run(request([1]), compute, { timeoutMs: 20 });
  joiner.catch(() => {});
  clock.advance(10);
  await clock.flush();
  assert.ok(firstError instanceof DeadlineExceededError && !firstError.fromModel, String(firstError));
  assert.equal((firstError as Error).message, 'The request timed out during the cache get');
  assert.equal(gets.length, 2, 'the joiner read the store again');
  clock.advance(10);
  await assert.rejects(joiner, { code: 'ERR_SERVABLE_DEADLINE_EXCEEDED' });
  assert.deepEqual([runs, events], [0, ['coalesce']], 'no miss and no error: the store did not fail, the callers ran out of time');
  clock.advance(20);
  // The first read, still pending at 50 ms, stalls the store: the next read is skipped.
  const later = await cache.run(request([2]), compute, { timeoutMs: 1000 });
  assert.deepEqual([later.hit, gets.length], [false, 2]);
  const skip = (op: string) => `error:${op}:Cache ${op} skipped: the store has not answered calls that timed out`;
  assert.deepEqual(events.slice(1), [skip('get'), 'miss:error', skip('set')]);
  gets[0]!.answer.resolve(undefined);
  gets[1]!.answer.resolve(undefined);
  await clock.flush();
  // A read answered before the deadline is a hit, and leaves no timer behind.
  const hit = cache.run(request([3]), compute, { timeoutMs: 1000 });
  gets[2]!.answer.resolve({ y: fp32([-3]) });
  assert.deepEqual([(await hit).hit, clock.pending], [true, 0]);
});

test('a request that cannot be keyed is computed without the cache and reported', async () => {
  const { cache, events } = setup();
  const bad = { model: 'm', version: 1, inputs: { x: { datatype: 'FP32', shape: [1], data: [1] } } } as unknown as CacheRequest;
  const result = await cache.run(bad, async () => ({ y: fp32([5]) }));
  assert.deepEqual([result.hit, result.value.y!.data[0]], [false, 5]);
  assert.deepEqual(events, ['error:key:Cache key failed: Expected input "x" to hold FP32 data, got [1] (array)']);
});

test('sha256Hasher keys requests asynchronously and collision-resistantly', async () => {
  const store = new LruStore({ maxBytes: 1 << 20 });
  const cache = new ResultCache({ store, hasher: sha256Hasher });
  const r = request([4]);
  assert.equal((await cache.run(r, async () => ({ y: fp32([8]) }))).hit, false);
  assert.equal((await cache.run(r, () => Promise.reject(new Error('no')))).hit, true);
  assert.match(await sha256Hasher([new TextEncoder().encode('abc')]), /^ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad$/);
});

test('ResultCache validates its options and requests, quoting the bad value', () => {
  const store = new LruStore({ maxBytes: 100 });
  assert.throws(() => new ResultCache({ store: {} as never }), /`store.get` to be a function, got undefined/);
  assert.throws(() => new ResultCache({ store, timeoutMs: 0 }), /`timeoutMs` to be a number > 0, got 0/);
  // Node fires a timer longer than 2^31 - 1 ms after 1 ms: every store call would time out.
  assert.throws(() => new ResultCache({ store, timeoutMs: 2 ** 31 }), /^RangeError: Expected `timeoutMs` to be at most 2147483647 ms, the longest a timer can wait, got 2147483648 \(number\)$/);
  assert.throws(() => new ResultCache({ store, ttlMs: Number.NaN }), /`ttlMs` to be a finite number, got NaN|`ttlMs` to be a finite number, got null/);
  assert.throws(() => new ResultCache({ store, namespace: '' }), /`namespace` to be a non-empty string, got "" \(string\)/);
  // A misspelt option is refused, where it did nothing (entries that never expire).
  assert.throws(() => new ResultCache({ store, ttlMS: 1000 } as never), /^TypeError: Unknown option `ttlMS`; ResultCache takes store, namespace, ttlMs, timeoutMs, hasher, clock$/);
  const cache = new ResultCache({ store });
  assert.throws(() => cache.run({ ...request([1]), version: null as never }, async () => ({})), /`request.version` to be a string or a number, got null/);
  assert.throws(() => cache.run({ ...request([1]), model: '' }, async () => ({})), /`request.model`/);
  assert.throws(() => cache.run(request([1]), async () => ({}), { flightGroup: 5 as never }), /^TypeError: Expected `flightGroup` to be a non-empty string, got 5 \(number\)$/);
  assert.throws(() => cache.run(request([1]), async () => ({}), { timeoutMs: -1 }), /^RangeError: Expected `timeoutMs` to be a number >= 0, got -1 \(number\)$/);
  assert.throws(() => cache.run(request([1]), async () => ({}), { timeoutMs: Number.NaN }), /^TypeError: Expected `timeoutMs` to be a finite number, got NaN \(number\)$/);
  // A misspelt per-request option is refused, where it did nothing (a read with no deadline, say).
  assert.throws(
    () => cache.run(request([1]), async () => ({}), { timeoutMS: 5 } as never),
    /^TypeError: Unknown option `timeoutMS`; ResultCache.run\(\) takes noCache, noStore, signal, timeoutMs, flightGroup$/,
  );
  assert.throws(() => cache.run(request([1]), async () => ({}), { noStore: 'yes' } as never), /^TypeError: Expected `noStore` to be a boolean, got "yes" \(string\)$/);
  assert.throws(() => cache.run(request([1]), async () => ({}), { noCache: 1 } as never), /^TypeError: Expected `noCache` to be a boolean, got 1 \(number\)$/);
  assert.throws(() => cache.run(request([1]), async () => ({}), null as never), /^TypeError: Expected `options` to be an object, got null \(null\)$/);
});

test('a listener that throws fails no run and leaves no flight behind; its error is rethrown later', async () => {
  await catchingUncaught(async (uncaught) => {
    const { cache, compute, runs } = setup();
    for (const event of ['hit', 'miss', 'store'] as const) {
      cache.on(event, () => {
        throw new Error(`a ${event} listener bug`);
      });
    }
    const r = request([1, 2]);
    const first = await cache.run(r, () => compute(r));
    const second = await cache.run(request([1, 2]), () => compute(r));
    assert.deepEqual([first.hit, second.hit, runs()], [false, true, 1]);
    assert.deepEqual(Array.from(second.value.y!.data as Float32Array), [2, 4]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(uncaught.map((e) => (e as Error).message), ['a miss listener bug', 'a store listener bug', 'a hit listener bug']);
  });
});

test('ResultCache.invalidate refuses a version that is not a string or number with code ERR_SERVABLE_INVALID_OPTION', async () => {
  const cache = new ResultCache({ store: new LruStore({ maxBytes: 1000 }) });
  await assert.rejects(cache.invalidate('m', {} as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
