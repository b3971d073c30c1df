import { assertKnownKeys, assertOptionKeys, clockOption, assertObject, describe, optionError, Emitter, InvalidInputError, outcomeOf, type Clock, type RequestOutcome, type TensorMap } from '../core/index.js';
import type { TensorSpec } from '../backends/index.js';
import type { ModelRegistry, ModelVersion, VersionMetadata, VersionSelector } from '../registry/index.js';
import { TensorHandler, type InferenceRequest, type InferenceResponse } from '../handler/index.js';
import { checkCaching, checkDirectives, clearReplaced, flightGroupOf, inferCached, leftService, type AnyModelCaching, type CacheDirectives } from './caching.js';
import { LookupHolds } from './lookup-holds.js';
import { checkHold, Router, type RouterRunOptions } from './router.js';
import type { ShadowEvent } from './shadow.js';

/**
 * Per-request options of {@link InferenceService.infer}: routing (a held version, else a version,
 * else a label, else the model's traffic split, else its default version), cancellation, budget,
 * and cache directives.
 */
export interface ServiceInferOptions extends Omit<RouterRunOptions, 'onRouted'>, CacheDirectives {
  /** The request's priority level, 1 the highest, where the model's batching has `priorityLevels`. */
  readonly priority?: number | undefined;
  /**
   * Called with the version that serves the request, once it is chosen, and the instance that
   * answers it: after a forced reload of the same version string, `registry.peek` finds the new
   * instance while this one, held for the request, still answers it.
   */
  readonly onVersion?: ((version: string, instance: ModelVersion) => void) | undefined;
}

/** Every per-request option's name, so a misspelt one (`timeoutMS`, `lable`) is refused, not ignored. */
const INFER_KEYS = Object.keys({
  version: true,
  label: true,
  signal: true,
  timeoutMs: true,
  routingKey: true,
  hold: true,
  noCache: true,
  noStore: true,
  tenant: true,
  priority: true,
  onVersion: true,
} satisfies Record<keyof ServiceInferOptions, true>);

/** The options a {@link InferenceService.runner} fixes: all but the signal, which each call gives, and a hold, which serves one request. */
const RUNNER_KEYS = INFER_KEYS.filter((key) => key !== 'signal' && key !== 'hold');

/** Options of {@link InferenceService}. */
export interface ServiceOptions {
  /** Where models are loaded. */
  readonly registry: ModelRegistry;
  /** The clock request durations and budgets are measured on. @default the registry's clock */
  readonly clock?: Clock;
  /** Uniform numbers in [0, 1) for unkeyed traffic splits and shadow sampling. @default Math.random */
  readonly random?: () => number;
  /**
   * The caches each model opts into, by model name (see {@link InferenceService.setCaching}). They
   * apply to versions served by a TensorHandler; one with a custom handler is served uncached. @default none
   */
  readonly caches?: Readonly<Record<string, AnyModelCaching>>;
}

/** The payload of the `request` event: one request that finished, well or not. */
export interface RequestEvent {
  readonly model: string;
  /** The version that served it, or was chosen to (a timeout can run out before it queues); `''` when the request failed before a version was chosen. */
  readonly version: string;
  readonly outcome: RequestOutcome;
  /** From the call to its settlement, in milliseconds. */
  readonly durationMs: number;
}

/** The events an InferenceService emits. */
export interface ServiceEvents {
  request: [RequestEvent];
  /** A request mirrored to a shadow version was compared (or skipped). */
  shadow: [ShadowEvent];
}

/** Model metadata as the protocols report it. */
export interface ModelMetadata {
  readonly name: string;
  /** Every loaded version, newest first. */
  readonly versions: readonly string[];
  /** The backend of the reported version. */
  readonly platform: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The reported version's full metadata. */
  readonly version: VersionMetadata;
}

/**
 * The entry point of a request: resolves the model version and hands the request to it. The
 * protocols and HTTP adapters sit on top of this; use it directly to serve in-process.
 */
