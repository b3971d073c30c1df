import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { DynamicBatcher } from '../../src/batching/index.js';
import { CancelledError, ClosedError, DeadlineExceededError, QueueFullError } from '../../src/core/index.js';
import { FakeClock, events, recorder, sleep, track } from './helpers.js';

test('a full queue rejects at once with QueueFullError and a retryAfterMs drawn from measured batch times', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 20);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 2, maxQueueSize: 3, execute });
  const { drops } = events(batcher);
  const first = [batcher.submit(0), batcher.submit(1)];
  await clock.flush(); // [0, 1] runs
  const queued = [2, 3, 4].map((x) => batcher.submit(x));
  const refused = track(batcher.submit(5));
  await clock.flush();
  assert.equal(refused.state, 'rejected');
  const error = refused.error as QueueFullError;
  assert.ok(error instanceof QueueFullError);
  assert.equal(error.code, 'ERR_SERVABLE_QUEUE_FULL');
  assert.equal(error.status, 503);
  // No batch has finished yet: 100 ms assumed for the one running, which has just started; [2, 3]
  // starts when it ends, and frees two places.
  assert.equal(error.retryAfterMs, 100);
  assert.match(error.message, /3 requests wait \(maxQueueSize 3\); retry in about 100 ms/);
  assert.deepEqual(drops, [{ reason: 'queue-full', queueMs: 0, stage: 'queued' }]);

  await clock.advanceAsync(25); // the first batch took 20 ms; [2, 3] has run 5 ms of its 20, [4] waits
  const more = [6, 7].map((x) => batcher.submit(x));
  const again = track(batcher.submit(8));
  await clock.flush();
  // [4, 6] starts once [2, 3] ends, 15 ms from now, where the whole queue has run only 55 ms from now.
  assert.equal((again.error as QueueFullError).retryAfterMs, 15);
  await clock.advanceAsync(100);
  assert.deepEqual(await Promise.all([...first, ...queued, ...more]), [0, 1, 2, 3, 4, 6, 7]);
  assert.deepEqual(calls.flatMap((c) => c.requests), [0, 1, 2, 3, 4, 6, 7]);
});

test('retryAfterMs draws on the median recent batch, so one cold start does not inflate it', async () => {
  const clock = new FakeClock();
  // The first batch (a cold start) takes 3 s, the 49 after it 5 ms each.
  const { execute } = recorder(clock, (x: number) => x, (rs) => (rs[0] === 0 ? 3000 : 5));
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 8, maxQueueSize: 64, execute });
  await Promise.all([batcher.submit(0), clock.advanceAsync(3000)]);
  for (let i = 1; i < 50; i++) await Promise.all([batcher.submit(i), clock.advanceAsync(5)]);
  const running = batcher.submit(100);
  await clock.flush();
  const queued = Array.from({ length: 64 }, (_, i) => batcher.submit(101 + i));
  const refused = track(batcher.submit(200));
  await clock.flush();
  // The first queued batch starts when the one running ends: 5 ms, where the mean (64.9 ms a batch) gave 65.
  assert.equal((refused.error as QueueFullError).retryAfterMs, 5);
  await clock.advanceAsync(50);
  assert.equal((await Promise.all([running, ...queued])).length, 65);
});

test('retryAfterMs counts the time the batches running now still hold their slots', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: number) => x, 100);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 1, maxQueueSize: 3, concurrency: 2, execute });
  await Promise.all([batcher.submit(0), clock.advanceAsync(100)]); // batches take 100 ms
  const all = [batcher.submit(1)];
  await clock.advanceAsync(60);
  all.push(batcher.submit(2)); // slots free in 40 and 100 ms
  await clock.flush();
  all.push(...[3, 4, 5].map((x) => batcher.submit(x)));
  const refused = track(batcher.submit(6));
  await clock.flush();
  // 3 starts on the slot that frees in 40 ms (the one started last frees in 100).
  assert.equal((refused.error as QueueFullError).retryAfterMs, 40);
  await clock.advanceAsync(240);
  assert.deepEqual(await Promise.all(all), [1, 2, 3, 4, 5]);
  assert.equal(batcher.inFlight, 0);
});

