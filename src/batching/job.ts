import type { QueueEntry, EntryList } from './queue.js';
import type { BatchContext, DispatchReason, TimeoutAction } from './types.js';

/**
 * One submitted request: the caller's promise, its deadline and its parts. A request holds one
 * part, or several when it is larger than `maxBatchSize` and was split.
 */
export interface Job<Req, Res> {
  readonly request: Req;
  readonly resolve: (value: Res) => void;
  readonly reject: (error: unknown) => void;
  readonly enqueuedAt: number;
  /** Infinity when the request has no timeout. */
  readonly deadline: number;
  readonly timeoutMs: number;
  /** Whether the timeout is the model's `defaultTimeoutMs`, not the request's own. */
  readonly modelTimeout: boolean;
  readonly timeoutAction: TimeoutAction;
  readonly level: number;
  /** Its parts in order; one entry unless split. */
  readonly entries: Entry<Req, Res>[];
  /** Parts still queued. */
  queued: number;
  /** When its first part was dispatched; undefined while every part waits. */
  startedAt: number | undefined;
  /** Results of the parts of a split request, by part. */
  results: Res[] | undefined;
  /** Parts answered. */
  done: number;
  timer: unknown;
  unlisten: (() => void) | undefined;
  settled: boolean;
}

/** A new job with no parts yet. */
export function createJob<Req, Res>(
  request: Req,
  resolve: (value: Res) => void,
  reject: (error: unknown) => void,
  now: number,
  timeoutMs: number,
  modelTimeout: boolean,
  timeoutAction: TimeoutAction,
  level: number,
): Job<Req, Res> {
  return {
    request,
    resolve,
    reject,
    enqueuedAt: now,
    deadline: now + timeoutMs,
    timeoutMs,
    modelTimeout,
    timeoutAction,
    level,
    entries: [],
    queued: 0,
    startedAt: undefined,
    results: undefined,
    done: 0,
    timer: undefined,
    unlisten: undefined,
    settled: false,
  };
}

/** Where a job is: every part still queued (it never ran), or some dispatched (what runs will be discarded). */
export function stageOf<Req, Res>(job: Job<Req, Res>): 'queued' | 'running' {
  return job.startedAt === undefined ? 'queued' : 'running';
}

/** One part of a job in the queue, then in a batch. */
export class Entry<Req, Res> implements QueueEntry<Entry<Req, Res>> {
  readonly request: Req;
  readonly size: number;
  readonly job: Job<Req, Res>;
  readonly part: number;
  readonly key: unknown;
  readonly level: number;
  readonly seq: number;
  readonly enqueuedAt: number;
  /** True when this part's deadline may end the wait early (action `reject` and a finite deadline). */
  readonly timed: boolean;
  prev: Entry<Req, Res> | undefined = undefined;
  next: Entry<Req, Res> | undefined = undefined;
  list: EntryList<Entry<Req, Res>> | undefined = undefined;

  constructor(job: Job<Req, Res>, request: Req, size: number, part: number, key: unknown, seq: number) {
    this.job = job;
    this.request = request;
    this.size = size;
    this.part = part;
    this.key = key;
    this.level = job.level;
    this.seq = seq;
    this.enqueuedAt = job.enqueuedAt;
    this.timed = job.deadline !== Infinity && job.timeoutAction === 'reject';
  }
}

/**
 * One AbortController made ahead, off the dispatch path, its signal included: Node 20 makes a
 * controller's signal on first read, and that read is the cost (4-5 µs against 0.15 µs for the
 * constructor, over 10 µs when the thread has just woken), more than the rest of a dispatch.
 */
let spare: AbortController | undefined;

function takeController(): AbortController {
  const controller = spare ?? new AbortController();
  spare = undefined;
  return controller;
}

/**
 * Makes the next batch's AbortController if the last one was taken. Called once an execution is
 * under way (a worker or a device has the batch), when the thread would otherwise wait.
 */
export function stockController(): void {
  if (spare) return;
  spare = new AbortController();
  void spare.signal;
}

/**
 * A batch being executed. Its AbortController is taken only when `execute` reads the signal, and
 * then from one made ahead of time (see {@link stockController}).
 */
export class RunningBatch<Req, Res> {
  readonly entries: readonly Entry<Req, Res>[];
  /** When its execution started, on the batcher's clock. */
  readonly startedAt: number;
  #controller: AbortController | undefined;
  #reason: unknown;
  #abandoned = false;

  constructor(entries: readonly Entry<Req, Res>[], startedAt: number) {
    this.entries = entries;
    this.startedAt = startedAt;
  }

  /** Its items, counted on each read. */
  get items(): number {
    return this.entries.reduce((items, entry) => items + entry.size, 0);
  }

  /** Aborts once every request of the batch has been answered without it. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = takeController();
      if (this.#abandoned) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get abandoned(): boolean {
    return this.#abandoned;
  }

  /** Aborts the signal, now or when it is first read. */
  abandon(reason: unknown): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** The context `execute` receives; reading `signal` is what makes the batch's controller. */
export class ExecutionContext<Req, Res> implements BatchContext {
  readonly reason: DispatchReason;
  readonly #batch: RunningBatch<Req, Res>;

  constructor(batch: RunningBatch<Req, Res>, reason: DispatchReason) {
    this.#batch = batch;
    this.reason = reason;
  }

  get signal(): AbortSignal {
    return this.#batch.signal;
  }
}
