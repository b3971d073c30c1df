/**
 * The DynamicBatcher: groups concurrent requests into batches for any batch-friendly async
 * function, with Triton's dynamic-batcher semantics (size cap in items, a delay bounded by the
 * oldest request's wait, preferred sizes, priority levels and queue policies), deadlines and
 * AbortSignal cancellation that take effect while a request is queued, per-request errors, and an
 * optional adaptive mode driven by a latency objective. The batcher knows nothing of tensors; the
 * padding helpers are for the code around it that does.
 * @module
 */
export { DynamicBatcher } from './dynamic-batcher.js';
export { checkPriority, checkSize } from './admission.js';
export { DEFAULT_MAX_QUEUE_SIZE } from './options.js';
export type { RunTimeModel } from './adaptive.js';
export { checkAllowedBatchSizes, paddedBatchSize, padBatch, padTo, padToCommonShape } from '../core/index.js';
export type {
  BatchContext,
  BatchEvent,
  BatcherEvents,
  BatcherOptions,
  DispatchReason,
  DropEvent,
  DropReason,
  ExecuteBatch,
  QueuePolicy,
  SubmitOptions,
  TimeoutAction,
} from './types.js';
