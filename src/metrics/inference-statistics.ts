import { assertFunction, assertOptionKeys, assertObject, describe, optionError } from '../core/index.js';
import { hasVersion } from './has-version.js';
import { listen } from './listen.js';
import type {
  BatchEvent,
  BatchStatistics,
  DurationStatistic,
  InferenceStatisticsOptions,
  ModelStatistics,
  RequestEvent,
  StatisticsCacheEvent,
  StatisticsCacheSource,
  StatisticsRegistrySource,
  StepEvent,
  VersionRef,
} from './statistics-types.js';
import { checkSource } from './validate.js';

const KEYS = ['service', 'registry', 'caches', 'now'];
const NS = 1e6;

/** A mutable {@link DurationStatistic}. */
interface Duration {
  count: number;
  ns: number;
}

/** What one version has done, kept as it happens. */
interface Counts {
  lastInference: number;
  inferences: number;
  executions: number;
  success: Duration;
  fail: Duration;
  /** The waits of the requests executions answered; Triton reports them with the successes' count. */
  queueNs: number;
  computed: Duration;
  cacheHit: Duration;
  cacheMiss: Duration;
  /** Executions by batch size: their count and time. */
  batches: Map<number, Duration>;
}

const duration = (): Duration => ({ count: 0, ns: 0 });
const counts = (): Counts => ({
  lastInference: 0,
  inferences: 0,
  executions: 0,
  success: duration(),
  fail: duration(),
  queueNs: 0,
  computed: duration(),
  cacheHit: duration(),
  cacheMiss: duration(),
  batches: new Map(),
});
const nanos = (ms: number): number => Math.round(ms * NS);
const copy = (d: Duration): DurationStatistic => ({ count: d.count, ns: d.ns });

/**
 * Per model version statistics in the shape of Triton's statistics extension
 * (`GET /v2/models[/{m}[/versions/{v}]]/stats`, tritonclient's `get_inference_statistics`): pass
 * one as the `statistics` option of an adapter (or of `createHttpHandler`) to serve it. Like
 * {@link ServingMetrics} it only listens, to the service's `request` events, the registry's
 * `ready`, `unload`, `batch` and `step` events and the caches' lookups; nothing in the request path
 * imports it, and without one nothing is counted.
 *
 * A version is counted from its `ready` event (or from construction, for one loaded before) until
 * it is unloaded, when its counts are dropped, as Triton's are with the model; a version loaded
 * again while it serves keeps them across the swap (Triton's reloaded model starts at 0).
 * Requests refused before a version was chosen for them (an unknown model, a body that does not
 * decode) belong to no version and are not counted. servable times a batch's preprocess, inference and postprocess as
 * one execution, so `compute_infer` holds all three and `compute_input` / `compute_output` report
 * its counts with 0 ns.
 *
 * The counts follow Triton's core: a success adds its items to `inference_count` and its wait to
 * `queue` (whose count is `success`'s), a failure only to `fail`; an execution counts in
 * `execution_count`, `batch_stats` and `last_inference` unless it failed as a whole. Where
 * servable differs on purpose: `fail` also holds requests refused once a version was chosen but
 * before they queued (a 400 for the model's inputs, a full queue), which Triton's core refuses
 * before it counts; a request that joined an identical one in flight is a cache hit of 0 ns;
 * and a request re-run alone after its batch failed as a whole counts its wait for the first run.
 * A request counts one cache lookup, as Triton's: with a model's result and semantic caches both
 * given, its exact hit, or else its semantic hit or miss (not the exact miss before it).
 *
 * @example
 * ```ts
 * import { InferenceStatistics } from 'servable/metrics';
 *
 * const statistics = new InferenceStatistics({ service, caches: [resultCache] });
 * app.use(servableExpress({ service, statistics }));
 * ```
 */
export class InferenceStatistics {
  /** Counts by model, then version. */
  readonly #models = new Map<string, Map<string, Counts>>();
  readonly #now: () => number;
  readonly #unsubscribe: (() => void)[] = [];
  #closed = false;

