import type { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { abortError, onAbort, BackendError, ClosedError, messageOf } from '../../core/index.js';
import { addBusyThreads, checkPreemptions, spinAllowed, type Link } from './link.js';
import type { WorkerPoolOptions } from './pool-options.js';
import { fromWireError, type FromWorker, type ToWorker } from './protocol.js';
import { startWorker, type Started } from './start-worker.js';
import { leastBusy } from './least-busy.js';
import { Poller, POLL_MS } from './poller.js';
import { RunWatch } from './run-watch.js';
import { Replacements } from './replacements.js';

interface Job<In, Out> {
  readonly value: In;
  readonly transfer: readonly ArrayBuffer[];
  readonly resolve: (out: Out) => void;
  readonly reject: (error: unknown) => void;
  /** Stops listening for the caller's abort; called when the job reaches a worker. */
  release: () => void;
  /** When its worker started it, or for one waiting behind another, when it was sent (performance.now()). */
  sentAt: number;
}

interface Instance<In, Out> {
  readonly worker: Worker;
  readonly link: Link;
  /** The jobs sent to it and not settled, oldest (the one running) first. */
  readonly jobs: Job<In, Out>[];
  /** The uncaught error the worker died of, reported by its 'error' event before 'exit'. */
  crash: Error | undefined;
  /** Stops the worker when its run takes longer than the pool's `runTimeoutMs`. */
  readonly watch: RunWatch;
}

/**
 * A fixed group of worker threads running one job each at a time (Triton's instance group), each
 * holding up to {@link depth} jobs. Jobs go to a worker with room or wait in FIFO order; a job
 * whose signal aborts while it waits is dropped. A worker that dies fails its jobs with a
 * BackendError and is replaced; so is one whose run takes longer than `runTimeoutMs`. A
 * replacement that fails to start is tried again with backoff (see {@link Replacements}). Idle workers
 * do not hold the process open.
 */
export class WorkerPool<Info, In, Out> {
  /** What the first worker reported when it was ready. */
  readonly info: Info;
  /** How many workers the pool keeps. */
  readonly size: number;
  /** Jobs a worker holds at once. */
  readonly depth: number;
  readonly #url: URL;
  readonly #label: string;
  readonly #data: unknown;
  readonly #instances = new Set<Instance<In, Out>>();
  readonly #idle: Instance<In, Out>[] = [];
  readonly #queue: Job<In, Out>[] = [];
  readonly #spinMs: number;
  readonly #threads: number;
  readonly #runTimeoutMs: number;
  readonly #readArena: ((arena: SharedArrayBuffer) => FromWorker<Info, Out>) | undefined;
  /**
   * Starts workers in place of dead ones. Kept ref'd while they start: a process that exits with
   * one inside ONNX Runtime's session create aborts (Napi::Error thrown into C++), as in #timedOut,
   * so close() calls them off and waits for them to exit.
   */
  readonly #replacements = new Replacements<Info>({
    start: (signal) => startWorker<Info>(this.#url, this.#data, this.#label, this.#spinMs, signal),
    started: (started) => this.#replaced(started),
    failed: (error) => this.#replaceFailed(error),
    missing: () => this.size - this.#instances.size,
  });
  /** A moving average of run times, in milliseconds. */
  #runMs = 0;
  /** Reads the replies of the workers told that the pool polls for them. */
  readonly #poller = new Poller(this.#instances, () => this.#pollable(), (instance, message) => this.#onMessage(instance, message as FromWorker<Info, Out>));
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  /** Set once every worker has been told to stop: exits from then on are expected. */
  #stopping = false;

  private constructor(options: WorkerPoolOptions<Info, Out>, info: Info, workers: readonly Started<Info>[]) {
    this.info = info;
    this.size = options.size;
    this.depth = options.depth ?? 1;
    this.#url = options.url;
    this.#label = options.label;
    this.#data = options.workerData(info);
    this.#spinMs = options.spinMs;
    this.#threads = options.threads;
    this.#runTimeoutMs = options.runTimeoutMs ?? Infinity;
    const read = options.readArena?.(info);
    this.#readArena = read && ((arena) => ({ type: 'done', value: read(arena) }));
    for (const started of workers) this.#adopt(started);
  }

  /**
   * Starts the first worker, then the others with what it reported.
   * @throws BackendUnavailableError when a worker reports that it cannot start, BackendError when
   * one cannot be spawned or dies before it is ready, the abort error when `signal` aborts.
   */
  static async start<Info, In, Out>(options: WorkerPoolOptions<Info, Out>): Promise<WorkerPool<Info, In, Out>> {
    const { url, size, label, signal, spinMs } = options;
    const first = await startWorker<Info>(url, options.workerData(undefined), label, spinMs, signal);
    const data = options.workerData(first.info);
    const rest = await Promise.allSettled(Array.from({ length: size - 1 }, () => startWorker<Info>(url, data, label, spinMs, signal)));
    const workers = [first, ...rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))];
    const failed = rest.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(
        workers.map((w) => {
          w.handOver();
          return w.worker.terminate();
        }),
      );
      throw failed.reason;
    }
    return new WorkerPool<Info, In, Out>(options, first.info, workers);
  }

  /** Workers alive now (less than {@link size} while a crashed one is being replaced or retried). */
  get alive(): number {
    return this.#instances.size;
  }

  /**
   * Runs one job on the next worker with room, moving `transfer` to it when the job is sent.
   * @throws the abort error when `signal` aborts before the job reaches a worker; BackendError
   * when the worker fails or dies, or at once while no worker is left (until a retried start
   * brings one back); ClosedError after {@link close}.
   */
  run(value: In, transfer: readonly ArrayBuffer[], signal?: AbortSignal): Promise<Out> {
    if (this.#closing) return Promise.reject(new ClosedError(`${this.#label} is closed`));
    if (this.#failure) return Promise.reject(this.#failure);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<Out>((resolve, reject) => {
      const job: Job<In, Out> = { value, transfer, resolve, reject, release: () => {}, sentAt: 0 };
      this.#queue.push(job);
      this.#dispatch();
      // A job sent to a worker at once never waits, so its signal has nothing to drop.
      if (job.sentAt > 0) return;
      job.release = onAbort(signal, () => {
        const at = this.#queue.indexOf(job);
        if (at < 0) return;
        this.#queue.splice(at, 1);
        reject(abortError(signal as AbortSignal));
        this.#checkDrained();
      });
    });
  }

  /**
   * Says a job is likely within `withinMs`: the idle worker that would take it, if it sleeps,
   * starts spinning now, so the job does not wait for its wake-up. Only while spinning is on and
   * allowed, and when the job would come before the worker's spin ends.
   */
  expect(withinMs = 0): void {
    if (withinMs >= this.#spinMs || this.#queue.length > 0 || !spinAllowed()) return;
    this.#idle.at(-1)?.link.expect();
  }

  /**
   * Settles the jobs whose workers have replied but whose replies the event loop has not delivered
   * yet, and sends waiting jobs to the workers that frees. Under load the event loop may have many
   * requests' I/O to get through before it reaches a reply, while the worker waits for its next
   * job. Costs one shared-memory read per busy worker when no reply has come.
   */
  collect(): void {
    for (const instance of this.#instances) this.#collectFrom(instance);
  }

  #collectFrom(instance: Instance<In, Out>): void {
    while (instance.jobs.length > 0 && instance.link.hasReply()) {
      const message = instance.link.receive() as FromWorker<Info, Out> | undefined;
      if (!message) break;
      this.#onMessage(instance, message);
    }
  }

  /**
   * Lets queued and running jobs finish, then stops every worker; cancels a pending retry. A
   * replacement still starting, once no queued job waits for it, is called off: terminated, or,
   * inside ONNX Runtime's import or session create, left to finish that call and exit. Resolves
   * once every worker has exited, but for one retired by `runTimeoutMs` (see #timedOut). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    this.#replacements.stopRetrying();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
      this.#checkDrained();
    });
    this.#stopping = true;
    await Promise.all([...[...this.#instances].map((instance) => this.#stop(instance)), this.#replacements.close()]);
  }

  /** Tells a worker to close; resolves when it has exited. */
  #stop(instance: Instance<In, Out>): Promise<unknown> {
    const exited = once(instance.worker, 'exit');
    instance.worker.ref();
    instance.link.send({ type: 'close' } satisfies ToWorker<In>, []);
    return exited;
  }

  #adopt(started: Started<Info>): Instance<In, Out> {
    const { worker, link } = started;
    const early = started.handOver();
    const instance: Instance<In, Out> = {
      worker,
      link,
      jobs: [],
      crash: early.crash,
      watch: new RunWatch(this.#runTimeoutMs, () => instance.jobs[0]?.sentAt, () => this.#timedOut(instance)),
    };
    link.readArena = this.#readArena;
    link.onReply(
      (message) => this.#onMessage(instance, message as FromWorker<Info, Out>),
      (error) => this.#finish(instance, undefined, this.#error(`could not read the result: ${error.message}`, error)),
    );
    // The worker, referenced while it runs a job, is what keeps the process alive.
    link.port.unref();
    worker.on('error', (error: Error) => {
      instance.crash = error;
    });
    worker.on('exit', (code: number) => this.#onExit(instance, code));
    worker.unref();
    this.#instances.add(instance);
    this.#idle.push(instance);
    if (early.code !== undefined) this.#onExit(instance, early.code);
    return instance;
  }

  #dispatch(): void {
    let polled = false;
    while (this.#queue.length > 0) {
      const instance = this.#nextWorker();
      if (!instance) break;
      const job = this.#queue.shift() as Job<In, Out>;
      job.release();
      job.sentAt = performance.now();
      if (instance.jobs.push(job) === 1) {
        instance.worker.ref();
        instance.watch.arm();
        addBusyThreads(this.#threads);
        const pollable = this.#pollable();
        instance.link.setPolled(pollable);
        polled ||= pollable;
      }
      try {
        instance.link.send({ type: 'run', value: job.value } satisfies ToWorker<In>, job.transfer);
      } catch (error) {
        // Nothing was posted: the job leaves the worker without touching the one it may be running.
        instance.jobs.pop();
        if (instance.jobs.length === 0) this.#release(instance);
        job.reject(this.#error(`could not send the feeds to the worker: ${messageOf(error)}`, error));
      }
    }
    if (polled) this.#poller.start();
    this.#checkDrained();
  }

  /**
   * The worker for the next job: the idle one that went idle last (its caches are warm), else,
   * with {@link depth} over 1, the busy one holding the fewest jobs, among them the one whose
   * running job started first (it should finish first).
   */
  #nextWorker(): Instance<In, Out> | undefined {
    return this.#idle.pop() ?? (this.depth > 1 ? leastBusy(this.#instances, this.depth) : undefined);
  }

  /** True while runs are short and a core is free: results are then polled for. */
  #pollable(): boolean {
    return this.#spinMs > 0 && this.#runMs <= POLL_MS && spinAllowed();
  }

  #onMessage(instance: Instance<In, Out>, message: FromWorker<Info, Out>): void {
    if (this.#spinMs > 0 && (message.type === 'done' || message.type === 'error')) checkPreemptions();
    if (message.type === 'done') this.#finish(instance, message.value, undefined);
    else if (message.type === 'error') {
      this.#finish(instance, undefined, this.#error(message.error.message, fromWireError(message.error)));
    }
  }

  /** Settles the instance's job and puts the instance back to work. */
  #finish(instance: Instance<In, Out>, value: Out | undefined, error: Error | undefined): void {
    const job = instance.jobs.shift();
    if (!job) return;
    const now = performance.now();
    const runMs = now - job.sentAt;
    this.#runMs = this.#runMs === 0 ? runMs : 0.8 * this.#runMs + 0.2 * runMs;
    // The worker took the job waiting behind this one as soon as it replied.
    const next = instance.jobs[0];
    if (next) next.sentAt = now;
    else this.#release(instance);
    if (error) job.reject(error);
    else job.resolve(value as Out);
    this.#dispatch();
  }

  /** Marks a worker that holds no job idle. */
  #release(instance: Instance<In, Out>): void {
    addBusyThreads(-this.#threads);
    instance.worker.unref();
    this.#idle.push(instance);
  }

  #onExit(instance: Instance<In, Out>, code: number): void {
    instance.watch.stop();
    if (!this.#instances.delete(instance)) {
      // Retired for a run that took too long: its jobs have failed and its replacement has
      // started; its threads ran until now.
      instance.link.port.close();
      addBusyThreads(-this.#threads);
      return;
    }
    const at = this.#idle.indexOf(instance);
    if (at >= 0) this.#idle.splice(at, 1);
    const jobs = instance.jobs.splice(0);
    if (jobs.length > 0) addBusyThreads(-this.#threads);
    instance.link.port.close();
    if (!this.#stopping) {
      const why = instance.crash ? `: ${instance.crash.message}` : '';
      for (const job of jobs) job.reject(this.#error(`the worker running this model exited unexpectedly with code ${code}${why}`, instance.crash));
      this.#replacements.start();
    }
    this.#checkDrained();
  }

  /**
   * Retires a worker whose run has taken `runTimeoutMs`: fails its jobs, starts its replacement at
   * once and tells it to close, which it does once the run returns, if ever. Not
   * `worker.terminate()`: a thread terminated inside onnxruntime-node's run aborts the whole
   * process when the run returns (a Napi::Error thrown into C++, seen on onnxruntime-node 1.30),
   * and JavaScript cannot stop a native call sooner anyway.
   */
  #timedOut(instance: Instance<In, Out>): void {
    // A reply the event loop has not delivered yet is a run that ended in time.
    const running = instance.jobs[0];
    this.#collectFrom(instance);
    if (instance.jobs[0] !== running) {
      instance.watch.arm();
      return;
    }
    this.#instances.delete(instance);
    instance.link.send({ type: 'close' } satisfies ToWorker<In>, []);
    const error = this.#error(`a run took longer than runTimeoutMs (${this.#runTimeoutMs} ms): its worker is being replaced`, undefined);
    for (const job of instance.jobs.splice(0)) job.reject(error);
    this.#replacements.start();
    this.#checkDrained();
  }

  /**
   * Never once close() has begun stopping the workers: it calls the replacements off in the same
   * step, and a start called off never resolves (startWorker stops listening for its ready), so
   * close() stops this worker with the others.
   */
  #replaced(started: Started<Info>): void {
    this.#failure = undefined;
    this.#adopt(started);
    this.#dispatch();
  }

  /** When none is left and none is starting, fails what waits meanwhile. */
  #replaceFailed(error: unknown): void {
    if (this.#instances.size === 0 && this.#replacements.starting === 0) {
      this.#failure = this.#error(`no worker is left: replacing a crashed worker failed: ${messageOf(error)}`, error);
      for (const job of this.#queue.splice(0)) {
        job.release();
        job.reject(this.#failure);
      }
    }
    // A close() may have waited for the queued jobs this failed.
    this.#checkDrained();
  }

  #checkDrained(): void {
    // A worker still starting is waited for only through the queued jobs it would take.
    if (!this.#drained || this.#queue.length > 0) return;
    for (const instance of this.#instances) if (instance.jobs.length > 0) return;
    const drained = this.#drained;
    this.#drained = undefined;
    drained();
  }

  #error(message: string, cause: unknown): BackendError {
    return new BackendError(`${this.#label}: ${message}`, { cause });
  }
}
