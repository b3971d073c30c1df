/**
 * The Backend and ModelSession contracts, and the memory backend.
 * @module
 */
export type { Backend, ModelSession, ModelSource, LoadOptions, RunOptions, RunTimings, TensorSpec } from './types.js';
export { checkFeeds, checkTensor, shapeFits } from './check-feeds.js';
export { checkLoadOptions, checkRunOptions } from './call-options.js';
export { memoryBackend, type MemoryBackend, type MemoryBackendOptions, type MemoryModel, type MemoryCall } from './memory.js';
export { ortType, dataTypeOf, tensorSpec, type OrtType, type ValueMetadata } from './ort-types.js';
