/**
 * Rules in combination on the queue: priorities with 'delay' timeouts and preferred sizes; aging
 * with a per-level maxQueueSize and Retry-After; drain on close() with parts queued.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatcherOptions } from '../../src/batching/index.js';
import { estimateAndTruth, FakeClock, events, recorder, track } from './helpers.js';

/**
 * A batcher of two levels (2 the default), batches of 1 taking 30 ms on a fake clock, with
 * `options` on top, after one warm-up batch: the clock then reads `t0`.
 */
async function twoLevels(options: Partial<BatcherOptions<string, string>>) {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 30);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, priorityLevels: 2, defaultPriority: 2, ...options, execute });
  await Promise.all([batcher.submit('warm'), clock.advanceAsync(30)]);
  return { clock, calls, batcher, t0: clock.now() };
}

test("priorities with a 'delay' timeout on the high level and preferred sizes: the timed-out high request still leads the low ones into a preferred batch", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 10);
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 4,
    preferredBatchSizes: [2],
    maxQueueDelayMs: 50,
    priorityLevels: 2,
    defaultPriority: 2,
    queuePolicies: { 1: { timeoutAction: 'delay', defaultTimeoutMs: 5 } },
    execute,
  });
  const { batches, drops } = events(batcher);
  const answers = ['b1', 'b2'].map((x) => track(batcher.submit(x))); // a preferred batch: goes at once
  await clock.flush();
  answers.push(track(batcher.submit('L1')), track(batcher.submit('L2')), track(batcher.submit('H', { priority: 1 })));
  await clock.advanceAsync(200);
  assert.deepEqual(
    calls.map((c) => [c.at, c.requests.join('+'), c.context.reason]),
    [
      [0, 'b1+b2', 'preferred'],
      [10, 'H+L1', 'preferred'],
      [50, 'L2', 'delay'],
    ],
  );
  assert.deepEqual(answers.map((a) => a.value), ['b1', 'b2', 'L1', 'L2', 'H']);
  assert.deepEqual(drops, []);
  assert.equal(clock.pending, 0, 'no timer left');
  assert.deepEqual(batches.map((b) => b.size), [2, 2, 1]);
});

test('with aging, a full high level is told to retry after the low requests aged up ahead of it have run, and a place frees then', async () => {
  const { clock, calls, batcher, t0 } = await twoLevels({ agingMs: 20, queuePolicies: { 1: { maxQueueSize: 1 } } });
  const low = ['A', 'L1', 'L2'].map((x) => track(batcher.submit(x)));
  await clock.advanceAsync(25); // L1 and L2 have aged up to level 1
  const high = track(batcher.submit('H1', { priority: 1 }));
  // A ends in 5 ms, then L1 and L2 run 30 ms each before H1: a place at level 1 frees in 65 ms.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('H2', { priority: 1 })), { estimate: 65, truth: 65 });
  await clock.advanceAsync(200);
  assert.deepEqual(
    calls.slice(1).map((c) => [c.at - t0, c.requests[0]]),
    [
      [0, 'A'],
      [30, 'L1'],
      [60, 'L2'],
      [90, 'H1'],
      [120, 'H2'],
    ],
  );
  assert.deepEqual([...low, high].map((a) => a.value), ['A', 'L1', 'L2', 'H1']);
});

test("a full low level is told to retry after the high level's timed-out 'delay' requests, which still go before it", async () => {
  const { clock, calls, batcher, t0 } = await twoLevels({ queuePolicies: { 1: { timeoutAction: 'delay', defaultTimeoutMs: 10 }, 2: { maxQueueSize: 1 } } });
  const answers = [track(batcher.submit('A'))];
  await clock.flush(); // A runs
  answers.push(track(batcher.submit('H1', { priority: 1 })), track(batcher.submit('H2', { priority: 1 })));
  await clock.advanceAsync(20); // H1 and H2 timed out: delayed, still ahead of level 2
  answers.push(track(batcher.submit('L1')));
  // A ends in 10 ms, then H1 and H2 run 30 ms each: L1 starts, and a place frees, in 70 ms.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('L2')), { estimate: 70, truth: 70 });
  await clock.advanceAsync(200);
  assert.deepEqual(calls.slice(1).map((c) => [c.at - t0, c.requests[0]]), [
    [0, 'A'],
    [30, 'H1'],
    [60, 'H2'],
    [90, 'L1'],
    [120, 'L2'],
  ]);
  assert.deepEqual(answers.map((a) => a.value), ['A', 'H1', 'H2', 'L1']);
});