  constructor(options: InferenceStatisticsOptions) {
    assertObject('options', options);
    assertOptionKeys('InferenceStatistics', options, KEYS);
    const { service } = options;
    checkSource('service', service);
    const registry = options.registry ?? service.registry;
    if (registry === undefined) throw optionError(`Expected \`registry\`, or a \`service\` with one, got ${describe(options.registry)}`);
    checkSource('registry', registry, ['list']);
    const caches = options.caches ?? [];
    if (!Array.isArray(caches)) throw optionError(`Expected \`caches\` to be an array of caches, got ${describe(caches)}`);
    caches.forEach((cache: unknown, i) => checkSource(`caches[${i}]`, cache));
    this.#now = options.now ?? Date.now;
    assertFunction('now', this.#now);

    for (const v of registry.list()) this.#track(v);
    this.#watchRegistry(registry);
    this.#unsubscribe.push(listen(service, { request: (e: RequestEvent) => this.#request(e) }));
    const watched = new Set<unknown>(caches);
    // Looked up at each miss, so a model's caching set later counts too.
    const semanticCounted = (model: string, cache: unknown): boolean => {
      const semantic = service.cachingOf?.(model)?.semantic;
      return semantic !== undefined && semantic !== cache && watched.has(semantic);
    };
    for (const cache of caches) this.#watchCache(cache, semanticCounted);
  }

  /**
   * The statistics of one version in Triton's `$model_stat` shape: zeros for a version not
   * counted (not loaded, or loaded without a request yet).
   */
  versionStatistics(name: string, version: string): ModelStatistics {
    const c = this.#models.get(name)?.get(version) ?? counts();
    const computed = copy(c.computed);
    const folded = { count: c.computed.count, ns: 0 };
    const batch_stats: BatchStatistics[] = [...c.batches]
      .sort(([a], [b]) => a - b)
      .map(([size, d]) => ({ batch_size: size, compute_input: { count: d.count, ns: 0 }, compute_infer: copy(d), compute_output: { count: d.count, ns: 0 } }));
    return {
      name,
      version,
      last_inference: c.lastInference,
      inference_count: c.inferences,
      execution_count: c.executions,
      inference_stats: {
        success: copy(c.success),
        fail: copy(c.fail),
        queue: { count: c.success.count, ns: c.queueNs },
        compute_input: folded,
        compute_infer: computed,
        compute_output: { ...folded },
        cache_hit: copy(c.cacheHit),
        cache_miss: copy(c.cacheMiss),
      },
      batch_stats,
    };
  }

  /** Stops listening; the counts so far stay readable. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
  }

  #track(v: VersionRef): void {
    let versions = this.#models.get(v.name);
    if (!versions) this.#models.set(v.name, (versions = new Map()));
    if (!versions.has(v.version)) versions.set(v.version, counts());
  }

  #counts(model: string, version: string): Counts | undefined {
    return this.#models.get(model)?.get(version);
  }

  #watchRegistry(registry: StatisticsRegistrySource): void {
    const onReady = (e: VersionRef) => this.#track(e);
    const onUnload = (e: VersionRef) => {
      // A new load of the same version may have replaced it: its counts go on.
      if (hasVersion(registry, e.name, e.version)) return;
      const versions = this.#models.get(e.name);
      versions?.delete(e.version);
      if (versions?.size === 0) this.#models.delete(e.name);
    };
    const onBatch = (e: VersionRef & BatchEvent) => this.#batch(e);
    // An ensemble's step is a request of its model, which its batches answered, as Triton counts a composing model's.
    const onStep = (e: StepEvent) => this.#settled(e.name, e.version, !('error' in e), e.durationMs);
    this.#unsubscribe.push(listen(registry, { ready: onReady, unload: onUnload, batch: onBatch, step: onStep }));
  }

  #request(e: RequestEvent): void {
    this.#settled(e.model, e.version, e.outcome === 'success', e.durationMs);
  }

  #settled(model: string, version: string, success: boolean, durationMs: number): void {
    const c = this.#counts(model, version);
    if (!c) return;
    const d = success ? c.success : c.fail;
    d.count++;
    d.ns += nanos(durationMs);
  }

  #batch(e: VersionRef & BatchEvent): void {
    const c = this.#counts(e.name, e.version);
    if (!c) return;
    // As Triton's UpdateFailure, a request this execution failed (or one already answered with a
    // failure, whose result it discarded) adds to neither the queue nor inference_count.
    // A retry's request was counted in the queue when its first execution ran; since then it waited for it.
    if (e.reason !== 'retry') {
      for (const q of e.queueMs) c.queueNs += nanos(q);
      for (const i of e.failedAt) c.queueNs -= nanos(e.queueMs[i]!);
      for (const i of e.discardedAt) c.queueNs -= nanos(e.queueMs[i]!);
    }
    if (e.error !== undefined) return;
    c.lastInference = this.#now();
    const ns = nanos(e.runMs);
    const answered = e.requests - e.failed - e.discardedAt.length - e.retried;
    c.computed.count += answered;
    c.computed.ns += answered * ns;
    c.inferences += e.size - e.failedItems - e.discardedItems;
    c.executions++;
    let size = c.batches.get(e.size);
    if (!size) c.batches.set(e.size, (size = duration()));
    size.count++;
    size.ns += ns;
  }

  #watchCache(cache: StatisticsCacheSource, semanticCounted: (model: string, cache: unknown) => boolean): void {
    const add = (pick: (c: Counts) => Duration, count: boolean) => (e: StatisticsCacheEvent) => {
      const c = e.model === undefined || e.version === undefined ? undefined : this.#counts(e.model, e.version);
      if (!c) return;
      const d = pick(c);
      if (count) d.count++;
      if (typeof e.durationMs === 'number') d.ns += nanos(e.durationMs);
    };
    const onMiss = add((c) => c.cacheMiss, true);
    const onStore = add((c) => c.cacheMiss, false);
    const listeners: Record<string, (e: StatisticsCacheEvent) => void> = {
      hit: add((c) => c.cacheHit, true),
      // Joined an identical request in flight: answered without running or a lookup, as a hit of 0 ns.
      coalesce: add((c) => c.cacheHit, true),
      miss: (e) => {
        // A request that asked not to read looked nothing up. An exact miss goes on to the model's
        // semantic cache, whose hit or miss is then the request's one lookup, as Triton counts one.
        if (e.reason !== 'bypass' && !(e.model !== undefined && semanticCounted(e.model, cache))) onMiss(e);
      },
      // Triton's cache_miss time includes the insertion that follows the miss; a bypass's write follows none.
      store: (e) => {
        if (e.bypass !== true) onStore(e);
      },
    };
    this.#unsubscribe.push(listen(cache, listeners));
  }
}
