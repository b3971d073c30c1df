/**
 * Tensors as they travel through servable: a datatype from the Open Inference Protocol v2,
 * a row-major shape, and a flat typed array (or strings for BYTES).
 */
import { describe, optionError } from './options.js';
import { takeBuffer } from './recycle.js';

/** The Open Inference Protocol v2 datatypes. */
export type DataType =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

/** Every datatype, in protocol order. */
export const DATA_TYPES: readonly DataType[] = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES',
];

/** The JavaScript storage of each datatype. BOOL is one byte per element; FP16 holds raw IEEE half bits. */
export interface DataTypeStorage {
  BOOL: Uint8Array;
  UINT8: Uint8Array;
  UINT16: Uint16Array;
  UINT32: Uint32Array;
  UINT64: BigUint64Array;
  INT8: Int8Array;
  INT16: Int16Array;
  INT32: Int32Array;
  INT64: BigInt64Array;
  FP16: Uint16Array;
  FP32: Float32Array;
  FP64: Float64Array;
  BYTES: string[];
}

/** Any numeric storage. */
export type NumericArray = DataTypeStorage[Exclude<DataType, 'BYTES'>];

/** The data of a tensor of any datatype. */
export type TensorData = DataTypeStorage[DataType];

/** A tensor: datatype, shape and flat row-major data whose length is the product of the shape. */
export interface Tensor<T extends DataType = DataType> {
  readonly datatype: T;
  readonly shape: readonly number[];
  readonly data: DataTypeStorage[T];
}

/** Named tensors: a model's feeds or its outputs. */
export type TensorMap = Record<string, Tensor>;

type NumericConstructor = {
  new (length: number): NumericArray;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): NumericArray;
  readonly BYTES_PER_ELEMENT: number;
};

const CONSTRUCTORS: Record<Exclude<DataType, 'BYTES'>, NumericConstructor> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array as unknown as NumericConstructor,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array as unknown as NumericConstructor,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

/** True when `value` names a datatype. */
export function isDataType(value: unknown): value is DataType {
  return typeof value === 'string' && (DATA_TYPES as readonly string[]).includes(value);
}

/** Bytes per element of a numeric datatype, or undefined for BYTES. */
export function bytesPerElement(datatype: DataType): number | undefined {
  return datatype === 'BYTES' ? undefined : CONSTRUCTORS[datatype].BYTES_PER_ELEMENT;
}

/** The number of elements a shape holds (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A zero-filled array of `length` elements for `datatype`. */
export function allocate<T extends DataType>(datatype: T, length: number): DataTypeStorage[T] {
  if (datatype === 'BYTES') return new Array<string>(length).fill('') as DataTypeStorage[T];
  return new CONSTRUCTORS[datatype as Exclude<DataType, 'BYTES'>](length) as DataTypeStorage[T];
}

/** Views raw little-endian bytes as a datatype's array, copying only when `bytes` is unaligned. */
export function fromBytes(datatype: Exclude<DataType, 'BYTES'>, bytes: Uint8Array): NumericArray {
  const Ctor = CONSTRUCTORS[datatype];
  const size = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`Expected a byte length that is a multiple of ${size} for ${datatype}, got ${bytes.byteLength}`);
  }
  // Uint8Array's slice copies; a Node Buffer's slice would not.
  const aligned = bytes.byteOffset % size === 0 ? bytes : Uint8Array.prototype.slice.call(bytes);
  return new Ctor(aligned.buffer, aligned.byteOffset, aligned.byteLength / size);
}

const utf8 = new TextEncoder();

/**
 * BYTES elements as the binary tensor protocol lays them out: each string's UTF-8 length as 4
 * little-endian bytes, then its UTF-8 bytes.
 */
export function lengthPrefixed(strings: readonly string[]): Uint8Array {
  return prefixLengths(strings.map((s) => utf8.encode(s)));
}

/**
 * Each byte string after its length as 4 little-endian bytes, as {@link lengthPrefixed} lays out
 * strings' UTF-8 (the cache keys strings by bytes of its own).
 * @internal
 */
