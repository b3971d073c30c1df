import { assertOptionKeys, assertObject, describe, optionError, outcomeOf } from '../core/index.js';
import { DEFAULT_BATCH_SIZE_BUCKETS, DEFAULT_SECONDS_BUCKETS, forgetModel, forgetVersion, metricSet, type MetricSet, type ModelSample, type QueueSample, type ScrapeSource } from './metric-set.js';
import { hasVersion } from './has-version.js';
import { listen } from './listen.js';
import { checkBuckets, checkPrefix, checkPromRegistry, checkSource } from './validate.js';
import type {
  BatchEvent,
  BatcherSource,
  CacheEventFields,
  CacheSource,
  DropEvent,
  MetricBuckets,
  RegistryEvents,
  RegistrySource,
  RequestEvent,
  RequestOutcome,
  ServiceSource,
  ServingMetricsOptions,
  StepEvent,
  VersionMetadata,
  VersionRef,
} from './types.js';

const MS = 1000;
const KEYS = ['promRegistry', 'registry', 'service', 'batchers', 'caches', 'prefix', 'buckets'];
const BUCKET_KEYS = ['seconds', 'batchSize'];

/**
 * The outcomes a request served by a version can have: created at 0 when the version is ready, as
 * Triton creates its success and failure counters when a model loads, so the first rejection or
 * failure is an increase Prometheus sees, not the birth of a series.
 */
const VERSION_OUTCOMES: readonly RequestOutcome[] = ['success', 'invalid', 'rejected', 'timeout', 'cancelled', 'backend'];

/** Unloaded versions remembered so that late requests do not bring their series back. */
const MAX_FORGOTTEN = 1024;

/**
 * Prometheus metrics of a serving stack on a prom-client registry you pass in: requests by
 * outcome, queue/compute/end-to-end time, batch sizes, items vs executions, queue depth, loaded
 * versions and their devices, cache hits. It only listens: it subscribes to the events of the
 * ModelRegistry, InferenceService, batchers and caches it is given, and reads queue depths when
 * Prometheus scrapes. Nothing in the request path imports it.
 *
 * Metrics are created once per prom registry and prefix, so several ServingMetrics (one per
 * ModelRegistry, say) may share one registry; their values add up, and a series leaves on unload
 * only once no registry they watch still has its model version.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * import { ServingMetrics, metricsHandler } from 'servable/metrics';
 *
 * const promRegistry = new Registry();
 * const metrics = new ServingMetrics({ promRegistry, service, caches: { results: resultCache } });
 * const scrape = metricsHandler(promRegistry); // mount on GET /metrics
 * ```
 */
export class ServingMetrics {
  readonly #set: MetricSet;
  readonly #registry: RegistrySource | undefined;
  readonly #batchers: ReadonlyMap<string, BatcherSource>;
  readonly #scrape: ScrapeSource;
  readonly #unsubscribe: (() => void)[] = [];
  /**
   * Versions unloaded and forgotten (`model\0version`): a request routed to one before it went,
   * answered after (a slow cache lookup), is counted without its version, or its series would come
   * back for good.
   */
  readonly #forgotten = new Set<string>();
  /**
   * Models known to have been served, whose series leave once the registry forgets them. A model
   * whose versions were all evicted is forgotten on unload without an `unload` event, so the
   * scrape looks for those too.
   */
  readonly #served = new Set<string>();
  #closed = false;

