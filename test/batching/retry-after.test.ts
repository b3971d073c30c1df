import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher, type ExecuteBatch } from '../../src/batching/index.js';
import { estimateAndTruth, FakeClock, recorder, track } from './helpers.js';

/**
 * maxBatchSize 16 over two levels: level 1 (high) queues up to 64, level 2 (low, the default) one
 * request, so that a second low request is refused with the estimate under test.
 */
function lowBehindHigh(clock: FakeClock, execute: ExecuteBatch<string, string>, options: { maxLatencyMs?: number } = {}): DynamicBatcher<string, string> {
  return new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 16,
    ...options,
    priorityLevels: 2,
    defaultPriority: 2,
    queuePolicies: { 1: { maxQueueSize: 64 }, 2: { maxQueueSize: 1 } },
    execute,
  });
}

test('retryAfterMs is when the first place at the level frees (one slot), not when the whole queue has run', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x, 20);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 2, maxQueueSize: 5, execute });
  await Promise.all([batcher.submit(-1), clock.advanceAsync(20)]); // batches take 20 ms
  void batcher.submit(0);
  await clock.advanceAsync(5); // [0] has run 5 ms of its 20
  for (let x = 1; x <= 5; x++) void batcher.submit(x);
  // [1, 2] starts when [0] ends, 15 ms from now, and frees two places.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit(9)), { estimate: 15, truth: 15 });
  await clock.runAll();
});

test('retryAfterMs on several slots is when the first slot frees, whichever batch started first', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x, 100);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 1, maxQueueSize: 3, concurrency: 2, execute });
  await Promise.all([batcher.submit(0), clock.advanceAsync(100)]);
  void batcher.submit(1);
  await clock.advanceAsync(60);
  void batcher.submit(2); // slots free in 40 and 100 ms
  await clock.flush();
  for (const x of [3, 4, 5]) void batcher.submit(x);
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit(6)), { estimate: 40, truth: 40 });
  await clock.runAll();
});

test("a low priority's retryAfterMs counts the higher levels' queued batches; a high priority's not the lower levels'", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, 10);
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 2,
    priorityLevels: 2,
    defaultPriority: 2,
    queuePolicies: { 1: { maxQueueSize: 4 }, 2: { maxQueueSize: 2 } },
    execute,
  });
  // Batches take 10 ms whatever their size; warmed up on a full one: from batches of 1 alone, one of 2 is taken to run twice as long.
  await Promise.all([batcher.submit('warm'), batcher.submit('warm'), clock.advanceAsync(10)]);
  void batcher.submit('running');
  await clock.flush();
  for (let i = 0; i < 2; i++) void batcher.submit('low');
  for (let i = 0; i < 4; i++) void batcher.submit('high', { priority: 1 });
  // Low: the running batch (10 ms) and two high batches (20 ms) go first; then a low batch starts.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('low')), { estimate: 30, truth: 30 });
  await clock.runAll();
  void batcher.submit('running');
  await clock.flush();
  for (let i = 0; i < 2; i++) void batcher.submit('low');
  for (let i = 0; i < 4; i++) void batcher.submit('high', { priority: 1 });
  // High: only the running batch goes first.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('high', { priority: 1 })), { estimate: 10, truth: 10 });
  await clock.runAll();
});

test("retryAfterMs counts other keys' batches, which share the slots, and a key's part-filled batch only where the level does not fill it", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: { key: string }) => x.key, 10);
  const batcher = new DynamicBatcher<{ key: string }, string>({
    clock,
    maxBatchSize: 4,
    priorityLevels: 2,
    defaultPriority: 2,
    queuePolicies: { 2: { maxQueueSize: 40 } },
    batchKey: (r) => r.key,
    execute,
  });
  await Promise.all([...Array.from({ length: 4 }, () => batcher.submit({ key: 'a' })), clock.advanceAsync(10)]); // a full batch, 10 ms
  void batcher.submit({ key: 'a' });
  await clock.flush();
  for (let i = 0; i < 40; i++) void batcher.submit({ key: 'a' });
  for (const key of ['a', 'a', 'a', 'a', 'b', 'b']) void batcher.submit({ key }, { priority: 1 });
  // The running batch, key a's full priority-1 batch, then key b's: the first low batch starts at 30 ms.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit({ key: 'a' })), { estimate: 30, truth: 30 });
  await clock.runAll();
});

test('retryAfterMs with concurrency lowered below the batches running waits for the last of them to end', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x, 100);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 1, maxQueueSize: 2, concurrency: 3, execute });
  await Promise.all([batcher.submit(0), clock.advanceAsync(100)]);
  void batcher.submit(1);
  await clock.advanceAsync(30);
  void batcher.submit(2);
  await clock.advanceAsync(30);
  void batcher.submit(3);
  await clock.flush();
  batcher.concurrency = 1; // the three running end in 40, 70 and 100 ms; only then is a slot free
  void batcher.submit(4);
  void batcher.submit(5);
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit(6)), { estimate: 100, truth: 100 });
  await clock.runAll();
});

