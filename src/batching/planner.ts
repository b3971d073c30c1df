/**
 * When a slot is free, decides which batch goes next and why, or until when to wait. Pure apart
 * from shedding (adaptive mode), which it asks the batcher to do.
 */
import { adaptiveDispatchAt, type ArrivalRate, type LatencyModel } from './adaptive.js';
import type { Entry } from './job.js';
import type { ResolvedOptions } from './options.js';
import type { BatchQueue, Group } from './queue.js';
import type { DispatchReason } from './types.js';

/** How many predicted run times a timed request must have left when its batch goes. */
const DEADLINE_MARGIN = 1.5;

/** A batch to dispatch. */
export interface Dispatch<Req, Res> {
  readonly entries: Entry<Req, Res>[];
  readonly reason: DispatchReason;
}

/** What a plan is made from. */
export interface PlanContext<Req, Res> {
  now: number;
  readonly options: ResolvedOptions<Req, Res>;
  readonly queue: BatchQueue<Entry<Req, Res>>;
  readonly model: LatencyModel;
  readonly arrivals: ArrivalRate;
  /** Flush everything now (drain or close). */
  draining: boolean;
  /** Batches that could start now (concurrency less those in flight). */
  freeSlots: number;
  /** Rejects a queued entry that cannot finish within `maxLatencyMs` (adaptive mode). */
  readonly shed: (entry: Entry<Req, Res>) => void;
}

/**
 * The batches to run now (one, or in adaptive mode one group's requests spread over free
 * instances), or the time to look again (Infinity: nothing to wait for but new events). Among
 * groups ready to go, the one whose first request ranks highest goes first.
 */
export function plan<Req, Res>(ctx: PlanContext<Req, Res>): Dispatch<Req, Res>[] | number {
  let best: Dispatch<Req, Res> | undefined;
  let bestGroup: Group<Entry<Req, Res>> | undefined;
  let wakeAt = Infinity;
  for (const group of ctx.queue.groups()) {
    const decision = planGroup(group, ctx);
    if (typeof decision === 'number') wakeAt = Math.min(wakeAt, decision);
    else if (!best || ctx.queue.precedes(decision.entries[0]!, best.entries[0]!, ctx.now)) {
      best = decision;
      bestGroup = group;
    }
  }
  if (!best) return wakeAt;
  return ctx.options.maxLatencyMs !== undefined && bestGroup!.size === best.entries.length ? spread(best, bestGroup!.items, ctx) : [best];
}

/**
 * Splits a batch that empties its group into up to `freeSlots` batches of nearly equal items, in
 * order, when that pays: k batches finish a·n·(1 - 1/k) sooner than one and cost (k - 1)·b more
 * instance time, so k grows while the time saved exceeds the time added. With a small fixed cost
 * (the text-direction classifier: a ≈ 0.55 ms, b ≈ 0.5 ms) 8 requests on 2 idle instances go as
 * 2 × 4; with a large one (b = 21 ms, a = 1 ms) 11 requests stay one batch, since spreading them
 * would spend the capacity later arrivals need. Instances are assumed to run in parallel.
 *
 * While recent batches all had one size (a closed loop settles into that) there is no slope to
 * decide by; the batch is then split in two, which is also how the model learns the slope.
 */
function spread<Req, Res>(batch: Dispatch<Req, Res>, items: number, ctx: PlanContext<Req, Res>): Dispatch<Req, Res>[] {
  const { model } = ctx;
  if (ctx.freeSlots < 2 || batch.entries.length < 2 || model.meanRunMs === undefined) return [batch];
  let k = 1;
  if (!model.fitted) k = 2;
  else {
    const a = model.perItemMs;
    const b = model.overheadMs;
    while (k < Math.min(ctx.freeSlots, batch.entries.length) && k * b < a * items * (1 - 1 / (k + 1))) k++;
  }
  if (k === 1) return [batch];
  const share = Math.ceil(items / k);
  const batches: Dispatch<Req, Res>[] = [];
  let entries: Entry<Req, Res>[] = [];
  let filled = 0;
  for (const entry of batch.entries) {
    if (filled > 0 && filled + entry.size > share && batches.length < k - 1) {
      batches.push({ entries, reason: batch.reason });
      entries = [];
      filled = 0;
    }
    entries.push(entry);
    filled += entry.size;
  }
  batches.push({ entries, reason: batch.reason });
  return batches;
}

