import type { BatchQueue, QueueEntry } from './queue.js';

/**
 * How many items still fit in the last batch that the entries going before a new request of
 * `level` and batch key `key` fill, packed in dispatch order up to `maxBatchSize` as the queue
 * packs them (a batch stops before the first entry that does not fit); 0 when nothing of the key
 * waits or that batch is full. A split request's first part takes this many items, so it completes
 * that batch, as TF Serving's large batch splitting fills its open batch first.
 * It walks the entries ahead, so it is for the split path only, never for every request.
 */
export function openBatchRoom<E extends QueueEntry<E>>(queue: BatchQueue<E>, key: unknown, level: number, maxBatchSize: number, now: number): number {
  const group = queue.group(key);
  if (!group) return 0;
  let items = 0;
  // A new entry has the latest seq, so whatever ranks at its level or above goes before it.
  for (const entry of queue.order(group, now)) {
    if (queue.rank(entry, now) > level) break;
    items = items + entry.size > maxBatchSize ? entry.size : items + entry.size;
  }
  return items === 0 ? 0 : maxBatchSize - items;
}
