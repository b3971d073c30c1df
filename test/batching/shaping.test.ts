import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { FakeClock, recorder, track } from './helpers.js';

/** Requests are arrays of numbers, one item each; results double them. */
function arrays(clock: FakeClock, extra: Record<string, unknown> = {}) {
  const { calls, execute } = recorder(clock, (r: number[]) => r.map((x) => 2 * x), 5);
  const splits: number[][] = [];
  const batcher = new DynamicBatcher<number[], number[]>({
    clock,
    maxBatchSize: 4,
    maxQueueDelayMs: 10,
    sizeOf: (r) => r.length,
    split: (r, sizes) => {
      splits.push([...sizes]);
      let start = 0;
      return sizes.map((n) => r.slice(start, (start += n)));
    },
    merge: (parts) => parts.flat(),
    execute,
    ...extra,
  });
  return { batcher, calls, splits };
}

test('a request larger than maxBatchSize is split across batches and reassembled in order', async () => {
  const clock = new FakeClock();
  const { batcher, calls, splits } = arrays(clock);
  const big = track(batcher.submit([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  const small = track(batcher.submit([100]));
  assert.equal(batcher.queued, 2, 'a split request still counts as one');
  await clock.advanceAsync(30);
  assert.deepEqual(splits, [[4, 4, 2]]);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [
    [0, [[1, 2, 3, 4]], 'full'],
    [5, [[5, 6, 7, 8]], 'full'],
    [10, [[9, 10], [100]], 'delay'],
  ]);
  assert.deepEqual(big.value, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
  assert.deepEqual(small.value, [200]);
});

test("a large request's first part fills what is left of the batch queued ahead of it, as TF Serving's large batch splitting fills its open batch", async () => {
  const clock = new FakeClock();
  const { batcher, calls, splits } = arrays(clock);
  const small = track(batcher.submit([100]));
  const big = track(batcher.submit([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  await clock.advanceAsync(30);
  // Parts of 4, 4 and 2 ran as 1, 4, 4 and 2: four executions for 11 items.
  assert.deepEqual(splits, [[3, 4, 3]]);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [
    [0, [[100], [1, 2, 3]], 'full'],
    [5, [[4, 5, 6, 7]], 'full'],
    [10, [[8, 9, 10]], 'delay'],
  ]);
  assert.deepEqual(big.value, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
  assert.deepEqual(small.value, [200]);

  // Only what goes before it counts: a request of a lower level queued earlier does not.
  const levels = arrays(clock, { priorityLevels: 2 });
  void levels.batcher.submit([100], { priority: 2 });
  void levels.batcher.submit([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { priority: 1 });
  void levels.batcher.submit([1, 2, 3, 4, 5], { priority: 2 });
  await clock.advanceAsync(100);
  assert.deepEqual(levels.splits, [[4, 4, 2], [1, 4]]);
});

test('a failing part fails the whole request and its queued parts never run', async () => {
  const clock = new FakeClock();
  const bad = new Error('row 5 is bad');
  const { calls, execute } = recorder(clock, (r: number[]) => (r.includes(5) ? bad : r), 5);
  const { batcher } = arrays(clock, { execute });
  const big = track(batcher.submit([1, 2, 3, 4, 5, 6, 7, 8, 9]));
  await clock.advanceAsync(10);
  assert.equal(big.error, bad);
  assert.equal(batcher.queued, 0);
  await clock.advanceAsync(50);
  assert.deepEqual(calls.map((c) => c.requests), [[[1, 2, 3, 4]], [[5, 6, 7, 8]]]);
});

test('a failing part leaves no wake timer armed for the queued parts it took with it', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (r: number[]) => (r.includes(1) ? new Error('bad') : r), 5);
  // Two slots: the first part runs while the remainder waits out the delay on the wake timer.
  const { batcher } = arrays(clock, { execute, concurrency: 2, maxQueueDelayMs: 60_000 });
  const big = track(batcher.submit([1, 2, 3, 4, 5]));
  await clock.advanceAsync(0);
  assert.equal(clock.nextAt, 5);
  await clock.advanceAsync(5);
  assert.equal(big.state, 'rejected');
  await batcher.close();
  assert.equal(clock.pending, 0, 'a timer left armed keeps a process alive until it fires');
});

test('split() must return one part per size', async () => {
  const clock = new FakeClock();
  const { batcher } = arrays(clock, { split: (r: number[]) => [r] });
  await assert.rejects(batcher.submit([1, 2, 3, 4, 5]), /Expected split\(\) to return 2 parts for sizes \[4, 1\], got \[\[1,2,3,4,5\]\] \(array\)/);
});

test('a preferred batch size dispatches as soon as it can be formed (reason preferred)', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 1);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxQueueDelayMs: 50, preferredBatchSizes: [2, 4], execute });
  const one = batcher.submit(1);
  await clock.advanceAsync(3);
  assert.equal(calls.length, 0, 'one request is not a preferred size');
  const two = batcher.submit(2);
  await clock.advanceAsync(0);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [[3, [1, 2], 'preferred']]);

  // Five queued at once: the largest preferred prefix (4) goes, the fifth waits for the delay.
  await clock.advanceAsync(1);
  const five = [3, 4, 5, 6, 7].map((x) => batcher.submit(x));
  await clock.advanceAsync(1);
  assert.deepEqual(calls.slice(1).map((c) => [c.at, c.requests, c.context.reason]), [[4, [3, 4, 5, 6], 'preferred']]);
  await clock.advanceAsync(60);
  assert.deepEqual(calls.slice(2).map((c) => [c.at, c.requests, c.context.reason]), [[54, [7], 'delay']]);
  assert.deepEqual(await Promise.all([one, two, ...five]), [1, 2, 3, 4, 5, 6, 7]);
});

