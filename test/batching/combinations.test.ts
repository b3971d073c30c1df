/**
 * Rules in combination: a split request with timeouts ('reject' and 'delay'), cancellation, a
 * failing part, batch keys and priorities, each checked against docs/batching.md, and the counts
 * that must balance (every request answered once, the queue empty, no timer left, the events'
 * items equal to the items run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatcherOptions } from '../../src/batching/index.js';
import { CancelledError, DeadlineExceededError } from '../../src/core/index.js';
import { FakeClock, events, recorder, track } from './helpers.js';

/** A request of `n` rows tagged `id`; split into parts of rows, merged by concatenation. */
interface Rows {
  readonly id: string;
  readonly rows: readonly number[];
  readonly key?: string;
}

const rows = (id: string, n: number, key?: string): Rows => ({ id, rows: Array.from({ length: n }, (_, i) => i), key });

function rowBatcher(
  clock: FakeClock,
  options: Partial<BatcherOptions<Rows, string[]>>,
  latencyMs: number | ((requests: readonly Rows[]) => number) = 10,
  fails?: (r: Rows) => boolean,
) {
  const { calls, execute } = recorder(
    clock,
    (r: Rows) => (fails?.(r) ? new Error(`${r.id} failed`) : r.rows.map((x) => `${r.id}:${x}`)),
    latencyMs,
  );
  const batcher = new DynamicBatcher<Rows, string[]>({
    clock,
    maxBatchSize: 4,
    sizeOf: (r) => r.rows.length,
    split: (r, sizes) => {
      let at = 0;
      return sizes.map((n) => ({ ...r, rows: r.rows.slice(at, (at += n)) }));
    },
    merge: (parts) => parts.flat(),
    execute,
    ...options,
  });
  const shapes = () => calls.map((c) => c.requests.map((r) => `${r.id}${r.rows.length}`).join('+'));
  return { calls, batcher, shapes, ...events(batcher) };
}

/** Every batch event's items add up to the items the execute calls ran. */
function assertBalanced(batcher: DynamicBatcher<Rows, string[]>, clock: FakeClock, calls: { requests: readonly Rows[] }[], batches: { size: number }[]) {
  assert.equal(batcher.queued, 0, 'nothing queued');
  assert.equal(batcher.queuedItems, 0, 'no item queued');
  assert.equal(batcher.inFlight, 0, 'nothing running');
  assert.equal(clock.pending, 0, 'no timer left');
  const ran = calls.reduce((n, c) => n + c.requests.reduce((m, r) => m + r.rows.length, 0), 0);
  assert.equal(batches.reduce((n, b) => n + b.size, 0), ran, 'the events count the items run');
}

test("a split request whose 'reject' timeout fires while a part runs is rejected at once; its queued part never runs, the request behind it goes alone", async () => {
  const clock = new FakeClock();
  const { calls, batcher, shapes, batches, drops } = rowBatcher(clock, {});
  const big = track(batcher.submit(rows('R', 10), { timeoutMs: 15 }));
  const small = track(batcher.submit(rows('S', 1)));
  await clock.advanceAsync(15);
  assert.ok(big.error instanceof DeadlineExceededError, `rejected with DeadlineExceededError, got ${String(big.error)}`);
  assert.equal((big.error as DeadlineExceededError).fromModel, false);
  assert.deepEqual(drops, [{ reason: 'timeout', queueMs: 0, stage: 'running' }]);
  assert.equal(batcher.queued, 1, 'only S waits');
  await clock.advanceAsync(100);
  assert.deepEqual(small.value, ['S:0']);
  assert.deepEqual(shapes(), ['R4', 'R4', 'S1']);
  assert.deepEqual(
    batches.map((b) => [b.reason, b.size, b.discardedAt, b.discardedItems]),
    [
      ['full', 4, [], 0],
      ['full', 4, [0], 4],
      ['delay', 1, [], 0],
    ],
  );
  assert.equal(calls[1]!.context.signal.aborted, true, "the running part's signal is aborted: nothing waits for it");
  assertBalanced(batcher, clock, calls, batches);
});