function planGroup<Req, Res>(group: Group<Entry<Req, Res>>, ctx: PlanContext<Req, Res>): Dispatch<Req, Res> | number {
  const { now, options: o, queue, model } = ctx;
  if (o.maxLatencyMs !== undefined && model.meanRunMs !== undefined) {
    shedHopeless(group, ctx, o.maxLatencyMs);
    if (group.size === 0) return Infinity;
  }
  const cap = o.maxLatencyMs === undefined ? o.maxBatchSize : latencyCap(group, ctx, o.maxLatencyMs);
  if (ctx.draining) return { entries: queue.take(group, now, cap), reason: 'drain' };
  if (group.items >= cap) return { entries: queue.take(group, now, cap), reason: cap < o.maxBatchSize ? 'adaptive' : 'full' };

  // Not full: the candidate batch is the whole group.
  let entries: Entry<Req, Res>[] | undefined;
  if (o.preferred) {
    entries = queue.take(group, now, cap);
    let items = 0;
    let preferred = 0;
    for (let i = 0; i < entries.length; i++) {
      items += entries[i]!.size;
      if (o.preferred[items]) preferred = i + 1;
    }
    if (preferred > 0) return { entries: entries.slice(0, preferred), reason: 'preferred' };
  }

  const oldestAt = queue.oldest(group);
  let at: number;
  let reason: DispatchReason;
  if (o.maxLatencyMs !== undefined) {
    reason = 'adaptive';
    at = adaptiveDispatchAt({
      now,
      items: group.items,
      maxBatchSize: o.maxBatchSize,
      oldestAt,
      maxLatencyMs: o.maxLatencyMs,
      maxWaitMs: o.maxQueueDelayMs,
      model,
      arrivals: ctx.arrivals,
    });
  } else {
    reason = 'delay';
    at = oldestAt + (o.maxQueueDelayMs ?? 0);
  }
  // Waiting must leave a timed request time to run, with a margin for run-time noise; before any
  // batch ran there is no estimate, and its own deadline timer answers it first.
  if (group.timed > 0 && model.meanRunMs !== undefined && at > now) {
    entries ??= queue.take(group, now, cap);
    const runMs = DEADLINE_MARGIN * model.estimate(group.items);
    for (const entry of entries) {
      if (entry.timed && entry.job.deadline - runMs < at) {
        at = entry.job.deadline - runMs;
        reason = 'deadline';
      }
    }
  }
  return at <= now ? { entries: entries ?? queue.take(group, now, cap), reason } : at;
}

/**
 * The most items a batch may hold so that the longest-waiting request still finishes within the
 * objective; never less than the first request, never more than `maxBatchSize`.
 */
function latencyCap<Req, Res>(group: Group<Entry<Req, Res>>, ctx: PlanContext<Req, Res>, maxLatencyMs: number): number {
  const { model, options, queue, now } = ctx;
  if (model.perItemMs <= 0) return options.maxBatchSize;
  const fits = Math.floor((maxLatencyMs - (now - queue.oldest(group)) - model.overheadMs) / model.perItemMs);
  return Math.min(options.maxBatchSize, Math.max(fits, queue.first(group, now)!.size));
}

/**
 * Rejects the longest-waiting requests that could not finish within the objective even if they
 * ran alone now. Each list is in arrival order, so the scan stops at the first that still can.
 */
function shedHopeless<Req, Res>(group: Group<Entry<Req, Res>>, ctx: PlanContext<Req, Res>, maxLatencyMs: number): void {
  for (const list of group.lists) {
    for (let entry = list.head; entry; entry = list.head) {
      if (ctx.now - entry.enqueuedAt + ctx.model.estimate(entry.size) <= maxLatencyMs) break;
      ctx.shed(entry);
    }
  }
}
