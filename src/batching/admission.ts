/**
 * What `submit` checks before a request joins the queue, and the errors it answers with: pure
 * functions of the options and the request.
 */
import { DeadlineExceededError, InvalidInputError, MAX_TIMER_MS, OverloadedError, QueueFullError, assertKnownKeys, assertObject, describe } from '../core/index.js';
import { allowance, noiseMarginMs, partsRunMs, type LatencyModel } from './adaptive.js';
import { DEFAULT_PRIORITY_LEVELS, type LevelPolicy, type ResolvedOptions } from './options.js';
import type { SubmitOptions } from './types.js';

/** The run time assumed for a batch before one has run, for `retryAfterMs`. */
const DEFAULT_RUN_MS = 100;

/** A request's checked place in the queue. */
export interface Admission {
  readonly level: number;
  readonly policy: LevelPolicy;
  /** Infinity when it has no timeout. */
  readonly timeoutMs: number;
  /** Whether `timeoutMs` is the level's `defaultTimeoutMs` rather than the request's own. */
  readonly modelTimeout: boolean;
  /** Items. */
  readonly size: number;
}

/** Every per-request option's name, so a misspelt one (`timeoutMS`) is refused, not ignored. */
const SUBMIT_KEYS = Object.keys({ signal: true, timeoutMs: true, priority: true } satisfies Record<keyof SubmitOptions, true>);

/** Checks that `options` is an object of known per-request options; throws TypeError naming the first that is not. */
export function checkSubmitOptions(options: SubmitOptions): void {
  assertObject('options', options);
  assertKnownKeys('submit()', options, SUBMIT_KEYS);
}

/**
 * Returns what `sizeOf` gave for a request once it is a positive whole number of items.
 * @throws InvalidInputError quoting it otherwise.
 * @internal Shared by the batcher and the registry's warm-up.
 */
export function checkSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) {
    throw new InvalidInputError(`Expected sizeOf(request) to be a positive integer number of items, got ${describe(size)}`);
  }
  return size;
}

/** Checks a request's priority, timeout and size; throws InvalidInputError saying what was wrong. */
export function admit<Req, Res>(o: ResolvedOptions<Req, Res>, request: Req, options: SubmitOptions): Admission {
  const level = levelOf(o, options.priority);
  const policy = o.policies[level - 1]!;
  const timeoutMs = timeoutOf(options.timeoutMs, policy);
  const modelTimeout = timeoutMs !== options.timeoutMs;
  const size = o.sizeOf ? checkSize(o.sizeOf(request)) : 1;
  if (size > o.maxBatchSize && !o.split) {
    throw new InvalidInputError(`The request holds ${size} items, more than maxBatchSize (${o.maxBatchSize})`);
  }
  if (size > o.maxRequestItems) {
    throw new InvalidInputError(`The request holds ${size} items, more than maxRequestItems (${o.maxRequestItems}) allows in one request`);
  }
  return { level, policy, timeoutMs, modelTimeout, size };
}

function levelOf<Req, Res>(o: ResolvedOptions<Req, Res>, priority: unknown): number {
  if (priority === undefined) return o.defaultPriority;
  checkPriority(priority, o.priorityLevels);
  return priority as number;
}

/**
 * Throws the InvalidInputError `submit` answers for a `priority` that is not an integer between 1
 * and `priorityLevels` (undefined, the default level, passes): for code that may answer a request
 * without submitting it, such as a cache hit, and must refuse it all the same. `priorityLevels` is
 * the batcher's option as given (undefined, its default); `name` is the field the message names,
 * as the caller's client wrote it (`parameters.priority`).
 */
export function checkPriority(priority: unknown, priorityLevels: number | undefined, name = 'priority'): void {
  if (priority === undefined) return;
  // Left out, the batcher's default; a null is refused when the batcher is made (or its config loads).
  const levels = priorityLevels ?? DEFAULT_PRIORITY_LEVELS;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 1 || priority > levels) {
    throw new InvalidInputError(`Expected \`${name}\` to be an integer between 1 and ${levels}, got ${describe(priority)}`);
  }
}

/** The timeout of a request: its own within its level's policy, else the level's default. */
function timeoutOf(requested: unknown, policy: LevelPolicy): number {
  let timeoutMs = policy.defaultTimeoutMs ?? Infinity;
  if (requested !== undefined) {
    if (typeof requested !== 'number' || Number.isNaN(requested) || requested <= 0) {
      throw new InvalidInputError(`Expected \`timeoutMs\` to be a number > 0, got ${describe(requested)}`);
    }
    timeoutMs = policy.allowTimeoutOverride ? requested : Math.min(timeoutMs, requested);
  }
  return timeoutMs > MAX_TIMER_MS ? Infinity : timeoutMs;
}

/**
 * Splits a request larger than `maxBatchSize` into a first part of `room` items (none when 0), to
 * fill the batch queued ahead of it, then full parts and a remainder, in order.
 */