test('a full batch goes as its largest preferred prefix when it is not a preferred size, as Triton forms one', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 1);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxQueueDelayMs: 50, preferredBatchSizes: [6], execute });
  const eight = [1, 2, 3, 4, 5, 6, 7, 8].map((x) => batcher.submit(x));
  await clock.advanceAsync(0);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [[0, [1, 2, 3, 4, 5, 6], 'preferred']]);
  await clock.advanceAsync(60);
  assert.deepEqual(calls.slice(1).map((c) => [c.at, c.requests, c.context.reason]), [[50, [7, 8], 'delay']]);
  assert.deepEqual(await Promise.all(eight), [1, 2, 3, 4, 5, 6, 7, 8]);
  // A full batch that is itself a preferred size goes whole.
  const both = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxQueueDelayMs: 50, preferredBatchSizes: [6, 8], execute });
  const whole = [1, 2, 3, 4, 5, 6, 7, 8].map((x) => both.submit(x));
  await clock.advanceAsync(0);
  assert.deepEqual(calls.slice(2).map((c) => [c.requests.length, c.context.reason]), [[8, 'full']]);
  await clock.advanceAsync(1);
  assert.deepEqual(await Promise.all(whole), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('once the oldest request has waited maxQueueDelayMs, a batch goes up to maxBatchSize, not cut to a preferred size, as Triton does', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, (rs) => (rs[0] === 0 ? 100 : 1));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxQueueDelayMs: 50, preferredBatchSizes: [4], execute });
  const first = [0, 1, 2, 3].map((x) => batcher.submit(x));
  await clock.advanceAsync(0);
  // Ten wait 100 ms behind the first batch, twice the delay: the next batch is full (8), not 4.
  const backlog = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map((x) => batcher.submit(x));
  await clock.advanceAsync(100);
  await clock.advanceAsync(1);
  assert.deepEqual(calls.map((c) => [c.at, c.requests.length, c.context.reason]), [[0, 4, 'preferred'], [100, 8, 'full'], [101, 2, 'delay']]);
  await clock.advanceAsync(1);
  assert.deepEqual(await Promise.all([...first, ...backlog]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  // With a delay of 0 (Triton's default) the delay never counts as passed, and preferred sizes always cut.
  calls.length = 0;
  const now = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, preferredBatchSizes: [4], execute });
  const answers = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((x) => now.submit(x));
  await clock.advanceAsync(100);
  await clock.advanceAsync(2);
  assert.deepEqual(calls.map((c) => [c.requests.length, c.context.reason]), [[4, 'preferred'], [4, 'preferred'], [2, 'delay']]);
  assert.deepEqual(await Promise.all(answers), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test("whether the delay has passed is read from the batch's own requests, as Triton reads its pending batch's", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, (rs) => (rs[0] === 'blocker' ? 100 : 1));
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 4, maxQueueDelayMs: 50, preferredBatchSizes: [2], priorityLevels: 2, execute });
  const blocker = [batcher.submit('blocker', { priority: 1 }), batcher.submit('b2', { priority: 1 })];
  await clock.advanceAsync(0);
  const old = batcher.submit('old', { priority: 2 });
  await clock.advanceAsync(95);
  // At 100 the slot frees: four fresh high requests fill the batch, and the old one is not in it.
  const fresh = ['h1', 'h2', 'h3', 'h4'].map((x) => batcher.submit(x, { priority: 1 }));
  await clock.advanceAsync(5);
  assert.deepEqual(calls.slice(1).map((c) => [c.at, c.requests, c.context.reason]), [[100, ['h1', 'h2'], 'preferred']]);
  await clock.runAll();
  assert.deepEqual(await Promise.all([...blocker, old, ...fresh]), ['blocker', 'b2', 'old', 'h1', 'h2', 'h3', 'h4']);
});

