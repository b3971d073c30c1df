/**
 * Prometheus metrics on prom-client, with the registry injected, and Triton's per-version
 * statistics ({@link InferenceStatistics}): {@link ServingMetrics} listens to
 * a ModelRegistry, an InferenceService, batchers and caches; {@link metricsHandler} serves
 * `GET /metrics`; {@link timed}, {@link counted}, {@link inFlight} and their decorators
 * ({@link Timed}, {@link Counted}, {@link InFlight}) instrument your own code.
 * @module servable/metrics
 */
export { ServingMetrics } from './serving-metrics.js';
export { InferenceStatistics } from './inference-statistics.js';
export type {
  InferenceStatisticsOptions,
  ModelStatistics,
  InferenceStatisticsFields,
  BatchStatistics,
  DurationStatistic,
  StatisticsServiceSource,
  StatisticsRegistrySource,
  StatisticsCacheSource,
} from './statistics-types.js';
export { DEFAULT_SECONDS_BUCKETS, DEFAULT_BATCH_SIZE_BUCKETS } from './metric-set.js';
export { metricsHandler, type MetricsResponse, type PromRegistry } from './handler.js';
export { timed, counted, inFlight, type InstrumentOptions, type Labels, type Observer, type Incrementer, type UpDown, type AnyFunction } from './instrument.js';
export { Timed, Counted, InFlight, type MetricDecorator } from './decorators.js';
export type {
  ServingMetricsOptions,
  MetricBuckets,
  ServiceSource,
  RegistrySource,
  BatcherSource,
  CacheSource,
  CacheEventFields,
  QueueState,
} from './types.js';
