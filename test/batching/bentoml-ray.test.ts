/**
 * Adaptive and fixed mode against what BentoML's CORK dispatcher and Ray Serve's `@serve.batch`
 * users run into (docs/batching.md, "Coming from BentoML and Ray Serve"), on a fake clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { DeadlineExceededError } from '../../src/core/index.js';
import { FakeClock, events, recorder, track, type Tracked } from './helpers.js';

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
  assert.ok(queued.error instanceof DeadlineExceededError && queued.error.fromModel);
  // Shed at its latest start, 50 - 22.6 - 3.9 ms after it came: the message must say where the rest went.
  assert.equal(
    (queued.error as Error).message,
    'The request cannot be answered within maxLatencyMs (50 ms): it waited 23.5 ms and needs about 26.5 ms more (its batch about 22.6 ms, and 3.9 ms kept for run-time noise)',
  );
});

test("a shed split request's error counts the batches its later parts need", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (r: number[]) => r, (rs) => rs.flat().length + 2);
  const batcher = new DynamicBatcher<number[], number[]>({
    clock,
    maxBatchSize: 4,
    maxLatencyMs: 40,
    sizeOf: (r) => r.length,
    split: (r, sizes) => sizes.map((n, i) => r.slice(i * 4, i * 4 + n)),
    merge: (parts) => parts.flat(),
    execute,
  });
  const rows = (n: number) => Array.from({ length: n }, (_, i) => i);
  for (const n of [1, 3]) await Promise.all([batcher.submit(rows(n)), clock.advanceAsync(10)]);
  // Two requests of 16 items, in parts of 4 taking 6 ms each: the second's first part would start at 24 ms.
  const first = track(batcher.submit(rows(16)));
  const second = track(batcher.submit(rows(16)));
  await clock.advanceAsync(100);
  assert.deepEqual(first.value, rows(16));
  assert.match((second.error as Error).message, /within maxLatencyMs \(40 ms\): it waited \d+ ms and needs about 24 ms more \(its batch about 6 ms, its later parts 18 ms\)$/);
});
