import type { Clock } from '../core/index.js';

/** Why a batch was dispatched. */
export type DispatchReason =
  /** The batch reached `maxBatchSize` items, or the next request would not fit. */
  | 'full'
  /** The batch reached a preferred size. */
  | 'preferred'
  /** The oldest request waited `maxQueueDelayMs` (0: no wait when a slot is free). */
  | 'delay'
  /** A request's deadline left no more time to wait. */
  | 'deadline'
  /** Adaptive mode judged that waiting longer would not pay, the objective capped the batch, or it split a full batch over idle instances. */
  | 'adaptive'
  /** The batcher is draining or closing and flushes what it holds. */
  | 'drain'
  /** A request of a failed batch re-run alone (`splitOnFailure`). */
  | 'retry';

/** Context handed to {@link BatcherOptions.execute} for one batch. */
export interface BatchContext {
  /**
   * Aborted once no request of the batch is waited for any more: each was cancelled or timed out
   * while it ran. Honour it to stop early; results that arrive after it are discarded.
   */
  readonly signal: AbortSignal;
  /** Why the batch was dispatched. */
  readonly reason: DispatchReason;
}

/**
 * Runs one batch: must return one result per request, in order. An `Error` in a slot fails that
 * request alone. A rejection fails the whole batch (see `splitOnFailure`).
 */
export type ExecuteBatch<Req, Res> = (requests: readonly Req[], context: BatchContext) => Promise<readonly (Res | Error)[]>;

/** What happens to a queued request whose timeout passes (Triton's `timeout_action`). */
export type TimeoutAction =
  /** Reject it with DeadlineExceededError; a running request is rejected too, its result discarded. */
  | 'reject'
  /** Keep it queued, behind every request of its level and the levels above that has not timed out (ahead of the levels below, as Triton's DELAY); it is never rejected for time. */
  | 'delay';

/**
 * The queue policy of one priority level (Triton's `ModelQueuePolicy`). Fields left out take the
 * batcher-wide value of the same name.
 */
export interface QueuePolicy {
  /** The most requests of this level that may wait (what a free slot takes at once does not); more are rejected with QueueFullError. */
  readonly maxQueueSize?: number;
  /** The timeout of a request of this level that gives none, in milliseconds. */
  readonly defaultTimeoutMs?: number;
  /** What a timeout does to a request of this level. */
  readonly timeoutAction?: TimeoutAction;
  /** Whether a request of this level may set a timeout longer than `defaultTimeoutMs`. */
  readonly allowTimeoutOverride?: boolean;
}

/** Options of {@link DynamicBatcher}. */
export interface BatcherOptions<Req, Res> {
  /** Runs a batch of requests. */
  readonly execute: ExecuteBatch<Req, Res>;
  /** The largest batch, counted in items (see `sizeOf`). */
  readonly maxBatchSize: number;
  /**
   * How long the oldest queued request may wait for a fuller batch, in milliseconds (Triton's
   * `max_queue_delay_microseconds`). 0 never waits when a batch can go now. In adaptive mode
   * (`maxLatencyMs`) it caps the wait the learned rule chooses, and left out it caps nothing: the
   * objective alone ends each wait.
   * @default 0; none (no cap) with `maxLatencyMs`
   */
  readonly maxQueueDelayMs?: number;
  /**
   * The most requests that may wait in the queue (per priority level when there are several);
   * more are rejected at once with QueueFullError (503 with `retryAfterMs`). What a free batch slot
   * takes at once does not wait: a request that finds its level full while a slot is free first
   * dispatches what should go now, then counts again. `Infinity` removes the bound.
   * @default 1024
   */
  readonly maxQueueSize?: number;
  /** Batches that may run at once (a model's worker instances). @default 1 */
  readonly concurrency?: number;
  /** How many items one request holds (its batch dimension). @default () => 1 */
  readonly sizeOf?: (request: Req) => number;
  /** The timeout of a request that gives none, in milliseconds; covers queue and execution. @default none */
  readonly defaultTimeoutMs?: number;
  /** What a timeout does (Triton's `timeout_action`). @default 'reject' */
  readonly timeoutAction?: TimeoutAction;
  /**
   * Whether `submit({timeoutMs})` may exceed `defaultTimeoutMs`. When false a request may only
   * shorten it, as Triton's `allow_timeout_override: true` allows (Triton never lets a request
   * lengthen it, and with false ignores the request's timeout: shortening is harmless, since a
   * caller can always give up sooner with its signal).
   * @default false
   */
  readonly allowTimeoutOverride?: boolean;
  /** Number of priority levels; 1 is the highest (Triton's `priority_levels`). @default 1 */
  readonly priorityLevels?: number;
  /** The level of a request that gives none (Triton's `default_priority_level`). @default Math.ceil((priorityLevels + 1) / 2) */
  readonly defaultPriority?: number;
  /** Queue policies by priority level (Triton's `priority_queue_policy`); other levels use the batcher-wide fields. */
  readonly queuePolicies?: Readonly<Record<number, QueuePolicy>>;
  /**
   * Promotes a waiting request one priority level for every `agingMs` it has waited, so low
   * levels are not starved. Refused with one priority level: there is no level to age into.
   * @default none (no aging)
   */
  readonly agingMs?: number;
  /**
   * Batch sizes, in items, to dispatch as soon as one can be formed without waiting for the
   * delay (Triton's `preferred_batch_size`); a full batch of another size goes as its largest
   * preferred prefix, as Triton forms it. Outside adaptive mode they stop counting once the
   * batch's oldest request has waited a `maxQueueDelayMs` that is not 0, as in Triton: a backlog
   * then goes in batches up to `maxBatchSize`. Each between 1 and `maxBatchSize`, in any order, each
   * once; `[]` is none. @default none
   */
  readonly preferredBatchSizes?: readonly number[];
  /**
   * Turns on adaptive batching with this end-to-end latency objective, in milliseconds. The
   * batcher learns batch time = a·items + b online and waits for more requests only while that
   * raises throughput and every waiting request can still finish within the objective. When more
   * wait than can finish in time, the batch that goes is the one that answers the most requests
   * within it (requests, not items: the objective is per request); requests that cannot finish
   * in time are rejected with OverloadedError (503, `retryAfterMs`) before they run; one that
   * alone would take longer, with DeadlineExceededError. `maxQueueDelayMs`, when
   * also given, caps each wait, and must be below `maxLatencyMs` (the objective ends every wait
   * before then).
   * @default none (delay-based batching)
   */
  readonly maxLatencyMs?: number;
  /**
   * Only requests with the same key share a batch (e.g. images of different widths). Keys are
   * compared with SameValueZero, as Map keys. @default none (every request may share a batch)
   */
  readonly batchKey?: (request: Req) => unknown;
  /**
   * Splits a request into parts holding `sizes` items each, in order: a first part of the room
   * the requests queued ahead leave in their last batch, when they leave some, then parts of
   * `maxBatchSize` items and a remainder, so read `sizes` rather than assume them. With `merge`,
   * lets a request larger than `maxBatchSize` run across several batches. Without the pair such
   * a request is rejected with InvalidInputError.
   */
  readonly split?: (request: Req, sizes: readonly number[]) => readonly Req[];
  /** Joins the results of the parts of a split request, in order, into its result. */
  readonly merge?: (results: readonly Res[], request: Req) => Res;
  /**
   * The most items one request may hold when it is split (TF Serving's `max_batch_size` beside
   * `max_execution_batch_size`); a larger one is rejected with InvalidInputError before any part
   * is made. @default maxBatchSize × 1024
   */
  readonly maxRequestItems?: number;
  /** Re-run the requests of a failed multi-request batch one by one, so only a request that fails alone fails. @default true */
  readonly splitOnFailure?: boolean;
  /** The clock timers run on. @default systemClock */
  readonly clock?: Clock;
}