test('retryAfterMs with a slot free counts the time the planner holds the batch back to fill it', async () => {
  for (const preferredBatchSizes of [undefined, [4]]) {
    const clock = new FakeClock();
    const { execute } = recorder(clock, (x: number) => x, 10);
    const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxQueueSize: 3, maxQueueDelayMs: 50, preferredBatchSizes, execute });
    await Promise.all([batcher.submit(0), clock.advanceAsync(60)]);
    for (const x of [1, 2, 3]) void batcher.submit(x);
    await clock.advanceAsync(20);
    // The slot is free, but [1, 2, 3] waits for the 30 ms left of maxQueueDelayMs to fill.
    assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit(4)), { estimate: 30, truth: 30 }, `preferredBatchSizes ${String(preferredBatchSizes)}`);
    await clock.runAll();
  }
});

test("retryAfterMs counts the batches a split request at the head of the level takes: it holds its place until its last part starts", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (r: number[]) => r, 10);
  const batcher = new DynamicBatcher<number[], number[]>({
    clock,
    maxBatchSize: 4,
    maxQueueSize: 2,
    sizeOf: (r) => r.length,
    split: (r, sizes) => sizes.map((n, i) => r.slice(i * 4, i * 4 + n)),
    merge: (parts) => parts.flat(),
    execute,
  });
  await Promise.all([batcher.submit([1, 1, 1, 1]), clock.advanceAsync(10)]); // a full batch, 10 ms
  void batcher.submit([1]);
  await clock.flush();
  void batcher.submit(new Array<number>(16).fill(0));
  void batcher.submit(new Array<number>(16).fill(0));
  // The running batch ends in 10 ms, then the first request's 4 parts run 10 ms each: its last starts at 40.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit([1])), { estimate: 40, truth: 40 });
  await clock.runAll();
});

test('retryAfterMs takes a batch running past its expected time to run as long again, not to end at once', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x, 1000);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 1, maxQueueSize: 2, execute });
  void batcher.submit(0);
  await clock.advanceAsync(500); // none has ended: 100 ms assumed, and this one has run 500 ms of its 1000
  void batcher.submit(1);
  void batcher.submit(2);
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit(3)), { estimate: 500, truth: 500 });
  await clock.runAll();
});

test('retryAfterMs lets a slot that frees well before a stalled one take several batches in turn', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, (rs) => (rs.includes('stall') ? 1000 : 100));
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 1,
    concurrency: 2,
    priorityLevels: 2,
    defaultPriority: 2,
    queuePolicies: { 1: { maxQueueSize: 4 }, 2: { maxQueueSize: 1 } },
    execute,
  });
  void batcher.submit('stall');
  await clock.advanceAsync(500); // none has ended: 100 ms assumed; this one is taken to run 500 ms more
  void batcher.submit('running'); // the other slot, free in 100 ms
  await clock.flush();
  void batcher.submit('low');
  void batcher.submit('high', { priority: 1 });
  // The high batch takes the slot that frees at 100, and the low one follows it there at 200, long before the stalled slot frees.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('low')), { estimate: 200, truth: 200 });
  await clock.runAll();
});

test("retryAfterMs does not count a higher level's part-filled batch that the level's requests fill", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, 10);
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 4,
    priorityLevels: 2,
    defaultPriority: 2,
    queuePolicies: { 2: { maxQueueSize: 2 } },
    execute,
  });
  await Promise.all([batcher.submit('warm'), clock.advanceAsync(10)]); // batches take 10 ms
  void batcher.submit('running');
  await clock.flush();
  for (let i = 0; i < 2; i++) void batcher.submit('low');
  for (let i = 0; i < 2; i++) void batcher.submit('high', { priority: 1 });
  // The two high requests and the two low ones make one batch, which starts when the running one ends.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('low')), { estimate: 10, truth: 10 });
  await clock.runAll();
});

test("retryAfterMs estimates each batch ahead from its own size, where 1-item batches' median said a full batch took as long as one", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, (rs) => 2 + 3 * rs.length); // 5 ms for 1 item, 50 ms for 16
  const batcher = lowBehindHigh(clock, execute);
  for (let i = 0; i < 5; i++) await Promise.all([batcher.submit('warm'), clock.advanceAsync(5)]); // as after a load or a quiet spell
  const full = () => {
    for (let i = 0; i < 16; i++) void batcher.submit('running', { priority: 1 });
    for (let i = 0; i < 64; i++) void batcher.submit('high', { priority: 1 });
    void batcher.submit('low');
  };
  full();
  await clock.flush();
  // The running batch of 16 and four more of 16 go before the low one: 250 ms. Before a batch of
  // 16 has run, each is taken to run 16 times a batch of 1 (an upper bound for any a·n + b): 400.
  const cold = await estimateAndTruth(clock, () => batcher.submit('low'));
  assert.equal(cold.truth, 250);
  assert.ok(cold.estimate >= cold.truth && cold.estimate <= 2 * cold.truth, `estimated ${cold.estimate} ms where a place freed at ${cold.truth}`);
  await clock.runAll();
  // Batches of 1 and 16 have run: the line through them (2 + 3n) is exact.
  full();
  await clock.flush();
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('low')), { estimate: 250, truth: 250 });
  await clock.runAll();
});

