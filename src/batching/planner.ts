/**
 * When a slot is free, decides which batch goes next and why, or until when to wait; in adaptive
 * mode, also which queued requests to shed, which it asks the batcher to do. Pure apart from that.
 */
import { allowance, noiseMarginMs, nothingFits, partsRunMs, type LatencyModel } from './adaptive.js';
import { adaptiveDispatchAt, type ArrivalRate } from './adaptive-dispatch.js';
import { goodputBatch } from './goodput.js';
import type { Entry } from './job.js';
import type { ResolvedOptions } from './options.js';
import type { BatchQueue, Group } from './queue.js';
import type { DispatchReason } from './types.js';

/** How many predicted run times a timed request must have left when its batch goes. */
const DEADLINE_MARGIN = 1.5;
/**
 * The least time a timed request must have left when its batch goes, whatever the prediction:
 * before any batch ran there is none, a sub-millisecond model predicts almost 0, and a real
 * timer fires on a 1 ms grid, so a wake-up closer to the deadline could come after it.
 */
const MIN_DEADLINE_MARGIN_MS = 2;

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
  /** Batches in flight. */
  running: number;
  /** Rejects a queued entry that cannot finish within `maxLatencyMs` (adaptive mode); `needMs`: the time it would still need once started. */
  readonly shed: (entry: Entry<Req, Res>, needMs: number) => void;
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
  let ready = 0;
  for (const group of ctx.queue.groups()) {
    const decision = planGroup(group, ctx);
    if (typeof decision === 'number') wakeAt = Math.min(wakeAt, decision);
    else {
      ready++;
      if (!best || ctx.queue.precedes(decision.entries[0]!, best.entries[0]!, ctx.now)) {
        best = decision;
        bestGroup = group;
      }
    }
  }
  if (!best) return wakeAt;
  // The other groups ready to go (other batch keys) each take an instance next: those are not idle.
  const idle = ctx.freeSlots - (ready - 1);
  return ctx.options.maxLatencyMs !== undefined && bestGroup!.size === best.entries.length ? spread(best, bestGroup!.items, idle, ctx) : [best];
}

/**
 * Adaptive mode, once a batch has been measured and this round's batches are out: sheds every
 * queued request that could finish within `maxLatencyMs` only by starting now, since it did not,
 * and returns when the next one reaches that point (Infinity: none queued). Runs whether or not a
 * slot is free, so a request stuck behind a stalled batch is answered early; the batcher arms its
 * one timer for the time returned.
 */
export function shedLate<Req, Res>(ctx: PlanContext<Req, Res>, maxLatencyMs: number): number {
  let next = Infinity;
  for (const group of ctx.queue.groups()) next = Math.min(next, shed(group, ctx, maxLatencyMs, true));
  return next;
}

/**
 * Splits a batch that empties its group into up to `idle` batches of nearly equal items, in
 * order, when that pays (`idle`: the free slots less one for each other group ready to go, since
 * spread over the slot it would take, one key's batch leaves another's to wait for a slot and run
 * with the rest idle): k batches finish a·n·(1 - 1/k) sooner than one and cost (k - 1)·b more
 * instance time, so k grows while the time saved exceeds the time added. With a small fixed cost
 * (the text-direction classifier: a ≈ 0.55 ms, b ≈ 0.5 ms) 8 requests on 2 idle instances go as
 * 2 × 4; with a large one (b = 21 ms, a = 1 ms) 11 requests stay one batch, since spreading them
 * would spend the capacity later arrivals need. Instances are assumed to run in parallel. A full
 * batch is weighed the same way: kept whole, 16 closed-loop callers whose answers came back
 * together stayed one batch of 16 on one instance for good while the other sat idle.
 *
 * While recent batches all had one size (a closed loop settles into that) there is no slope to
 * decide by; the batch is then split in two, which is also how the model learns the slope. A line
 * kept from before while they lie on it is not checked in its slope: one that said spreading never
 * pays (0·n + 7.3 ms, its first batches of 4 slowed on a loaded VM) kept 8 callers in batches of 8
 * on one instance of two for good. A batch of that one size the kept line would keep whole is
 * split in two as well, so the next fit is fresh: one split a window (50 batches) at most.
 */
