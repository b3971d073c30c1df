import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { DeadlineExceededError, QueueFullError } from '../../src/core/index.js';
import { FakeClock, events, recorder, track } from './helpers.js';

test("timeoutAction 'delay' keeps a timed-out request queued, behind every request that has not timed out", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, (rs) => (rs[0] === 'blocker' ? 100 : 10));
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, timeoutAction: 'delay', execute });
  const { drops } = events(batcher);
  void batcher.submit('blocker');
  await clock.flush();
  const late = track(batcher.submit('late', { timeoutMs: 30 }));
  const b = batcher.submit('b');
  const c = batcher.submit('c', { timeoutMs: 500 });
  await clock.advanceAsync(30);
  assert.equal(late.state, 'pending', 'not rejected');
  assert.equal(batcher.queued, 3);
  await clock.advanceAsync(200);
  assert.deepEqual(await Promise.all([late.promise, b, c]), ['late', 'b', 'c']);
  assert.deepEqual(calls.map((x) => x.requests[0]), ['blocker', 'b', 'c', 'late']);
  assert.deepEqual(drops, []);
});

test("'delay' never rejects a running request for time", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, 100);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, timeoutAction: 'delay', defaultTimeoutMs: 10, execute });
  const slow = track(batcher.submit('slow'));
  await clock.advanceAsync(100);
  assert.equal(slow.value, 'slow');
  assert.equal(clock.pending, 0, 'no timer is left behind');
});

test('by default a request may shorten the default timeout but not lengthen it; allowTimeoutOverride lets it', async () => {
  const timesOut = async (allowTimeoutOverride: boolean, timeoutMs: number | undefined) => {
    const clock = new FakeClock();
    const { execute } = recorder(clock, (x: string) => x, 10_000);
    const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, defaultTimeoutMs: 100, allowTimeoutOverride, execute });
    const request = track(batcher.submit('x', { timeoutMs }));
    await clock.runAll();
    assert.ok(request.error instanceof DeadlineExceededError);
    return Number(/after (\d+) ms/.exec((request.error as Error).message)![1]);
  };
  assert.equal(await timesOut(false, undefined), 100);
  assert.equal(await timesOut(false, 40), 40);
  assert.equal(await timesOut(false, 500), 100);
  assert.equal(await timesOut(true, 500), 500);
  assert.equal(await timesOut(true, 40), 40);
});

test('a request whose deadline would pass while waiting for the delay goes early (reason deadline)', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 10);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 8, maxQueueDelayMs: 100, execute });
  const warm = batcher.submit('warm'); // teaches the batcher that a batch takes 10 ms
  await clock.advanceAsync(110);
  await warm;
  calls.length = 0;

  const hurried = track(batcher.submit('hurried', { timeoutMs: 30 }));
  const other = track(batcher.submit('other'));
  await clock.advanceAsync(14);
  assert.equal(calls.length, 0);
  await clock.advanceAsync(1); // 30 ms deadline - 1.5 × 10 ms run time
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [[125, ['hurried', 'other'], 'deadline']]);
  await clock.advanceAsync(10);
  assert.equal(hurried.value, 'hurried');
  assert.equal(other.value, 'other');
});

test('a timeout shorter than the delay goes before its deadline with no run time known, or one of 0 ms (reason deadline)', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 8, maxQueueDelayMs: 100, execute });
  const cold = track(batcher.submit('cold', { timeoutMs: 50 }));
  await clock.advanceAsync(47);
  assert.equal(calls.length, 0);
  await clock.advanceAsync(1); // 50 ms deadline - the 2 ms floor: no batch has run yet
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [[48, ['cold'], 'deadline']]);
  assert.equal(cold.value, 'cold');

  // Batches take 0 ms now, so 1.5 × the predicted run time leaves no margin; the floor still does.
  calls.length = 0;
  const warm = track(batcher.submit('warm', { timeoutMs: 50 }));
  await clock.advanceAsync(48);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [[96, ['warm'], 'deadline']]);
  assert.equal(warm.value, 'warm');
});

test("a request that waits out the model's defaultTimeoutMs is shed (a verdict identical requests share); one whose own timeout passes is not", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, 10_000);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, defaultTimeoutMs: 100, execute });
  void batcher.submit('blocker').catch(() => {});
  const byDefault = track(batcher.submit('a'));
  const capped = track(batcher.submit('b', { timeoutMs: 500 }));
  const own = track(batcher.submit('c', { timeoutMs: 50 }));
  await clock.advanceAsync(100);
  assert.deepEqual(
    [byDefault, capped, own].map((t) => t.error instanceof DeadlineExceededError && t.error.fromModel),
    [true, true, false],
  );
});

