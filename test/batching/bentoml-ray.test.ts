/**
 * Adaptive and fixed mode against what BentoML's CORK dispatcher and Ray Serve's `@serve.batch`
 * users run into (docs/batching.md, "Coming from BentoML and Ray Serve"), on a fake clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { DeadlineExceededError, OverloadedError } from '../../src/core/index.js';
import { FakeClock, events, recorder, splitting, track, type Tracked } from './helpers.js';

/** Submits `count` requests, one every `gapMs`, then lets everything finish; each with its answer time. */
async function stream(clock: FakeClock, batcher: DynamicBatcher<number, number>, count: number, gapMs: number, from = 0) {
  const sent: { at: number; answeredAt?: number; t: Tracked<number> }[] = [];
  for (let i = 0; i < count; i++) {
    const entry: { at: number; answeredAt?: number; t: Tracked<number> } = { at: clock.now(), t: track(batcher.submit(from + i)) };
    const settle = () => void (entry.answeredAt = clock.now());
    entry.t.promise.then(settle, settle);
    sent.push(entry);
    await clock.advanceAsync(gapMs);
  }
  await clock.advanceAsync(500);
  return sent;
}

test("a shed request's error adds up to the objective: it quotes the run-time noise kept in hand", async () => {
  const clock = new FakeClock();
  let runs = 0;
  let stalled = false;
  // Batches take n + 20 or n + 24 ms, two of each in turn: a line with 2 ms of spread, 4 ms kept in hand.
  const { execute } = recorder(clock, (x: number) => x, (rs) => (stalled ? 200 : rs.length + 20 + (Math.floor(runs++ / 2) % 2) * 4));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxLatencyMs: 50, execute });
  for (let i = 0; i < 10; i++) {
    await Promise.all([...Array.from({ length: 1 + (i % 2) }, (_, j) => batcher.submit(j)), clock.advanceAsync(60)]);
  }
  const fit = batcher.runTime;
  assert.deepEqual([fit.perItemMs, fit.overheadMs, Math.round(fit.spreadMs * 100) / 100], [1, 21.6, 1.96]);
  stalled = true;
  const running = track(batcher.submit(1));
  await clock.advanceAsync(1);
  const queued = track(batcher.submit(2));
  await clock.advanceAsync(300);
  assert.equal(running.state, 'resolved');
  // Overload, as BentoML's CORK answers it: a 503 a client retries, not a 504 like its own timeout.
  assert.ok(queued.error instanceof OverloadedError, String(queued.error));
  assert.deepEqual([queued.error.code, queued.error.status], ['ERR_SERVABLE_OVERLOADED', 503]);
  // The slot frees when the stalled batch has run as long again as the 24.5 ms it had run when the request was shed.
  assert.equal(queued.error.retryAfterMs, 25);
  // Shed at its latest start, 50 - 22.6 - 3.9 ms after it came: the message must say where the rest went.
  assert.equal(
    (queued.error as Error).message,
    'The request cannot be answered within maxLatencyMs (50 ms): it waited 23.5 ms and needs about 26.5 ms more (its batch about 22.6 ms, and 3.9 ms kept for run-time noise). Shed as overload: retry later; if it persists, raise maxLatencyMs or the model\'s instances',
  );
});

test("a shed split request's error counts the batches its later parts need", async () => {
  const { clock, batcher, rows } = await splitting(40);
  // Two requests of 16 items, in parts of 4 taking 6 ms each: the second's first part would start at 24 ms.
  const first = track(batcher.submit(rows(16)));
  const second = track(batcher.submit(rows(16)));
  await clock.advanceAsync(100);
  assert.deepEqual(first.value, rows(16));
  // Its latest start is 16 ms after it came (40 - 24), but the first request's parts hold the head of
  // the level until 18 ms, and the queue is shed from its head: it goes then, when it is first in line.
  assert.match((second.error as Error).message, /within maxLatencyMs \(40 ms\): it waited 18 ms and needs about 24 ms more \(its batch about 6 ms, its later parts 18 ms\)\. Shed as overload/);
});

test('a split request queued behind requests that are not split is shed when it reaches the head of its level, not at its own latest start', async () => {
  const { clock, calls, batcher, rows } = await splitting(40);
  const before = calls.length;
  // Five requests of 4 items (6 ms each, latest start 34 ms after they came), then one of 16 (latest start 16 ms).
  const ahead = Array.from({ length: 5 }, () => track(batcher.submit(rows(4))));
  const big = track(batcher.submit(rows(16)));
  const { drops } = events(batcher);
  await clock.advanceAsync(100);
  assert.deepEqual(ahead.map((a) => a.state), ['resolved', 'resolved', 'resolved', 'resolved', 'resolved']);
  assert.ok(big.error instanceof OverloadedError, String(big.error));
  // Shed at 24 ms, when the last request ahead of it started and it was first in line: none of its parts ran.
  assert.deepEqual(drops.map((d) => [d.reason, d.queueMs]), [['shed', 24]]);
  assert.equal(calls.length - before, 5);
});

