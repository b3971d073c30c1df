import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { PromRegistry } from './handler.js';
import { describe, optionError, type RequestOutcome } from '../core/index.js';
import type { DispatchReason, DropEvent, DropReason } from '../batching/index.js';
import type { MetricBuckets, QueueState, VersionMetadata, VersionState } from './types.js';

/** The default upper bounds of the duration histograms, in seconds: 0.5 ms to 10 s. */
export const DEFAULT_SECONDS_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The default upper bounds of the batch size histogram, in items. */
export const DEFAULT_BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** The upper bounds of the semantic-hit similarity histogram: fine steps where thresholds are set. */
const SIMILARITY_BUCKETS = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 1];

/** A queue as one source sees it at scrape time. */
export interface QueueSample extends QueueState {
  readonly model: string;
  readonly version: string;
}

/** The states of the versions of one model the registry knows, as one source sees them at scrape time. */
export interface ModelSample {
  readonly model: string;
  readonly states: Iterable<VersionState>;
}

/** One attached source of scrape-time values (a ServingMetrics instance). */
export interface ScrapeSource {
  queues(): Iterable<QueueSample>;
  models(): Iterable<ModelSample>;
  versions(): Iterable<VersionMetadata>;
  /** Loads waiting for room under the registry's `maxLoadedVersions` / `maxLoadedBytes`. */
  loadsWaitingForRoom(): number;
  /** True when its registry knows the model, or with `version`, has that version of it. */
  holds(model: string, version?: string): boolean;
}

/** Every metric ServingMetrics writes, created once per prom registry and prefix. */
export interface MetricSet {
  readonly requests: Counter<'model' | 'version' | 'outcome'>;
  readonly requestDuration: Histogram<'model' | 'version'>;
  readonly items: Counter<'model' | 'version'>;
  readonly executions: Counter<'model' | 'version' | 'reason'>;
  readonly failedInBatch: Counter<'model' | 'version'>;
  readonly drops: Counter<'model' | 'version' | 'reason' | 'stage'>;
  readonly queueDuration: Histogram<'model' | 'version'>;
  readonly computeDuration: Histogram<'model' | 'version'>;
  readonly batchSize: Histogram<'model' | 'version'>;
  readonly loads: Counter<'model' | 'outcome'>;
  readonly cacheLookups: Counter<'cache' | 'model' | 'result'>;
  readonly cacheLookupDuration: Histogram<'cache' | 'result'>;
  readonly cacheErrors: Counter<'cache' | 'operation'>;
  readonly cacheSimilarity: Histogram<'cache'>;
  /** The sources the scrape-time gauges read; shared by every ServingMetrics on this set. */
  readonly sources: Set<ScrapeSource>;
}

/** Every value servable's own events give the labels of a version's series besides model and version. */
const OUTCOMES = Object.keys({ success: 1, invalid: 1, rejected: 1, timeout: 1, cancelled: 1, backend: 1, 'not-found': 1, 'not-ready': 1 } satisfies Record<RequestOutcome, 1>);
const DISPATCH_REASONS = Object.keys({ full: 1, preferred: 1, delay: 1, deadline: 1, adaptive: 1, drain: 1, retry: 1 } satisfies Record<DispatchReason, 1>);
const DROP_REASONS = Object.keys({ 'queue-full': 1, timeout: 1, cancelled: 1, closed: 1, shed: 1 } satisfies Record<DropReason, 1>);
const DROP_STAGES = Object.keys({ queued: 1, running: 1 } satisfies Record<DropEvent['stage'], 1>);

/**
 * Removes every series of one model version from the counters and histograms that carry a
 * version, as Triton drops an unloaded model's metrics: without it, each version ever deployed
 * would stay on the page for the life of the process. Those servable's events write go at once,
 * so a scrape right after `unload()` resolves shows none of them (prom-client lists a metric's
 * series only asynchronously); a sweep then takes any other label values a source of yours gave.
 */
export async function forgetVersion(set: MetricSet, model: string, version: string): Promise<void> {
  const { requests, requestDuration, items, executions, failedInBatch, drops, queueDuration, computeDuration, batchSize } = set;
  const ofVersion = { model, version };
  for (const metric of [requestDuration, items, failedInBatch, queueDuration, computeDuration, batchSize]) metric.remove(ofVersion);
  for (const outcome of OUTCOMES) requests.remove({ ...ofVersion, outcome });
  for (const reason of DISPATCH_REASONS) executions.remove({ ...ofVersion, reason });
  for (const reason of DROP_REASONS) for (const stage of DROP_STAGES) drops.remove({ ...ofVersion, reason, stage });
  for (const metric of [requests, executions, drops]) {
    await removeSeries(metric, (labels) => labels.model === model && labels.version === version);
  }
}

/**
 * Removes the series a model keeps besides those of its versions (its loads, its requests refused
 * before a version was chosen, its cache lookups) once the registry has forgotten it, unless
 * `gone()` says it came back meanwhile: without it, each model ever served would stay on the page.
 */
