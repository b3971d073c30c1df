import { describe, optionError, hash128, isDataType, matchesStorage, prefixLengths, wtf8Bytes, type TensorMap } from '../core/index.js';
import type { MaybePromise } from './store.js';

/**
 * Turns the canonical bytes of a request into a fixed-length string. The default is a fast
 * 128-bit non-cryptographic hash; use {@link sha256Hasher} where clients are untrusted and a
 * crafted collision would serve one client's result to another.
 */
export type KeyHasher = (parts: readonly Uint8Array[]) => MaybePromise<string>;

/** MurmurHash3 x86_128 over the parts: about 2 GB/s, synchronous. */
export const fastHasher: KeyHasher = (parts) => hash128(parts);

/** SHA-256 through Web Crypto (Node and browsers): collision-resistant, asynchronous. */
export const sha256Hasher: KeyHasher = async (parts) => {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const all = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.byteLength;
  }
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', all));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
};

const encoder = new TextEncoder();

/**
 * The canonical bytes of a set of named tensors and of the request parameters that change the
 * output: a header naming every input (sorted by name) with its datatype, shape and byte length,
 * then the parameters as canonical JSON (keys sorted), then each input's bytes in the same order.
 * Two requests have the same bytes exactly when they have the same names, datatypes, shapes, data
 * and parameters; the order in which inputs or parameter keys were written does not matter.
 * @throws TypeError when an input is not a tensor or a parameter is not JSON data.
 */
export function canonicalParts(inputs: TensorMap, parameters?: Readonly<Record<string, unknown>>): Uint8Array[] {
  if (typeof inputs !== 'object' || inputs === null) throw optionError(`Expected inputs to be a map of tensors, got ${describe(inputs)}`);
  const names = Object.keys(inputs).sort();
  const header: unknown[] = [];
  const data: Uint8Array[] = [];
  for (const name of names) {
    const t = inputs[name]!;
    if (!isDataType(t?.datatype) || !Array.isArray(t.shape)) {
      throw optionError(`Expected input "${name}" to be a tensor {datatype, shape, data}, got ${describe(t)}`);
    }
    const bytes = t.datatype === 'BYTES' ? stringBytes(name, t.data) : numericBytes(name, t);
    header.push([name, t.datatype, t.shape, bytes.byteLength]);
    data.push(bytes);
  }
  const head = encoder.encode(`${JSON.stringify(header)}|${canonicalJson(parameters ?? {})}`);
  return [head, ...data];
}

function numericBytes(name: string, t: TensorMap[string]): Uint8Array {
  if (!matchesStorage(t.datatype, t.data)) throw optionError(`Expected input "${name}" to hold ${t.datatype} data, got ${describe(t.data)}`);
  const d = t.data as Float32Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * Each string as a 4-byte little-endian byte length followed by its WTF-8 bytes: the memory backend
 * and onnxruntime-web see a string holding a lone surrogate as it is (a string Identity model on
 * onnxruntime-web answers it back), so it must not share a key with the one holding U+FFFD, as
 * UTF-8 would make it. onnxruntime-node reads both as U+FFFD.
 */
function stringBytes(name: string, data: unknown): Uint8Array {
  if (!Array.isArray(data)) throw optionError(`Expected input "${name}" to hold string[] data, got ${describe(data)}`);
  for (const s of data) {
    if (typeof s !== 'string') throw optionError(`Expected input "${name}" to hold strings, got ${describe(s)}`);
  }
  return prefixLengths((data as string[]).map(wtf8Bytes));
}


/**
 * JSON with object keys sorted at every level and `undefined` members left out, so equal data
 * always gives the same text.
 * @throws TypeError on values JSON cannot hold (functions, symbols, bigints, non-finite numbers).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw optionError(`Expected a finite number in parameters, got ${describe(value)}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  if (typeof value === 'object') {
    const members: string[] = [];
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) members.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
    }
    return `{${members.join(',')}}`;
  }
  throw optionError(`Expected JSON data in parameters, got ${describe(value)}`);
}

/** The hash of {@link canonicalParts}: equal for requests that must give the same result. */
export function inputsKey(
  inputs: TensorMap,
  parameters?: Readonly<Record<string, unknown>>,
  hasher: KeyHasher = fastHasher,
): MaybePromise<string> {
  return hasher(canonicalParts(inputs, parameters));
}