test("a split request whose 'delay' timeout passes while a part runs keeps its parts, behind the request that has not timed out, and is answered in order", async () => {
  const clock = new FakeClock();
  const { calls, batcher, shapes, batches, drops } = rowBatcher(clock, { timeoutAction: 'delay' });
  const big = track(batcher.submit(rows('R', 10), { timeoutMs: 15 }));
  const small = track(batcher.submit(rows('S', 1)));
  await clock.advanceAsync(200);
  assert.deepEqual(big.value, rows('R', 10).rows.map((x) => `R:${x}`));
  assert.deepEqual(small.value, ['S:0']);
  // R's last part timed out at 15 ms, so S, which has not, goes before it in the batch at 20.
  assert.deepEqual(shapes(), ['R4', 'R4', 'S1+R2']);
  assert.deepEqual(drops, []);
  assert.deepEqual(batches.map((b) => b.queueMs), [[0], [10], [20, 20]]);
  assertBalanced(batcher, clock, calls, batches);
});

test('cancelling a split request whose part shares a running batch: the other request is answered, the queued part never runs, the part is discarded', async () => {
  const clock = new FakeClock();
  const { calls, batcher, shapes, batches, drops } = rowBatcher(clock, {});
  const blocker = track(batcher.submit(rows('B', 4)));
  await clock.flush();
  const q = track(batcher.submit(rows('Q', 1)));
  const controller = new AbortController();
  const big = track(batcher.submit(rows('R', 6), { signal: controller.signal })); // parts of 3 (filling Q's batch) and 3
  await clock.advanceAsync(15); // Q + R3 runs from 10
  controller.abort();
  await clock.flush();
  assert.ok(big.error instanceof CancelledError, `rejected with CancelledError, got ${String(big.error)}`);
  assert.deepEqual(drops, [{ reason: 'cancelled', queueMs: 10, stage: 'running' }]);
  assert.equal(calls[1]!.context.signal.aborted, false, 'Q still waits for the batch');
  await clock.advanceAsync(100);
  assert.deepEqual([blocker.value, q.value], [['B:0', 'B:1', 'B:2', 'B:3'], ['Q:0']]);
  assert.deepEqual(shapes(), ['B4', 'Q1+R3']);
  assert.deepEqual(batches.map((b) => [b.reason, b.size, b.queueMs, b.discardedAt, b.discardedItems]), [
    ['full', 4, [0], [], 0],
    ['full', 4, [10, 10], [1], 3],
  ]);
  assertBalanced(batcher, clock, calls, batches);
});

test("a split request's part answered with an Error fails that request alone: the other request of its batch and another key's batch beside are answered, its queued part never runs", async () => {
  const clock = new FakeClock();
  const { calls, batcher, shapes, batches, drops } = rowBatcher(clock, { concurrency: 2, batchKey: (r) => r.key }, 10, (r) => r.id === 'R' && r.rows[0] === 0);
  const q = track(batcher.submit(rows('Q', 1, 'k')));
  const other = track(batcher.submit(rows('O', 2, 'j')));
  const big = track(batcher.submit(rows('R', 6, 'k'))); // parts of 3 (filling Q's batch) and 3
  await clock.advanceAsync(100);
  assert.deepEqual(shapes(), ['Q1+R3', 'O2']);
  assert.deepEqual(q.value, ['Q:0']);
  assert.deepEqual(other.value, ['O:0', 'O:1']);
  assert.equal((big.error as Error).message, 'R failed');
  assert.deepEqual(drops, []);
  // O's key goes at once beside Q's full batch; R's second part waits for a slot and is dropped with its request.
  assert.deepEqual(batches.map((b) => [b.reason, b.size, b.failedAt, b.failedItems]), [
    ['full', 4, [1], 3],
    ['delay', 2, [], 0],
  ]);
  assertBalanced(batcher, clock, calls, batches);
});