test('retryAfterMs counts the batches of higher priorities that go before the refused level, per batch key', async () => {
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
  const running = batcher.submit({ key: 'a' });
  await clock.flush(); // one batch runs; the slot stays busy while the queue fills
  const low = Array.from({ length: 40 }, () => batcher.submit({ key: 'a' }));
  const high = [...['a', 'a', 'a', 'a', 'b', 'b'].map((key) => batcher.submit({ key }, { priority: 1 }))];
  const refused = track(batcher.submit({ key: 'a' }));
  await clock.flush();
  // Before the first low-priority batch: one full priority-1 batch of key a and the one of key b
  // (which no low request of key b fills), 2 batches of 100 ms (none has finished yet) on one
  // slot, after the one running.
  assert.equal((refused.error as QueueFullError).retryAfterMs, 300);
  await clock.advanceAsync(1000);
  assert.equal((await Promise.all([running, ...low, ...high])).length, 47);
});

test('with agingMs, retryAfterMs counts the lower-priority requests that have aged up to the refused one', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, 1000);
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 4,
    priorityLevels: 2,
    defaultPriority: 2,
    agingMs: 50,
    queuePolicies: { 1: { maxQueueSize: 3 } },
    execute,
  });
  const running = batcher.submit('first');
  await clock.flush();
  const aged = Array.from({ length: 20 }, () => batcher.submit('aged'));
  await clock.advanceAsync(200); // 4 × agingMs: these compete at priority 1 now, and are older
  const young = Array.from({ length: 20 }, () => batcher.submit('young'));
  const high = [0, 1, 2].map(() => batcher.submit('high', { priority: 1 }));
  const refused = track(batcher.submit('refused', { priority: 1 }));
  await clock.flush();
  // Before its level's first batch: 20 aged items (5 batches); the young ones are not. 5 batches
  // of 100 ms (none has finished yet) on one slot, which the running batch, 200 ms in and past its
  // assumed 100 ms, is taken to hold for as long again.
  assert.equal((refused.error as QueueFullError).retryAfterMs, 700);
  await clock.advanceAsync(60_000);
  assert.equal((await Promise.all([running, ...aged, ...young, ...high])).length, 44);
});

test('a queued request times out on time while a long batch runs, and never runs', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 1000);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, execute });
  const { drops } = events(batcher);
  const long = track(batcher.submit('long'));
  await clock.flush();
  const waiting = track(batcher.submit('waiting', { timeoutMs: 50 }));
  await clock.advanceAsync(49);
  assert.equal(waiting.state, 'pending');
  assert.equal(batcher.queued, 1);
  await clock.advanceAsync(1);
  assert.equal(waiting.state, 'rejected');
  assert.ok(waiting.error instanceof DeadlineExceededError);
  assert.equal((waiting.error as DeadlineExceededError).status, 504);
  assert.match((waiting.error as Error).message, /timed out after 50 ms while queued/);
  assert.equal(batcher.queued, 0);
  assert.deepEqual(drops, [{ reason: 'timeout', queueMs: 50, stage: 'queued' }]);
  assert.equal(long.state, 'pending', 'the long batch is still running');
  await clock.advanceAsync(2000);
  assert.equal(long.value, 'long');
  assert.deepEqual(calls.map((c) => c.requests), [['long']]);
});

test('defaultTimeoutMs covers queue and execution: a running request is rejected at its deadline', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 100);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 2, maxQueueDelayMs: 10, defaultTimeoutMs: 30, execute });
  const { drops } = events(batcher);
  const a = track(batcher.submit('a'));
  const b = track(batcher.submit('b', { timeoutMs: 200 })); // may only shorten the default: 30 ms
  await clock.advanceAsync(29);
  assert.equal(calls.length, 1);
  assert.equal(a.state, 'pending');
  await clock.advanceAsync(1);
  assert.equal(a.state, 'rejected');
  assert.match((a.error as Error).message, /timed out after 30 ms while running/);
  assert.equal(b.state, 'rejected');
  // queueMs is their wait in the queue: none, as they filled a batch at once; not the 30 ms they ran.
  assert.deepEqual(drops.map((d) => [d.reason, d.queueMs, d.stage]), [['timeout', 0, 'running'], ['timeout', 0, 'running']]);
  assert.equal(calls[0]!.context.signal.aborted, true, 'nobody waits for the batch any more');
  await clock.advanceAsync(100);
  assert.equal(batcher.inFlight, 0);
});

