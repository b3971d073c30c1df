import type { AttemptFailure, Clock } from '../core/index.js';
import type { CapacityLimits } from './capacity.js';
import type { Backend, ModelSource, TensorSpec } from '../backends/index.js';
import type { BatchEvent, BatcherOptions, DropEvent } from '../batching/index.js';
import type { Handler } from '../handler/index.js';

/**
 * Dynamic batching of one model version: every option of the DynamicBatcher except those the
 * registry sets from the handler and the session (`execute`, `sizeOf`, `batchKey`, `split`,
 * `merge`, `concurrency`, `clock`).
 */
export interface BatchingConfig
  extends Omit<BatcherOptions<unknown, unknown>, 'execute' | 'sizeOf' | 'batchKey' | 'split' | 'merge' | 'concurrency' | 'clock'> {}

/**
 * Which versions of a model are served (Triton's `version_policy`): the `latest` n by version
 * number, `all` of them, or a `specific` list. A version outside the policy is unloaded once a
 * version inside it is ready, never before.
 */
export type VersionPolicy = 'all' | { readonly latest: number } | { readonly specific: readonly string[] };

/** What a model's configuration file asked, which its loader applies itself (`ModelConfig.declared`). */
export interface DeclaredConfig {
  /**
   * The version policy the loader keeps the model's versions by (a `ModelRepository` loads each
   * with `versionPolicy: 'all'` and unloads those its config.json's policy drops itself).
   * @default the registry's policy of the model
   */
  readonly versionPolicy?: VersionPolicy;
  /**
   * The file each output's `classLabels` were read from, relative to the model's directory:
   * Triton's `label_filename`, e.g. `{prob: 'labels.txt'}`. Each key must be a key of `classLabels`.
   */
  readonly labelFiles?: Readonly<Record<string, string>>;
}

/** Options of {@link ModelRegistry}. */
export interface RegistryOptions extends CapacityLimits {
  /** The backends models may be loaded with, in order of preference. */
  readonly backends: readonly Backend[];
  /** The clock batchers, timings and bounded waits use; an InferenceService's and a ModelRepository's too, unless given their own. @default systemClock */
  readonly clock?: Clock;
  /**
   * How long loading a version may take once it has room: opening the session, the handler's
   * `initialize` and the warm-up (TorchServe's `startup_timeout`). A load that takes longer fails
   * with a ModelNotReadyError (a `failure` event), gives its room back to the loads waiting for it,
   * and aborts the backend's load. Also how long a load may wait for room under `maxLoadedVersions`
   * / `maxLoadedBytes`: one that gets none by then fails with a ModelNotReadyError naming what it
   * waited for. Under `maxLoadedBytes` the same holds for measuring a source with no `sizeBytes`
   * before that (see `ModelConfig.sizeBytes`). `Infinity` waits for ever. @default 120000
   */
  readonly loadTimeoutMs?: number;
  /**
   * How long {@link ModelRegistry.close} waits for the versions to drain (Triton's
   * `--exit-timeout-secs`). Past it, close() resolves anyway: the requests a version still has
   * queued or running fail with a ClosedError, a `failure` event (stage `unload`, a
   * DeadlineExceededError) reports the version, and it is disposed once its running batches end.
   * `0` does not wait for a drain; `Infinity` waits for ever. @default 30000
   */
  readonly closeTimeoutMs?: number;
}

