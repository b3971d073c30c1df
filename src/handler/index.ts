/**
 * The Handler base class and the pass-through TensorHandler.
 * @module
 */
export { Handler } from './handler.js';
export { TensorHandler, type TensorHandlerOptions } from './tensor-handler.js';
export type { InferenceRequest, InferenceResponse, HandlerContext } from './types.js';