export async function forgetModel(set: MetricSet, model: string, gone: () => boolean): Promise<void> {
  const { requests, loads, cacheLookups } = set;
  for (const [metric, match] of [
    [requests, (labels: SeriesLabels) => labels.model === model && labels.version === ''],
    [loads, (labels: SeriesLabels) => labels.model === model],
    [cacheLookups, (labels: SeriesLabels) => labels.model === model],
  ] as const) {
    await removeSeries(metric, match, gone);
  }
}

type SeriesLabels = Readonly<Record<string, string | number>>;

/** Removes the series of `metric` whose labels `match`, if `still()` holds once they are read. */
async function removeSeries(metric: Counter<string> | Histogram<string>, match: (labels: SeriesLabels) => boolean, still = () => true): Promise<void> {
  const series = new Map<string, Record<string, string | number>>();
  for (const { labels } of (await metric.get()).values) {
    if (!match(labels as SeriesLabels)) continue;
    // A histogram's buckets carry `le` besides the labels of their series.
    const { le: _bucket, ...own } = labels as Record<string, string | number>;
    series.set(JSON.stringify(own), own);
  }
  if (!still()) return;
  for (const labels of series.values()) metric.remove(labels as never);
}

/** A registered metric; prom-client's `Metric` type leaves out the `name` every metric has. */
type Named = Metric & { readonly name: string };

interface Entry {
  readonly set: MetricSet;
  readonly metrics: readonly Named[];
  readonly buckets: string;
}

const sets = new WeakMap<PromRegistry, Map<string, Entry>>();

/**
 * The metrics of `prefix` on `registry`, created on first use. Two ServingMetrics on one prom
 * registry share them instead of failing with "already registered"; they must agree on buckets.
 * Once any of them is no longer registered (`registry.clear()`, `removeSingleMetric()`), the next
 * call registers a fresh set.
 * @throws TypeError, registering nothing, when a metric of another origin holds one of the names.
 */
export function metricSet(registry: PromRegistry, prefix: string, buckets: Required<MetricBuckets>): MetricSet {
  const key = JSON.stringify(buckets);
  let byPrefix = sets.get(registry);
  if (!byPrefix) sets.set(registry, (byPrefix = new Map()));
  const existing = byPrefix.get(prefix);
  if (existing && existing.metrics.every((m) => registry.getSingleMetric(m.name) === m)) {
    if (existing.buckets !== key) {
      throw optionError(
        `Expected \`buckets\` to match those of the metrics with prefix '${prefix}' already on this registry (${existing.buckets}), got ${describe(buckets)}`,
      );
    }
    return existing.set;
  }
  const stale: readonly Named[] = existing?.metrics ?? [];
  // Created on a registry of their own first, so that a name clash leaves `registry` untouched.
  const staging = new Registry();
  const set = create(staging, prefix, buckets);
  const metrics = staging.getMetricsAsArray() as unknown as Named[];
  const taken = metrics.find((m) => {
    const held = registry.getSingleMetric(m.name);
    return held !== undefined && !stale.some((old) => old === held);
  });
  if (taken) {
    throw optionError(`Expected \`promRegistry\` to have no metric named '${taken.name}' (set another \`prefix\`), but one is registered`);
  }
  for (const m of stale) if (registry.getSingleMetric(m.name) === m) registry.removeSingleMetric(m.name);
  for (const m of metrics) registry.registerMetric(m);
  byPrefix.set(prefix, { set, metrics, buckets: key });
  return set;
}