/** How to load one model version. */
export interface ModelConfig<Req, Res> {
  /** The model's name, as used in URLs. */
  readonly name: string;
  /** The version, a string of digits or any label-free name. @default '1' */
  readonly version?: string;
  /** What the backend loads: a path, bytes, an {@link ensemble}, or a backend-specific model. */
  readonly source: ModelSource;
  /** A registry backend by name, or a backend of its own. @default the first registry backend that accepts the source */
  readonly backend?: string | Backend;
  /**
   * The handler: an instance, or a function that makes one (needed when the version may be
   * unloaded and loaded again, e.g. under `maxLoadedVersions`). @default new TensorHandler()
   */
  readonly handler?: Handler<Req, Res> | (() => Handler<Req, Res>);
  /**
   * Input specs that pin dimensions the model leaves dynamic (Triton's `dims` in config.pbtxt),
   * so requests are checked before they are queued: e.g. `[{name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192]}]`.
   * Each spec is checked with the config, as a config.json's: a TypeError naming `inputs[i]`'s field and quoting it.
   */
  readonly inputs?: readonly TensorSpec[];
  /** Dynamic batching; without it each request runs alone (still queued, bounded and timed). */
  readonly batching?: BatchingConfig;
  /**
   * Requests run before the version takes traffic, on each of its run slots (see
   * `warmupBatchSizes`). A TensorHandler version whose inputs are
   * fixed apart from the batch dimension warms up on zeros by default (not an ensemble, whose
   * steps are warm already); `[]` turns warm-up off.
   */
  readonly warmup?: readonly NoInfer<Req>[];
  /**
   * Batch sizes, in items, each `warmup` request is also run at, repeated along the batch
   * dimension as the batcher batches copies of it: whole numbers up to `batching.maxBatchSize`.
   * Every warm-up batch runs twice on each run slot of the session (onnx-node: each of its
   * `instances`): ONNX Runtime's first two runs of a new shape are the slow ones.
   * `[]` runs the requests as given only; with `preferredBatchSizes: [2, 4]` and `maxBatchSize: 8`,
   * `[2, 4, 8]` warms the preferred sizes too.
   * @default [batching.maxBatchSize] with batching, [] without
   */
  readonly warmupBatchSizes?: readonly number[];
  /** Sets the model's version policy (it applies to every version of the model). @default 'all' */
  readonly versionPolicy?: VersionPolicy;
  /**
   * What the model's own configuration asked, where its loader applies it itself: reported by the
   * model configuration route (`GET /v2/models/{m}/config`) in place of what the registry applies,
   * and changing nothing the registry does. A `ModelRepository` sets it from config.json.
   */
  readonly declared?: DeclaredConfig;
  /** Labels moved to this version the moment it is ready, e.g. `['stable']` for a zero-downtime flip. */
  readonly labels?: readonly string[];
  /**
   * Class labels of outputs, by class index (Triton's `label_filename`): an output asked for as
   * its top classes over HTTP (`parameters.classification`) answers `"<value>:<index>:<label>"`
   * for a class with a label, `"<value>:<index>"` for one past the list or with an empty label.
   * Each key must name a model output, checked when the version loads.
   * @example { prob: ['cat', 'dog', 'bird'] }
   */
  readonly classLabels?: Readonly<Record<string, readonly string[]>>;
  /**
   * What the version is estimated to occupy in memory, counted against `maxLoadedBytes` and
   * reported as its `sizeBytes`. Without it, under `maxLoadedBytes`, the backend's
   * `Backend.estimateBytes` measures the source when the version loads, before room is reserved
   * (onnx-node: the model file's size on disk); without the bound nothing needs the size and nothing
   * is measured. A load called off meanwhile (`unload()`, `close()`, its callers gone) aborts the
   * estimate and does not wait for it. Under that bound a source whose size cannot be told needs it: the registry
   * refuses it (a TypeError) when the backend does not measure (memory, onnx-web) or cannot
   * measure that source (a path that is no regular file), as it would count as 0 bytes.
   * @default the source's byte length when it is bytes, else under `maxLoadedBytes` the backend's estimate (a model file's size), else 0
   */
  readonly sizeBytes?: number;
}

/** The lifecycle of a model version. */
export type VersionState = 'loading' | 'ready' | 'draining' | 'unloaded' | 'failed';

/** How busy one ready or draining model version is, from {@link ModelRegistry.queues}. */
export interface VersionQueue {
  readonly name: string;
  readonly version: string;
  /** Requests waiting in its batcher. */
  readonly queued: number;
  /** Items those requests hold. */
  readonly queuedItems: number;
  /** Batches running now. */
  readonly inFlight: number;
}

