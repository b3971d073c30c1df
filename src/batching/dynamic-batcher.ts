import { CancelledError, ClosedError, DeadlineExceededError, abortError, assertInteger, assertSignal, Emitter, onAbort, type Clock } from '../core/index.js';
import { LatencyModel, nothingFits, type RunTimeModel } from './adaptive.js';
import { ArrivalRate } from './adaptive-dispatch.js';
import { admit, aheadBatchSize, aloneRunMs, checkSubmitOptions, queueFullError, shedError, splitRequest, tooSlowError, type Backlog } from './admission.js';
import { runBatch, type BatchRunner } from './execution.js';
import { Entry, RunningBatch, createJob, stageOf, type Job } from './job.js';
import { openBatchRoom } from './open-room.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { levelShedAt, plan, shedLate, type PlanContext } from './planner.js';
import { BatchQueue } from './queue.js';
import type { BatcherEvents, BatcherOptions, DispatchReason, DropReason, SubmitOptions } from './types.js';
import { WakeTimer } from './wake-timer.js';

const resolved: Promise<undefined> = Promise.resolve(undefined);

/**
 * Groups requests into batches for a batch-friendly function such as a model run, with Triton's
 * dynamic-batcher semantics: a size cap counted in items, a delay bounded by the oldest request's
 * wait, preferred sizes, priority levels with queue policies, a bounded queue, per-request
 * deadlines and cancellation, several batches in flight, and per-request errors. An optional
 * adaptive mode learns batch run time and waits only while that pays within a latency objective.
 *
 * @example
 * ```ts
 * const batcher = new DynamicBatcher<number[], number>({
 *   maxBatchSize: 32,
 *   maxQueueDelayMs: 2,
 *   execute: async (rows) => model.predict(rows),
 * });
 * const score = await batcher.submit([0.1, 0.7], { timeoutMs: 500, signal });
 * ```
 */
export class DynamicBatcher<Req, Res> extends Emitter<BatcherEvents> {
  readonly #o: ResolvedOptions<Req, Res>;
  readonly #clock: Clock;
  readonly #queue: BatchQueue<Entry<Req, Res>>;
  /** Queued requests by level (index level - 1). */
  readonly #waiting: number[];
  #waitingTotal = 0;
  readonly #running = new Set<RunningBatch<Req, Res>>();
  readonly #model = new LatencyModel();
  readonly #arrivals = new ArrivalRate();
  readonly #idle: (() => void)[] = [];
  readonly #plan: PlanContext<Req, Res>;
  readonly #runner: BatchRunner<Req, Res>;
  #concurrency: number;
  #inFlight = 0;
  #seq = 0;
  #scheduled = false;
  #pumping = false;
  readonly #wake: WakeTimer;
  #draining = false;
  #closed = false;