function create(registry: Registry, prefix: string, buckets: Required<MetricBuckets>): MetricSet {
  const registers = [registry];
  const seconds = [...buckets.seconds];
  const sources = new Set<ScrapeSource>();
  const mv = ['model', 'version'] as const;

  new Gauge({
    name: `${prefix}queue_requests`,
    help: 'Requests waiting in the queue of a model version.',
    labelNames: mv,
    registers,
    collect() {
      this.reset();
      for (const s of sources) for (const q of s.queues()) this.inc({ model: q.model, version: q.version }, q.queued);
    },
  });
  new Gauge({
    name: `${prefix}queue_items`,
    help: 'Items (batch rows) held by the requests waiting in the queue of a model version.',
    labelNames: mv,
    registers,
    collect() {
      this.reset();
      for (const s of sources) for (const q of s.queues()) this.inc({ model: q.model, version: q.version }, q.queuedItems);
    },
  });
  new Gauge({
    name: `${prefix}batches_in_flight`,
    help: 'Batches of a model version running now.',
    labelNames: mv,
    registers,
    collect() {
      this.reset();
      for (const s of sources) for (const q of s.queues()) this.inc({ model: q.model, version: q.version }, q.inFlight);
    },
  });
  new Gauge({
    name: `${prefix}model_versions`,
    help: 'Versions of each model the registry knows, by lifecycle state; state="ready" is reported for every known model, 0 when none is ready.',
    labelNames: ['model', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sources) {
        for (const { model, states } of s.models()) {
          this.inc({ model, state: 'ready' }, 0);
          for (const state of states) this.inc({ model, state });
        }
      }
    },
  });
  new Gauge({
    name: `${prefix}model_loads_waiting_for_room`,
    help: 'Model version loads waiting for room under maxLoadedVersions / maxLoadedBytes: for a version to drain and unload, or to finish loading, or queued behind such a load.',
    registers,
    collect() {
      let waiting = 0;
      for (const s of sources) waiting += s.loadsWaitingForRoom();
      this.set(waiting);
    },
  });
  new Gauge({
    name: `${prefix}model_version_info`,
    help: 'Always 1: the backend and device each model version runs on, and its state.',
    labelNames: ['model', 'version', 'backend', 'device', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sources) {
        for (const v of s.versions()) this.set({ model: v.name, version: v.version, backend: v.backend, device: v.device, state: v.state }, 1);
      }
    },
  });
  new Gauge({
    name: `${prefix}model_label_info`,
    help: 'Always 1: the version each label of a model (stable, canary, ...) points at.',
    labelNames: ['model', 'label', 'version'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sources) {
        for (const v of s.versions()) for (const label of v.labels) this.set({ model: v.name, label, version: v.version }, 1);
      }
    },
  });

  return {
    sources,
    requests: new Counter({
      name: `${prefix}requests_total`,
      help: 'Inference requests by outcome (success, invalid, rejected, timeout, cancelled, backend, not-found, not-ready): those the InferenceService answered and those the HTTP protocols refused before it.',
      labelNames: ['model', 'version', 'outcome'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: `${prefix}request_duration_seconds`,
      help: 'End-to-end time of successful requests through the InferenceService, queue and compute included.',
      labelNames: mv,
      buckets: seconds,
      registers,
    }),
    items: new Counter({
      name: `${prefix}inference_items_total`,
      help: 'Items (batch rows) executed by a model version (Triton nv_inference_count).',
      labelNames: mv,
      registers,
    }),
    executions: new Counter({
      name: `${prefix}inference_executions_total`,
      help: 'Batches executed by a model version, by dispatch reason (Triton nv_inference_exec_count).',
      labelNames: ['model', 'version', 'reason'] as const,
      registers,
    }),
    failedInBatch: new Counter({
      name: `${prefix}inference_failed_requests_total`,
      help: 'Requests of executed batches whose result was an error.',
      labelNames: mv,
      registers,
    }),
    drops: new Counter({
      name: `${prefix}queue_drops_total`,
      help: 'Requests the batcher answered with an error itself, by reason (queue-full, timeout, cancelled, closed, shed) and stage (queued, running).',
      labelNames: ['model', 'version', 'reason', 'stage'] as const,
      registers,
    }),
    queueDuration: new Histogram({
      name: `${prefix}queue_duration_seconds`,
      help: 'Time each executed request waited in the queue.',
      labelNames: mv,
      buckets: seconds,
      registers,
    }),
    computeDuration: new Histogram({
      name: `${prefix}compute_duration_seconds`,
      help: 'Time each batch took to execute: preprocess, inference and postprocess.',
      labelNames: mv,
      buckets: seconds,
      registers,
    }),
    batchSize: new Histogram({
      name: `${prefix}batch_size_items`,
      help: 'Items (batch rows) in each executed batch.',
      labelNames: mv,
      buckets: [...buckets.batchSize],
      registers,
    }),
    loads: new Counter({
      name: `${prefix}model_loads_total`,
      help: 'Model version loads, by outcome: success or failure.',
      labelNames: ['model', 'outcome'] as const,
      registers,
    }),
    cacheLookups: new Counter({
      name: `${prefix}cache_lookups_total`,
      help: 'Cache lookups, by result: hit, miss, bypass (asked not to read) or coalesced (joined an identical request in flight); a request whose joined flight failed on another caller\'s deadline or disconnect looks up again and counts again.',
      labelNames: ['cache', 'model', 'result'] as const,
      registers,
    }),
    cacheLookupDuration: new Histogram({
      name: `${prefix}cache_lookup_duration_seconds`,
      help: 'Time a cache lookup took, by result: hit or miss.',
      labelNames: ['cache', 'result'] as const,
      buckets: seconds,
      registers,
    }),
    cacheSimilarity: new Histogram({
      name: `${prefix}cache_hit_similarity`,
      help: 'Similarity of the entry each semantic (non-exact) cache hit returned.',
      labelNames: ['cache'] as const,
      buckets: SIMILARITY_BUCKETS,
      registers,
    }),
    cacheErrors: new Counter({
      name: `${prefix}cache_errors_total`,
      help: 'Cache failures absorbed by failing open (the request ran uncached), by operation.',
      labelNames: ['cache', 'operation'] as const,
      registers,
    }),
  };
}