test('batchKey: only requests with the same key share a batch', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (r: { w: number; id: string }) => r.id, 5);
  const batcher = new DynamicBatcher<{ w: number; id: string }, string>({
    clock,
    maxBatchSize: 3,
    maxQueueDelayMs: 10,
    concurrency: 2,
    batchKey: (r) => r.w,
    execute,
  });
  const submit = (w: number, id: string) => batcher.submit({ w, id });
  const answers = [submit(48, 'a'), submit(96, 'b'), submit(48, 'c'), submit(96, 'd'), submit(48, 'e')];
  await clock.advanceAsync(0);
  // Width 48 is full at once; width 96 waits for its delay.
  assert.deepEqual(calls.map((c) => [c.at, c.requests.map((r) => r.id), c.context.reason]), [[0, ['a', 'c', 'e'], 'full']]);
  await clock.advanceAsync(10);
  assert.deepEqual(calls.map((c) => [c.at, c.requests.map((r) => r.id)]), [[0, ['a', 'c', 'e']], [10, ['b', 'd']]]);
  await clock.advanceAsync(5);
  assert.deepEqual(await Promise.all(answers), ['a', 'b', 'c', 'd', 'e']);
});

test('batchKey: among groups ready at once, the one holding the highest priority goes first', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (r: string) => r, (rs) => (rs[0] === 'blocker' ? 50 : 1));
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 4, priorityLevels: 2, defaultPriority: 2, batchKey: (r) => r[0], execute });
  void batcher.submit('blocker');
  await clock.flush();
  const answers = [batcher.submit('a1'), batcher.submit('a2'), batcher.submit('c1'), batcher.submit('c2', { priority: 1 })];
  await clock.advanceAsync(60);
  await Promise.all(answers);
  assert.deepEqual(calls.map((c) => c.requests), [['blocker'], ['c2', 'c1'], ['a1', 'a2']]);
});

test('cancelling a split request while a part runs drops its queued parts and aborts the running one', async () => {
  const clock = new FakeClock();
  const { batcher, calls } = arrays(clock, { maxQueueDelayMs: 0 });
  const controller = new AbortController();
  const big = track(batcher.submit([1, 2, 3, 4, 5, 6, 7, 8, 9], { signal: controller.signal }));
  await clock.advanceAsync(2);
  assert.equal(calls.length, 1);
  controller.abort();
  await clock.advanceAsync(0);
  assert.equal(big.state, 'rejected');
  assert.equal(batcher.queued, 0);
  assert.equal(calls[0]!.context.signal.aborted, true);
  await clock.advanceAsync(50);
  assert.equal(calls.length, 1);
});

test('preferred sizes cost memory by their number, not by maxBatchSize', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 2 ** 40, maxQueueDelayMs: 50, preferredBatchSizes: [2, 2 ** 40], execute });
  const answers = [1, 2].map((x) => batcher.submit(x));
  await clock.advanceAsync(0);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [[0, [1, 2], 'preferred']]);
  assert.deepEqual(await Promise.all(answers), [1, 2]);
});