test("one request timing out while running does not abort its batch's signal or fail the others", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x.toUpperCase(), 100);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 2, execute });
  const short = track(batcher.submit('short', { timeoutMs: 40 }));
  const patient = track(batcher.submit('patient'));
  await clock.advanceAsync(40);
  assert.equal(short.state, 'rejected');
  assert.equal(calls[0]!.context.signal.aborted, false);
  await clock.advanceAsync(60);
  assert.equal(patient.value, 'PATIENT');
  assert.equal(short.value, undefined, 'its result is discarded');
});

test('an aborted queued request leaves the queue at once, never runs, and keeps no listener', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 100);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, execute });
  const { drops } = events(batcher);
  void batcher.submit('blocker');
  await clock.flush();

  const plain = new AbortController();
  const withReason = new AbortController();
  const a = track(batcher.submit('a', { signal: plain.signal }));
  const b = track(batcher.submit('b', { signal: withReason.signal }));
  assert.equal(getEventListeners(plain.signal, 'abort').length, 1);
  await clock.advanceAsync(10);
  plain.abort();
  const reason = new Error('client went away');
  withReason.abort(reason);
  await clock.flush();
  assert.ok(a.error instanceof CancelledError);
  assert.equal((a.error as CancelledError).status, 499);
  assert.equal(b.error, reason, "the signal's own Error reason is kept");
  assert.equal(batcher.queued, 0);
  assert.deepEqual(drops, [
    { reason: 'cancelled', queueMs: 10, stage: 'queued' },
    { reason: 'cancelled', queueMs: 10, stage: 'queued' },
  ]);
  assert.equal(getEventListeners(plain.signal, 'abort').length, 0);

  // Listeners go when a request succeeds or times out too.
  const ok = new AbortController();
  const late = new AbortController();
  const done = batcher.submit('ok', { signal: ok.signal });
  const timedOut = track(batcher.submit('late', { signal: late.signal, timeoutMs: 50 }));
  await clock.advanceAsync(300);
  assert.equal(await done, 'ok');
  assert.ok(timedOut.error instanceof DeadlineExceededError);
  assert.equal(getEventListeners(ok.signal, 'abort').length, 0);
  assert.equal(getEventListeners(late.signal, 'abort').length, 0);

  // An already aborted signal is refused before queueing.
  const gone = AbortSignal.abort();
  await assert.rejects(batcher.submit('gone', { signal: gone }), CancelledError);
  assert.deepEqual(calls.map((c) => c.requests), [['blocker'], ['ok']]);
});

test('requests sharing one signal add one abort listener to it, so Node never warns of a listener leak', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 10);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 4, execute });
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const shared = new AbortController();
    const answers = Array.from({ length: 20 }, (_, i) => track(batcher.submit(i, { signal: shared.signal })));
    assert.equal(getEventListeners(shared.signal, 'abort').length, 1);
    await clock.advanceAsync(10);
    assert.deepEqual(answers.slice(0, 4).map((a) => a.value), [0, 1, 2, 3], 'the first batch is answered');
    shared.abort();
    await clock.flush();
    assert.ok(answers.slice(4).every((a) => a.error instanceof CancelledError), 'every queued request is cancelled');
    assert.equal(getEventListeners(shared.signal, 'abort').length, 0);
    assert.deepEqual(calls.map((c) => c.requests), [[0, 1, 2, 3], [4, 5, 6, 7]]);

    const again = new AbortController();
    const more = Array.from({ length: 12 }, (_, i) => batcher.submit(i, { signal: again.signal }));
    await clock.advanceAsync(100);
    assert.deepEqual(await Promise.all(more), Array.from({ length: 12 }, (_, i) => i));
    assert.equal(getEventListeners(again.signal, 'abort').length, 0, 'the listener goes with the last request');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((w) => w.name), []);
  } finally {
    process.off('warning', onWarning);
  }
});