export function prefixLengths(encoded: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(encoded.reduce((n, e) => n + 4 + e.byteLength, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const e of encoded) {
    view.setUint32(offset, e.byteLength, true);
    out.set(e, offset + 4);
    offset += 4 + e.byteLength;
  }
  return out;
}

/** True when `data` is the storage `datatype` expects. */
export function matchesStorage(datatype: DataType, data: unknown): boolean {
  if (datatype === 'BYTES') return Array.isArray(data) && allStrings(data);
  return data instanceof CONSTRUCTORS[datatype];
}

/** By index, not every(): a hole (new Array(2) left unfilled) is not a string, where every() skips it. */
function allStrings(data: readonly unknown[]): boolean {
  for (let i = 0; i < data.length; i++) if (typeof data[i] !== 'string') return false;
  return true;
}

/**
 * Builds a tensor after checking that the data fits the shape and the datatype.
 * @throws TypeError or RangeError naming what is wrong.
 */
export function tensor<T extends DataType>(datatype: T, data: DataTypeStorage[T], shape: readonly number[]): Tensor<T> {
  if (!isDataType(datatype)) throw optionError(`Expected a datatype (${DATA_TYPES.join(', ')}), got ${JSON.stringify(datatype)}`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw optionError(`Expected shape dimensions to be integers >= 0, got [${shape.join(', ')}]`, RangeError);
  }
  if (!matchesStorage(datatype, data)) throw optionError(`Expected ${storageName(datatype)} data for ${datatype}`);
  const n = elementCount(shape);
  if (data.length !== n) throw optionError(`Expected ${n} elements for shape [${shape.join(', ')}], got ${data.length}`, RangeError);
  return { datatype, data, shape: [...shape] };
}

/**
 * A tensor's data as its datatype's storage (a Float32Array for FP32, a string[] for BYTES, ...),
 * so code that knows what a model returns reads it without a cast:
 * `const p = dataOf(outputs['softmax_0.tmp_0'], 'FP32')`.
 * @throws TypeError when the tensor is missing, is of another datatype, or holds other storage.
 */
export function dataOf<T extends DataType>(t: Tensor | undefined, datatype: T): DataTypeStorage[T] {
  if (!isDataType(datatype)) throw optionError(`Expected a datatype (${DATA_TYPES.join(', ')}), got ${describe(datatype)}`);
  if (typeof t !== 'object' || t === null) throw optionError(`Expected a ${datatype} tensor, got ${describe(t)}`);
  if (t.datatype !== datatype) throw optionError(`Expected a ${datatype} tensor, got ${String(t.datatype)} [${String(t.shape?.join(', '))}]`);
  if (!matchesStorage(datatype, t.data)) {
    const got = (t.data as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof t.data;
    throw optionError(`Expected a ${datatype} tensor (${storageName(datatype)} data), got ${got} data`);
  }
  return t.data as DataTypeStorage[T];
}

/** The name of the array type a datatype is stored in, for messages. */
export function storageName(datatype: DataType): string {
  return datatype === 'BYTES' ? 'string[]' : CONSTRUCTORS[datatype].name;
}

/** The number of elements of one row (everything after the batch dimension). */
function rowSize(t: Tensor): number {
  return elementCount(t.shape.slice(1));
}

/**
 * Concatenates tensors along the first (batch) dimension into new storage, even for one tensor:
 * a backend may then transfer the batch to a worker without detaching a caller's arrays. All
 * must share the datatype and the dimensions after the first.
 */
export function concatBatch(tensors: readonly Tensor[]): Tensor {
  const first = tensors[0];
  if (!first) throw new RangeError('Expected at least one tensor to concatenate');
  let rows = 0;
  for (const t of tensors) {
    if (t.datatype !== first.datatype || !sameRows(t.shape, first.shape)) {
      throw new RangeError(
        `Cannot batch ${t.datatype}[${t.shape.join(', ')}] with ${first.datatype}[${first.shape.join(', ')}]`,
      );
    }
    rows += t.shape[0] ?? 1;
  }
  const length = rows * rowSize(first);
  if (first.datatype === 'BYTES') {
    const out: string[] = [];
    // Element by element: spreading a list of 200,000 or more overflows the call stack.
    for (const t of tensors) for (const s of t.data as string[]) out.push(s);
    return { datatype: 'BYTES', shape: [rows, ...first.shape.slice(1)], data: out };
  }
  const Ctor = CONSTRUCTORS[first.datatype];
  // Every element is overwritten below, so a recycled buffer's old contents never show.
  const out = new Ctor(takeBuffer(length * Ctor.BYTES_PER_ELEMENT)) as NumericArray;
  let offset = 0;
  for (const t of tensors) {
    (out as Float32Array).set(t.data as Float32Array, offset);
    offset += t.data.length;
  }
  return { datatype: first.datatype, shape: [rows, ...first.shape.slice(1)], data: out };
}

/** Rows `[start, end)` of a tensor along the batch dimension, as a view where the storage allows. */
export function sliceBatch(t: Tensor, start: number, end: number): Tensor {
  const row = rowSize(t);
  const data = t.datatype === 'BYTES'
    ? (t.data as string[]).slice(start * row, end * row)
    : (t.data as Float32Array).subarray(start * row, end * row);
  return { datatype: t.datatype, shape: [end - start, ...t.shape.slice(1)], data } as Tensor;
}

/** True when two shapes agree past the batch dimension. */
function sameRows(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 1; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when two dimension lists are equal. */
export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
