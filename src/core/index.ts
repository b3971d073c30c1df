/**
 * The core: tensors, errors, option checks, abort helpers and the clock.
 * @module
 */
export * from './tensor.js';
export { wtf8Bytes, wtf8Text } from './wtf8.js';
export * from './errors.js';
export { outcomeOf, type RequestOutcome } from './outcome.js';
export * from './clock.js';
export { toHalfBits, fromHalfBits, HALF_OVERFLOW } from './fp16.js';
export { Hash128, hash128, fnv1a32, fmix32 } from './hash.js';
export { abortError, onAbort } from './abort.js';
export { isPromiseLike } from './promise.js';
export { Emitter } from './emitter.js';
export { rethrowLater } from './rethrow.js';
export { recycleBuffer, takeBuffer } from './recycle.js';
export { checkAllowedBatchSizes, checkPadValue, paddedBatchSize, padBatch, padTo, padToCommonShape } from './padding.js';
export {
  BARE_NUMBERS,
  bareNumber,
  optionError,
  INVALID_OPTION,
  type OptionError,
  type OptionKeysCheck,
  describe,
  assertInteger,
  assertNumber,
  assertOneOf,
  assertFunction,
  assertString,
  assertObject,
  assertSignal,
  assertKnownKeys,
  assertOptionKeys,
  assertNoNullOptions,
  assertBoolean,
} from './options.js';