/** Per-request options of {@link DynamicBatcher.submit}. */
export interface SubmitOptions {
  /**
   * Cancels the request: a queued request leaves the queue at once and never runs; a running one
   * is answered at once and its result discarded.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Rejects with DeadlineExceededError (504) after this many milliseconds, queue time included.
   * It may only shorten the level's `defaultTimeoutMs` unless `allowTimeoutOverride`.
   */
  readonly timeoutMs?: number | undefined;
  /** The priority level, 1 = highest (Triton's request `priority`). @default the batcher's `defaultPriority` */
  readonly priority?: number | undefined;
}

/** The payload of the `batch` event: one execution of a batch. */
export interface BatchEvent {
  /** Items in the batch. */
  readonly size: number;
  /** Requests in the batch. */
  readonly requests: number;
  /** How long each request waited in the queue, in milliseconds, in batch order. */
  readonly queueMs: readonly number[];
  /** How long the execution took, in milliseconds. */
  readonly runMs: number;
  /** Why the batch was dispatched. */
  readonly reason: DispatchReason;
  /**
   * Requests this execution failed: its result for them was an error (a retried request counts in
   * its retry; one the batcher had already answered, timed out or cancelled while it ran, does not).
   */
  readonly failed: number;
  /** Where those requests are in the batch, in batch order (`queueMs`' order): `failed` of them. */
  readonly failedAt: readonly number[];
  /** Items of those requests. */
  readonly failedItems: number;
  /**
   * Where the requests are, in batch order, whose result this execution discarded: the batcher had
   * already answered them (timed out, cancelled) when it ended. Neither failed nor answered by it.
   */
  readonly discardedAt: readonly number[];
  /** Items of those requests. */
  readonly discardedItems: number;
  /** Requests of this execution re-run alone because the whole execution failed (`splitOnFailure`). */
  readonly retried: number;
  /** Why the whole execution failed, when it did. */
  readonly error?: unknown;
}

/** Why a request was dropped. */
export type DropReason =
  /** The queue of its level was full. */
  | 'queue-full'
  /** Its timeout passed. */
  | 'timeout'
  /** Its signal aborted. */
  | 'cancelled'
  /** The batcher was closed. */
  | 'closed'
  /** Adaptive mode found it could not finish within `maxLatencyMs`. */
  | 'shed';

/**
 * The payload of the `drop` event: a request answered with an error by the batcher itself,
 * not by `execute`.
 */
export interface DropEvent {
  readonly reason: DropReason;
  /**
   * How long it waited in the queue, in milliseconds: until it was dropped when `queued`, until
   * its batch (its first part's, when split) started when `running`, as the `batch` event counts it.
   */
  readonly queueMs: number;
  /** Where it was: still queued (it never runs), or running (its result will be discarded). */
  readonly stage: 'queued' | 'running';
}

/** The events a DynamicBatcher emits. */
export interface BatcherEvents {
  batch: [BatchEvent];
  drop: [DropEvent];
}
