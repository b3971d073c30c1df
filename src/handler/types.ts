import type { TensorMap } from '../core/index.js';
import type { ModelSession, TensorSpec } from '../backends/index.js';

/** A request in tensor form, as the protocols decode it. */
export interface InferenceRequest {
  /** An identifier echoed in the response. */
  readonly id?: string | undefined;
  /** Named input tensors; each one's first dimension is the request's batch size. */
  readonly inputs: TensorMap;
  /** Names of the outputs wanted; all when absent. */
  readonly outputs?: readonly string[] | undefined;
  /** Free-form request parameters (OIP `parameters`). */
  readonly parameters?: Readonly<Record<string, unknown>> | undefined;
}

/** A response in tensor form. */
export interface InferenceResponse {
  /** Named output tensors; each one's first dimension matches the request's batch size. */
  readonly outputs: TensorMap;
}

/** What a handler knows of the model version it serves. */
export interface HandlerContext {
  readonly name: string;
  readonly version: string;
  /** The loaded session. */
  readonly session: ModelSession;
  /** The inputs requests must match: the model's own, or those pinned in the load options. */
  readonly inputs: readonly TensorSpec[];
  /** The model's outputs. */
  readonly outputs: readonly TensorSpec[];
  /** The most items a batch holds (the batching config's `maxBatchSize`; 1 without batching). */
  readonly maxBatchSize: number;
}