  /** @throws TypeError or RangeError naming the first bad option and quoting its value, with `code` `'ERR_SERVABLE_INVALID_OPTION'`. */
  constructor(options: BatcherOptions<Req, Res>) {
    super();
    this.#o = resolveOptions(options);
    this.#clock = this.#o.clock;
    this.#wake = new WakeTimer(this.#clock, this.#pump);
    this.#concurrency = this.#o.concurrency;
    this.#queue = new BatchQueue(this.#o.priorityLevels, this.#o.agingMs);
    this.#waiting = new Array<number>(this.#o.priorityLevels).fill(0);
    this.#plan = {
      now: 0,
      options: this.#o,
      queue: this.#queue,
      model: this.#model,
      arrivals: this.#arrivals,
      draining: false,
      freeSlots: 0,
      running: 0,
      shed: (entry, needMs) => this.#shed(entry, needMs),
    };
    this.#runner = {
      batcher: this,
      options: this.#o,
      clock: this.#clock,
      model: this.#model,
      running: this.#running,
      succeed: (entry, value) => this.#succeed(entry, value),
      fail: (entry, error) => this.#fail(entry, error),
      ended: () => this.#ended(),
    };
  }

  /**
   * Queues a request and resolves with its result. Rejects with TypeError (`options` not an
   * object, or holding an unknown option), InvalidInputError (bad size, priority or timeout),
   * QueueFullError (its level's queue is full), DeadlineExceededError (its timeout passed, or it
   * cannot meet `maxLatencyMs` alone), OverloadedError (adaptive mode shed it), the signal's abort
   * error, ClosedError after {@link DynamicBatcher.close}, or the error `execute` gave it.
   */
  submit(request: Req, options: SubmitOptions = {}): Promise<Res> {
    return new Promise<Res>((resolve, reject) => this.#enqueue(request, options, resolve, reject));
  }

  /** Requests waiting in the queue. */
  get queued(): number {
    return this.#waitingTotal;
  }

  /** Items waiting in the queue. */
  get queuedItems(): number {
    return this.#queue.items;
  }

  /** Batches executing now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The largest batch, in items. */
  get maxBatchSize(): number {
    return this.#o.maxBatchSize;
  }

  /** Batches that may execute at once; raising it dispatches waiting work at once. */
  get concurrency(): number {
    return this.#concurrency;
  }

  set concurrency(value: number) {
    this.setConcurrency(value);
  }

  /** Sets {@link DynamicBatcher.concurrency}; running batches above a lowered limit finish. */
  setConcurrency(value: number): void {
    assertInteger('concurrency', value, 1);
    this.#concurrency = value;
    this.#schedule();
  }

  /** True once {@link DynamicBatcher.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The learned batch run-time model (a·items + b) over recent batches. */
  get runTime(): RunTimeModel {
    return this.#model.snapshot();
  }

  /**
   * Dispatches everything queued without waiting (reason `drain`), concurrency permitting, and
   * resolves when nothing is queued or running. Requests submitted meanwhile are flushed too.
   */
  drain(): Promise<void> {
    if (this.#waitingTotal === 0 && this.#inFlight === 0) return Promise.resolve();
    this.#draining = true;
    this.#schedule();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Refuses new requests (ClosedError), then drains. */
  close(): Promise<void> {
    this.#closed = true;
    return this.drain();
  }

  /**
   * Answers every request still queued or running with `error` (a `drop` event, reason `closed`)
   * and aborts the signals of the running batches; a run that ignores its signal still counts in
   * `inFlight`, and holds {@link DynamicBatcher.drain}, until it ends. For a drain given up.
   */
  fail(error: Error): void {
    const now = this.#clock.now();
    const queued = [...this.#queue.groups()].flatMap((group) => [...this.#queue.order(group, now)]);
    const jobs = new Set([...this.#running].flatMap((batch) => batch.entries.map((entry) => entry.job)).concat(queued.map((entry) => entry.job)));
    for (const job of jobs) if (!job.settled) this.#drop(job, error, 'closed', stageOf(job));
  }

  #enqueue(request: Req, options: SubmitOptions, resolve: (value: Res) => void, reject: (error: unknown) => void): void {
    const o = this.#o;
    checkSubmitOptions(options);
    if (this.#closed) return this.#refuse(reject, new ClosedError('The batcher is closed and takes no more requests'), 'closed');
    const signal = options.signal;
    assertSignal('signal', signal);
    if (signal?.aborted) return this.#refuse(reject, abortError(signal), 'cancelled');
    const { level, policy, timeoutMs, modelTimeout, size } = admit(o, request, options);
    // What a free slot takes at the pump due this tick does not wait: dispatch it first, so it is not counted as waiting.
    if (this.#waiting[level - 1]! >= policy.maxQueueSize && this.#scheduled && !this.#pumping && this.#inFlight < this.#concurrency) this.#pump();
    if (this.#waiting[level - 1]! >= policy.maxQueueSize) {
      const now = this.#clock.now();
      const shedInMs = o.maxLatencyMs === undefined ? Infinity : this.#levelShedAt(level, o.maxLatencyMs, now) - now;
      const backlog = this.#backlog(level, now, this.#wake.at === Infinity ? 0 : Math.max(0, this.#wake.at - now), shedInMs);
      if (o.split) this.#addLaterParts(level, backlog);
      return this.#refuse(reject, queueFullError(o, backlog, this.#model), 'queue-full');
    }
    const idle = this.#inFlight + this.#waitingTotal === 0;
    if (o.maxLatencyMs !== undefined && this.#model.fitted && !(idle && nothingFits(this.#model, o.maxLatencyMs))) {
      const runMs = aloneRunMs(this.#model, size, o.maxBatchSize, this.#concurrency);
      if (runMs > o.maxLatencyMs) return this.#refuse(reject, tooSlowError(size, o.maxBatchSize, runMs, o.maxLatencyMs), 'shed');
    }
    const key = o.batchKey ? o.batchKey(request) : undefined;
    const now = this.#clock.now();
    const parts = size > o.maxBatchSize ? splitRequest(o, request, size, openBatchRoom(this.#queue, key, level, o.maxBatchSize, now)) : undefined;

    const job = createJob<Req, Res>(request, resolve, reject, now, timeoutMs, modelTimeout, policy.timeoutAction, level);
    if (parts) {
      job.results = new Array<Res>(parts.requests.length);
      parts.requests.forEach((part, i) => job.entries.push(new Entry(job, part, parts.sizes[i]!, i, key, this.#seq++)));
    } else {
      job.entries.push(new Entry(job, request, size, 0, key, this.#seq++));
    }
    for (const entry of job.entries) this.#queue.push(entry);
    job.queued = job.entries.length;
    this.#waiting[level - 1]!++;
    this.#waitingTotal++;
    if (timeoutMs !== Infinity) job.timer = this.#clock.setTimeout(() => this.#onDeadline(job), timeoutMs);
    if (signal) job.unlisten = onAbort(signal, () => this.#onAbort(job, signal));
    if (o.maxLatencyMs !== undefined) this.#arrivals.record(now);
    this.#schedule();
  }

  /** What the queue holds before the first of `level`'s requests, and the batches running, for `retryAfterMs` (a shed's mid-plan: `idleForMs` 0). */
  #backlog(level: number, now: number, idleForMs: number, shedInMs: number): Backlog & { batches: number; items: number } {
    const running = Array.from(this.#running, (batch) => ({ ranMs: now - batch.startedAt, items: batch.items }));
    const ahead = this.#queue.batchesBefore(level, aheadBatchSize(this.#o, this.#model), now);
    return { level, waiting: this.#waiting[level - 1]!, ...ahead, concurrency: this.#concurrency, running, idleForMs, shedInMs };
  }

  /** Adds to `ahead` the parts after its first that the level's next request to start still has queued (the last ones): it keeps its place until they start too. */
  #addLaterParts(level: number, ahead: { batches: number; items: number }): void {
    const head = this.#queue.levelHead(level);
    if (!head) return;
    const { entries, queued } = head.job;
    ahead.batches += queued - 1;
    for (let i = entries.length - queued + 1; i < entries.length; i++) ahead.items += entries[i]!.size;
  }

  /** Adaptive mode: when the planner sheds one of the level's queued requests (a copy of the plan context, as a refusal may come mid-pump). */
  #levelShedAt(level: number, maxLatencyMs: number, now: number): number {
    const ctx = { ...this.#plan, now, freeSlots: Math.max(0, this.#concurrency - this.#inFlight), running: this.#inFlight };
    return levelShedAt(ctx, level, maxLatencyMs);
  }

  #refuse(reject: (error: unknown) => void, error: Error, reason: DropReason): void {
    if (this.#o.maxLatencyMs !== undefined) this.#arrivals.answered(); // its next request is an arrival
    this.emit('drop', { reason, queueMs: 0, stage: 'queued' });
    reject(error);
  }

  #onDeadline(job: Job<Req, Res>): void {
    job.timer = undefined;
    if (job.settled) return;
    if (job.timeoutAction === 'delay') {
      for (const entry of job.entries) this.#queue.demote(entry);
      this.#schedule();
      return;
    }
    const stage = stageOf(job);
    const error = new DeadlineExceededError(`The request timed out after ${Math.round(job.timeoutMs)} ms while ${stage}`, { fromModel: job.modelTimeout });
    this.#drop(job, error, 'timeout', stage);
  }

  #onAbort(job: Job<Req, Res>, signal: AbortSignal): void {
    if (!job.settled) this.#drop(job, abortError(signal), 'cancelled', stageOf(job));
  }

  #shed(entry: Entry<Req, Res>, needMs: number): void {
    const error = shedError(this.#o, this.#backlog(entry.job.level, this.#plan.now, 0, Infinity), this.#plan.now - entry.enqueuedAt, needMs, this.#model, entry.size);
    this.#drop(entry.job, error, 'shed', stageOf(entry.job));
  }

  #drop(job: Job<Req, Res>, error: Error, reason: DropReason, stage: 'queued' | 'running'): void {
    this.#settle(job);
    this.emit('drop', { reason, queueMs: (job.startedAt ?? this.#clock.now()) - job.enqueuedAt, stage });
    job.reject(error);
    if (stage === 'running') this.#abandon();
    this.#schedule();
  }

  /** Marks a job answered: stops its timer and abort listener, takes its parts off the queue and re-plans the wake timer armed for them. */
  #settle(job: Job<Req, Res>): void {
    job.settled = true;
    // Once per request however many parts, when answered, whichever way and however long its batch's retries run.
    if (this.#o.maxLatencyMs !== undefined) this.#arrivals.answered();
    if (job.timer !== undefined) this.#clock.clearTimeout(job.timer);
    job.timer = undefined;
    job.unlisten?.();
    job.unlisten = undefined;
    if (job.queued > 0) {
      for (const entry of job.entries) this.#queue.remove(entry);
      job.queued = 0;
      this.#waiting[job.level - 1]!--;
      this.#waitingTotal--;
      this.#schedule();
    }
  }

  /** Aborts the signal of every running batch none of whose requests is still waited for. */
  #abandon(): void {
    for (const batch of this.#running) {
      if (!batch.abandoned && batch.entries.every((entry) => entry.job.settled)) {
        batch.abandon(new CancelledError('Every request of the batch was cancelled or timed out'));
      }
    }
  }

  #succeed(entry: Entry<Req, Res>, value: Res): void {
    const job = entry.job;
    if (job.settled) return;
    if (job.results === undefined) {
      this.#settle(job);
      job.resolve(value);
      return;
    }
    job.results[entry.part] = value;
    if (++job.done < job.entries.length) return;
    this.#settle(job);
    try {
      job.resolve(this.#o.merge!(job.results, job.request));
    } catch (error) {
      job.reject(error);
    }
  }

  #fail(entry: Entry<Req, Res>, error: unknown): void {
    const job = entry.job;
    if (job.settled) return;
    this.#settle(job);
    job.reject(error);
    if (job.entries.length > 1) this.#abandon();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // A resolved promise's then() is a quarter of queueMicrotask's cost in Node, which wraps each
    // callback in an AsyncResource.
    resolved.then(this.#pump);
  }

  /**
   * Dispatches every batch that should go now, sheds what can no longer meet `maxLatencyMs`
   * (adaptive mode), then arms the one timer for the next decision. `planned` is the time a timer
   * was armed for: one that fires within its slack before it plans as at that time, while what it
   * dispatches starts, and counts its requests' wait, at the clock's time.
   */
  readonly #pump = (planned?: number): void => {
    const startedAt = this.#clock.now();
    const now = planned === undefined ? startedAt : Math.max(planned, startedAt);
    this.#scheduled = false;
    this.#pumping = true;
    const ctx = this.#plan;
    ctx.now = now;
    ctx.draining = this.#draining;
    let wakeAt = Infinity;
    while (this.#inFlight < this.#concurrency && this.#queue.size > 0) {
      ctx.freeSlots = this.#concurrency - this.#inFlight;
      ctx.running = this.#inFlight;
      const next = plan(ctx);
      if (typeof next === 'number') {
        wakeAt = next;
        break;
      }
      for (const batch of next) this.#dispatch(batch.entries, batch.reason, startedAt);
    }
    const maxLatencyMs = this.#o.maxLatencyMs;
    if (maxLatencyMs !== undefined && this.#queue.size > 0 && this.#model.meanRunMs !== undefined) {
      ctx.freeSlots = this.#concurrency - this.#inFlight;
      ctx.running = this.#inFlight;
      wakeAt = Math.min(wakeAt, shedLate(ctx, maxLatencyMs));
    }
    this.#wake.arm(wakeAt, now);
    if (this.#waitingTotal === 0 && this.#inFlight === 0 && this.#idle.length > 0) {
      this.#draining = this.#closed;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
    this.#pumping = false;
  };

  #dispatch(entries: Entry<Req, Res>[], reason: DispatchReason, startedAt: number): void {
    for (const entry of entries) {
      this.#queue.remove(entry);
      const job = entry.job;
      job.startedAt ??= startedAt;
      if (--job.queued > 0) continue;
      this.#waiting[job.level - 1]!--;
      this.#waitingTotal--;
      // A delayed request is never rejected for time, so its timer has nothing left to do.
      if (job.timeoutAction === 'delay' && job.timer !== undefined) {
        this.#clock.clearTimeout(job.timer);
        job.timer = undefined;
      }
    }
    if (this.#inFlight++ === 0 && this.#o.maxLatencyMs !== undefined) this.#arrivals.dispatchedAlone();
    void runBatch(this.#runner, new RunningBatch(entries, startedAt), reason);
  }

  /** A dispatched batch and its retries are done. */
  #ended(): void {
    this.#inFlight--;
    // A pump is due only for what waits: queued requests, or drain() callers.
    if (this.#queue.size > 0 || this.#idle.length > 0) this.#schedule();
  }
}