test("a batch's signal aborts only once every one of its requests was cancelled", async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 100);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 2, execute });
  const first = new AbortController();
  const second = new AbortController();
  const a = track(batcher.submit('a', { signal: first.signal }));
  const b = track(batcher.submit('b', { signal: second.signal }));
  await clock.advanceAsync(10);
  const { signal } = calls[0]!.context;
  first.abort();
  await clock.flush();
  assert.ok(a.error instanceof CancelledError);
  assert.equal(signal.aborted, false);
  second.abort();
  await clock.flush();
  assert.ok(b.error instanceof CancelledError);
  assert.equal(signal.aborted, true);
  assert.ok(signal.reason instanceof CancelledError);
});

test('drain() flushes the queue at once (reason drain) and resolves when nothing is queued or running', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 5);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 2, maxQueueDelayMs: 1000, execute });
  await batcher.drain(); // idle: resolves at once
  const answers = [1, 2, 3].map((x) => track(batcher.submit(x)));
  await clock.flush();
  assert.deepEqual(calls.map((c) => c.requests), [[1, 2]]);
  const drained = track(batcher.drain());
  await clock.advanceAsync(5);
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [[0, [1, 2], 'full'], [5, [3], 'drain']]);
  assert.equal(drained.state, 'pending');
  await clock.advanceAsync(5);
  assert.equal(drained.state, 'resolved');
  assert.deepEqual(answers.map((a) => a.value), [1, 2, 3]);

  // After the drain, the delay applies again.
  void batcher.submit(4);
  await clock.advanceAsync(999);
  assert.equal(calls.length, 2);
  await clock.advanceAsync(1);
  assert.equal(calls.length, 3);
});

test('close() refuses new requests with ClosedError and drains what is queued', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x, 5);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 4, maxQueueDelayMs: 1000, execute });
  const { drops } = events(batcher);
  const queued = track(batcher.submit(1));
  const closed = track(batcher.close());
  assert.equal(batcher.closed, true);
  const refused = track(batcher.submit(2));
  await clock.advanceAsync(5);
  assert.equal(queued.value, 1);
  assert.equal(closed.state, 'resolved');
  assert.ok(refused.error instanceof ClosedError);
  assert.equal((refused.error as ClosedError).code, 'ERR_SERVABLE_CLOSED');
  assert.deepEqual(drops, [{ reason: 'closed', queueMs: 0, stage: 'queued' }]);
  assert.deepEqual(calls.map((c) => [c.requests, c.context.reason]), [[[1], 'drain']]);
});

test('fail() answers every request queued or running with its error and aborts the running batch; drain() still waits for that run', async () => {
  const clock = new FakeClock();
  const signals: AbortSignal[] = [];
  let answer: (() => void) | undefined;
  const execute = (requests: readonly number[], { signal }: { signal: AbortSignal }) => {
    signals.push(signal);
    return new Promise<number[]>((resolve) => (answer = () => resolve([...requests])));
  };
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 1, execute });
  const { drops } = events(batcher);
  const running = track(batcher.submit(1));
  await clock.flush();
  const queued = track(batcher.submit(2));
  const closed = track(batcher.close());
  const error = new ClosedError('given up');
  batcher.fail(error);
  await clock.flush();
  assert.deepEqual([running.state, running.error, queued.state, queued.error], ['rejected', error, 'rejected', error]);
  assert.deepEqual(drops.map((d) => [d.reason, d.stage]), [['closed', 'running'], ['closed', 'queued']]);
  assert.deepEqual(signals.map((s) => s.aborted), [true], 'the queued request never ran');
  assert.equal(batcher.inFlight, 1);
  assert.equal(closed.state, 'pending', 'the run has not ended');
  answer!();
  await clock.flush();
  assert.equal(closed.state, 'resolved');
  assert.equal(running.error, error, 'a late answer changes nothing');
});

