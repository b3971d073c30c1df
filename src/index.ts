/**
 * servable: production model serving inside any Node application. This entry is the isomorphic
 * core (no Node built-ins): tensors, errors, backends' contract and the memory backend, the
 * DynamicBatcher, the result and semantic caches, handlers, the ModelRegistry and the InferenceService.
 * @module servable
 */
export * from './core/index.js';
export * from './backends/index.js';
export * from './batching/index.js';
export * from './cache/index.js';
export * from './handler/index.js';
export * from './registry/index.js';
export * from './service/index.js';
