import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { BackendError, InvalidInputError } from '../../src/core/index.js';
import { FakeClock, events, recorder, track } from './helpers.js';

test('an Error in one slot fails that request alone', async () => {
  const clock = new FakeClock();
  const bad = new InvalidInputError('negative input');
  const { execute } = recorder(clock, (x: number) => (x < 0 ? bad : Math.sqrt(x)));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 3, execute });
  const { batches } = events(batcher);
  const [a, b, c] = [4, -1, 9].map((x) => track(batcher.submit(x)));
  await clock.advanceAsync(0);
  assert.equal(a!.value, 2);
  assert.equal(b!.error, bad);
  assert.equal(c!.value, 3);
  assert.deepEqual(batches.map((e) => [e.requests, e.failed, e.failedAt, e.failedItems, e.retried]), [[3, 1, [1], 1, 0]]);
});

test('a request answered while its batch ran (timed out, cancelled) is discarded, not failed: discardedAt and discardedItems name it', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => (x < 0 ? new InvalidInputError('negative input') : x), 10);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 3, execute });
  const { batches } = events(batcher);
  const cancel = new AbortController();
  const [late, cancelled, answered] = [track(batcher.submit(-1, { timeoutMs: 5 })), track(batcher.submit(2, { signal: cancel.signal })), track(batcher.submit(3))];
  await clock.advanceAsync(1);
  cancel.abort();
  await clock.advanceAsync(10);
  assert.deepEqual([late.state, cancelled.state, answered.value], ['rejected', 'rejected', 3]);
  assert.deepEqual(batches.map((e) => [e.failed, e.failedAt, e.discardedAt, e.discardedItems]), [[0, [], [0, 1], 2]]);
});

test('a retried request answered while its retry ran is discarded by the retry, not failed', async () => {
  const clock = new FakeClock();
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 2,
    execute: async (words) => {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 2));
      if (words.includes('poison')) throw new Error('cannot concatenate poison');
      return words.map((w) => w.toUpperCase());
    },
  });
  const { batches } = events(batcher);
  // The batch fails at t=2; poison's retry runs from 2 to 4, and its timeout answers it at 3.
  const [poison, a] = [track(batcher.submit('poison', { timeoutMs: 3 })), track(batcher.submit('a'))];
  await clock.advanceAsync(10);
  assert.deepEqual([poison.state, a.value], ['rejected', 'A']);
  assert.deepEqual(batches.map((e) => [e.reason, e.failed, e.failedAt, e.discardedAt, e.retried]), [
    ['full', 0, [], [], 2],
    ['retry', 0, [], [0], 0],
    ['retry', 0, [], [], 0],
  ]);
});

test('a rejected batch is re-run request by request, so only a request that fails alone fails', async () => {
  const clock = new FakeClock();
  const runs: string[][] = [];
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 4,
    execute: async (words) => {
      runs.push([...words]);
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 2));
      if (words.includes('poison')) throw new Error('cannot concatenate poison');
      return words.map((w) => w.toUpperCase());
    },
  });
  const { batches } = events(batcher);
  const results = ['a', 'poison', 'b'].map((w) => track(batcher.submit(w)));
  await clock.advanceAsync(20);
  assert.deepEqual(runs, [['a', 'poison', 'b'], ['a'], ['poison'], ['b']]);
  assert.deepEqual(results.map((r) => r.value), ['A', undefined, 'B']);
  assert.match((results[1]!.error as Error).message, /cannot concatenate poison/);
  assert.deepEqual(batches.map((e) => [e.reason, e.requests, e.failed, e.retried, e.runMs]), [
    ['delay', 3, 0, 3, 2],
    ['retry', 1, 0, 0, 2],
    ['retry', 1, 1, 0, 2],
    ['retry', 1, 0, 0, 2],
  ]);
  assert.match(String(batches[0]!.error), /poison/);
  assert.equal(batcher.inFlight, 0);
});

