/**
 * The InferenceService: the in-process entry point of every request.
 * @module
 */
export {
  InferenceService,
  type ServiceOptions,
  type ServiceInferOptions,
  type ModelMetadata,
  type RequestEvent,
  type ServiceEvents,
} from './inference-service.js';
export type { ModelCaching, AnyModelCaching, CacheDirectives } from './caching.js';
export { Router, type RouteOptions, type RouterOptions, type RouterRunOptions, type VersionCall } from './router.js';
export type { ShadowEvent, ShadowResult } from './shadow.js';