test('when the oldest request leaves, the delay follows the oldest one still queued', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x, 1);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 8, maxQueueDelayMs: 10, execute });
  const controller = new AbortController();
  const first = track(batcher.submit('first', { signal: controller.signal }));
  await clock.advanceAsync(5);
  const second = track(batcher.submit('second'));
  await clock.advanceAsync(1);
  controller.abort();
  await clock.advanceAsync(8.5); // t = 14.5: 'second' has waited 9.5 ms
  assert.equal(calls.length, 0);
  await clock.advanceAsync(0.5);
  assert.deepEqual(calls.map((c) => [c.at, c.requests]), [[15, ['second']]]);
  await clock.advanceAsync(1);
  assert.ok(first.error instanceof CancelledError);
  assert.equal(second.value, 'second');
  assert.equal(clock.pending, 0, 'no timer is left behind');
});

test('every batch gets a signal of its own, though the controllers are made ahead of time', async () => {
  const clock = new FakeClock();
  const signals: AbortSignal[] = [];
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 1,
    concurrency: 2,
    execute: async (requests, { signal }) => {
      signals.push(signal);
      await sleep(clock, 100);
      return requests;
    },
  });
  const cancel = new AbortController();
  const gone = track(batcher.submit('gone', { signal: cancel.signal }));
  const kept = track(batcher.submit('kept'));
  await clock.advanceAsync(0);
  assert.equal(signals.length, 2);
  assert.notEqual(signals[0], signals[1]);
  cancel.abort();
  await clock.advanceAsync(0);
  assert.equal(gone.state, 'rejected');
  assert.deepEqual(signals.map((s) => s.aborted), [true, false], 'only the abandoned batch is aborted');
  await clock.advanceAsync(100);
  assert.equal(kept.value, 'kept');
  const next = batcher.submit('next');
  await clock.advanceAsync(100);
  assert.equal(await next, 'next');
  assert.equal(new Set(signals).size, signals.length, 'no signal is handed out twice');
  assert.ok(signals.slice(2).every((s) => !s.aborted));
});

test('a timeout message gives whole milliseconds, though the time left to a request is fractional', async () => {
  const clock = new FakeClock();
  const { execute } = recorder(clock, (x: string) => x, 1000);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, execute });
  track(batcher.submit('long'));
  await clock.flush();
  const waiting = track(batcher.submit('waiting', { timeoutMs: 199.971385 }));
  await clock.advanceAsync(200);
  assert.equal((waiting.error as Error).message, 'The request timed out after 200 ms while queued');
});

test('a request cancelled or timed out while queued frees its queue slot at once: the next one is admitted, and nothing behind it is held', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x.toUpperCase(), 100);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, maxQueueSize: 2, execute });
  const running = track(batcher.submit('running'));
  await clock.flush();
  const leaving = new AbortController();
  const cancelled = track(batcher.submit('cancelled', { signal: leaving.signal }));
  const expiring = track(batcher.submit('expiring', { timeoutMs: 10 }));
  const refused = track(batcher.submit('refused'));
  await clock.flush();
  assert.ok(refused.error instanceof QueueFullError);

  leaving.abort();
  const admitted = track(batcher.submit('admitted')); // in the same tick as the abort
  await clock.flush();
  assert.ok(cancelled.error instanceof CancelledError);
  assert.equal(admitted.state, 'pending', 'the cancelled request gave its place up at once');
  assert.equal(batcher.queued, 2);

  await clock.advanceAsync(10);
  assert.ok(expiring.error instanceof DeadlineExceededError);
  const next = track(batcher.submit('next'));
  await clock.flush();
  assert.equal(next.state, 'pending', 'the timed-out request gave its place up at once');

  await clock.advanceAsync(300);
  assert.deepEqual([running.value, admitted.value, next.value], ['RUNNING', 'ADMITTED', 'NEXT']);
  assert.deepEqual(calls.map((c) => c.requests), [['running'], ['admitted'], ['next']]);
  assert.equal(batcher.queued, 0);
  assert.equal(batcher.inFlight, 0);
});