export function splitRequest<Req, Res>(o: ResolvedOptions<Req, Res>, request: Req, size: number, room: number): { requests: readonly Req[]; sizes: number[] } {
  const sizes: number[] = room > 0 ? [room] : [];
  for (let left = size - room; left > 0; left -= o.maxBatchSize) sizes.push(Math.min(left, o.maxBatchSize));
  const requests = o.split!(request, sizes);
  if (!Array.isArray(requests) || requests.length !== sizes.length) {
    throw new TypeError(`Expected split() to return ${sizes.length} parts for sizes [${sizes.join(', ')}], got ${describe(requests)}`);
  }
  return { requests, sizes };
}

/** What the queue holds when a request is turned away, for {@link queueFullError}. */
export interface Backlog {
  readonly level: number;
  readonly waiting: number;
  /** The batches that start before the first one holding a request of the level. */
  readonly batches: number;
  /** The items those batches hold. */
  readonly items: number;
  readonly concurrency: number;
  /** Each batch executing now: how long it has run, and its items. */
  readonly running: readonly { readonly ranMs: number; readonly items: number }[];
  /** How long a free slot stays idle: until the planner's next decision, when it holds a batch back to fill. */
  readonly idleForMs: number;
  /** Adaptive mode: how long until the planner sheds one of the level's requests, freeing its place (Infinity: none due, or not adaptive). */
  readonly shedInMs: number;
}

/**
 * The error for a full queue. `retryAfterMs` estimates when a place at the request's level frees:
 * when the first batch holding one of the level's requests starts, after the batches that go
 * before it, each taking the time {@link batchRunMs} gives for their mean size, on `concurrency`
 * slots that the batches running now hold until the time it gives for their own size is up (one
 * past it, as long again as it has run), and free ones until the planner stops holding a batch
 * back to fill (`maxQueueDelayMs`, or in adaptive mode its wait for more requests); in adaptive
 * mode no later than the planner sheds one of the level's requests (`shedInMs`). Reads the model
 * only here, on a refusal.
 */
export function queueFullError<Req, Res>(o: ResolvedOptions<Req, Res>, backlog: Backlog, model: LatencyModel): QueueFullError {
  const retryAfterMs = Math.max(1, Math.ceil(Math.min(levelStartMs(o, backlog, model), backlog.shedInMs)));
  const where = o.priorityLevels > 1 ? ` at priority ${backlog.level}` : '';
  const limit = o.policies[backlog.level - 1]!.maxQueueSize;
  return new QueueFullError(
    `The queue is full: ${backlog.waiting === 1 ? '1 request waits' : `${backlog.waiting} requests wait`}${where} (maxQueueSize ${limit}); retry in about ${retryAfterMs} ms`,
    retryAfterMs,
  );
}

/**
 * When the first batch holding one of the backlog's level's requests starts, as
 * {@link queueFullError} says (without the planner's sheds).
 */
function levelStartMs<Req, Res>(o: ResolvedOptions<Req, Res>, backlog: Backlog, model: LatencyModel): number {
  const busy = backlog.running.map(({ ranMs, items }) => {
    const runMs = batchRunMs(model, items);
    return ranMs < runMs ? runMs - ranMs : ranMs;
  });
  const runMs = batchRunMs(model, backlog.batches > 0 ? backlog.items / backlog.batches : o.maxBatchSize);
  return startMs(backlog, busy, runMs);
}

/**
 * The size the batches before the level's are counted at, for `retryAfterMs`: `maxBatchSize`, or in
 * adaptive mode, once the line has a per-item cost, the most items a request just queued may share
 * a batch with and meet the objective, as the planner caps its batches (those of requests that
 * waited longer are smaller still).
 */
export function aheadBatchSize<Req, Res>(o: ResolvedOptions<Req, Res>, model: LatencyModel): number {
  if (o.maxLatencyMs === undefined || model.perItemMs <= 0) return o.maxBatchSize;
  return Math.min(o.maxBatchSize, Math.max(1, allowance(model, o.maxLatencyMs, 0)));
}

/**
 * A batch of `items`' expected run time, for `retryAfterMs`: 100 ms before any batch has run; the
 * fitted line once batches of two sizes have, below the smallest of them too; past the largest,
 * and before a line, the time of the largest size run scaled up by items (never down): an upper
 * bound for any model whose time per item does not grow with its items (a·n + b with b >= 0), so
 * a client is not sent back before a place frees. Taking a batch of 1 item, or a line through
 * batches of 1 and 2 (flat, on a GPU), for a full batch's time left a full queue's estimate short
 * by most of each batch after a load or a quiet spell, when an empty queue dispatches at once.
 */