  constructor(options: ServingMetricsOptions) {
    assertObject('options', options);
    assertOptionKeys('ServingMetrics', options, KEYS);
    checkPromRegistry('promRegistry', options.promRegistry);
    const prefix = options.prefix ?? 'servable_';
    checkPrefix(prefix);
    const given: MetricBuckets = options.buckets ?? {};
    assertObject('buckets', given as unknown);
    assertOptionKeys('buckets', given, BUCKET_KEYS, { path: 'buckets.' });
    const buckets: Required<MetricBuckets> = {
      seconds: given.seconds ?? DEFAULT_SECONDS_BUCKETS,
      batchSize: given.batchSize ?? DEFAULT_BATCH_SIZE_BUCKETS,
    };
    checkBuckets('buckets.seconds', buckets.seconds);
    checkBuckets('buckets.batchSize', buckets.batchSize);
    if (options.service !== undefined) checkSource('service', options.service);
    const registry = options.registry ?? options.service?.registry;
    if (registry !== undefined) checkSource('registry', registry, ['names', 'versions', 'list', 'queues']);
    const batchers = new Map(Object.entries(checkRecord('batchers', options.batchers)));
    for (const [name, b] of batchers) checkSource(`batchers.${name}`, b);
    const caches = Object.entries(checkRecord('caches', options.caches));
    for (const [name, c] of caches) checkSource(`caches.${name}`, c);
    if (registry === undefined && options.service === undefined && batchers.size === 0 && caches.length === 0) {
      throw optionError(`Expected at least one of \`registry\`, \`service\`, \`batchers\` or \`caches\`, got ${describe(options)}`);
    }

    this.#set = metricSet(options.promRegistry, prefix, buckets);
    this.#registry = registry;
    this.#batchers = batchers;
    this.#scrape = {
      queues: () => this.#queues(),
      models: () => this.#models(),
      versions: () => this.#versions(),
      loadsWaitingForRoom: () => this.#registry?.loadsWaitingForRoom ?? 0,
      holds: (model, version) => this.#registry !== undefined && (version === undefined ? knows(this.#registry, model) : hasVersion(this.#registry, model, version)),
    };
    this.#set.sources.add(this.#scrape);
    if (registry) this.#watchRegistry(registry, options.service !== undefined);
    if (options.service) this.#watchService(options.service, registry);
    for (const [name, batcher] of batchers) this.#watchBatcher(name, batcher);
    for (const [name, cache] of caches) this.#watchCache(name, cache);
  }

  /** Stops listening to every source and leaves the scrape-time gauges; recorded values stay. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    this.#set.sources.delete(this.#scrape);
  }

  #watchRegistry(registry: RegistrySource, countsRequests: boolean): void {
    const m = this.#set;
    // Both outcomes exist from the model's first load on, at 0: a counter whose series is born at 1
    // never shows an increase() to Prometheus, so the first failed load would never alert.
    const known = (model: string) => {
      m.loads.inc({ model, outcome: 'success' }, 0);
      m.loads.inc({ model, outcome: 'failure' }, 0);
    };
    const serving = (e: VersionRef) => {
      if (countsRequests) for (const outcome of VERSION_OUTCOMES) m.requests.inc({ model: e.name, version: e.version, outcome }, 0);
    };
    for (const model of registry.names()) {
      known(model);
      // Not a model whose first load is in flight: if it fails, its failed load stays for the alert.
      if (registry.versions(model).some((v) => v.state !== 'loading')) this.#served.add(model);
    }
    for (const v of registry.list()) if (v.state === 'ready') serving(v);
    const onLoading = (e: VersionRef) => known(e.name);
    const onBatch = (e: VersionRef & BatchEvent) => this.#batch(e.name, e.version, e);
    const onDrop = (e: VersionRef & DropEvent) => this.#drop(e.name, e.version, e);
    const onReady = (e: VersionMetadata) => {
      m.loads.inc({ model: e.name, outcome: 'success' });
      this.#served.add(e.name);
      this.#forgotten.delete(`${e.name}\0${e.version}`);
      serving(e);
    };
    const onFailure = (e: RegistryEvents['failure'][0]) => {
      if (e.stage === 'load') m.loads.inc({ model: e.name, outcome: 'failure' });
    };
    const onUnload = (e: VersionRef) => {
      // A new load of the same version may have replaced it: its series are that version's now.
      if (hasVersion(registry, e.name, e.version)) return;
      this.#forgotten.add(`${e.name}\0${e.version}`);
      if (this.#forgotten.size > MAX_FORGOTTEN) this.#forgotten.delete(this.#forgotten.values().next().value!);
      if (!this.#heldElsewhere(e.name, e.version)) void forgetVersion(m, e.name, e.version);
      // The registry forgets a model once its last version is unloaded, right after this event.
      queueMicrotask(() => this.#forgetIfGone(registry, e.name));
    };
    const listeners = { loading: onLoading, batch: onBatch, drop: onDrop, ready: onReady, failure: onFailure, unload: onUnload };
    // An ensemble's model step is a request of its model (its batches are counted as any), as Triton
    // counts a composing model's; only beside the service's requests, which count the ensemble's own.
    const onStep = (e: StepEvent) => this.#step(e);
    this.#unsubscribe.push(listen(registry, countsRequests ? { ...listeners, step: onStep } : listeners));
  }

  #step(e: StepEvent): void {
    this.#request(e.name, e.version, 'error' in e ? outcomeOf(e.error) : 'success', e.durationMs);
  }

  /** Counts a request of a model known to be served, without the version if it was unloaded and forgotten since. */
  #request(model: string, version: string, outcome: RequestOutcome, durationMs: number): void {
    const m = this.#set;
    const label = this.#forgotten.size > 0 && this.#forgotten.has(`${model}\0${version}`) ? '' : version;
    m.requests.inc({ model, version: label, outcome });
    if (outcome === 'success') m.requestDuration.observe({ model, version: label }, durationMs / MS);
  }

  #watchService(service: ServiceSource, registry: RegistrySource | undefined): void {
    const onRequest = (e: RequestEvent) => {
      // A client naming a model that does not exist must not mint new series, whatever the outcome.
      const known = e.outcome === 'success' || (registry !== undefined && knows(registry, e.model));
      this.#request(known ? e.model : '', known ? e.version : '', e.outcome, e.durationMs);
    };
    this.#unsubscribe.push(listen(service, { request: onRequest }));
  }

  #watchBatcher(model: string, batcher: BatcherSource): void {
    this.#unsubscribe.push(
      listen(batcher, { batch: (e: BatchEvent) => this.#batch(model, '', e), drop: (e: DropEvent) => this.#drop(model, '', e) }),
    );
  }

  #watchCache(name: string, cache: CacheSource): void {
    const m = this.#set;
    const lookup = (result: string, e: CacheEventFields) => {
      const model = e.model ?? '';
      // hit and miss exist at 0 from a model's first lookup: a cache that never hits (its store down)
      // shows a hit ratio of 0 rather than none, and its first hit shows in rate().
      m.cacheLookups.inc({ cache: name, model, result: 'hit' }, result === 'hit' ? 1 : 0);
      m.cacheLookups.inc({ cache: name, model, result: 'miss' }, result === 'miss' ? 1 : 0);
      if (result !== 'hit' && result !== 'miss') m.cacheLookups.inc({ cache: name, model, result });
      if (typeof e.durationMs === 'number' && (result === 'hit' || result === 'miss')) {
        m.cacheLookupDuration.observe({ cache: name, result }, e.durationMs / MS);
      }
    };
    const listeners: Record<string, (e: CacheEventFields) => void> = {
      hit: (e) => {
        lookup('hit', e);
        if (typeof e.similarity === 'number' && e.exact !== true) m.cacheSimilarity.observe({ cache: name }, e.similarity);
      },
      miss: (e) => lookup(e.reason === 'bypass' ? 'bypass' : 'miss', e),
      coalesce: (e) => lookup('coalesced', e),
      error: (e) => m.cacheErrors.inc({ cache: name, operation: e.operation ?? '' }),
    };
    this.#unsubscribe.push(listen(cache, listeners));
  }

  #batch(model: string, version: string, e: BatchEvent): void {
    const m = this.#set;
    const labels = { model, version };
    m.items.inc(labels, e.size);
    m.executions.inc({ model, version, reason: e.reason });
    if (e.failed > 0) m.failedInBatch.inc(labels, e.failed);
    m.batchSize.observe(labels, e.size);
    m.computeDuration.observe(labels, e.runMs / MS);
    // A retry's requests were observed when their first execution ran; since then they waited for it, not in the queue.
    if (e.reason !== 'retry') for (const q of e.queueMs) m.queueDuration.observe(labels, q / MS);
  }

  #drop(model: string, version: string, e: DropEvent): void {
    this.#set.drops.inc({ model, version, reason: e.reason, stage: e.stage });
  }

  /** Removes the series of a model the registry has forgotten, unless another registry watched on these metrics has it. */
  #forgetIfGone(registry: RegistrySource, model: string): void {
    if (knows(registry, model)) return;
    this.#served.delete(model);
    const gone = () => !knows(registry, model) && !this.#heldElsewhere(model);
    if (gone()) void forgetModel(this.#set, model, gone);
  }

  /**
   * True when another ServingMetrics on these metrics watches a registry that still has the model
   * (version): the series are one for both, and still count what that registry serves.
   */
  #heldElsewhere(model: string, version?: string): boolean {
    for (const source of this.#set.sources) if (source !== this.#scrape && source.holds(model, version)) return true;
    return false;
  }

  *#queues(): Iterable<QueueSample> {
    for (const [model, b] of this.#batchers) yield { model, version: '', queued: b.queued, queuedItems: b.queuedItems, inFlight: b.inFlight };
    if (!this.#registry) return;
    for (const q of this.#registry.queues()) yield { model: q.name, version: q.version, queued: q.queued, queuedItems: q.queuedItems, inFlight: q.inFlight };
  }

  *#models(): Iterable<ModelSample> {
    if (!this.#registry) return;
    for (const model of this.#served) this.#forgetIfGone(this.#registry, model);
    for (const model of this.#registry.names()) yield { model, states: this.#registry.versions(model).map((v) => v.state) };
  }

  #versions(): Iterable<VersionMetadata> {
    return this.#registry?.list() ?? [];
  }
}

function knows(registry: RegistrySource, model: string): boolean {
  return registry.has ? registry.has(model) : registry.names().includes(model);
}

function checkRecord<T>(name: string, value: Readonly<Record<string, T>> | undefined): Readonly<Record<string, T>> {
  if (value === undefined) return {};
  assertObject(name, value);
  return value;
}
