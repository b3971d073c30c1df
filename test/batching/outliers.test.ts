import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { LatencyModel, nothingFits } from '../../src/batching/adaptive.js';
import { DeadlineExceededError } from '../../src/core/index.js';
import { FakeClock, events, recorder, track, type Tracked } from './helpers.js';

/**
 * An adaptive batcher (one instance, `maxLatencyMs: 50`) whose batches take n + 21 ms, or ten
 * times that while `slow` is set, and a stream of one request every 10 ms.
 */
function stalling() {
  const clock = new FakeClock();
  const state = { slow: false };
  const { calls, execute } = recorder(clock, (x: number) => x, (rs) => (state.slow ? 10 : 1) * (rs.length + 21));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 32, maxLatencyMs: 50, execute });
  const stream = async (count: number): Promise<Tracked<number>[]> => {
    const sent: Tracked<number>[] = [];
    for (let i = 0; i < count; i++) {
      sent.push(track(batcher.submit(i)));
      await clock.advanceAsync(10);
    }
    await clock.advanceAsync(300);
    return sent;
  };
  return { clock, calls, batcher, state, stream, ...events(batcher) };
}

function outcomes(sent: readonly Tracked<number>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of sent) counts[s.state] = (counts[s.state] ?? 0) + 1;
  return counts;
}

test('one stalled batch does not make adaptive mode refuse requests that meet the objective', async () => {
  const { batcher, state, stream, drops } = stalling();
  assert.deepEqual(outcomes(await stream(30)), { resolved: 30 });
  // One batch takes 10 × 22 ms (a GC pause, say); every one after it takes n + 21 ms again.
  state.slow = true;
  const stalled = track(batcher.submit(-1));
  await stream(0);
  state.slow = false;
  assert.equal(stalled.state, 'resolved');
  // Fitted with it, the line went flat at 40 ms with 54 ms of spread: 20 of these 30 were shed.
  drops.length = 0;
  assert.deepEqual(outcomes(await stream(30)), { resolved: 30 });
  assert.deepEqual(drops, []);
  const fit = batcher.runTime;
  assert.deepEqual([fit.outliers, fit.spreadMs], [1, 0]);
  assert.ok(Math.abs(fit.perItemMs - 1) < 1e-9 && Math.abs(fit.overheadMs - 21) < 1e-9, `fit ${fit.perItemMs}·n + ${fit.overheadMs}`);
});

test('adaptive mode reacts to a sustained slowdown once a second slow batch confirms the first', async () => {
  const { clock, batcher, state, stream, calls } = stalling();
  await stream(30);
  // From here every batch takes 10 × (n + 21) ms: 220 ms alone, far over the 50 ms objective.
  state.slow = true;
  const first = track(batcher.submit(-1));
  await clock.advanceAsync(300);
  assert.equal(first.state, 'resolved');
  assert.equal(batcher.runTime.outliers, 1, 'one slow batch alone is set aside');
  const second = track(batcher.submit(-2));
  await clock.advanceAsync(0);
  // Submitted while the second slow batch runs, it is queued on the old line and shed at its latest start.
  const queued = track(batcher.submit(-3));
  await clock.advanceAsync(300);
  assert.deepEqual([second.state, queued.state], ['resolved', 'rejected']);
  const fit = batcher.runTime;
  assert.equal(fit.outliers, 0, 'two slow batches in a row are a slowdown: both count');
  const runs = calls.length;
  // The batcher is busy: a request now is refused when submitted, without waiting to be shed.
  const busy = track(batcher.submit(-4));
  await clock.advanceAsync(0);
  const refused = track(batcher.submit(-5));
  await clock.advanceAsync(0);
  assert.equal(refused.state, 'rejected');
  assert.ok(refused.error instanceof DeadlineExceededError && refused.error.fromModel);
  assert.match((refused.error as Error).message, /A batch of 1 items takes about \d+(\.\d)? ms, more than maxLatencyMs \(50 ms\)/);
  assert.equal(calls.length, runs + 1, 'only the request submitted to the idle batcher ran');
  await clock.advanceAsync(300);
  assert.equal(busy.state, 'resolved');
});

test('the latency model sets a lone stalled batch aside, and counts two in a row', () => {
  const model = new LatencyModel();
  // Batches of 1 to 4 items taking 2·n + 4 ms.
  const normal: [number, number][] = Array.from({ length: 12 }, (_, i) => [1 + (i % 4), 2 * (1 + (i % 4)) + 4]);
  for (const [items, ms] of normal) model.record(items, ms);
  model.record(2, 80); // 10 × 8 ms
  assert.deepEqual([model.perItemMs, model.overheadMs, model.spreadMs, model.estimate(2)], [2, 4, 0, 8]);
  assert.deepEqual([model.snapshot().samples, model.snapshot().outliers], [12, 1]);
  // Normal batches after it leave it alone; a later lone stall is set aside too.
  for (let i = 0; i < 4; i++) model.record(3, 10);
  model.record(3, 100);
  model.record(1, 6);
  assert.deepEqual([model.snapshot().outliers, model.estimate(2)], [2, 8]);
  // A second slow batch next to the first confirms it: the fit is the one drawn from every batch
  // but the two lone stalls.
  model.record(1, 60);
  model.record(1, 60);
  const confirmed = new LatencyModel();
  for (const [items, ms] of [...normal, [3, 10], [3, 10], [3, 10], [3, 10], [1, 6], [1, 60], [1, 60]] as const) confirmed.record(items, ms);
  assert.deepEqual(model.snapshot(), { ...confirmed.snapshot(), outliers: 2 });
  assert.ok(model.estimate(1) > 6 && model.spreadMs > 10, `estimate(1) ${model.estimate(1)}, spread ${model.spreadMs}`);
});