test('a batch whose requests were all cancelled frees its slot once execute honours the signal: the requests queued behind it run at once, not after the run it would have taken', async () => {
  const clock = new FakeClock();
  const runs: { requests: string[]; at: number }[] = [];
  const batcher = new DynamicBatcher<string, string>({
    clock,
    maxBatchSize: 2,
    execute: (requests, { signal }) => {
      runs.push({ requests: [...requests], at: clock.now() });
      return new Promise((resolve, reject) => {
        const timer = clock.setTimeout(() => resolve(requests.map((r) => r.toUpperCase())), 1000);
        signal.addEventListener('abort', () => {
          clock.clearTimeout(timer);
          reject(signal.reason);
        });
      });
    },
  });
  const { batches } = events(batcher);
  const clients = [new AbortController(), new AbortController()];
  const gone = ['a', 'b'].map((x, i) => track(batcher.submit(x, { signal: clients[i]!.signal })));
  await clock.flush();
  const behind = ['c', 'd', 'e'].map((x) => track(batcher.submit(x)));
  await clock.advanceAsync(10);
  for (const client of clients) client.abort();
  await clock.flush();
  assert.ok(gone.every((g) => g.error instanceof CancelledError));
  assert.deepEqual(runs.map((r) => [r.at, r.requests]), [[0, ['a', 'b']], [10, ['c', 'd']]]);
  assert.deepEqual(batches.map((b) => [b.requests, b.failed, b.retried]), [[2, 0, 0]], 'the cancelled batch is not re-run');
  await clock.advanceAsync(2000);
  assert.deepEqual(behind.map((b) => b.value), ['C', 'D', 'E']);
  assert.equal(batcher.inFlight, 0);
});

test('maxQueueSize bounds the requests that wait: a burst on an idle batcher is refused only beyond what the free slots take at once', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: number) => x * 10, 10);
  const batcher = new DynamicBatcher<number, number>({ clock, maxBatchSize: 2, maxQueueSize: 2, concurrency: 2, execute });
  const { drops } = events(batcher);
  const burst = Array.from({ length: 7 }, (_, i) => track(batcher.submit(i))); // one tick
  await clock.flush();
  assert.deepEqual(calls.map((c) => [c.at, c.requests, c.context.reason]), [
    [0, [0, 1], 'full'],
    [0, [2, 3], 'full'],
  ]);
  assert.equal(batcher.queued, 2);
  assert.deepEqual(burst.map((b) => b.state), ['pending', 'pending', 'pending', 'pending', 'pending', 'pending', 'rejected']);
  assert.ok(burst[6]!.error instanceof QueueFullError);
  assert.deepEqual(drops.map((d) => d.reason), ['queue-full']);
  await clock.advanceAsync(20);
  assert.deepEqual(burst.slice(0, 6).map((b) => b.value), [0, 10, 20, 30, 40, 50]);
  assert.deepEqual(calls.map((c) => c.requests), [[0, 1], [2, 3], [4, 5]]);
});

test('a request that finds its level full dispatches within its submit in priority order: a higher level already queued goes first, one arriving later in the tick goes next', async () => {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (x: string) => x.toUpperCase(), 10);
  const batcher = new DynamicBatcher<string, string>({ clock, maxBatchSize: 1, maxQueueSize: 1, priorityLevels: 2, execute });
  const high = track(batcher.submit('high', { priority: 1 }));
  const low = track(batcher.submit('low', { priority: 2 }));
  const full = track(batcher.submit('full', { priority: 2 })); // level 2 is full: dispatches 'high', still full
  assert.deepEqual(calls.map((c) => c.requests), [['high']], 'dispatched within submit(), before any microtask');
  await clock.flush();
  assert.ok(full.error instanceof QueueFullError);

  await clock.advanceAsync(20); // 'low' has run: the batcher is idle
  const first = track(batcher.submit('first', { priority: 2 }));
  const second = track(batcher.submit('second', { priority: 2 })); // level 2 full ('first'): 'first' goes now, 'second' waits
  const later = track(batcher.submit('later', { priority: 1 })); // same tick, after that dispatch: next
  await clock.advanceAsync(100);
  assert.deepEqual(calls.map((c) => c.requests), [['high'], ['low'], ['first'], ['later'], ['second']]);
  assert.deepEqual([high, low, first, second, later].map((t) => t.value), ['HIGH', 'LOW', 'FIRST', 'SECOND', 'LATER']);
});
