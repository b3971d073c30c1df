/**
 * Tensor-level batch shaping, which the generic batcher leaves to the handler: padding a batch up
 * to an allowed size (TF Serving's `allowed_batch_sizes`), so a backend sees a few fixed shapes,
 * and padding variable-length dimensions so tensors of different lengths can share a batch (TF
 * Serving's `pad_variable_length_inputs`). Padding is `value` (0 unless given), `''` for BYTES.
 */
import { toHalfBits } from './fp16.js';
import { assertInteger, describe, optionError } from './options.js';
import { allocate, elementCount, sameDims, type DataType, type NumericArray, type Tensor } from './tensor.js';

/**
 * Checks a list of allowed batch sizes: positive integers, strictly ascending, the last at least
 * `maxBatchSize` when it is given, so that every batch fits one. TF Serving wants the last equal
 * to its `max_batch_size`; a larger one lets a fixed-shape engine's largest profile exceed the
 * batcher's cap.
 * @throws TypeError or RangeError quoting the list, with `code` `'ERR_SERVABLE_INVALID_OPTION'`.
 */
export function checkAllowedBatchSizes(allowed: readonly number[], maxBatchSize?: number): void {
  if (!Array.isArray(allowed) || allowed.length === 0) {
    throw optionError(`Expected \`allowedBatchSizes\` to be a non-empty array of integers, got ${describe(allowed)}`);
  }
  // By index, not forEach: a hole ([1, , 8]) must be refused, not skipped.
  for (let i = 0; i < allowed.length; i++) {
    const size: unknown = allowed[i];
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) {
      throw optionError(`Expected \`allowedBatchSizes[${i}]\` to be an integer >= 1, got ${describe(size)}`);
    }
    if (i > 0 && size <= allowed[i - 1]!) {
      throw optionError(`Expected \`allowedBatchSizes\` to be strictly ascending, got ${describe(allowed)}`, RangeError);
    }
  }
  if (maxBatchSize !== undefined && allowed.at(-1)! < maxBatchSize) {
    throw optionError(`Expected the last of \`allowedBatchSizes\` to be at least maxBatchSize (${maxBatchSize}), got ${describe(allowed)}`, RangeError);
  }
}

/**
 * The smallest allowed size that holds `items` (sizes ascending).
 * @throws RangeError when none does; TypeError or RangeError with `code` `'ERR_SERVABLE_INVALID_OPTION'`
 * when `items` is not an integer >= 0.
 */
export function paddedBatchSize(items: number, allowed: readonly number[]): number {
  assertInteger('items', items, 0);
  for (const size of allowed) if (size >= items) return size;
  throw new RangeError(`No allowed batch size holds ${items} items (allowed: ${allowed.join(', ')})`);
}

/**
 * Pads a tensor with `value` at the end of each dimension up to `shape` (same rank, no dimension
 * smaller); returns `t` itself when nothing needs padding.
 * @throws RangeError when `shape` cannot hold `t`.
 */
export function padTo(t: Tensor, shape: readonly number[], value = 0): Tensor {
  const rank = t.shape.length;
  if (shape.length !== rank || shape.some((d, i) => !Number.isInteger(d) || d < t.shape[i]!)) {
    throw new RangeError(`Cannot pad ${t.datatype}[${t.shape.join(', ')}] to [${shape.join(', ')}]`);
  }
  if (sameDims(shape, t.shape)) return t;
  const out = allocate(t.datatype, elementCount(shape));
  if (value !== 0) fill(out, t.datatype, value);
  const run = t.shape[rank - 1]!;
  const runs = elementCount(t.shape.slice(0, -1));
  // Strides of the padded layout; the source is copied one innermost run at a time.
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  for (let r = 0; r < runs; r++) {
    let at = 0;
    for (let i = 0; i < rank - 1; i++) at += index[i]! * strides[i]!;
    copy(t.data, r * run, out, at, run);
    for (let i = rank - 2; i >= 0; i--) {
      if (++index[i]! < t.shape[i]!) break;
      index[i] = 0;
    }
  }
  return { datatype: t.datatype, shape: [...shape], data: out } as Tensor;
}

/** Pads the batch (first) dimension of `t` with rows of `value` up to `rows`. */
export function padBatch(t: Tensor, rows: number, value = 0): Tensor {
  return padTo(t, [rows, ...t.shape.slice(1)], value);
}

/**
 * Pads each tensor's dimensions after the batch one to the largest among them with `value`, so
 * they can be concatenated into one batch (e.g. token sequences of different lengths).
 * @throws RangeError when the tensors differ in datatype or rank.
 */
export function padToCommonShape(tensors: readonly Tensor[], value = 0): Tensor[] {
  const first = tensors[0];
  if (!first) return [];
  const dims = first.shape.slice(1);
  for (const t of tensors) {
    if (t.datatype !== first.datatype || t.shape.length !== first.shape.length) {
      throw new RangeError(`Cannot pad ${t.datatype}[${t.shape.join(', ')}] to the shape of ${first.datatype}[${first.shape.join(', ')}]`);
    }
    t.shape.forEach((d, i) => {
      if (i > 0 && d > dims[i - 1]!) dims[i - 1] = d;
    });
  }
  return tensors.map((t) => padTo(t, [t.shape[0]!, ...dims], value));
}

/** The values an integer datatype holds as they are; a pad value outside them would wrap or be cut. */
const INTEGER_RANGES: Partial<Record<DataType, readonly [number, number]>> = {
  BOOL: [0, 1],
  UINT8: [0, 2 ** 8 - 1],
  UINT16: [0, 2 ** 16 - 1],
  UINT32: [0, 2 ** 32 - 1],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-(2 ** 7), 2 ** 7 - 1],
  INT16: [-(2 ** 15), 2 ** 15 - 1],
  INT32: [-(2 ** 31), 2 ** 31 - 1],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/**
 * Checks that `datatype` holds `value` as it is, so padding never writes another number (300 as
 * UINT8 would be 44, -1 as BOOL 255, 2.7 as INT64 2).
 * @throws RangeError naming `what` and quoting the value, with `code` `'ERR_SERVABLE_INVALID_OPTION'`.
 */
export function checkPadValue(datatype: DataType, value: number, what = 'the pad value'): void {
  const range = INTEGER_RANGES[datatype];
  if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) {
    throw optionError(`Expected ${what} to be an integer between ${range[0]} and ${range[1]} for ${datatype}, got ${describe(value)}`, RangeError);
  }
}

/** Fills numeric storage with `value` as the datatype stores it; BYTES stays `''`. */
function fill(out: Tensor['data'], datatype: Tensor['datatype'], value: number): void {
  if (datatype === 'BYTES') return;
  checkPadValue(datatype, value);
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) out.fill(BigInt(Math.trunc(value)));
  else (out as Float64Array).fill(datatype === 'FP16' ? toHalfBits(value) : value);
}

function copy(from: Tensor['data'], start: number, to: Tensor['data'], at: number, length: number): void {
  if (Array.isArray(from)) {
    for (let i = 0; i < length; i++) (to as string[])[at + i] = from[start + i]!;
  } else {
    (to as Float64Array).set((from as NumericArray as Float64Array).subarray(start, start + length), at);
  }
}