test('light load: adaptive mode sheds nothing and sends each request at once, where BentoML users saw 503s and no batching (bentoml#3200, #4670)', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x, (rs) => rs.length + 5);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 16, maxLatencyMs: 30, execute });
  const { batches, drops } = events(batcher);
  // One request every 20 ms, each batch 6 ms: capacity to spare.
  const sent = await stream(clock, batcher, 100, 20);
  assert.deepEqual(drops, []);
  assert.equal(sent.filter((s) => s.t.state === 'resolved').length, 100);
  assert.deepEqual(new Set(batches.map((b) => `${b.size}:${b.queueMs.join()}`)), new Set(['1:0']));
  // Busier, one every 2 ms: batches form by themselves, and still nothing is shed or late.
  batches.length = 0;
  const busy = await stream(clock, batcher, 300, 2, 100);
  assert.deepEqual(drops, []);
  assert.ok(Math.max(...busy.map((s) => s.answeredAt! - s.at)) <= 30);
  assert.ok(batches.some((b) => b.size > 1));
});

test('cold start: nothing is refused or shed before a batch has been measured', async () => {
  const clock = new FakeClock();
  // The first batch is a cold one (20 ms); every later one takes n + 2 ms.
  let runs = 0;
  const { execute } = recorder(clock, (x: number) => x, (rs) => (runs++ === 0 ? 20 : rs.length + 2));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxLatencyMs: 50, execute });
  const { drops } = events(batcher);
  const first = track(batcher.submit(0));
  await clock.advanceAsync(0);
  // Queued behind the unmeasured batch: the batcher cannot know they will be late, and is not told.
  const behind = Array.from({ length: 5 }, (_, i) => track(batcher.submit(i + 1)));
  await clock.advanceAsync(19);
  assert.deepEqual(drops, []);
  // Measured at 20 ms, one item takes 20 ms at most: they can still make 50 ms, and go together.
  await clock.advanceAsync(100);
  assert.deepEqual([first, ...behind].map((t) => t.value), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(drops, []);
});

test("a queue longer than one batch costs its oldest requests nothing: each is judged by its own batch, not by the whole queue's run time as BentoML's CORK cancels the oldest", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x, (rs) => rs.length + 2);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 4, maxLatencyMs: 20, execute });
  for (const n of [1, 2]) await Promise.all([...Array.from({ length: n }, (_, i) => batcher.submit(i)), clock.advanceAsync(10)]);
  assert.equal(batcher.runTime.fitted, true);
  const start = clock.now();
  // 40 at once: CORK's w0 + a·40 + b = 42 ms > 20 cancels the oldest until 17 are left.
  const burst = Array.from({ length: 40 }, (_, i) => ({ i, t: track(batcher.submit(i)) }));
  const settledAt = new Map<number, number>();
  for (const { i, t } of burst) t.promise.then(() => settledAt.set(i, clock.now() - start), () => settledAt.set(i, clock.now() - start));
  await clock.advanceAsync(100);
  // Batches of 4 every 6 ms: the oldest 12 end by 18 ms; the rest are shed at their latest start, 17 ms.
  assert.deepEqual(burst.filter(({ t }) => t.state === 'resolved').map(({ i }) => i), Array.from({ length: 12 }, (_, i) => i));
  assert.deepEqual(new Set(burst.slice(12).map(({ i }) => settledAt.get(i))), new Set([17]));
  assert.ok(burst.slice(12).every(({ t }) => t.error instanceof OverloadedError));
  // Shed when the batch running would end in 1 ms and none queued ahead: a retry then starts at once and ends in time.
  assert.deepEqual(new Set(burst.slice(12).map(({ t }) => (t.error as OverloadedError).retryAfterMs)), new Set([1]));
});

test('an objective below the time of one item: an idle batcher still answers, and a request that finds it busy is refused at once, quoting both', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x, (rs) => rs.length + 21);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxLatencyMs: 15, execute });
  for (const n of [1, 2]) await Promise.all([...Array.from({ length: n }, (_, i) => batcher.submit(i)), clock.advanceAsync(30)]);
  assert.deepEqual([batcher.runTime.perItemMs, batcher.runTime.overheadMs], [1, 21]);
  // Not every request refused with no hint: alone, it runs (and says how long one takes).
  const alone = track(batcher.submit(7));
  await clock.advanceAsync(0);
  const busy = track(batcher.submit(8));
  await clock.advanceAsync(30);
  assert.equal(alone.value, 7);
  assert.ok(busy.error instanceof DeadlineExceededError && busy.error.fromModel);
  assert.equal(busy.error.code, 'ERR_SERVABLE_DEADLINE_EXCEEDED');
  assert.equal(busy.error.status, 504);
  assert.match(busy.error.message, /takes about 22 ms, more than maxLatencyMs \(15 ms\): raise maxLatencyMs above it, or make the batch faster \(a faster device, fewer items\)$/);
});