test('close() with parts queued runs them (reason drain) and refuses new requests; close resolves when the last part ends', async () => {
  const clock = new FakeClock();
  const { calls, batcher, shapes, batches } = rowBatcher(clock, { maxQueueDelayMs: 100 });
  const big = track(batcher.submit(rows('R', 10)));
  await clock.advanceAsync(5);
  const s = track(batcher.submit(rows('S', 1)));
  const closed = track(batcher.close());
  const late = track(batcher.submit(rows('T', 1)));
  await clock.advanceAsync(24);
  assert.equal(closed.state, 'pending', 'the last part still runs');
  await clock.advanceAsync(1);
  assert.equal(closed.state, 'resolved');
  assert.equal((late.error as Error).name, 'ClosedError');
  assert.deepEqual(big.value, rows('R', 10).rows.map((x) => `R:${x}`));
  assert.deepEqual(s.value, ['S:0']);
  assert.deepEqual(shapes(), ['R4', 'R4', 'R2+S1']);
  assert.deepEqual(calls.map((c) => [c.at, c.context.reason]), [
    [0, 'full'],
    [10, 'drain'],
    [20, 'drain'],
  ]);
  assertBalanced(batcher, clock, calls, batches);
});

test("per-level policies with split requests: the high level keeps its own longer timeout (override allowed) and its last part waits out the delay; the low level's is cut to its default, and its last part goes early for it (reason deadline)", async () => {
  const clock = new FakeClock();
  const { calls, batcher } = rowBatcher(
    clock,
    {
      maxQueueDelayMs: 100,
      concurrency: 2,
      batchKey: (r) => r.key,
      priorityLevels: 2,
      defaultPriority: 2,
      defaultTimeoutMs: 50,
      queuePolicies: { 1: { allowTimeoutOverride: true } },
    },
    (rs: readonly Rows[]) => 2.5 * rs.reduce((n, r) => n + r.rows.length, 0),
  );
  const { drops } = events(batcher);
  await Promise.all([batcher.submit(rows('W', 4, 'a')), clock.advanceAsync(10)]); // a batch of 4 takes 10 ms
  const t0 = clock.now();
  const high = track(batcher.submit(rows('H', 5, 'a'), { priority: 1, timeoutMs: 200 }));
  const low = track(batcher.submit(rows('L', 5, 'b'), { timeoutMs: 500 }));
  await clock.advanceAsync(300);
  // L's 50 ms, less 1.5 × the 2.5 ms its last part of 1 item takes: it goes at 46.25.
  assert.deepEqual(calls.slice(1).map((c) => [c.at - t0, c.requests.map((r) => `${r.id}${r.rows.length}`).join('+'), c.context.reason]), [
    [0, 'H4', 'full'],
    [0, 'L4', 'full'],
    [46.25, 'L1', 'deadline'],
    [100, 'H1', 'delay'],
  ]);
  assert.deepEqual(high.value, rows('H', 5).rows.map((x) => `H:${x}`));
  assert.deepEqual(low.value, rows('L', 5).rows.map((x) => `L:${x}`));
  assert.deepEqual(drops, []);
  assert.equal(clock.pending, 0, 'no timer left');
});

test("a split request's first part fills the batch of a low request aged up ahead of it, and the requests are answered in order", async () => {
  const clock = new FakeClock();
  const { calls, batcher, shapes, batches } = rowBatcher(clock, { priorityLevels: 2, defaultPriority: 2, agingMs: 20 }, 30);
  const a = track(batcher.submit(rows('A', 4), { priority: 1 }));
  await clock.advanceAsync(1);
  const low = track(batcher.submit(rows('L', 1)));
  await clock.advanceAsync(24); // L has aged up to level 1
  const big = track(batcher.submit(rows('R', 6), { priority: 1 })); // parts of 3 (beside L) and 3
  await clock.advanceAsync(200);
  assert.deepEqual(shapes(), ['A4', 'L1+R3', 'R3']);
  assert.deepEqual(calls.map((c) => [c.at, c.context.reason]), [
    [0, 'full'],
    [30, 'full'],
    [60, 'delay'],
  ]);
  assert.deepEqual([a.value?.length, low.value, big.value], [4, ['L:0'], rows('R', 6).rows.map((x) => `R:${x}`)]);
  assertBalanced(batcher, clock, calls, batches);
});
