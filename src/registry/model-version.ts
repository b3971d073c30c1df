import { isPromiseLike, ModelNotReadyError, toServableError, type Clock } from '../core/index.js';
import type { ModelSession, TensorSpec } from '../backends/index.js';
import { checkPriority, DynamicBatcher, type SubmitOptions } from '../batching/index.js';
import type { Handler } from '../handler/index.js';
import { foreignHold, VersionHold } from './hold.js';
import { warmUp } from './warm-up.js';
import type { BatchingConfig, DeclaredConfig, VersionMetadata, VersionState } from './types.js';

/** Per-request options of {@link ModelVersion.infer}. */
export type InferOptions = SubmitOptions;

/** What a ModelVersion is built from. */
export interface ModelVersionInit<Req, Res> {
  readonly name: string;
  readonly version: string;
  readonly backend: string;
  readonly session: ModelSession;
  readonly handler: Handler<Req, Res>;
  readonly inputs: readonly TensorSpec[];
  readonly batching: BatchingConfig | undefined;
  readonly clock: Clock;
  readonly loadMs: number;
  /** The estimated memory the version occupies. @default 0 */
  readonly sizeBytes?: number;
  /** The labels pointing at this version, as the registry knows them. @default none */
  readonly labels?: () => readonly string[];
  /** Class labels of outputs, by class index (`ModelConfig.classLabels`). @default none */
  readonly classLabels?: Readonly<Record<string, readonly string[]>> | undefined;
  /** What the model's configuration asked, which its loader applies (`ModelConfig.declared`). @default none */
  readonly declared?: DeclaredConfig | undefined;
}

/**
 * One loaded model version: its session, handler and batcher. Requests are validated by the
 * handler, queued by the batcher, and run as batches through preprocess → inference → postprocess.
 */
export class ModelVersion<Req = unknown, Res = unknown> {
  readonly name: string;
  readonly version: string;
  readonly session: ModelSession;
  readonly handler: Handler<Req, Res>;
  readonly batcher: DynamicBatcher<Req, Res>;
  readonly #init: ModelVersionInit<Req, Res>;
  #state: VersionState = 'loading';
  #warmupMs = 0;
  #inFlight = 0;
  #held = 0;
  /** Set while a drain waits for the held requests: lets it go on once the last hold is released. */
  #unheld: (() => void) | undefined;
  #lastUsed: number;
  #unloading: Promise<void> | undefined;
  /** Validations in progress: their requests were accepted before a drain began, so the drain waits for them to queue. */
  readonly #admitting = new Set<Promise<unknown>>();
  /** The longest a request that finds a slot free waits for its batch to go out. */
  readonly #queueDelayMs: number;

  /** @internal Versions are made by the {@link ModelRegistry}, which loads them. */
  constructor(init: ModelVersionInit<Req, Res>) {
    this.#init = init;
    this.name = init.name;
    this.version = init.version;
    this.session = init.session;
    this.handler = init.handler;
    this.#lastUsed = init.clock.now();
    this.#queueDelayMs = init.batching?.maxQueueDelayMs ?? 0;
    const { handler } = init;
    this.batcher = new DynamicBatcher<Req, Res>({
      ...init.batching,
      maxBatchSize: init.batching?.maxBatchSize ?? 1,
      sizeOf: init.batching ? (r) => handler.sizeOf(r) : () => 1,
      batchKey: (r) => handler.batchKey(r),
      ...(init.batching && handler.split && handler.merge ? { split: (r, sizes) => handler.split!(r, sizes), merge: (parts) => handler.merge!(parts) } : {}),
      concurrency: init.session.concurrency,
      clock: init.clock,
      execute: (requests, { signal }) => this.#runBatch(requests, signal),
    });
  }

  /** The batching it was loaded with; undefined when each request runs alone. */
  get batching(): BatchingConfig | undefined {
    return this.#init.batching;
  }

  /** Class labels of outputs, by class index, from its `ModelConfig.classLabels`; undefined without. */
  get classLabels(): Readonly<Record<string, readonly string[]>> | undefined {
    return this.#init.classLabels;
  }

