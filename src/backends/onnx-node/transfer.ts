import type { NumericArray, Tensor, TensorMap } from '../../core/index.js';

/** Tensors ready for `postMessage`, and the buffers to move with them. */
export interface Transferable {
  readonly tensors: TensorMap;
  readonly transfer: ArrayBuffer[];
}

/**
 * Prepares tensors to cross a thread boundary without a structured-clone copy. A numeric array
 * that owns its whole ArrayBuffer moves as is (`move`) or as a copy (`copy`); a view into a larger
 * buffer is always copied, since moving the buffer would detach data the view does not cover,
 * and cloning would copy all of it. A view on a SharedArrayBuffer is copied too, as
 * onnxruntime-node refuses such data ("Invalid argument"). Strings are cloned.
 */
export function forTransfer(tensors: TensorMap, mode: 'move' | 'copy'): Transferable {
  const transfer: ArrayBuffer[] = [];
  const moved = new Set<ArrayBufferLike>();
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(tensors)) {
    out[name] = prepare(t, mode, moved, transfer);
  }
  return { tensors: out, transfer };
}

function prepare(t: Tensor, mode: 'move' | 'copy', moved: Set<ArrayBufferLike>, transfer: ArrayBuffer[]): Tensor {
  if (Array.isArray(t.data)) return t;
  const data = t.data as NumericArray;
  if (mode === 'move' && ownsBuffer(data) && !moved.has(data.buffer)) {
    moved.add(data.buffer);
    transfer.push(data.buffer);
    return t;
  }
  const copy = data.slice();
  transfer.push(copy.buffer as ArrayBuffer);
  return { datatype: t.datatype, shape: t.shape, data: copy } as Tensor;
}

/**
 * A model's bytes as they should go to the workers: in an ArrayBuffer of their own. Every worker
 * is sent a clone, which for a view would hold the whole buffer under it (a model cut out of a
 * larger file, once per instance); onnxruntime-node refuses bytes in a SharedArrayBuffer
 * ("Invalid argument").
 */
export function modelBytes(bytes: Uint8Array): Uint8Array {
  return ownsBuffer(bytes) ? bytes : new Uint8Array(bytes);
}

/** True when `view` covers the whole of an ArrayBuffer (not a SharedArrayBuffer). */
function ownsBuffer(view: ArrayBufferView): view is ArrayBufferView & { readonly buffer: ArrayBuffer } {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}