test("retryAfterMs counts the later parts of a split request that its 'delay' timeout moved behind the level: it holds its place until its last part starts", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (r: number[]) => r, 30);
  const batcher = new DynamicBatcher<number[], number[]>({
    clock,
    maxBatchSize: 4,
    maxQueueSize: 1,
    timeoutAction: 'delay',
    defaultTimeoutMs: 10,
    sizeOf: (r) => r.length,
    split: (r, sizes) => sizes.map((n, i) => r.slice(i * 4, i * 4 + n)),
    merge: (parts) => parts.flat(),
    execute,
  });
  const rows = (n: number) => Array.from({ length: n }, (_, i) => i);
  await Promise.all([batcher.submit(rows(4)), clock.advanceAsync(30)]);
  const t0 = clock.now();
  const a = track(batcher.submit(rows(4)));
  await clock.flush(); // A runs until 30
  const big = track(batcher.submit(rows(12))); // parts of 4, 4, 4
  await clock.advanceAsync(15); // its timeout passed at 10: delayed
  // A ends at 30, R's parts start at 30, 60 and 90: its place frees at 90, 75 ms from now.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit([1])), { estimate: 75, truth: 75 });
  await clock.advanceAsync(200);
  assert.deepEqual(calls.slice(1).map((c) => [c.at - t0, c.requests.map((r) => r.length).join('+')]), [
    [0, '4'],
    [30, '4'],
    [60, '4'],
    [90, '4'],
    [120, '1'],
  ]);
  assert.deepEqual(a.value, rows(4));
  assert.deepEqual(big.value, rows(12));
});

test("retryAfterMs does not count a higher level's part-filled batch that the level's timed-out 'delay' requests fill", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 30);
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 4,
    priorityLevels: 2,
    defaultPriority: 2,
    queuePolicies: { 2: { maxQueueSize: 1, timeoutAction: 'delay', defaultTimeoutMs: 10 } },
    execute,
  });
  const four = (x: string) => ['1', '2', '3', '4'].map((i) => batcher.submit(x + i, { priority: 1 }));
  await Promise.all([...four('w'), clock.advanceAsync(30)]);
  const t0 = clock.now();
  const answers = four('B').map((p) => track(p));
  await clock.flush(); // B runs until 30
  answers.push(track(batcher.submit('L')));
  await clock.advanceAsync(15); // L timed out at 10: delayed behind level 2, still a level-2 request
  answers.push(track(batcher.submit('H1', { priority: 1 })), track(batcher.submit('H2', { priority: 1 })));
  // At 30 the batch H1 + H2 + L starts: L's place frees in 15 ms.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('L2')), { estimate: 15, truth: 15 });
  await clock.advanceAsync(200);
  assert.deepEqual(calls.slice(1).map((c) => [c.at - t0, c.requests.join('+')]), [
    [0, 'B1+B2+B3+B4'],
    [30, 'H1+H2+L'],
    [60, 'L2'],
  ]);
  assert.deepEqual(answers.map((a) => a.value), ['B1', 'B2', 'B3', 'B4', 'L', 'H1', 'H2']);
});

test('retryAfterMs does not count a low request aged up to the level that goes after the level\'s own first request (same rank, queued later)', async () => {
  const { clock, calls, batcher, t0 } = await twoLevels({ agingMs: 20, queuePolicies: { 1: { maxQueueSize: 1 } } });
  const answers = [track(batcher.submit('A'))];
  await clock.flush(); // A runs until 30
  answers.push(track(batcher.submit('H1', { priority: 1 })));
  await clock.advanceAsync(1);
  answers.push(track(batcher.submit('L')));
  await clock.advanceAsync(24); // L has aged up to level 1, but H1 was queued first
  // At 30 H1 starts: a place at level 1 frees in 5 ms.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('H2', { priority: 1 })), { estimate: 5, truth: 5 });
  await clock.advanceAsync(200);
  assert.deepEqual(calls.slice(1).map((c) => [c.at - t0, c.requests[0]]), [
    [0, 'A'],
    [30, 'H1'],
    [60, 'L'],
    [90, 'H2'],
  ]);
  assert.deepEqual(answers.map((a) => a.value), ['A', 'H1', 'L']);
});

test("retryAfterMs does not count a high level's requests that the full level's own first request, aged up, goes before", async () => {
  const { clock, calls, batcher, t0 } = await twoLevels({ agingMs: 20, queuePolicies: { 2: { maxQueueSize: 1 } } });
  const answers = [track(batcher.submit('A', { priority: 1 }))];
  await clock.flush(); // A runs until 30
  await clock.advanceAsync(1);
  answers.push(track(batcher.submit('L')));
  await clock.advanceAsync(24); // L has aged up to level 1
  answers.push(track(batcher.submit('H1', { priority: 1 })), track(batcher.submit('H2', { priority: 1 })));
  // At 30 L starts, before H1 and H2, which were queued after it at the same rank: a place at level 2 frees in 5 ms.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('L2')), { estimate: 5, truth: 5 });
  await clock.advanceAsync(200);
  assert.deepEqual(calls.slice(1).map((c) => [c.at - t0, c.requests[0]]), [
    [0, 'A'],
    [30, 'L'],
    [60, 'H1'],
    [90, 'H2'],
    [120, 'L2'],
  ]);
  assert.deepEqual(answers.map((a) => a.value), ['A', 'L', 'H1', 'H2']);
});