test("in adaptive mode retryAfterMs is no later than the level's first request's latest start, when the planner sheds it and its place frees", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, (rs) => 2 + 10 * rs.length); // 12 ms for 1 item, 162 for 16
  const batcher = lowBehindHigh(clock, execute, { maxLatencyMs: 200 });
  for (const n of [1, 16]) await Promise.all([...Array.from({ length: n }, () => batcher.submit('warm', { priority: 1 })), clock.advanceAsync(200)]);
  void batcher.submit('running', { priority: 1 });
  await clock.flush();
  for (let i = 0; i < 40; i++) void batcher.submit('high', { priority: 1 }).catch(() => {});
  void batcher.submit('low').catch(() => {});
  // The running batch and two of 16 go before the low request (336 ms), but it must start within
  // 188 ms (200 less its 12 ms run) or be shed, and is: its place frees then.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('low')), { estimate: 188, truth: 188 });
  await clock.runAll();
});

test('in adaptive mode retryAfterMs counts the batches ahead at the size the objective allows, which may leave the level out of a batch maxBatchSize would have it fill', async () => {
  for (const [maxLatencyMs, truth] of [
    [60, 48],
    [120, 108],
  ] as const) {
    const clock = new FakeClock();
    const { execute } = recorder(clock, (x: string) => x, (rs) => 2 + 10 * rs.length);
    const batcher = lowBehindHigh(clock, execute, { maxLatencyMs });
    for (const n of [1, 16]) await Promise.all([...Array.from({ length: n }, () => batcher.submit('warm', { priority: 1 }).catch(() => {})), clock.advanceAsync(200)]);
    void batcher.submit('running', { priority: 1 });
    await clock.flush();
    for (let i = 0; i < 12; i++) void batcher.submit('high', { priority: 1 }).catch(() => {});
    void batcher.submit('low').catch(() => {});
    // 12 high requests and the low one make less than 16 items, but the objective allows batches of
    // 5 (60 ms) or 11 (120 ms): the low request is left out of the first, and shed when it can no
    // longer start in time, 48 or 108 ms from now, where the estimate said 12.
    assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('low')), { estimate: truth, truth }, `maxLatencyMs ${maxLatencyMs}`);
    await clock.runAll();
  }
});

test('retryAfterMs takes a running batch smaller than any the line was fitted on at the line, where the share of the smallest batch said 13.5 ms for 101', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, (rs) => 100 + rs.length); // 108 ms for 8 items, 116 for 16, 101 for 1
  const batcher = lowBehindHigh(clock, execute);
  for (const n of [8, 16]) await Promise.all([...Array.from({ length: n }, () => batcher.submit('warm', { priority: 1 })), clock.advanceAsync(116)]);
  void batcher.submit('running', { priority: 1 }); // a batch of 1, under the line's smallest batch of 8
  await clock.flush();
  for (let i = 0; i < 32; i++) void batcher.submit('high', { priority: 1 });
  void batcher.submit('low');
  // The running batch ends at 101 ms, then two of 16 (116 ms each) go before the low one: 333.
  assert.deepEqual(await estimateAndTruth(clock, () => batcher.submit('low')), { estimate: 333, truth: 333 });
  await clock.runAll();
});

test('retryAfterMs scales a batch larger than any the line was fitted on up from the largest, where a flat line through batches of 1 and 2 said a batch of 16 ran as long as one of 1', async () => {
  const clock = new FakeClock();
  // Flat at small sizes, as on a GPU: 8 ms for 1 or 2 items, 50 for 16.
  const { execute } = recorder(clock, (x: string) => x, (rs) => Math.max(8, 2 + 3 * rs.length));
  const batcher = lowBehindHigh(clock, execute);
  for (const n of [1, 2]) await Promise.all([...Array.from({ length: n }, () => batcher.submit('warm', { priority: 1 })), clock.advanceAsync(8)]);
  for (let i = 0; i < 16; i++) void batcher.submit('running', { priority: 1 });
  await clock.flush();
  for (let i = 0; i < 64; i++) void batcher.submit('high', { priority: 1 });
  void batcher.submit('low');
  // The running batch of 16 and four more go before the low one: 250 ms. Taken at 8 × 16 / 2 each (an upper bound while per-item time does not grow with size): 320.
  const { estimate, truth } = await estimateAndTruth(clock, () => batcher.submit('low'));
  assert.equal(truth, 250);
  assert.equal(estimate, 320);
  await clock.runAll();
});