test('run-time noise is not taken for a stall', () => {
  // Batches of 1 and 2 items, 1 ms either side of 3·n + 1 ms.
  const model = new LatencyModel();
  for (let i = 0; i < 10; i++) for (const [items, ms] of [[1, 3], [1, 5], [2, 6], [2, 8]] as const) model.record(items, ms);
  assert.deepEqual([model.perItemMs, model.overheadMs, model.spreadMs, model.snapshot().outliers], [3, 1, 1, 0]);
});

test('a batch larger (or smaller) than any other is not judged: beyond their sizes the line is a guess', () => {
  // Batches of 1 and 2 items all took 10 ms: the line is flat. The first batch of 16 took 30 ms,
  // three times that line's 10, and is what teaches the model the per-item cost.
  const model = new LatencyModel();
  for (let i = 0; i < 10; i++) model.record(1 + (i % 2), 10);
  model.record(16, 30);
  assert.equal(model.snapshot().outliers, 0);
  assert.ok(model.perItemMs > 1 && model.estimate(16) > 25, `fit ${model.perItemMs}·n + ${model.overheadMs}`);
});

test('slow batches that recur are kept in the fit: only up to two lone ones in the window are stalls', () => {
  // Batches of 1 to 7 items taking n + 21 ms, every tenth three times that: a pause every 10
  // batches is how the model runs, and the spread must keep it, or a tenth of the requests
  // admitted would miss the objective.
  const recurring = new LatencyModel();
  for (let i = 0; i < 100; i++) recurring.record(1 + (i % 7), (i % 10 === 0 ? 3 : 1) * (1 + (i % 7) + 21));
  const fit = recurring.snapshot();
  assert.deepEqual([fit.samples, fit.outliers], [50, 0]);
  assert.ok(fit.spreadMs > 10, `spread ${fit.spreadMs}`);
  // Every 25th: two in the window, far apart, are both set aside.
  const rare = new LatencyModel();
  for (let i = 0; i < 100; i++) rare.record(1 + (i % 7), (i % 25 === 0 ? 3 : 1) * (1 + (i % 7) + 21));
  assert.deepEqual([rare.snapshot().samples, rare.snapshot().outliers, rare.spreadMs], [48, 2, 0]);
});

test('a burst of stalled batches counts in the line but, once it has ended, does not swell the noise margin until nothing fits', () => {
  // 45 batches of 1 to 4 items taking n + 1 ms, 0.25 ms either side; then a stall that held five
  // batches in a row, each 30 × its usual time, and one batch back to normal. Two or more in a row
  // are a slowdown, so they count in the line; with them in the spread, it was 30 ms and the
  // margin alone exceeded a 20 ms objective.
  const model = new LatencyModel();
  for (let i = 0; i < 45; i++) model.record(1 + (i % 4), 2 + (i % 4) + (i % 2 === 0 ? -0.25 : 0.25));
  for (let i = 0; i < 5; i++) model.record(1 + (i % 4), 30 * (2 + (i % 4)));
  // While the newest batch is far off, the model may have got slower: every batch counts.
  assert.ok(model.spreadMs > 20, `spread ${model.spreadMs}`);
  model.record(1, 2);
  const fit = model.snapshot();
  assert.deepEqual([fit.samples, fit.outliers], [50, 0]);
  // The stall tilts the line, so the other batches lie a little off it, but not 30 ms.
  assert.ok(fit.spreadMs < 2, `spread ${fit.spreadMs}`);
  assert.ok(model.estimate(1) > 5, `estimate(1) ${model.estimate(1)}: the stall still raises the line`);
  assert.equal(nothingFits(model, 20), false);
});

test('after a burst of stalled batches a request queued behind a busy batch is run, not shed', async () => {
  // One instance, `maxLatencyMs: 20`; batches take 2 ms, or 30 times that while `slow` is set.
  const clock = new FakeClock();
  const state = { slow: false };
  const { execute } = recorder(clock, (x: number) => x, () => (state.slow ? 60 : 2));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxLatencyMs: 20, execute });
  const { drops } = events(batcher);
  const run = async (count: number, gapMs: number) => {
    for (let i = 0; i < count; i++) {
      void batcher.submit(i);
      await clock.advanceAsync(gapMs);
    }
  };
  await run(45, 10);
  state.slow = true;
  await run(5, 70);
  state.slow = false;
  await run(1, 10);
  // The model says 7.8 ms a batch; with the five stalls in its spread it kept 35 ms in hand, more
  // than the objective, and the second request was shed the moment the first started.
  const first = track(batcher.submit(-1));
  await clock.advanceAsync(0);
  const second = track(batcher.submit(-2));
  await clock.advanceAsync(10);
  assert.deepEqual([first.state, second.state, drops.length], ['resolved', 'resolved', 0]);
});

test('stalls that recur in bursts count in the noise margin: only one burst that has ended is left out', () => {
  // Batches of 1 to 4 items taking n + 1 ms, 0.25 ms either side, but two in a row at 30 × every
  // ten: a fifth of the batches take 60 to 150 ms. Left out, the margin read 4.8 ms and adaptive
  // mode admitted requests that one batch in five answered late.
  const model = new LatencyModel();
  for (let i = 0; i < 100; i++) {
    const n = 1 + (i % 4);
    model.record(n, (i % 10 === 3 || i % 10 === 4 ? 30 : 1) * (n + 1) + (i % 2 === 0 ? -0.25 : 0.25));
  }
  assert.equal(model.snapshot().outliers, 0);
  assert.equal(Math.round(model.spreadMs * 100) / 100, 42.46);
});
