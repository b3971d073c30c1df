import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { LatencyModel } from '../../src/batching/adaptive.js';
import { OverloadedError } from '../../src/core/index.js';
import { FakeClock, random, recorder, sleep } from './helpers.js';

/**
 * Eight closed-loop callers (a shed one comes back 1 ms later) on 2 instances, `maxLatencyMs: 30`,
 * batches of up to 16 whose run time `runMs(run, items)` gives for the run-th batch, for 1 s.
 */
async function closedLoop(runMs: (run: number, items: number, now: number) => number) {
  const clock = new FakeClock();
  let runs = 0;
  const { calls, execute } = recorder(clock, (x: number) => x, (rs) => runMs(runs++, rs.length, clock.now()));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 16, maxLatencyMs: 30, concurrency: 2, execute });
  const shedAt: number[] = [];
  const callers = Array.from({ length: 8 }, async (_, caller) => {
    while (clock.now() < 1000) {
      try {
        await batcher.submit(caller);
      } catch (error) {
        if (!(error instanceof OverloadedError)) throw error;
        shedAt.push(clock.now());
        await sleep(clock, 1);
      }
    }
  });
  await clock.advanceAsync(1100);
  await Promise.all(callers);
  return { calls, shedAt, batcher };
}

test("adaptive mode stops shedding within a few batches of a fresh version's slow first batches ending, not once they leave the window", async () => {
  // The first 8 batches take 5 × (2 + n) ms, every one after 2 + n ms.
  let slowEnd = 0;
  const { calls, shedAt } = await closedLoop((run, items, now) => {
    if (run >= 8) return 2 + items;
    slowEnd = Math.max(slowEnd, now + 5 * (2 + items));
    return 5 * (2 + items);
  });
  // The slower past (at least 6 batches: MIN_PAST in slower-past.ts) is told from the present once
  // 5 batches ran at the new speed (MIN_PRESENT), by when up to one more per instance has started:
  // at most 7 batches. (None is shed after the slow ones end now.)
  // Kept until they left the 50-batch window, the slow batches shed 11 requests after they ended,
  // the last after 41 more batches had started.
  const last = Math.max(...shedAt);
  const after = calls.filter((c) => c.at >= slowEnd && c.at < last).length;
  assert.ok(after <= 7, `the last shed came after ${after} batches at steady speed (${shedAt.filter((t) => t > slowEnd).length} shed after ${slowEnd} ms)`);
});

test('a slow first batch still running when the slower past is dropped is dropped with it, not left to draw the line', async () => {
  // 16 slow first batches; the cut comes while the 16th, 3 items in 25 ms, still runs on the other
  // instance. Recorded after the cut, it was the only batch of 3 once the batches of 1 left the
  // window: the line through it and the batches of 4 was flat, 0·n + 6.38 ms, and, the batches of
  // 4 lying within 2× of it, it was kept, so a batch of 8 was planned as 6.38 ms where it takes 10.
  const { batcher } = await closedLoop((run, items) => (run < 16 ? 5 : 1) * (2 + items));
  const { perItemMs, overheadMs, fitted } = batcher.runTime;
  assert.deepEqual({ fitted, perItemMs: +perItemMs.toFixed(3), overheadMs: +overheadMs.toFixed(3) }, { fitted: true, perItemMs: 1, overheadMs: 2 });
});

test('adaptive mode still sheds promptly when batches get slower (a noisy neighbour): the slower present is not cut from the window', async () => {
  // 2 + n ms, then from the 100th batch on 6 × that: a batch of 4 takes 36 ms, past the objective.
  const { calls, shedAt } = await closedLoop((run, items) => (run < 100 ? 1 : 6) * (2 + items));
  const first = shedAt.find((t) => t >= calls[100]!.at);
  assert.notEqual(first, undefined);
  // As before the window could be cut: the slow batches count from the first.
  assert.equal(calls.filter((c, i) => i >= 100 && c.at < first!).length, 15);
});

test('a window whose batches run at one speed is cut short at most once in 10,000 batches, whatever the noise or an occasional 2× batch', () => {
  // Batches of 1 to 8 items taking 3·n + 12 ms with Gaussian noise up to a quarter of a batch of
  // 8, a tenth of them twice as long; read after every batch, as a busy batcher reads it. At σ 9
  // ms (60% of a batch of 1) six of them twice as long can come together at the window's end.
  for (const [seed, sigmaMs, most] of [[1, 0.5, 0], [2, 5, 0], [4, 5, 0], [6, 2, 0], [3, 9, 2], [5, 9, 2]] as const) {
    const next = random(seed);
    const model = new LatencyModel();
    let batches = 0;
    let cuts = 0;
    for (let i = 0; i < 20000; i++) {
      const n = 1 + Math.floor(next() * 8);
      const noise = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
      model.record(n, Math.max(0.1, (3 * n + 12 + sigmaMs * noise) * (next() < 0.1 ? 2 : 1)));
      batches = Math.min(batches + 1, 50);
      const { samples, outliers } = model.snapshot();
      if (samples + outliers < batches) cuts++;
      batches = samples + outliers;
    }
    assert.ok(cuts <= most, `seed ${seed}, σ ${sigmaMs} ms: the window was cut ${cuts} times in 20,000 batches`);
  }
});