export function batchRunMs(model: LatencyModel, items: number): number {
  const median = model.medianRunMs;
  if (median === undefined) return DEFAULT_RUN_MS;
  if (model.fitted) {
    // Not estimate(), which below the line's smallest batch takes that batch's share per item: a lower bound, early by up to the fixed cost.
    const most = model.mostItems;
    return (model.perItemMs * Math.min(items, most) + model.overheadMs) * Math.max(1, items / most);
  }
  return median * Math.max(1, items / model.meanItems);
}

/**
 * When a slot takes the batch that follows the backlog's `batches`, each taking `runMs`, where the
 * slots held by the running batches free `busy` ms from now. A free slot takes one when the
 * planner's wait is up; a busy one when its batch's time is up, or, for a batch past that time
 * (stalled, or slower than a cold model's assumed 100 ms), once it has run as long again: never at
 * once, which would send clients straight back. With concurrency lowered below the batches
 * running, only the last to end free one. Once the slots free within `runMs` of each other the
 * batches go round them in the order they free; before that (a slot free or soon free beside a
 * stalled one, or a long planner wait), the earliest takes batches in turn: at most one step per
 * batch before the level's.
 */
function startMs(backlog: Backlog, busy: number[], runMs: number): number {
  const { concurrency, batches } = backlog;
  busy.sort((a, b) => a - b);
  const freeAt = busy.slice(Math.max(0, busy.length - concurrency));
  while (freeAt.length < concurrency) freeAt.push(backlog.idleForMs);
  freeAt.sort((a, b) => a - b);
  let left = batches;
  while (left > 0 && freeAt[concurrency - 1]! - freeAt[0]! > runMs) {
    const next = freeAt.shift()! + runMs;
    const at = freeAt.findIndex((free) => free > next);
    freeAt.splice(at < 0 ? concurrency - 1 : at, 0, next);
    left--;
  }
  return freeAt[left % concurrency]! + Math.floor(left / concurrency) * runMs;
}

/**
 * Adaptive mode: how long a request takes with nothing else queued. One larger than
 * `maxBatchSize` runs as parts of that size, `concurrency` at a time.
 */
export function aloneRunMs(model: LatencyModel, size: number, maxBatchSize: number, concurrency: number): number {
  return size <= maxBatchSize ? model.estimate(size) : partsRunMs(model, Math.ceil(size / maxBatchSize), maxBatchSize, concurrency);
}

/** Adaptive mode: a request that alone takes longer than the objective. */
export function tooSlowError(size: number, maxBatchSize: number, runMs: number, maxLatencyMs: number): DeadlineExceededError {
  const what = size > maxBatchSize ? `A request of ${size} items, split into batches of ${maxBatchSize},` : `A batch of ${size} items`;
  return new DeadlineExceededError(
    `${what} takes about ${round(runMs)} ms, more than maxLatencyMs (${maxLatencyMs} ms): raise maxLatencyMs above it, or make the batch faster (a faster device, fewer items)`,
    { fromModel: true },
  );
}

/**
 * Adaptive mode: a queued request that can no longer finish within the objective, shed as overload.
 * `needMs` is the time it would still need once started: its batch's predicted run time, the
 * run-time noise kept in hand and, for a part of a split request, the batches its later parts take;
 * the message gives each, so that the wait and the need add up to the objective. `backlog` is the
 * queue ahead of it as it is shed (it still queued): `retryAfterMs` is when it would have started,
 * as {@link queueFullError} times a place at its level (the batches running and those before it),
 * at least 1 ms: a retry sooner would wait behind the same backlog that made it late. Not capped
 * by the planner's next shed, which frees a place in a full queue but does not shorten the wait.
 */
export function shedError<Req, Res>(o: ResolvedOptions<Req, Res>, backlog: Backlog, waitedMs: number, needMs: number, model: LatencyModel, size: number): OverloadedError {
  const maxLatencyMs = o.maxLatencyMs!;
  const batchMs = model.estimate(size);
  const marginMs = noiseMarginMs(model);
  const partsMs = needMs - batchMs - marginMs;
  const within = `The request cannot be answered within maxLatencyMs (${maxLatencyMs} ms): it waited ${round(waitedMs)} ms`;
  const parts = round(partsMs) > 0 ? `, its later parts ${round(partsMs)} ms` : '';
  const margin = round(marginMs) > 0 ? `, and ${round(marginMs)} ms kept for run-time noise` : '';
  const message =
    parts === '' && margin === ''
      ? `${within} and its batch would take about ${round(batchMs)} ms`
      : `${within} and needs about ${round(needMs)} ms more (its batch about ${round(batchMs)} ms${parts}${margin})`;
  return new OverloadedError(`${message}. ${OVERLOAD_HINT}`, Math.max(1, Math.ceil(levelStartMs(o, backlog, model))));
}

const OVERLOAD_HINT = "Shed as overload: retry later; if it persists, raise maxLatencyMs or the model's instances";

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