function spread<Req, Res>(batch: Dispatch<Req, Res>, items: number, idle: number, ctx: PlanContext<Req, Res>): Dispatch<Req, Res>[] {
  const { model } = ctx;
  // A preferred size, full or not, is kept for fixed-shape engines.
  if (ctx.options.preferred?.has(items)) return [batch];
  if (idle < 2 || batch.entries.length < 2 || model.meanRunMs === undefined) return [batch];
  let k = 1;
  if (!model.fitted) k = 2;
  else {
    const a = model.perItemMs;
    const b = model.overheadMs;
    while (k < Math.min(idle, batch.entries.length) && k * b < a * items * (1 - 1 / (k + 1))) k++;
    // A line kept over batches of this one size alone is unchecked where it decides, in its slope.
    if (k === 1 && model.keptLine && items === model.meanItems) k = 2;
  }
  if (k === 1) return [batch];
  const share = Math.ceil(items / k);
  // Its parts are not full: adaptive mode split it.
  const reason = batch.reason === 'full' ? 'adaptive' : batch.reason;
  const batches: Dispatch<Req, Res>[] = [];
  let entries: Entry<Req, Res>[] = [];
  let filled = 0;
  for (const entry of batch.entries) {
    if (filled > 0 && filled + entry.size > share && batches.length < k - 1) {
      batches.push({ entries, reason });
      entries = [];
      filled = 0;
    }
    entries.push(entry);
    filled += entry.size;
  }
  batches.push({ entries, reason });
  return batches;
}

/** How many of `entries` make the largest prefix whose items are a preferred size; 0: none. */
function preferredPrefix<Req, Res>(entries: readonly Entry<Req, Res>[], preferred: ReadonlySet<number>): number {
  let items = 0;
  let count = 0;
  for (let i = 0; i < entries.length; i++) {
    items += entries[i]!.size;
    if (preferred.has(items)) count = i + 1;
  }
  return count;
}

/**
 * The preferred sizes that count for a batch whose oldest request was queued at `oldestAt`: none
 * once it has waited a `maxQueueDelayMs` that is not 0, as Triton reads its pending batch's delay
 * (never in adaptive mode, whose wait the objective bounds).
 */
function preferredFor<Req, Res>(oldestAt: number, ctx: PlanContext<Req, Res>): ReadonlySet<number> | undefined {
  const { preferred, maxQueueDelayMs = 0, maxLatencyMs } = ctx.options;
  const passed = maxLatencyMs === undefined && maxQueueDelayMs > 0 && ctx.now - oldestAt >= maxQueueDelayMs;
  return passed ? undefined : preferred;
}

function planGroup<Req, Res>(group: Group<Entry<Req, Res>>, ctx: PlanContext<Req, Res>): Dispatch<Req, Res> | number {
  const { now, options: o, queue, model } = ctx;
  if (o.maxLatencyMs !== undefined && model.meanRunMs !== undefined) {
    shed(group, ctx, o.maxLatencyMs, false);
    if (group.size === 0) return Infinity;
  }
  const cap = o.maxLatencyMs === undefined ? o.maxBatchSize : latencyCap(group, ctx, o.maxLatencyMs);
  if (ctx.draining) return { entries: backlogBatch(group, ctx, cap).entries, reason: 'drain' };
  if (group.items >= cap) {
    const batch = backlogBatch(group, ctx, cap);
    // As Triton does, a full batch goes as its largest preferred prefix when it is not a preferred size itself.
    const preferredSizes = o.preferred && preferredFor(batch.entries.reduce((at, entry) => Math.min(at, entry.enqueuedAt), Infinity), ctx);
    const preferred = preferredSizes ? preferredPrefix(batch.entries, preferredSizes) : 0;
    if (preferred > 0 && preferred < batch.entries.length) return { entries: batch.entries.slice(0, preferred), reason: 'preferred' };
    return { entries: batch.entries, reason: batch.cap < o.maxBatchSize ? 'adaptive' : 'full' };
  }

  // Not full: the candidate batch is the whole group.
  const oldestAt = queue.oldest(group);
  let entries: Entry<Req, Res>[] | undefined;
  const preferredSizes = o.preferred && preferredFor(oldestAt, ctx);
  if (preferredSizes) {
    entries = queue.take(group, now, cap);
    const preferred = preferredPrefix(entries, preferredSizes);
    if (preferred > 0) return { entries: entries.slice(0, preferred), reason: 'preferred' };
  }

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
      running: ctx.running,
    });
  } else {
    reason = 'delay';
    at = oldestAt + (o.maxQueueDelayMs ?? 0);
  }
  // Waiting must leave a timed request time to run, with a margin for run-time noise.
  if (group.timed > 0 && at > now) {
    entries ??= queue.take(group, now, cap);
    const marginMs = Math.max(MIN_DEADLINE_MARGIN_MS, DEADLINE_MARGIN * model.estimate(group.items));
    for (const entry of entries) {
      if (entry.timed && entry.job.deadline - marginMs < at) {
        at = entry.job.deadline - marginMs;
        reason = 'deadline';
      }
    }
  }
  return at <= now ? { entries: entries ?? queue.take(group, now, cap), reason } : at;
}

/**
 * The most items a batch may hold so that the longest-waiting request still finishes within the
 * objective; never less than the first request, never more than `maxBatchSize`.
 *
 * Under sustained overload every batch is full, and once the window holds nothing else the slope
 * is lost and with it the objective's hold on batch size; one batch of half the size restores it.
 * Half, not an item short: a line through batches of 15 and 16 alone is mostly noise.
 */