test("'delay' puts a timed-out request behind its own level and the levels above, ahead of the levels below, as Triton's DELAY", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, (rs) => (rs[0] === 'blocker' ? 100 : 10));
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 1,
    priorityLevels: 3,
    defaultPriority: 2,
    queuePolicies: { 1: { timeoutAction: 'delay' }, 2: { timeoutAction: 'delay' } },
    execute,
  });
  void batcher.submit('blocker');
  await clock.flush();
  const answers = [
    batcher.submit('low', { priority: 3 }),
    batcher.submit('mid-late', { timeoutMs: 30 }),
    batcher.submit('mid'),
    batcher.submit('high-late', { priority: 1, timeoutMs: 30 }),
    batcher.submit('high', { priority: 1 }),
  ];
  await clock.advanceAsync(30);
  assert.equal(batcher.queued, 5, 'the timed-out requests still wait');
  await clock.advanceAsync(200);
  assert.deepEqual(await Promise.all(answers), ['low', 'mid-late', 'mid', 'high-late', 'high']);
  assert.deepEqual(
    calls.map((x) => x.requests[0]),
    ['blocker', 'high', 'high-late', 'mid', 'mid-late', 'low'],
  );
});

test("a full level's retryAfterMs counts the delayed requests of the levels above, which go before it", async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, 100);
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 1,
    priorityLevels: 2,
    queuePolicies: { 1: { timeoutAction: 'delay' }, 2: { maxQueueSize: 1 } },
    execute,
  });
  void batcher.submit('blocker');
  await clock.flush();
  void batcher.submit('high-late', { priority: 1, timeoutMs: 10 });
  void batcher.submit('low', { priority: 2 });
  await clock.advanceAsync(10);
  const refused = track(batcher.submit('refused', { priority: 2 }));
  await clock.flush();
  assert.ok(refused.error instanceof QueueFullError);
  // The blocker ends in 90 ms (100 assumed, none measured yet), then 'high-late' runs 100 ms before 'low' starts.
  assert.equal(refused.error.retryAfterMs, 190);
  await clock.runAll();
});

test("a request delayed by its timeout stops aging: it competes just below its own level, whatever it had aged to", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, (rs) => (rs[0] === 'blocker' ? 100 : 10));
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, priorityLevels: 2, agingMs: 10, queuePolicies: { 2: { timeoutAction: 'delay' } }, execute });
  void batcher.submit('blocker', { priority: 1 });
  await clock.flush();
  // Aged to level 1 at 10, delayed at 30; 'fresh', queued at 40, ages to level 1 at 50 and goes first.
  const answers = [batcher.submit('late', { priority: 2, timeoutMs: 30 }), batcher.submit('high', { priority: 1 })];
  await clock.advanceAsync(40);
  answers.push(batcher.submit('fresh', { priority: 2 }));
  await clock.advanceAsync(100);
  assert.deepEqual(await Promise.all(answers), ['late', 'high', 'fresh']);
  assert.deepEqual(
    calls.map((x) => x.requests[0]),
    ['blocker', 'high', 'fresh', 'late'],
  );
});

test("requests delayed by their timeouts keep their arrival order, so the delay counts from the oldest of them", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 1);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 4, maxQueueDelayMs: 50, timeoutAction: 'delay', execute });
  const a = batcher.submit('a', { timeoutMs: 40 });
  await clock.advanceAsync(10);
  // 'b' times out first (at 15), 'a' at 40: 'a', queued at 0, has waited the delay at 50.
  const b = batcher.submit('b', { timeoutMs: 5 });
  await clock.advanceAsync(100);
  assert.deepEqual(await Promise.all([a, b]), ['a', 'b']);
  assert.deepEqual(
    calls.map((c) => [c.at, c.requests, c.context.reason]),
    [[50, ['a', 'b'], 'delay']],
  );
  // One that times out between two delayed ones goes between them.
  calls.length = 0;
  const later = [batcher.submit('c', { timeoutMs: 5 })];
  await clock.advanceAsync(10);
  later.push(batcher.submit('d', { timeoutMs: 35 }));
  await clock.advanceAsync(10);
  later.push(batcher.submit('e', { timeoutMs: 5 }));
  await clock.advanceAsync(100);
  assert.deepEqual(await Promise.all(later), ['c', 'd', 'e']);
  assert.deepEqual(calls.map((c) => c.requests), [['c', 'd', 'e']]);
});