test('the fit follows a model that got slower within one window of batches', async () => {
  const clock = new FakeClock();
  const state = { factor: 1 };
  const { execute } = recorder(clock, (x: number) => x, (rs) => state.factor * (rs.length + 4));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 32, maxLatencyMs: 40, execute });
  const { batches } = events(batcher);
  await stream(clock, batcher, 100, 5);
  // From here every batch takes 3 × (n + 4) ms.
  state.factor = 3;
  batches.length = 0;
  const sent = await stream(clock, batcher, 400, 5, 100);
  const fit = batcher.runTime;
  assert.ok(Math.abs(fit.perItemMs - 3) < 1e-9 && Math.abs(fit.overheadMs - 12) < 1e-9, `fit ${fit.perItemMs}·n + ${fit.overheadMs}`);
  assert.ok(batches.length > 50, `${batches.length} batches`);
  const late = sent.filter((s) => s.t.state === 'resolved' && s.answeredAt! - s.at > 40);
  assert.deepEqual(late, []);
});

test('under sustained overload, full batches that drift off the kept line drop it, and one batch of half the size fits it again', async () => {
  const clock = new FakeClock();
  const state = { extra: 0 };
  const { execute } = recorder(clock, (x: number) => x, (rs) => 2 + state.extra + 3 * rs.length);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxLatencyMs: 50, execute });
  const { batches } = events(batcher);
  for (const n of [1, 3]) await Promise.all([...Array.from({ length: n }, (_, i) => batcher.submit(i)), clock.advanceAsync(100)]);
  const load = async (ms: number) => {
    for (let i = 0; i < ms; i++) {
      batcher.submit(i).catch(() => {});
      await clock.advanceAsync(1);
    }
  };
  await load(1500);
  // Every batch in the window holds 8 items, on the line the first ones drew: it is kept.
  const kept = batcher.runTime;
  assert.ok(kept.fitted && Math.abs(kept.perItemMs - 3) < 1e-6 && Math.abs(kept.overheadMs - 2) < 1e-6, `fit ${kept.perItemMs}·n + ${kept.overheadMs}`);
  // The model gets 3 ms slower: once the full batches' mean leaves the line, one batch of 4 restores it.
  state.extra = 3;
  batches.length = 0;
  await load(600);
  const sizes = batches.map((b) => b.size);
  assert.equal(sizes.filter((n) => n !== 8).length, 1, `sizes ${sizes.join()}`);
  assert.ok(sizes.includes(4), `sizes ${sizes.join()}`);
  assert.equal(batcher.runTime.fitted, true);
});

test('the latency model keeps its line when the window holds one size on it, and drops it when that size drifts off', async () => {
  const { LatencyModel } = await import('../../src/batching/adaptive.js');
  const model = new LatencyModel(4);
  for (const [n, ms] of [[1, 5], [3, 9], [3, 9], [3, 9]] as const) model.record(n, ms);
  assert.deepEqual([model.fitted, model.perItemMs, model.overheadMs], [true, 2, 3]);
  model.record(3, 9); // the batch of 1 leaves the window
  assert.deepEqual([model.fitted, model.estimate(5)], [true, 13]);
  // Batches of 3 that take 11 ms: one or two could be noise, three are past two standard errors.
  model.record(3, 11);
  model.record(3, 11);
  assert.deepEqual([model.fitted, model.estimate(5)], [true, 13]);
  model.record(3, 11);
  assert.deepEqual([model.fitted, model.estimate(5), model.meanRunMs], [false, 10.5, 10.5]);
});

test("fixed mode: maxQueueDelayMs counts from a request's arrival, so requests that waited behind a running batch go the moment it ends", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 100);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxQueueDelayMs: 50, concurrency: 1, execute });
  const { batches } = events(batcher);
  const first = track(batcher.submit(0));
  await clock.advanceAsync(60);
  const later = [1, 2, 3].map((x) => track(batcher.submit(x)));
  await clock.advanceAsync(300);
  // The lone first request waits out the delay; the three queued at 60 ms have waited 90 ms when the slot frees at 150.
  assert.deepEqual(calls.map((c) => [c.at, c.requests]), [[50, [0]], [150, [1, 2, 3]]]);
  assert.deepEqual(batches.map((b) => b.reason), ['delay', 'delay']);
  assert.deepEqual([first, ...later].map((t) => t.value), [0, 1, 2, 3]);
});

test('cold start: a slow first batch counts, so requests that waited behind it are judged on its time', async () => {
  const clock = new FakeClock();
  let runs = 0;
  const { execute } = recorder(clock, (x: number) => x, (rs) => (runs++ === 0 ? 30 : rs.length + 2));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxLatencyMs: 50, execute });
  const first = track(batcher.submit(0));
  await clock.advanceAsync(0);
  const behind = Array.from({ length: 5 }, (_, i) => track(batcher.submit(i + 1)));
  await clock.advanceAsync(100);
  // Read from the one batch there is, one item takes 30 ms: 30 waited + 30 > 50, where they would have taken 7.
  assert.equal(first.value, 0);
  assert.deepEqual(behind.map((t) => t.state), Array(5).fill('rejected'));
  assert.match((behind[0]!.error as Error).message, /it waited 30 ms and its batch would take about 30 ms/);
});
