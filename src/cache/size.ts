import { describe, optionError, type NumericArray, type Tensor, type TensorMap } from '../core/index.js';

/**
 * A rough per-tensor overhead in bytes: the tensor object, its shape array, and a typed array with
 * the ArrayBuffer it owns (V8's object and the backing store's record outside the heap), about
 * 200 bytes measured on Node 20 for a 2-float tensor, where the buffer itself holds 8.
 */
const TENSOR_OVERHEAD = 200;

/** Bytes one tensor occupies: its buffer (BYTES: UTF-16 code units plus a header per string) plus overhead. */
export function tensorBytes(t: Tensor): number {
  if (t.datatype !== 'BYTES') return TENSOR_OVERHEAD + (t.data as NumericArray).byteLength + 8 * t.shape.length;
  let bytes = TENSOR_OVERHEAD + 8 * t.shape.length;
  for (const s of t.data as string[]) bytes += 16 + 2 * s.length;
  return bytes;
}

/**
 * The memory a result takes, counted by tensor sizes, for byte-bounded caches.
 * @throws TypeError when `value` is not a map of tensors.
 */
export function tensorMapBytes(value: TensorMap): number {
  if (typeof value !== 'object' || value === null) throw optionError(`Expected a map of tensors, got ${describe(value)}`);
  let bytes = 64;
  for (const name in value) {
    const t = value[name];
    if (!t || typeof t !== 'object' || !('data' in t) || !Array.isArray(t.shape)) {
      throw optionError(`Expected tensor "${name}" to be {datatype, shape, data}, got ${describe(t)}`);
    }
    bytes += 2 * name.length + tensorBytes(t);
  }
  return bytes;
}