function latencyCap<Req, Res>(group: Group<Entry<Req, Res>>, ctx: PlanContext<Req, Res>, maxLatencyMs: number): number {
  const { model, options, queue, now } = ctx;
  if (!model.fitted && model.meanRunMs !== undefined && model.meanItems === options.maxBatchSize && options.maxBatchSize > 1) {
    return Math.max(Math.ceil(options.maxBatchSize / 2), queue.first(group, now)!.size);
  }
  if (model.perItemMs <= 0) return options.maxBatchSize;
  const fits = allowance(model, maxLatencyMs, now - queue.oldest(group));
  return Math.min(options.maxBatchSize, Math.max(fits, queue.first(group, now)!.size));
}

/**
 * The batch to run now from a group that may hold more than it: the first entries up to `cap`
 * items, or in adaptive mode, when more items wait than that, the batch that answers the most
 * requests in time (see {@link goodputBatch}).
 */
function backlogBatch<Req, Res>(group: Group<Entry<Req, Res>>, ctx: PlanContext<Req, Res>, cap: number): { entries: Entry<Req, Res>[]; cap: number } {
  const { now, options: o, queue, model } = ctx;
  const { maxLatencyMs } = o;
  const entries = queue.take(group, now, cap);
  if (maxLatencyMs === undefined || cap >= o.maxBatchSize || group.items <= cap || model.perItemMs <= 0) return { entries, cap };
  return goodputBatch({
    queue,
    group,
    now,
    maxBatchSize: o.maxBatchSize,
    allowanceOf: (waitedMs) => allowance(model, maxLatencyMs, waitedMs),
    entries,
    cap,
    shareOf: (entry) => 1 / entry.job.entries.length,
  });
}

/**
 * Adaptive mode: when the planner sheds the first of `level`'s queued requests that no batch has
 * taken by then, at the earliest latest start of the heads of its lists (each sheds in order), so
 * that its place frees; Infinity when none is due: no batch measured yet, or nothing fits on an
 * idle batcher, which then sheds nothing.
 */
export function levelShedAt<Req, Res>(ctx: PlanContext<Req, Res>, level: number, maxLatencyMs: number): number {
  const { model, options } = ctx;
  if (model.meanRunMs === undefined || (ctx.running === 0 && nothingFits(model, maxLatencyMs))) return Infinity;
  let at = Infinity;
  for (const group of ctx.queue.groups()) {
    for (const list of [group.lists[level - 1]!, group.lists[options.priorityLevels + level - 1]!]) {
      if (list.head) at = Math.min(at, list.head.enqueuedAt + maxLatencyMs - needMs(list.head, ctx));
    }
  }
  return at;
}

/**
 * Rejects the longest-waiting requests of a group whose latest start (the last moment they could
 * start alone and still finish within the objective, with the parts queued behind them when
 * split) is past, or has come when `orNow`, and returns the earliest latest start left. Each list
 * is in arrival order, and a split request's parts in order, so the scan stops at the first that
 * still has time.
 */
function shed<Req, Res>(group: Group<Entry<Req, Res>>, ctx: PlanContext<Req, Res>, maxLatencyMs: number, orNow: boolean): number {
  let next = Infinity;
  for (const list of group.lists) {
    for (let entry = list.head; entry; entry = list.head) {
      const runMs = needMs(entry, ctx);
      const latestStart = entry.enqueuedAt + maxLatencyMs - runMs;
      if (latestStart > ctx.now || (latestStart === ctx.now && !orNow)) {
        next = Math.min(next, latestStart);
        break;
      }
      if (ctx.running === 0 && nothingFits(ctx.model, maxLatencyMs)) break;
      ctx.shed(entry, runMs);
    }
  }
  return next;
}

/** The time a queued entry needs once started: its batch's predicted run time, the noise margin and its later parts. */
function needMs<Req, Res>(entry: Entry<Req, Res>, ctx: PlanContext<Req, Res>): number {
  return ctx.model.estimate(entry.size) + noiseMarginMs(ctx.model) + partsAfterMs(entry, ctx);
}

/**
 * How long the parts of a split request after `entry` take once it has run: the rounds of full
 * batches they need on every instance, beyond the one `entry` runs in. Shedding a part at its own
 * latest start alone would let the first parts run, only for a later one to miss the objective.
 */
function partsAfterMs<Req, Res>(entry: Entry<Req, Res>, ctx: PlanContext<Req, Res>): number {
  const left = entry.job.entries.length - entry.part;
  if (left <= 1) return 0;
  const { model, options } = ctx;
  return partsRunMs(model, left, options.maxBatchSize, ctx.freeSlots + ctx.running) - model.estimate(options.maxBatchSize);
}
