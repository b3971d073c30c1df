import type { AttemptFailure } from '../../core/index.js';
import type { TensorSpec } from '../index.js';
import type { Device, DeviceName } from './devices.js';
import type { LinkEnd } from './link-end.js';
import type { GraphOptimizationLevel } from './options.js';

/** A worker's `workerData`: what the pool was given for it, and its end of the job channel. */
export interface WorkerStart {
  readonly data: unknown;
  readonly link: LinkEnd;
}

/** A message from the pool to a worker, over its {@link LinkEnd}. */
export type ToWorker<In> = { readonly type: 'run'; readonly value: In } | { readonly type: 'close' };

/** An error as it crosses the thread boundary. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
}

/**
 * A message from a worker to the pool: `ready` or `failed` once at start (on `parentPort`), then
 * one `done` or `error` per `run` (over its {@link LinkEnd}, or a `done` through its arena).
 */
export type FromWorker<Info, Out> =
  | { readonly type: 'ready'; readonly info: Info }
  | { readonly type: 'failed'; readonly message: string; readonly failures: readonly AttemptFailure[] }
  | { readonly type: 'done'; readonly value: Out }
  | { readonly type: 'error'; readonly error: WireError };

/** What an ONNX Runtime worker is started with (its `workerData`). */
export interface OrtWorkerInit {
  /** An absolute path or the model's bytes. */
  readonly model: string | Uint8Array;
  /** `name:version`, for messages. */
  readonly label: string;
  /** Devices to try in order. */
  readonly devices: readonly Device[];
  /** Stop at the first device that fails. */
  readonly strict: boolean;
  readonly intraOpNumThreads: number;
  /** `session.intra_op.allow_spinning`. */
  readonly intraOpSpinning: boolean;
  readonly interOpNumThreads: number | undefined;
  readonly graphOptimizationLevel: GraphOptimizationLevel;
  /** Niceness the worker adds to its thread's (see `OnnxNodeOptions.workerNice`). */
  readonly workerNice: number;
}

/** What an ONNX Runtime worker reports once its session is open. */
export interface OrtWorkerInfo {
  readonly device: DeviceName;
  /** The index in {@link OrtWorkerInit.devices} of the device that worked. */
  readonly deviceIndex: number;
  readonly fallbacks: readonly AttemptFailure[];
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/** Turns anything thrown into a {@link WireError}. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

/** Rebuilds an Error from a {@link WireError}, keeping the worker's stack. */
export function fromWireError(wire: WireError): Error {
  const error = new Error(wire.message);
  error.name = wire.name;
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}
