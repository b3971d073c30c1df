import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { FakeClock, events, recorder, track } from './helpers.js';

test('10 concurrent requests with maxBatchSize 4 and a delay form batches of [4, 4, 2]', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x * 10, 5);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 4, maxQueueDelayMs: 10, execute });
  const { batches } = events(batcher);
  const answers = Array.from({ length: 10 }, (_, i) => batcher.submit(i));

  await clock.advanceAsync(0);
  assert.deepEqual(calls.map((c) => c.requests), [[0, 1, 2, 3]]);
  assert.equal(batcher.inFlight, 1);
  assert.equal(batcher.queued, 6);
  await clock.advanceAsync(100);
  assert.deepEqual(await Promise.all(answers), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  assert.deepEqual(calls.map((c) => [c.at, c.requests.length, c.context.reason]), [
    [0, 4, 'full'],
    [5, 4, 'full'],
    [10, 2, 'delay'],
  ]);
  assert.deepEqual(batches.map((b) => [b.size, b.requests, b.reason, b.runMs, b.failed]), [
    [4, 4, 'full', 5, 0],
    [4, 4, 'full', 5, 0],
    [2, 2, 'delay', 5, 0],
  ]);
  assert.deepEqual(batches[1]!.queueMs, [5, 5, 5, 5]);
  assert.deepEqual(batches[2]!.queueMs, [10, 10]);
});

test('batch size is counted in items, not requests', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (r: { n: number }) => r.n, 1);
  const batcher = new DynamicBatcher<{ n: number }, number>({ clock, maxBatchSize: 4, maxQueueDelayMs: 10, sizeOf: (r) => r.n, execute });
  const answers = [3, 1, 2, 2, 1, 3].map((n) => batcher.submit({ n }));
  await clock.advanceAsync(50);
  await Promise.all(answers);
  // [3, 1] fills 4; [2, 2] fills 4; [1] then [3] would be 4 too: the order is kept, never skipped.
  assert.deepEqual(calls.map((c) => c.requests.map((r) => r.n)), [[3, 1], [2, 2], [1, 3]]);
  assert.deepEqual(calls.map((c) => c.context.reason), ['full', 'full', 'full']);
  assert.equal(batcher.queuedItems, 0);
});

test('delay 0 never waits: a lone request goes at once and queued work goes as soon as a slot frees', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 5);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 4, execute });
  const lone = track(batcher.submit(1));
  await clock.flush();
  assert.deepEqual(calls.map((c) => [c.at, c.requests]), [[0, [1]]]);
  assert.equal(clock.pending, 1, 'only the execution sleeps: the batcher armed no timer');
  await clock.advanceAsync(5);
  assert.equal(lone.state, 'resolved');

  // A burst in one tick coalesces; what arrives while the slot is busy goes when it frees.
  const burst = Array.from({ length: 6 }, (_, i) => batcher.submit(10 + i));
  await clock.flush();
  await clock.advanceAsync(2);
  const late = batcher.submit(99);
  await clock.advanceAsync(20);
  await Promise.all([...burst, late]);
  assert.deepEqual(calls.slice(1).map((c) => [c.at, c.requests, c.context.reason]), [
    [5, [10, 11, 12, 13], 'full'],
    [10, [14, 15, 99], 'delay'],
  ]);
});

test('the delay is capped by the oldest request: a batch goes when it has waited maxQueueDelayMs', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 1);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 8, maxQueueDelayMs: 10, execute });
  const { batches } = events(batcher);
  const all = [batcher.submit('a')];
  await clock.advanceAsync(6);
  all.push(batcher.submit('b'));
  await clock.advanceAsync(3);
  all.push(batcher.submit('c'));
  await clock.advanceAsync(0.5);
  assert.equal(calls.length, 0, 'the oldest has waited 9.5 ms of 10');
  await clock.advanceAsync(0.5);
  assert.deepEqual(calls.map((c) => [c.at, c.requests]), [[10, ['a', 'b', 'c']]]);
  await clock.advanceAsync(1);
  assert.deepEqual(batches[0]!.queueMs, [10, 4, 1]);

  all.push(batcher.submit('d'));
  await clock.advanceAsync(9.9);
  assert.equal(calls.length, 1);
  await clock.advanceAsync(0.1);
  assert.deepEqual(calls.map((c) => [c.at, c.requests]), [[10, ['a', 'b', 'c']], [21, ['d']]]);
  await clock.advanceAsync(1);
  assert.deepEqual(await Promise.all(all), ['a', 'b', 'c', 'd']);
});

test('a full batch goes at once however long the delay', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 1);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 3, maxQueueDelayMs: 60_000, execute });
  const answers = [1, 2, 3, 4].map((x) => batcher.submit(x));
  await clock.advanceAsync(1);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [[0, [1, 2, 3], 'full']]);
  assert.equal(batcher.queued, 1);
  await clock.advanceAsync(60_000);
  assert.deepEqual(await Promise.all(answers), [1, 2, 3, 4]);
});

