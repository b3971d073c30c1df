import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchQueue, type QueueEntry } from '../../src/batching/queue.js';

interface Item extends QueueEntry<Item> {
  readonly key: number;
}

/** A pseudo-random generator, so a failing seed can be replayed. */
function random(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
}

/**
 * What batchesBefore counts, from the dispatch order itself: per key, the entries `order` yields
 * before the level's first (with none of the level, those ranking at the level or above).
 */
function oracle(queue: BatchQueue<Item>, level: number, maxBatchSize: number, now: number): { batches: number; items: number } {
  let batches = 0;
  let items = 0;
  for (const group of queue.groups()) {
    const order = [...queue.order(group, now)];
    const at = order.findIndex((e) => e.level === level);
    const before = at < 0 ? order.filter((e) => queue.rank(e, now) <= level) : order.slice(0, at);
    const sum = before.reduce((n, e) => n + e.size, 0);
    const full = Math.floor(sum / maxBatchSize);
    batches += at < 0 ? Math.ceil(sum / maxBatchSize) : full;
    items += at < 0 ? sum : full * maxBatchSize;
  }
  return { batches, items };
}

test('batchesBefore counts what the dispatch order puts before the level, over random queues of keys, levels, aging, delayed and removed entries', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = random(seed);
    const levels = 1 + Math.floor(rnd() * 3);
    const queue = new BatchQueue<Item>(levels, rnd() < 0.8 ? 5 + Math.floor(rnd() * 10) : undefined);
    const entries: Item[] = [];
    let t = 0;
    for (let seq = 0, n = Math.floor(rnd() * 60); seq < n; seq++) {
      t += Math.floor(rnd() * 3);
      const entry: Item = {
        key: Math.floor(rnd() * 3),
        level: 1 + Math.floor(rnd() * levels),
        seq,
        enqueuedAt: t,
        size: 1 + Math.floor(rnd() * 4),
        timed: false,
        prev: undefined,
        next: undefined,
        list: undefined,
      };
      queue.push(entry);
      entries.push(entry);
    }
    for (const entry of entries) {
      const r = rnd();
      if (r < 0.15) queue.demote(entry);
      else if (r < 0.25) queue.remove(entry);
    }
    const now = t + Math.floor(rnd() * 40);
    const maxBatchSize = 1 + Math.floor(rnd() * 6);
    for (let level = 1; level <= levels; level++) {
      assert.deepEqual(queue.batchesBefore(level, maxBatchSize, now), oracle(queue, level, maxBatchSize, now), `seed ${seed}, level ${level}`);
    }
  }
});
