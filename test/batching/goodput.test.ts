import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { goodputBatch } from '../../src/batching/goodput.js';
import { BatchQueue, type QueueEntry } from '../../src/batching/queue.js';
import { OverloadedError } from '../../src/core/index.js';
import { FakeClock, events, recorder, track } from './helpers.js';

/** A request of `n` items; requests of different `key`s never share a batch. */
type Req = { id: string; n: number; key: string };

/**
 * An adaptive batcher (one instance, `maxBatchSize: 8`, `maxLatencyMs: 50`) whose batches take
 * 3·items + 2 ms, fitted on batches of 1 and 3 items.
 */
async function fitted() {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (r: Req) => r.id, (rs) => 3 * rs.reduce((n, r) => n + r.n, 0) + 2);
  const batcher = new DynamicBatcher<Req, string>({ clock, maxBatchSize: 8, maxLatencyMs: 50, sizeOf: (r) => r.n, batchKey: (r) => r.key, execute });
  await Promise.all([batcher.submit({ id: 'w1', n: 1, key: 'w' }), clock.advanceAsync(10)]);
  await Promise.all([batcher.submit({ id: 'w3', n: 3, key: 'w' }), clock.advanceAsync(20)]);
  assert.deepEqual([batcher.runTime.perItemMs, batcher.runTime.overheadMs], [3, 2]);
  return { clock, calls, batcher, ...events(batcher) };
}

test('under a backlog, adaptive mode runs the batch that answers the most requests within the objective, not the most items', async () => {
  const { clock, calls, batcher } = await fitted();
  const start = clock.now();
  // Two batches of another key hold the only instance for 26 + 14 = 40 ms.
  const busy = [track(batcher.submit({ id: 'b8', n: 8, key: 'b' })), track(batcher.submit({ id: 'b4', n: 4, key: 'b' }))];
  await clock.advanceAsync(0.5);
  const old = ['o1', 'o2'].map((id) => track(batcher.submit({ id, n: 1, key: 'o' })));
  await clock.advanceAsync(19.5);
  const big = track(batcher.submit({ id: 'y8', n: 8, key: 'o' }));
  await clock.advanceAsync(20);
  // At 40 ms the two old requests have waited 39.5 ms and can share a batch of at most
  // floor((50 - 39.5 - 2) / 3) = 2 items; the request of 8 items, 20 ms old, fits a full batch
  // (26 ms). Two requests answered in time beat one, however many items it holds: it is shed at
  // its latest start, 20 + 50 - 26 = 44 ms, while they run.
  assert.deepEqual(calls.at(-1)!.requests.map((r) => r.id), ['o1', 'o2']);
  assert.equal(calls.at(-1)!.at - start, 40);
  await clock.advanceAsync(100);
  assert.deepEqual([...busy, ...old].map((r) => r.state), ['resolved', 'resolved', 'resolved', 'resolved']);
  assert.equal(big.state, 'rejected');
  assert.ok(big.error instanceof OverloadedError);
});

/** A queue entry of `size` items queued at `enqueuedAt`, answering `share` of its request. */
interface Part extends QueueEntry<Part> {
  readonly name: string;
  readonly share: number;
}

test('goodput counts a part of a split request as its share of the request', () => {
  const queue = new BatchQueue<Part>(1, undefined);
  const part = (name: string, seq: number, enqueuedAt: number, share: number): Part => {
    const entry: Part = { name, share, key: undefined, level: 1, seq, enqueuedAt, size: 1, timed: false, prev: undefined, next: undefined, list: undefined };
    queue.push(entry);
    return entry;
  };
  // A whole request that can share a batch of 1 item, then two of the four parts of a younger request.
  const old = part('old', 0, 0, 1);
  part('p0', 1, 20, 1 / 4);
  part('p1', 2, 20, 1 / 4);
  const group = queue.groups().next().value!;
  const batch = goodputBatch({
    queue,
    group,
    now: 30,
    maxBatchSize: 4,
    allowanceOf: (waitedMs) => (waitedMs > 20 ? 1 : 4),
    entries: [old],
    cap: 1,
    shareOf: (entry) => entry.share,
  });
  // Half a request does not beat a whole one, though it is two entries.
  assert.deepEqual([batch.entries.map((e) => e.name), batch.cap], [['old'], 1]);
});
