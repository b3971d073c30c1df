import type { AttemptFailure, DataType, TensorMap } from '../core/index.js';

/** The name, datatype and dimensions of a model input or output; -1 marks a dynamic dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: readonly number[];
}

/** Options for one {@link ModelSession.run}. */
export interface RunOptions {
  /** Aborts a run that has not started yet; a run already executing finishes (ONNX Runtime cannot stop it). */
  readonly signal?: AbortSignal | undefined;
  /** Filled in when the run succeeds, by backends that can tell (onnx-node, memory). */
  readonly timings?: RunTimings | undefined;
}

/** How long a run took inside the runtime, as {@link RunOptions.timings} reports it. */
export interface RunTimings {
  /**
   * Milliseconds the runtime itself took (ONNX Runtime's `run()` in the worker), without waiting
   * for a worker or crossing threads: the rest of a call's time is the serving path's.
   */
  inferMs?: number;
}

/**
 * A loaded model, ready to run. Implementations check feeds against {@link ModelSession.inputs}
 * (names, datatypes, fixed dimensions) and reject with InvalidInputError on a mismatch.
 */
export interface ModelSession {
  /** The model's inputs. */
  readonly inputs: readonly TensorSpec[];
  /** The model's outputs. */
  readonly outputs: readonly TensorSpec[];
  /** The device the session actually runs on, e.g. `cpu` after a `cuda` fallback. */
  readonly device: string;
  /** Devices that were tried before {@link ModelSession.device} and why each failed. */
  readonly fallbacks: readonly AttemptFailure[];
  /** How many runs may execute at once (worker instances); a batcher keeps at most this many batches in flight. */
  readonly concurrency: number;
  /** Runs the model on a batch of feeds. */
  run(feeds: TensorMap, options?: RunOptions): Promise<TensorMap>;
  /**
   * Told that a run is likely to follow within `withinMs` milliseconds (a request was accepted
   * while a slot is free, and its batch waits at most that long), so that a backend whose threads
   * sleep between runs can wake one ahead of it when it would stay awake that long.
   * Optional; it must be cheap and may do nothing.
   */
  expect?(withinMs: number): void;
  /**
   * Told that a request arrived while every slot is busy, so that a backend whose runs finish on
   * other threads can settle those that have finished but whose completion the event loop has not
   * reached yet: the batcher can then send the next batch at once, rather than after the request
   * work already queued on the event loop. Optional; it must be cheap and may do nothing.
   */
  collect?(): void;
  /** Releases the session's resources; runs in flight finish first. */
  dispose(): Promise<void>;
}

/** What a backend loads: a file path, the model's bytes, or a backend-specific definition. */
export type ModelSource = string | Uint8Array | object;

/** Options a backend receives when loading one model version. */
export interface LoadOptions {
  /** A label for messages and events: `name:version`. */
  readonly label?: string;
  /** Aborts a load in progress. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Something that turns a model source into sessions: onnx-node, onnx-web, memory, or your own.
 * Backends are values passed to a registry; nothing is registered globally.
 */
export interface Backend {
  /** A short name, e.g. `onnx-node` or `memory`. */
  readonly name: string;
  /** True when this backend can load `source` (used to pick a backend when none is named). */
  accepts(source: ModelSource): boolean;
  /** Loads one model version. */
  load(source: ModelSource, options?: LoadOptions): Promise<ModelSession>;
  /**
   * Estimates the memory `source` occupies once loaded, in bytes, as TF Serving does from a
   * model's files' size on disk (onnx-node: the `.onnx` file's size). A registry calls it when it
   * loads a version whose config gives no `sizeBytes` and a source not given as bytes, before it
   * reserves room for it under `maxLoadedBytes` (without that bound it measures nothing); it is
   * what the version's `sizeBytes` reports.
   * Resolve undefined for a source it cannot measure (not a regular file: a URL, a model of the
   * backend's own); reject with the error the load would meet when the source names a file it
   * cannot read, and with the abort error when `signal` aborts: past `loadTimeoutMs`, or once the
   * load is called off (the registry does not wait for the estimate then). Optional: under
   * `maxLoadedBytes` a registry refuses such a config of a backend without it (a TypeError asking
   * for `sizeBytes`).
   */
  estimateBytes?(source: ModelSource, options?: LoadOptions): Promise<number | undefined>;
}
