import { allocate, bytesPerElement, DATA_TYPES, type DataType, type NumericArray, type Tensor, type TensorMap } from '../../core/index.js';

/**
 * The size of each worker's reply arena. Outputs up to this size come back through shared memory;
 * larger ones are moved by `postMessage`, whose fixed cost is small beside copying them.
 */
export const ARENA_BYTES = 64 * 1024;

/** Header words per tensor before its dimensions: name index, datatype index, byte offset, byte length, rank. */
const FIXED_WORDS = 5;

/**
 * Writes tensors into a shared arena: Int32 header words (the count, then per tensor its name's
 * index in `names`, datatype, byte offset, byte length, rank and dimensions), then each tensor's
 * bytes at an 8-byte aligned offset, all from byte `at` (a multiple of 8) on. Writes nothing and
 * returns false when a tensor holds strings, is not in `names`, or they do not all fit.
 */
export function writeTensors(arena: SharedArrayBuffer, names: readonly string[], tensors: TensorMap, at = 0): boolean {
  const entries = Object.entries(tensors);
  let words = 1;
  for (const [, t] of entries) words += FIXED_WORDS + t.shape.length;
  let end = align8(at + words * Int32Array.BYTES_PER_ELEMENT);
  const offsets: number[] = [];
  for (const [name, t] of entries) {
    if (t.datatype === 'BYTES' || !names.includes(name)) return false;
    offsets.push(end);
    end = align8(end + (t.data as NumericArray).byteLength);
  }
  if (end > arena.byteLength) return false;
  const header = new Int32Array(arena, at, words);
  const bytes = new Uint8Array(arena);
  let w = 0;
  header[w++] = entries.length;
  entries.forEach(([name, t], i) => {
    const data = t.data as NumericArray;
    header[w++] = names.indexOf(name);
    header[w++] = DATA_TYPES.indexOf(t.datatype);
    header[w++] = offsets[i]!;
    header[w++] = data.byteLength;
    header[w++] = t.shape.length;
    for (const d of t.shape) header[w++] = d;
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offsets[i]!);
  });
  return true;
}

/** Reads what {@link writeTensors} wrote from byte `at`, copying the data out so that the arena can be reused. */
export function readTensors(arena: SharedArrayBuffer, names: readonly string[], at = 0): TensorMap {
  const header = new Int32Array(arena, at);
  const bytes = new Uint8Array(arena);
  const tensors: TensorMap = {};
  let w = 1;
  for (let i = 0; i < header[0]!; i++) {
    const name = names[header[w++]!]!;
    const datatype = DATA_TYPES[header[w++]!] as Exclude<DataType, 'BYTES'>;
    const offset = header[w++]!;
    const byteLength = header[w++]!;
    const rank = header[w++]!;
    const shape = Array.from(header.subarray(w, w + rank));
    w += rank;
    const data = allocate(datatype, byteLength / bytesPerElement(datatype)!);
    new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + byteLength));
    tensors[name] = { datatype, shape, data } as Tensor;
  }
  return tensors;
}

/**
 * What a worker's run gives back, by message or through the arena; there, its ONNX Runtime time
 * takes the first 8 bytes, its outputs the rest.
 */
export interface RunResult {
  readonly outputs: TensorMap;
  readonly inferMs: number;
}

/** Writes a reply (see {@link writeTensors} for when it does not fit). */
export function writeReply(arena: SharedArrayBuffer, names: readonly string[], reply: RunResult): boolean {
  if (!writeTensors(arena, names, reply.outputs, Float64Array.BYTES_PER_ELEMENT)) return false;
  new Float64Array(arena, 0, 1)[0] = reply.inferMs;
  return true;
}

/** Reads what {@link writeReply} wrote. */
export function readReply(arena: SharedArrayBuffer, names: readonly string[]): RunResult {
  return { outputs: readTensors(arena, names, Float64Array.BYTES_PER_ELEMENT), inferMs: new Float64Array(arena, 0, 1)[0]! };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
