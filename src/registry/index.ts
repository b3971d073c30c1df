/**
 * The ModelRegistry: versions, labels, version policies, zero-downtime swaps, capacity limits with
 * least-recently-used unloading, and ensembles.
 * @module
 */
export { ModelRegistry } from './model-registry.js';
export { ModelVersion, type InferOptions } from './model-version.js';
export type { VersionStatus } from './model-entry.js';
export type { CapacityLimits } from './capacity.js';
export type { VersionHold } from './hold.js';
export { ensemble, isEnsemble, type EnsembleSession, type Ensemble, type EnsembleDefinition, type EnsembleStep, type ModelStep, type TransformStep, type NameMap } from './ensemble.js';
export { checkTraffic } from './traffic.js';
export { loadErrorOf, wasCalledOff, wasTransient } from './version-loader.js';
export { checkBatching } from './config.js';
export { checkWarmupBatchSizes } from './warm-up.js';
export { checkInputSpecs, checkSpecType } from './tensor-spec.js';
export { checkVersionPolicy, compareVersions, wantedVersions } from './version-policy.js';
export type {
  ModelConfig,
  DeclaredConfig,
  BatchingConfig,
  VersionMetadata,
  VersionQueue,
  VersionState,
  VersionRef,
  VersionPolicy,
  VersionSelector,
  AcquireOptions,
  RegistryLoadOptions,
  SplitTarget,
  ShadowPolicy,
  TrafficPolicy,
  UnloadReason,
  RegistryEvents,
  StepEvent,
  RegistryOptions,
  RepositoryControl,
  RepositoryIndexEntry,
  RepositoryState,
} from './types.js';