/** What the registry reports of one model version. */
export interface VersionMetadata {
  readonly name: string;
  readonly version: string;
  readonly state: VersionState;
  /** The backend that loaded it. */
  readonly backend: string;
  /** The device it runs on. */
  readonly device: string;
  /** Devices tried before `device`, with why each failed. */
  readonly fallbacks: readonly AttemptFailure[];
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The largest batch in items, or 0 without batching (Triton's `max_batch_size`). */
  readonly maxBatchSize: number;
  /** Milliseconds spent loading the session. */
  readonly loadMs: number;
  /** Milliseconds spent warming up. */
  readonly warmupMs: number;
  /** The labels that point at this version. */
  readonly labels: readonly string[];
  /** The estimated memory it occupies (see {@link ModelConfig.sizeBytes}). */
  readonly sizeBytes: number;
}

/** Picks a version by number or by label; neither means the default version. */
export interface VersionSelector {
  /** An explicit version. */
  readonly version?: string | undefined;
  /** A label such as `stable` or `canary`; ignored when `version` is given. */
  readonly label?: string | undefined;
}

/** Options of {@link ModelRegistry.load}. */
export interface RegistryLoadOptions {
  /**
   * Calls the load off, and the call rejects with the signal's reason when it is an Error, else a
   * CancelledError: at once while the load waits for room under `maxLoadedVersions` /
   * `maxLoadedBytes` (it leaves the queue) or while its source is measured (see
   * `ModelConfig.sizeBytes`; the estimate is aborted); once the backend is loading it, when that load ends (it
   * takes at most `loadTimeoutMs`), what it opened disposed. Either way the registry is left as it
   * was, but for a version the load had begun unloading to make room, which still unloads (and
   * loads again on its next request), and the version may be loaded again. Requests waiting for
   * the same load keep it going for them: the call then rejects at once, and the version stays
   * known with this config.
   */
  readonly signal?: AbortSignal | undefined;
}

/** Options of {@link ModelRegistry.acquire}. */
export interface AcquireOptions extends VersionSelector {
  /** Stops waiting: for a load (which goes on for other callers), and for a queued request, which leaves the queue and never runs. */
  readonly signal?: AbortSignal | undefined;
  /** The whole budget in milliseconds: a load waited for, queue time and execution; past it, DeadlineExceededError (504). */
  readonly timeoutMs?: number | undefined;
}

/** One target of a weighted split. */
export interface SplitTarget extends VersionSelector {
  /** A relative weight, e.g. 90 and 10 for a 10% canary; 0 takes no traffic. */
  readonly weight: number;
}

/** Mirrors a fraction of requests to another version after the primary has answered. */
export interface ShadowPolicy extends VersionSelector {
  /** The share of requests mirrored, between 0 and 1. */
  readonly fraction: number;
  /** The largest absolute difference between numeric outputs that still counts as agreement. @default 0 */
  readonly tolerance?: number;
  /** The most mirrored requests in flight; more are skipped. @default 16 */
  readonly maxInFlight?: number;
}

/**
 * How requests that name no version or label are routed: a weighted split between versions
 * (sticky by the request's routing key when it has one), and an optional shadow copy.
 */
export interface TrafficPolicy {
  /** Weighted targets; without it requests go to the default version. */
  readonly split?: readonly SplitTarget[];
  /** Mirroring to another version. */
  readonly shadow?: ShadowPolicy;
}

/** Identifies a model version in events. */
export interface VersionRef {
  readonly name: string;
  readonly version: string;
}

/** Why a version stopped serving. */
export type UnloadReason =
  /** `unload()` was called. */
  | 'explicit'
  /** A newer version made it fall outside the version policy. */
  | 'policy'
  /** It was least recently used when room was needed (`maxLoadedVersions`, `maxLoadedBytes`). */
  | 'evicted'
  /**
   * A new load of the same version replaced it: once the new instance took traffic, or, where a
   * `maxLoadedVersions` / `maxLoadedBytes` had no room for both, before the new one loaded.
   */
  | 'replaced'
  /** The registry was closed. */
  | 'close';

/** The events a ModelRegistry emits. */
export interface RegistryEvents {
  /** A version started loading. */
  loading: [VersionRef];
  /** A version is loaded, warmed and takes traffic. */
  ready: [VersionMetadata];
  /**
   * A version known but not loaded (evicted under `maxLoadedVersions` / `maxLoadedBytes`, or
   * registered and never loaded) was loaded by {@link ModelRegistry.load} with a config of its own,
   * which replaces the one it had: emitted once that load is ready, just before its `ready` event
   * and before it answers a request, since answers cached under the version may be the earlier
   * config's. A loaded version replaced this way says so by its old instance's `draining` (reason
   * `replaced`) instead. A version loaded again by a request, with the config it had, and one
   * given a config by `register()` (a repository's version whose files moved, bytes unchanged), are
   * not replaced.
   */
  replace: [VersionRef];
  /**
   * A version failed: to load or warm up (`stage: 'load'`; any older version keeps serving), or
   * to dispose of its session once drained (`stage: 'unload'`; it is forgotten all the same).
   */
  failure: [VersionRef & { readonly error: Error; readonly stage: 'load' | 'unload' }];
  /**
   * The version that requests without a version go to changed from `from` to `to`; `from` may be
   * a version unloaded to make room for `to` (under `maxLoadedVersions` / `maxLoadedBytes`), which
   * drained before `to` was ready.
   */
  swap: [{ readonly name: string; readonly from: string; readonly to: string }];
  /** A label now points at `version`, or was removed (`version` undefined). */
  label: [{ readonly name: string; readonly label: string; readonly version: string | undefined }];
  /** A version stopped taking requests and is finishing its queued work. */
  draining: [VersionRef & { readonly reason: UnloadReason }];
  /** A version was disposed. */
  unload: [VersionRef & { readonly reason: UnloadReason }];
  /** A batch ran on a version. */
  batch: [VersionRef & BatchEvent];
  /**
   * An ensemble's model step, whose request a version of the step model took, settled: a request
   * of that version as a service's `request` is of the model it serves (a step refused before a
   * version was found for it has none).
   */
  step: [StepEvent];
  /** A request left a version's queue without running. */
  drop: [VersionRef & DropEvent];
}

/** The payload of the registry's `step` event: one ensemble step's request to its model, settled. */
export interface StepEvent extends VersionRef {
  /** The ensemble (model and version) whose step it was. */
  readonly ensemble: VersionRef;
  /** The step's index in the ensemble's `steps`. */
  readonly step: number;
  /** From the step's call, the lookup of its version included, to its settlement, in milliseconds. */
  readonly durationMs: number;
  /** What failed it; absent when it succeeded. */
  readonly error?: unknown;
}

/** The state of a model version in a repository index (Open Inference Protocol repository extension). */
export type RepositoryState = 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';

/** One entry of a repository index. */
export interface RepositoryIndexEntry {
  readonly name: string;
  /** The version; absent for a model none of whose versions is known to the registry. */
  readonly version?: string;
  readonly state: RepositoryState;
  /** Why the version is unavailable, when it is. */
  readonly reason?: string;
}

/**
 * What the protocol layer calls for the repository endpoints (`POST /v2/repository/index`,
 * `/v2/repository/models/{m}/load`, `/unload`). Implemented by `ModelRepository` from
 * `servable/repository`.
 */
export interface RepositoryControl {
  /** Every model on disk, with the state of each version the registry knows. */
  index(): Promise<RepositoryIndexEntry[]>;
  /** Loads (or reloads) a model from disk; rejects with why it failed. */
  load(name: string): Promise<void>;
  /** Unloads every version of a model. */
  unload(name: string): Promise<void>;
}
