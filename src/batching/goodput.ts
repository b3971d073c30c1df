/**
 * Adaptive mode under a backlog: which requests the next batch should hold so that the most
 * requests are answered within `maxLatencyMs` (goodput), rather than only as many as the oldest
 * can afford. The objective is per request, so goodput counts requests, not items: a request of 8
 * items answered in time is one client served, as is a request of 1.
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
  /** The share of a request an entry answers: 1, or 1/k for each of a request split into k parts. */
  readonly shareOf: (entry: E) => number;
}

/** Shares of requests summed in floating point; closer than this, two batches answer as many. */
const EPSILON = 1e-9;

/**
 * The batch that answers the most requests in time (a split request's part counting as its share),
 * and the cap it was formed under. Each entry may join a batch of at most its allowance (see
 * `allowance` in adaptive.ts). A batch under a cap above the given one holds, in dispatch order,
 * the entries whose allowance reaches that cap and skips the rest, which stay queued and are shed
 * at their latest start unless a free slot serves them first. Once it skips an entry it takes none
 * of a lower (effective) level, so no request is passed over for one that ranks below it. Ties go
 * to the smaller cap, so the given batch, the oldest requests, goes whenever skipping gains
 * nothing.
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
  let bestRequests = requestsOf(state.entries, state.shareOf);
  for (const cap of caps) {
    const batch: E[] = [];
    let items = 0;
    let requests = 0;
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
      requests += state.shareOf(entry);
    }
    if (requests > bestRequests + EPSILON) {
      best = { entries: batch, cap };
      bestRequests = requests;
    }
  }
  return best;
}

function requestsOf<E extends QueueEntry<E>>(entries: readonly E[], shareOf: (entry: E) => number): number {
  let requests = 0;
  for (const entry of entries) requests += shareOf(entry);
  return requests;
}