export class InferenceService extends Emitter<ServiceEvents> {
  /** The registry this service routes to. */
  readonly registry: ModelRegistry;
  readonly #clock: Clock;
  readonly #router: Router;
  readonly #caches = new Map<string, AnyModelCaching>();
  readonly #lookups: LookupHolds;

  constructor(options: ServiceOptions) {
    super();
    assertObject('options', options);
    assertOptionKeys('InferenceService', options, ['registry', 'clock', 'random', 'caches']);
    if (typeof options.registry?.get !== 'function') {
      throw optionError(`Expected \`registry\` to be a ModelRegistry, got ${describe(options.registry)}`);
    }
    this.registry = options.registry;
    this.#clock = clockOption(options.clock, this.registry.clock);
    this.#router = new Router({ registry: this.registry, clock: this.#clock, random: options.random, onShadow: (e) => this.emit('shadow', e) });
    this.#lookups = new LookupHolds(this.registry);
    this.registry.on('draining', ({ name, version, reason }) => {
      if (reason === 'evicted') return this.#lookups.evicted({ name, version });
      const caching = this.#caches.get(name);
      if (caching) leftService(caching, { name, version }, reason);
    });
    this.registry.on('replace', (ref) => {
      const caching = this.#caches.get(ref.name);
      if (caching) clearReplaced(caching, ref);
    });
    if (options.caches !== undefined) {
      assertObject('caches', options.caches);
      for (const [model, caching] of Object.entries(options.caches)) this.setCaching(model, caching);
    }
  }