test('with splitOnFailure false every request of a rejected batch gets its error', async () => {
  const clock = new FakeClock();
  const failure = new Error('backend down');
  let runs = 0;
  const batcher = new DynamicBatcher<number, number>({
    clock,
    maxBatchSize: 4,
    splitOnFailure: false,
    execute: () => {
      runs++;
      throw failure; // a synchronous throw is caught like a rejection
    },
  });
  const { batches } = events(batcher);
  const results = [1, 2, 3].map((x) => track(batcher.submit(x)));
  await clock.advanceAsync(0);
  assert.deepEqual(results.map((r) => r.error), [failure, failure, failure]);
  assert.equal(runs, 1);
  assert.deepEqual(batches.map((e) => [e.failed, e.failedAt, e.failedItems, e.retried]), [[3, [0, 1, 2], 3, 0]]);
});

test('a wrong number of results rejects with a clear error and never hangs', async () => {
  const clock = new FakeClock();
  const seen: number[] = [];
  const batcher = new DynamicBatcher<number, number>({
    clock,
    maxBatchSize: 4,
    // Drops the last result of every batch: wrong for a batch of 3, and for each re-run alone.
    execute: async (xs) => {
      seen.push(xs.length);
      return xs.slice(0, -1);
    },
  });
  const results = [1, 2, 3].map((x) => track(batcher.submit(x)));
  await clock.advanceAsync(0);
  assert.deepEqual(seen, [3, 1, 1, 1]);
  for (const r of results) {
    assert.ok(r.error instanceof BackendError);
    assert.match((r.error as Error).message, /execute\(\) must return one result per request: got 0 results for a batch of 1 requests/);
  }

  const notArray = new DynamicBatcher<number, number>({ clock, maxBatchSize: 4, execute: async () => 'oops' as never });
  const lone = track(notArray.submit(1));
  await clock.advanceAsync(0);
  assert.match((lone.error as Error).message, /got "oops" \(string\) for a batch of 1 requests/);

  // Only the bad case is retried: a batch whose results come back right is answered in one run.
  const fixed: number[] = [];
  const sometimes = new DynamicBatcher<number, number>({
    clock,
    maxBatchSize: 4,
    execute: async (xs) => {
      fixed.push(xs.length);
      return xs.length > 1 ? [] : xs;
    },
  });
  const retried = [7, 8].map((x) => sometimes.submit(x));
  await clock.advanceAsync(0);
  assert.deepEqual(await Promise.all(retried), [7, 8]);
  assert.deepEqual(fixed, [2, 1, 1]);
});

test('a sizeOf, batchKey or split that throws on a malformed request fails that request alone, at submit; the requests around it are batched and answered', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (r: number[]) => r.length, 5);
  const shapeError = new TypeError('a request must be an array of rows');
  const keyError = new TypeError('row -2 has no key');
  const splitError = new TypeError('row -1 cannot be split off');
  const batcher = new DynamicBatcher<number[], number>({
    clock,
    maxBatchSize: 4,
    maxQueueDelayMs: 1,
    sizeOf: (r) => {
      if (!Array.isArray(r)) throw shapeError;
      return r.length;
    },
    batchKey: (r) => {
      if (r.includes(-2)) throw keyError;
      return '';
    },
    split: (r, sizes) => {
      if (r.includes(-1)) throw splitError;
      let at = 0;
      return sizes.map((n) => r.slice(at, (at += n)));
    },
    merge: (parts) => parts.reduce((a, b) => a + b, 0),
    execute,
  });
  const before = track(batcher.submit([1]));
  const bad = [7 as unknown as number[], [-2], [1, 2, 3, 4, -1]].map((r) => track(batcher.submit(r)));
  const after = [[1, 2], [3]].map((r) => track(batcher.submit(r)));
  await clock.advanceAsync(20);
  assert.deepEqual(bad.map((b) => b.error), [shapeError, keyError, splitError]);
  assert.deepEqual([before, ...after].map((a) => a.value), [1, 2, 1]);
  assert.deepEqual(calls.map((c) => c.requests), [[[1], [1, 2], [3]]]);
  assert.equal(batcher.queued, 0);
  assert.equal(batcher.queuedItems, 0);

  const later = track(batcher.submit([4, 5, 6, 7]));
  await clock.advanceAsync(5);
  assert.equal(later.value, 4, 'a later request is not held by the earlier failures');
});