test('at most `concurrency` batches run at once; raising it dispatches waiting work', async () => {
  const clock = new FakeClock();
  let running = 0;
  let peak = 0;
  const starts: number[] = [];
  const batcher = new DynamicBatcher<number, number>({
    clock,
    maxBatchSize: 2,
    concurrency: 2,
    execute: async (xs) => {
      starts.push(clock.now());
      peak = Math.max(peak, ++running);
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 10));
      running--;
      return xs;
    },
  });
  const answers = Array.from({ length: 10 }, (_, i) => batcher.submit(i));
  await clock.flush();
  assert.equal(batcher.inFlight, 2);
  assert.equal(batcher.queued, 6);
  assert.equal(batcher.queuedItems, 6);
  await clock.advanceAsync(10);
  assert.deepEqual(starts, [0, 0, 10, 10]);
  batcher.concurrency = 3;
  await clock.flush();
  assert.deepEqual(starts, [0, 0, 10, 10, 10]);
  assert.equal(batcher.inFlight, 3);
  await clock.advanceAsync(20);
  assert.deepEqual(await Promise.all(answers), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(peak, 3);
  assert.throws(() => batcher.setConcurrency(0), /Expected `concurrency` to be an integer >= 1, got 0 \(number\)/);
  assert.equal(batcher.concurrency, 3);
});

test('a delay longer than a timer can hold is waited out in steps, not cut short', async () => {
  // Node fires a timer of more than 2^31 - 1 ms after 1 ms.
  class NodeTimers extends FakeClock {
    override setTimeout(fn: () => void, ms: number): number {
      return super.setTimeout(fn, ms > 2 ** 31 - 1 ? 1 : ms);
    }
  }
  const clock = new NodeTimers();
  const { calls, execute } = recorder(clock, (x: number) => x);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxQueueDelayMs: 1e10, execute });
  const { batches } = events(batcher);
  const answer = batcher.submit(1);
  await clock.advanceAsync(2 ** 31);
  assert.equal(calls.length, 0);
  await clock.advanceAsync(1e10 - 2 ** 31);
  assert.deepEqual(calls.map((c) => [c.at, c.context.reason]), [[1e10, 'delay']]);
  assert.deepEqual(batches[0]!.queueMs, [1e10]);
  assert.equal(await answer, 1);
});

test('the delay counts from a request\'s arrival, not from when a slot frees: one that waited it out behind a running batch goes the moment the slot frees', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 30);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 2, maxQueueDelayMs: 10, execute });
  const all = [batcher.submit('a1'), batcher.submit('a2')]; // full: runs from 0 to 30
  await clock.advanceAsync(5);
  all.push(batcher.submit('b')); // waits behind the running batch from 5
  await clock.advanceAsync(25);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [
    [0, ['a1', 'a2'], 'full'],
    [30, ['b'], 'delay'],
  ]);
  await clock.advanceAsync(30);
  assert.deepEqual(await Promise.all(all), ['a1', 'a2', 'b']);
});

test('a batch no longer counts in flight when its requests get their answers: a caller that submits again from its answer finds the slot free', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x * 10, 5);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 1, execute });
  const seen: [number, number][] = [];
  // 2 waits in the full queue when 1 is answered: the slot 1 frees takes 2, so 3 has room.
  const again = track(batcher.submit(1).then((answer) => (seen.push([answer, batcher.inFlight]), batcher.submit(3))));
  await clock.advanceAsync(0);
  const second = track(batcher.submit(2));
  await clock.advanceAsync(20);
  assert.deepEqual(seen, [[10, 0]]);
  assert.deepEqual([second.value, again.value, again.error], [20, 30, undefined]);
  assert.equal(batcher.inFlight, 0);
});

test('a batch whose timer fired within the slack before its time counts its requests\' wait to when it really started', async () => {
  // Real timers fire on a 1 ms grid, at times early: this clock fires every timer 0.5 ms before its time.
  class EarlyClock extends FakeClock {
    override setTimeout(fn: () => void, ms: number): number {
      return super.setTimeout(fn, ms - 0.5);
    }
  }
  const clock = new EarlyClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 5);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 4, maxQueueDelayMs: 10, execute });
  const { batches } = events(batcher);
  const answers = [batcher.submit(1), batcher.submit(2)];
  await clock.advanceAsync(20);
  await Promise.all(answers);
  assert.deepEqual(calls.map((c) => c.at), [9.5], 'the batch went when the timer fired, within the slack');
  assert.deepEqual(batches[0]!.queueMs, [9.5, 9.5], 'queue time is the wait to the real start, not to the time planned');
});
