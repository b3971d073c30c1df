import type { BatchEvent, DropEvent } from '../batching/index.js';
import type { RegistryEvents, StepEvent, VersionMetadata, VersionRef, VersionState } from '../registry/index.js';
import type { RequestOutcome } from '../core/index.js';
import type { RequestEvent } from '../service/index.js';
import type { PromRegistry } from './handler.js';

/** What ServingMetrics needs of an InferenceService: its `request` event. */
export interface ServiceSource {
  on(event: 'request', fn: (event: RequestEvent) => void): unknown;
  off(event: 'request', fn: (event: RequestEvent) => void): unknown;
}

/** The queue of one model version as it is at scrape time. */
export interface QueueState {
  /** Requests waiting. */
  readonly queued: number;
  /** Items those requests hold. */
  readonly queuedItems: number;
  /** Batches running now. */
  readonly inFlight: number;
}

/** What ServingMetrics needs of a ModelRegistry: its events, its models, its versions and their batchers. */
export interface RegistrySource {
  on<E extends keyof RegistryEvents>(event: E, fn: (...args: RegistryEvents[E]) => void): unknown;
  off<E extends keyof RegistryEvents>(event: E, fn: (...args: RegistryEvents[E]) => void): unknown;
  /** Every model it knows, loaded or not. */
  names(): string[];
  /** Every version of a known model, with its state. */
  versions(name: string): readonly { readonly state: VersionState }[];
  list(): VersionMetadata[];
  /** The queue of every ready or draining version. */
  queues(): Iterable<QueueState & { readonly name: string; readonly version: string }>;
  /** True when it knows the model, loaded or not; without it, `names()` is searched. */
  has?(name: string): boolean;
  /** Loads waiting for room under `maxLoadedVersions` / `maxLoadedBytes`; without it, none are reported. */
  readonly loadsWaitingForRoom?: number;
}

/** What ServingMetrics needs of a bare DynamicBatcher used without a registry. */
export interface BatcherSource extends QueueState {
  on(event: 'batch', fn: (event: BatchEvent) => void): unknown;
  on(event: 'drop', fn: (event: DropEvent) => void): unknown;
  off(event: 'batch', fn: (event: BatchEvent) => void): unknown;
  off(event: 'drop', fn: (event: DropEvent) => void): unknown;
}

/**
 * What ServingMetrics needs of a cache: an event emitter (ResultCache, SemanticCache, or your own)
 * with some of these events, each with a payload that has at least the fields shown:
 *
 * - `hit` `{model, durationMs, similarity?, exact?}`: answered from the store; a SemanticCache
 *   hit that is not exact also records its similarity;
 * - `miss` `{model, durationMs, reason?}`: will be computed; `reason: 'bypass'` (the request
 *   asked not to read) counts as `bypass`, not as a miss;
 * - `coalesce` `{model}`: joined an identical request in flight;
 * - `error` `{operation}`: a store failure the cache absorbed.
 */
export interface CacheSource {
  on(...args: never[]): unknown;
  off(...args: never[]): unknown;
}

/** The fields ServingMetrics reads from a cache event. */
export interface CacheEventFields {
  /** The model (a ResultCache's, or the one a SemanticCache's `run` was given); a SemanticCache's partition is never used as a label. */
  readonly model?: string;
  readonly similarity?: number;
  readonly exact?: boolean;
  readonly durationMs?: number;
  readonly reason?: string;
  readonly operation?: string;
}

/** Histogram buckets of {@link ServingMetrics}. */
export interface MetricBuckets {
  /**
   * Upper bounds, in seconds, of the queue, compute and request duration histograms.
   * @default [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  readonly seconds?: readonly number[];
  /** Upper bounds, in items, of the batch size histogram. @default [1, 2, 4, 8, 16, 32, 64, 128, 256] */
  readonly batchSize?: readonly number[];
}

/** Options of {@link ServingMetrics}. */
export interface ServingMetricsOptions {
  /**
   * The prom-client registry the metrics are registered on. Pass `register` from prom-client to
   * use its global registry; nothing is registered there otherwise.
   */
  readonly promRegistry: PromRegistry;
  /** The ModelRegistry whose events and queues are measured. @default service.registry when a service is given */
  readonly registry?: RegistrySource;
  /** The InferenceService whose requests are counted and timed. */
  readonly service?: ServiceSource & { readonly registry?: RegistrySource };
  /** DynamicBatchers used without a registry, by the model name their metrics carry (version `''`). */
  readonly batchers?: Readonly<Record<string, BatcherSource>>;
  /** Caches whose lookups are counted, by the name their metrics carry. The service's own caches are not watched through `service`: pass them here too. */
  readonly caches?: Readonly<Record<string, CacheSource>>;
  /** Prepended to every metric name. @default 'servable_' */
  readonly prefix?: string;
  /** Histogram buckets; metrics with one prefix on one prom registry share them. */
  readonly buckets?: MetricBuckets;
}

export type { BatchEvent, DropEvent, RegistryEvents, RequestEvent, RequestOutcome, StepEvent, VersionMetadata, VersionRef, VersionState };