  /**
   * Runs one request through the model's queue, batcher and handler. Rejects with TypeError when
   * `options` is not an object, holds an unknown option or a `hold` on no version of `model` (a
   * `hold` is then left live), InvalidInputError for a `timeoutMs` that is not a number (or a
   * `noCache` / `noStore` not a boolean, a `tenant` not a string), and
   * DeadlineExceededError for one of 0 or less (a budget already spent). Past those TypeErrors a
   * `hold` is released when the call settles, whatever the outcome.
   */
  async infer<Req = InferenceRequest, Res = InferenceResponse>(model: string, request: Req, options: ServiceInferOptions = {}): Promise<Res> {
    assertObject('options', options as unknown);
    assertKnownKeys('infer()', options, INFER_KEYS);
    if (options.hold !== undefined) checkHold(model, options.hold);
    const start = this.#clock.now();
    let version = '';
    try {
      const { timeoutMs } = options;
      // The budget does arithmetic on it, which would take "100" for 100. A spent one (0 or less) is a 504.
      if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs))) {
        throw new InvalidInputError(`Expected \`timeoutMs\` to be a number, got ${describe(timeoutMs)}`);
      }
      checkDirectives(options);
      // onRouted first: Node 20 defines each member written after a spread through the runtime
      // (~0.9 us each, against ~0.1 us for the whole object this way); infer() refuses an onRouted of its own.
      const routed = { onRouted: (mv: ModelVersion) => (version = mv.version), ...options };
      const response = await this.#router.run(model, request, routed, (mv, inferOptions, hold) => {
        options.onVersion?.(mv.version, mv);
        const { signal, timeoutMs } = inferOptions;
        const { priority, noCache, noStore, tenant } = options;
        const caching = this.#caches.get(model);
        if (caching && mv.handler instanceof TensorHandler) {
          const cached = { flightGroup: flightGroupOf(options), signal, timeoutMs, priority, noCache, noStore, tenant };
          return inferCached(caching, mv, request as InferenceRequest, cached, this.#clock, hold, this.#lookups) as Promise<Res>;
        }
        return mv.infer(request, { signal, timeoutMs, priority }, hold) as Promise<Res>;
      });
      this.#finished(model, version, 'success', start);
      return response;
    } catch (error) {
      // A caller's signal rejects with its reason when that is an Error (AbortSignal.timeout's
      // TimeoutError): the caller gave up, which is no backend failure.
      const cancelled = options.signal?.aborted === true && error === options.signal.reason;
      // Refused before the router took it (a bad timeoutMs): the hold is the service's to release all the same.
      options.hold?.release();
      this.#finished(model, version, cancelled ? 'cancelled' : outcomeOf(error), start);
      throw error;
    }
  }

  /**
   * Counts a request for `model` that failed before it could be handed to {@link infer} (a body
   * the HTTP protocol could not decode, say): `request` listeners such as ServingMetrics then see
   * every request, with the outcome the error maps to and a duration of 0. `version` is the version
   * the request was refused for, when one was chosen before it failed (TF-Serving's `:predict`
   * reads its body by that version's inputs); `''`, the default, when none was.
   * @throws TypeError quoting a `version` that is not a string.
   */
  reportFailure(model: string, error: unknown, version = ''): void {
    if (typeof version !== 'string') throw optionError(`Expected \`version\` to be a string, got ${describe(version)}`);
    this.#finished(model, version, outcomeOf(error), this.#clock.now());
  }

  /**
   * Sets the caches `model` opts into, or removes them with `undefined`. They apply to versions
   * served by a TensorHandler (requests and responses that are tensors); a version with a custom
   * handler is served uncached, without a word (docs/caching.md).
   */
  setCaching(model: string, caching: AnyModelCaching | undefined): void {
    if (caching === undefined) this.#caches.delete(model);
    else this.#caches.set(model, checkCaching(model, caching));
  }

  /** The caches `model` opts into, as {@link InferenceService.setCaching} last set them; undefined for none. */
  cachingOf(model: string): AnyModelCaching | undefined {
    return this.#caches.get(model);
  }

  /**
   * Runs `model` on feeds and resolves with its outputs: the shape an embedder or another model's
   * step expects, e.g. `onnxEmbedder({ run: service.runner('embedder'), feeds })`, so embeddings
   * are batched with everything else the model serves. Under `maxLoadedVersions` /
   * `maxLoadedBytes` the embedder may evict the version of a request whose lookup it embeds for:
   * that version unloads without waiting for the lookup, and a miss loads it again (docs/caching.md).
   * @throws TypeError naming an unknown option, when the runner is made rather than at each call.
   */
  runner(model: string, options: Omit<ServiceInferOptions, 'signal' | 'hold'> = {}): (feeds: TensorMap, signal?: AbortSignal) => Promise<TensorMap> {
    assertObject('options', options as unknown);
    assertKnownKeys('runner()', options, RUNNER_KEYS);
    return async (feeds, signal) => (await this.infer<InferenceRequest, InferenceResponse>(model, { inputs: feeds }, { signal, ...options })).outputs;
  }

  /**
   * The version or label the model's traffic split sends a request that names neither to, drawn
   * now (at the point `routingKey` fixes, when given); undefined for a model without a split. For
   * a caller that must know the version before it builds the request, as TF-Serving's `:predict`
   * reads its body by the version's inputs: it holds the version the answer names and passes the
   * hold as the request's `hold`, so that the split is drawn once and the request runs on the
   * version it was built for, even if a label moves or a swap retires it meanwhile.
   * @throws ModelNotFoundError for an unknown model.
   */
  splitTarget(model: string, routingKey?: string): VersionSelector | undefined {
    return this.#router.splitTarget(model, routingKey);
  }

  /** The ready version a request naming `selector` (or nothing) would get, without loading or splitting. */
  resolve(model: string, selector: VersionSelector = {}): ModelVersion {
    return this.registry.resolve(model, selector);
  }

  /** The metadata of a model at a version, or at its newest ready version. */
  metadata(model: string, version?: string): ModelMetadata {
    const chosen = this.registry.get(model, version).metadata();
    return {
      name: model,
      versions: this.registry.list(model).map((v) => v.version),
      platform: chosen.backend,
      inputs: chosen.inputs,
      outputs: chosen.outputs,
      version: chosen,
    };
  }

  /** True when the model (at the version, or any version) can take requests. */
  isReady(model: string, version?: string): boolean {
    return this.registry.isReady(model, version);
  }

  /** Emits `request`; a listener that throws never fails the request (see Emitter). */
  #finished(model: string, version: string, outcome: RequestOutcome, start: number): void {
    if (this.listenerCount('request') > 0) this.emit('request', { model, version, outcome, durationMs: this.#clock.now() - start });
  }
}