  /** What the model's own configuration asked, which its loader applies itself (`ModelConfig.declared`); undefined without. */
  get declared(): DeclaredConfig | undefined {
    return this.#init.declared;
  }

  /** Where the version is in its lifecycle. */
  get state(): VersionState {
    return this.#state;
  }

  /**
   * Throws the InvalidInputError {@link ModelVersion.infer} answers for a `priority` outside the
   * version's levels: for a request answered without being queued (a cache hit), or to name the
   * field as a protocol's client wrote it (`name`, `priority` by default).
   */
  checkPriority(priority: unknown, name?: string): void {
    checkPriority(priority, this.#init.batching?.priorityLevels, name);
  }

  /** Requests accepted and not yet answered. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests routed to the version and not yet queued: the live holds on it. */
  get held(): number {
    return this.#held;
  }

  /**
   * Holds the version for a request routed to it, from routing until the request is
   * queued (pass the hold to {@link ModelVersion.infer}) or settles without reaching it: a request
   * still on its way to the queue (awaiting a load or a cache lookup) keeps the version busy, so an
   * idle version is evicted before it, and a drain takes it before closing the queue. Taken by the
   * router, ensemble steps and waits for loads, which release it in every path: a hold never
   * released keeps a draining version from unloading (`Router.run` hands calls a hold it releases).
   * Code that must know the version before it builds a request takes one and passes it to
   * `service.infer` as the `hold` option, which releases it; it releases the hold itself if it
   * gives up before.
   */
  hold(): VersionHold {
    this.#held++;
    // A hold names its version untyped, as the router and the registry hand versions out.
    return new VersionHold(this as unknown as ModelVersion, this.#unhold);
  }

  readonly #unhold = (): void => {
    if (--this.#held > 0 || !this.#unheld) return;
    const drain = this.#unheld;
    this.#unheld = undefined;
    drain();
  };

  /** When the version last took a request (or was loaded), on the registry's clock. */
  get lastUsed(): number {
    return this.#lastUsed;
  }

  /** The estimated memory the version occupies. */
  get sizeBytes(): number {
    return this.#init.sizeBytes ?? 0;
  }

  /**
   * Validates a request, queues it and resolves with its response.
   * @param hold the request's hold on this version, taken when it was routed here (a
   * `VersionCall`'s `hold`): a draining version still takes the request while the hold is
   * live, and releases it once the request is queued or refused as invalid. Without one, a version
   * that is not ready refuses the request. A hold on another version, or another instance of this
   * one, is refused with a TypeError naming both, and left as it was.
   */
  infer(request: Req, options: InferOptions = {}, hold?: VersionHold): Promise<Res> {
    return this.#accept(request, options, hold, true);
  }

  /**
   * @internal {@link ModelVersion.infer} for a request this instance's handler has validated
   * already: queued without running `validate` again. The InferenceService validates a cached
   * model's requests before it asks the caches, so that a refused one never reaches a store.
   */
  inferValidated(request: Req, options: InferOptions, hold: VersionHold): Promise<Res> {
    return this.#accept(request, options, hold, false);
  }

  #accept(request: Req, options: InferOptions, hold: VersionHold | undefined, validate: boolean): Promise<Res> {
    if (hold !== undefined && hold.version !== this) return Promise.reject(foreignHold(this, hold));
    // A draining version still takes a request routed to it before it left service, once.
    if (this.#state !== 'ready' && (hold === undefined || hold.released)) return Promise.reject(this.#notReady());
    this.#inFlight++;
    this.#lastUsed = this.#init.clock.now();
    let validated: void | Promise<void> = undefined;
    try {
      if (validate) validated = this.handler.validate(request);
    } catch (error) {
      this.#inFlight--;
      hold?.release();
      return Promise.reject(error);
    }
    let answer: Promise<Res>;
    if (validated === undefined) {
      // Validated synchronously (the usual case), the request is queued in the caller's tick; with
      // a slot free its batch goes out within the queue delay, so the backend may wake a worker now.
      // With every slot busy, a run may have finished unnoticed behind other requests' work on the
      // event loop: settling it now lets this request's batch go out as soon as it is queued.
      if (this.batcher.inFlight < this.batcher.concurrency) this.session.expect?.(this.#queueDelayMs);
      else this.session.collect?.();
      answer = this.batcher.submit(request, options);
    } else {
      answer = this.#admit(validated, request, options);
    }
    // Queued, or counted among the admitting requests a drain waits for before closing the queue.
    hold?.release();
    answer.then(this.#settled, this.#settled);
    return answer;
  }

  readonly #settled = (): void => {
    this.#inFlight--;
  };

  async #admit(validated: Promise<void>, request: Req, options: InferOptions): Promise<Res> {
    const admitting = Promise.resolve(validated);
    this.#admitting.add(admitting);
    try {
      await admitting;
    } finally {
      this.#admitting.delete(admitting);
    }
    return this.batcher.submit(request, options);
  }

  /**
   * Runs requests straight through the handler, bypassing the queue, before the version takes
   * traffic: each as given and repeated to fill each of `batchSizes` items, every batch twice on
   * each of `slots` run slots (`session.concurrency` unless given), the slots at once, so that each
   * worker of the session runs it (see {@link warmUp}); no batch starts once `signal` aborts.
   */
  async warmup(requests: readonly Req[], options: { readonly batchSizes?: readonly number[]; readonly slots?: number; readonly signal?: AbortSignal } = {}): Promise<void> {
    const start = this.#init.clock.now();
    const { batchSizes = [], slots, signal } = options;
    await warmUp({ handler: this.handler, run: (requests, signal) => this.#runBatch(requests, signal), session: this.session, batching: this.#init.batching !== undefined, slots, signal }, requests, batchSizes);
    this.#warmupMs = this.#init.clock.now() - start;
  }

  /** Marks the version ready for traffic. */
  markReady(): void {
    this.#state = 'ready';
  }

  /** Marks the version failed. */
  markFailed(): void {
    this.#state = 'failed';
  }

  /** Stops taking requests, finishes queued and running work, then disposes handler and session. */
  unload(): Promise<void> {
    this.#unloading ??= this.#drainAndDispose();
    return this.#unloading;
  }

  /** What the registry reports of this version. */
  metadata(): VersionMetadata {
    return {
      name: this.name,
      version: this.version,
      state: this.#state,
      backend: this.#init.backend,
      device: this.session.device,
      fallbacks: this.session.fallbacks,
      inputs: this.#init.inputs,
      outputs: this.session.outputs,
      maxBatchSize: this.#init.batching?.maxBatchSize ?? 0,
      loadMs: this.#init.loadMs,
      warmupMs: this.#warmupMs,
      labels: this.#init.labels?.() ?? [],
      sizeBytes: this.sizeBytes,
    };
  }

  async #drainAndDispose(): Promise<void> {
    this.#state = 'draining';
    if (this.#held > 0) await new Promise<void>((resolve) => (this.#unheld = resolve));
    await Promise.allSettled([...this.#admitting]);
    await this.batcher.close();
    try {
      await this.handler.dispose();
    } finally {
      await this.session.dispose();
      this.#state = 'unloaded';
    }
  }

  #notReady(): ModelNotReadyError {
    return new ModelNotReadyError(`Model '${this.name}' version '${this.version}' is ${this.#state}`);
  }

  /** One batch through the handler; whatever user code throws reaches callers as a ServableError (BackendError, cause kept). */
  async #runBatch(requests: readonly Req[], signal?: AbortSignal): Promise<readonly (Res | Error)[]> {
    try {
      // Synchronous steps are not awaited: each await is a microtask turn on the request's path.
      const prepared = this.handler.preprocess(requests);
      const feeds = isPromiseLike(prepared) ? await prepared : prepared;
      const outputs = await this.handler.inference(feeds, signal);
      const answered = this.handler.postprocess(outputs, requests);
      const results = isPromiseLike(answered) ? await answered : answered;
      return results.map((r) => (r instanceof Error ? toServableError(r) : r));
    } catch (error) {
      throw toServableError(error);
    }
  }
}
