import type { BatchEvent, CacheSource, RegistryEvents, RequestEvent, StepEvent, VersionRef } from './types.js';

/** A count and a cumulative duration, Triton's `$duration_stat`. */
export interface DurationStatistic {
  /** How many times the statistic was collected. */
  readonly count: number;
  /** Their total duration, in nanoseconds. */
  readonly ns: number;
}

/** Triton's `$inference_stats`: per request, for one model version. */
export interface InferenceStatisticsFields {
  /** Requests answered, cache hits included, with their end-to-end time. */
  readonly success: DurationStatistic;
  /** Requests failed after a version was chosen for them, with their end-to-end time. */
  readonly fail: DurationStatistic;
  /** `success`'s count, as Triton reports it, with the time in the batcher's queue of the requests executions answered (a cache hit adds 0 ns). */
  readonly queue: DurationStatistic;
  /** As `compute_infer`'s count, with 0 ns: servable times preprocess, inference and postprocess as one. */
  readonly compute_input: DurationStatistic;
  /** Requests executions answered (not those they failed, nor those timed out or cancelled while they ran), each with its execution's whole time. */
  readonly compute_infer: DurationStatistic;
  /** As `compute_input`. */
  readonly compute_output: DurationStatistic;
  /** Result cache hits, with their lookup time. */
  readonly cache_hit: DurationStatistic;
  /** Result cache misses (not bypasses), with their lookup time and the time of the writes that followed. */
  readonly cache_miss: DurationStatistic;
}

/** Triton's `$batch_stats`: the executions of one batch size. */
export interface BatchStatistics {
  /** Items in the batch. */
  readonly batch_size: number;
  /** As `compute_infer`'s count, with 0 ns. */
  readonly compute_input: DurationStatistic;
  /** Executions of this size that did not fail as a whole, with their time. */
  readonly compute_infer: DurationStatistic;
  /** As `compute_input`. */
  readonly compute_output: DurationStatistic;
}

/** Triton's `$model_stat`: everything one model version did since it was loaded, or since the statistics began listening. */
export interface ModelStatistics {
  readonly name: string;
  readonly version: string;
  /** When the version's last execution that did not fail as a whole ended, in milliseconds since the epoch; 0 before any. A cache hit or a failed request does not move it, as in Triton. */
  readonly last_inference: number;
  /** Items of the requests executions answered (not of those an execution failed, nor of those timed out or cancelled while it ran); cache hits are not among them. */
  readonly inference_count: number;
  /** Executions that did not fail as a whole. */
  readonly execution_count: number;
  readonly inference_stats: InferenceStatisticsFields;
  /** One entry per batch size executed, by increasing size. */
  readonly batch_stats: readonly BatchStatistics[];
}

/** What InferenceStatistics needs of an InferenceService: its `request` event, and its registry unless one is given. */
export interface StatisticsServiceSource {
  on(event: 'request', fn: (event: RequestEvent) => void): unknown;
  off(event: 'request', fn: (event: RequestEvent) => void): unknown;
  readonly registry?: StatisticsRegistrySource;
  /**
   * The caches a model opts into (InferenceService's): a model whose semantic cache is counted
   * counts its lookup, not the exact cache's miss before it. Without it, every miss counts.
   */
  cachingOf?(model: string): { readonly semantic?: unknown } | undefined;
}

/** What InferenceStatistics needs of a ModelRegistry: its `ready`, `unload`, `batch` and `step` events and its loaded versions. */
export interface StatisticsRegistrySource {
  on<E extends keyof RegistryEvents>(event: E, fn: (...args: RegistryEvents[E]) => void): unknown;
  off<E extends keyof RegistryEvents>(event: E, fn: (...args: RegistryEvents[E]) => void): unknown;
  /** Every ready or draining version. */
  list(): readonly VersionRef[];
}

/** Options of {@link InferenceStatistics}. */
export interface InferenceStatisticsOptions {
  /** The InferenceService whose requests are counted. */
  readonly service: StatisticsServiceSource;
  /** The ModelRegistry whose batches are counted. @default service.registry */
  readonly registry?: StatisticsRegistrySource;
  /**
   * Result caches whose `hit`, `miss` and `store` events (with `model`, `version` and `durationMs`;
   * a `miss` whose `reason` is `bypass` and a `store` whose `bypass` is true add nothing) fill
   * `cache_hit` and `cache_miss`, and whose `coalesce` (a request that joined one in flight)
   * counts as a hit of 0 ns: the ResultCache the service's models use, and their SemanticCache.
   * A request counts one lookup: where a model's semantic cache is given (see
   * {@link StatisticsServiceSource.cachingOf}), its hit or miss counts and the exact miss before it does not.
   * @default none: both stay at 0
   */
  readonly caches?: readonly StatisticsCacheSource[];
  /** The time `last_inference` reads, in milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

/** A cache's event emitter, as {@link InferenceStatisticsOptions.caches} takes it: the same as ServingMetrics'. */
export type StatisticsCacheSource = CacheSource;

/** The fields read from a cache event. */
export interface StatisticsCacheEvent {
  readonly model?: string;
  readonly version?: string;
  readonly durationMs?: number;
  readonly reason?: string;
  /** On `store`: the write of a no-cache request's result, which followed no miss. */
  readonly bypass?: boolean;
}

export type { BatchEvent, RequestEvent, StepEvent, VersionRef };
