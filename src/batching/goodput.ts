/**
 * Adaptive mode under a backlog: which requests the next batch should hold so that the most items
 * finish within `maxLatencyMs` (goodput), rather than only as many as the oldest can afford.
 */
import type { BatchQueue, Group, QueueEntry } from './queue.js';

/** What {@link goodputBatch} decides from. */
export interface GoodputState<E extends QueueEntry<E>> {
  readonly queue: BatchQueue<E>;
  readonly group: Group<E>;
  readonly now: number;
  readonly maxBatchSize: number;
  /** The most items a request that has waited this long may share a batch with (see `allowance`). */
  readonly allowanceOf: (waitedMs: number) => number;
  /** The batch the oldest request can afford: the group's first entries up to `cap` items. */
  readonly entries: E[];
  readonly cap: number;
}

/**
 * The batch that serves the most items in time, and the cap it was formed under. Each entry may
 * join a batch of at most its allowance (see `allowance` in adaptive.ts). A batch
 * under a cap above the given one holds, in dispatch order, the entries whose allowance reaches
 * that cap and skips the rest, which stay queued and are shed at their latest start unless a
 * free slot serves them first. Once it skips an entry it takes none of a lower (effective) level,
 * so no request is passed over for one that ranks below it. Ties go to the smaller cap, so the
 * given batch, the oldest requests, goes whenever skipping gains nothing.
 */
export function goodputBatch<E extends QueueEntry<E>>(state: GoodputState<E>): { entries: E[]; cap: number } {
  const { queue, group, now, maxBatchSize } = state;
  const entries: E[] = [];
  const allowances: number[] = [];
  const ranks: number[] = [];
  // Entries every cap admits end the scan once they fill a batch: no cap looks past them.
  let admitted = 0;
  for (const entry of queue.order(group, now)) {
    const allowance = state.allowanceOf(now - entry.enqueuedAt);
    entries.push(entry);
    allowances.push(allowance);
    ranks.push(queue.rank(entry, now));
    if (allowance >= maxBatchSize && (admitted += entry.size) >= maxBatchSize) break;
  }
  // Between two allowances the entries admitted are the same, so only allowances need trying.
  const caps = [...new Set(allowances.map((a) => Math.min(a, maxBatchSize)))].filter((c) => c > state.cap).sort((x, y) => x - y);
  let best = { entries: state.entries, cap: state.cap };
  let bestItems = itemsOf(state.entries);
  for (const cap of caps) {
    const batch: E[] = [];
    let items = 0;
    let skippedRank = Infinity;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (ranks[i]! > skippedRank) break;
      if (allowances[i]! < cap) {
        skippedRank = Math.min(skippedRank, ranks[i]!);
        continue;
      }
      if (items + entry.size > cap) break;
      batch.push(entry);
      items += entry.size;
    }
    if (items > bestItems) {
      best = { entries: batch, cap };
      bestItems = items;
    }
  }
  return best;
}

function itemsOf<E extends QueueEntry<E>>(entries: readonly E[]): number {
  let items = 0;
  for (const entry of entries) items += entry.size;
  return items;
}
