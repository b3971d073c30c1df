import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { DeadlineExceededError, QueueFullError } from '../../src/core/index.js';
import { FakeClock, recorder, track } from './helpers.js';

/** A batcher of one request per batch whose first batch ('blocker') runs 100 ms. */
function oneAtATime(options: { priorityLevels: number; agingMs?: number; defaultPriority?: number }) {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, (rs) => (rs[0] === 'blocker' ? 100 : 1));
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, execute, ...options });
  void batcher.submit('blocker', { priority: 1 });
  return { clock, calls, batcher };
}

test('higher priority dispatches first (1 = highest); FIFO within a level', async () => {
  const { clock, calls, batcher } = oneAtATime({ priorityLevels: 3 });
  await clock.flush();
  const all = [
    batcher.submit('low-1', { priority: 3 }),
    batcher.submit('mid-1'), // defaultPriority is the middle level, 2
    batcher.submit('low-2', { priority: 3 }),
    batcher.submit('high', { priority: 1 }),
    batcher.submit('mid-2', { priority: 2 }),
  ];
  await clock.advanceAsync(200);
  await Promise.all(all);
  assert.deepEqual(calls.map((c) => c.requests[0]), ['blocker', 'high', 'mid-1', 'mid-2', 'low-1', 'low-2']);
});

test('a batch takes the highest priorities first', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 10);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 3, priorityLevels: 2, defaultPriority: 2, execute });
  void batcher.submit('first');
  await clock.flush();
  const rest = ['a', 'b', 'c'].map((x) => batcher.submit(x)).concat(batcher.submit('urgent', { priority: 1 }));
  await clock.advanceAsync(30);
  await Promise.all(rest);
  assert.deepEqual(calls.map((c) => c.requests), [['first'], ['urgent', 'a', 'b'], ['c']]);
});

test('aging promotes a waiting request one level per agingMs, so low levels are not starved', async () => {
  const run = async (agingMs?: number) => {
    const { clock, calls, batcher } = oneAtATime({ priorityLevels: 3, ...(agingMs && { agingMs }) });
    await clock.flush();
    const low = batcher.submit('low', { priority: 3 });
    await clock.advanceAsync(50);
    const high = batcher.submit('high', { priority: 1 });
    await clock.advanceAsync(100);
    await Promise.all([low, high]);
    return calls.map((c) => c.requests[0]);
  };
  assert.deepEqual(await run(), ['blocker', 'high', 'low']);
  // After 100 ms with agingMs 10 'low' competes at level 1, and it has waited longer.
  assert.deepEqual(await run(10), ['blocker', 'low', 'high']);
  // With agingMs 60 it is only at level 2 when the slot frees.
  assert.deepEqual(await run(60), ['blocker', 'high', 'low']);
});

test('each level has its own queue policy: maxQueueSize and defaultTimeoutMs', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, (rs) => (rs[0] === 'blocker' ? 100 : 1));
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 1,
    priorityLevels: 2,
    maxQueueSize: 3,
    defaultTimeoutMs: 1000,
    queuePolicies: { 2: { maxQueueSize: 1, defaultTimeoutMs: 20 } },
    execute,
  });
  void batcher.submit('blocker', { priority: 1 });
  await clock.flush();
  const low = track(batcher.submit('low', { priority: 2 }));
  const refused = track(batcher.submit('low-2', { priority: 2 }));
  const high = [1, 2, 3].map((i) => track(batcher.submit(`high-${i}`, { priority: 1 })));
  const highRefused = track(batcher.submit('high-4', { priority: 1 }));
  await clock.advanceAsync(0);
  assert.ok(refused.error instanceof QueueFullError);
  assert.match((refused.error as Error).message, /1 request waits at priority 2 \(maxQueueSize 1\)/);
  assert.ok(highRefused.error instanceof QueueFullError);
  assert.match((highRefused.error as Error).message, /3 requests wait at priority 1 \(maxQueueSize 3\)/);
  assert.equal(batcher.queued, 4);
  await clock.advanceAsync(20);
  assert.ok(low.error instanceof DeadlineExceededError, 'level 2 times out after its own 20 ms');
  await clock.advanceAsync(200);
  assert.deepEqual(high.map((h) => h.value), ['high-1', 'high-2', 'high-3']);
});
