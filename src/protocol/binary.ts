/**
 * The binary tensor data extension (Triton's `binary_tensor_data`): a body is a JSON header of
 * `Inference-Header-Content-Length` bytes followed by raw little-endian tensor data, each tensor
 * `binary_data_size` bytes, in the order the JSON lists them. BOOL is one byte per element (any
 * non-zero byte is true); BYTES elements are a 4-byte little-endian length followed by that many
 * bytes.
 */
import { bytesPerElement, describe, fromBytes, InvalidInputError, lengthPrefixed, type DataType, type Tensor, type TensorData } from '../core/index.js';

/** The request header naming the length of the JSON part of a body. */
export const HEADER_LENGTH = 'inference-header-content-length';

// ignoreBOM: a U+FEFF that starts an element is its data, not a byte order mark.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** A body split into its JSON header and the binary data after it. */
export interface SplitBody {
  readonly json: Uint8Array | string;
  readonly binary: Uint8Array | undefined;
}

const RAW_BINARY_REFUSED =
  "Inference-Header-Content-Length 0 asks for Triton's raw binary request (the whole body the data of a model's one input), which servable does not serve; send the JSON header first and its length in bytes";

/**
 * Splits a body at `Inference-Header-Content-Length`; without the header the whole body is JSON.
 * @throws InvalidInputError when the header is not a length within the body, is 0 (Triton's raw
 * binary request, not served), or comes as more than one field line (an array of values), as Node
 * refuses a repeated one by joining it (`94, 94`).
 */
export function splitBody(body: Uint8Array | string, header: string | readonly string[] | undefined): SplitBody {
  if (header === undefined) return { json: body, binary: undefined };
  if (typeof header !== 'string' && header.length > 1) {
    throw new InvalidInputError(`The Inference-Header-Content-Length header was sent ${header.length} times; send it once`);
  }
  const value = typeof header === 'string' ? header : header[0];
  // A plain Uint8Array view: a Node Buffer's slice() does not copy, which core's fromBytes relies on to realign.
  const bytes = typeof body === 'string' ? encoder.encode(body) : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  const length = value !== undefined && /^\d{1,15}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!(length <= bytes.byteLength)) {
    throw new InvalidInputError(`Expected the Inference-Header-Content-Length header to be a byte count within the body's ${bytes.byteLength} bytes, got ${describe(value)}`);
  }
  // Triton reads 0 as its raw binary request; refused here by name, where it read as an empty JSON header.
  if (length === 0) throw new InvalidInputError(RAW_BINARY_REFUSED);
  return { json: bytes.subarray(0, length), binary: bytes.subarray(length) };
}

/** Where the inputs that have `binary_data_size` take their data from, one after another. */
export interface BinarySource {
  /**
   * The data of input `name`, `count` elements of `datatype` in the next `size` bytes.
   * @throws InvalidInputError naming `where` when fewer are left, or they do not hold the elements.
   */
  tensorData(name: string, datatype: DataType, count: number, size: number, where: string): TensorData;
  /** Refuses bytes that no input claimed. */
  finish(): void;
}

/** Hands out consecutive slices of the binary part of a body, one per input that has `binary_data_size`. */
export class BinaryReader implements BinarySource {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  tensorData(_name: string, datatype: DataType, count: number, size: number, where: string): TensorData {
    refusePastEnd(size, this.#bytes.byteLength - this.#offset, where);
    const bytes = this.#bytes.subarray(this.#offset, this.#offset + size);
    this.#offset += size;
    return decodeBinaryData(datatype, bytes, count, where);
  }

  finish(): void {
    refuseUnclaimed(this.#bytes.byteLength - this.#offset);
  }
}

/** Refuses an input's `binary_data_size` larger than the `left` bytes of binary data not yet taken. */
function refusePastEnd(size: number, left: number, where: string): void {
  if (size > left) throw new InvalidInputError(`${where}: binary_data_size ${size} runs past the end of the binary data (${left} bytes left)`);
}

function refuseUnclaimed(left: number): void {
  if (left > 0) throw new InvalidInputError(`The body holds ${left} bytes of binary data after the last input's binary_data_size`);
}

/** Where an input's binary data lies: `size` bytes at `offset` of the binary part, `count` elements of `datatype`. */
export interface BinarySpan {
  readonly name: string;
  readonly datatype: DataType;
  readonly count: number;
  readonly offset: number;
  readonly size: number;
  readonly where: string;
}

/**
 * @internal The binary part of a body known only by its length, for decoding the JSON header
 * apart from the data (on a JSON worker): each input's data is left empty and its span recorded,
 * for {@link readBinarySpans} to read from the bytes where they are. Lengths are checked here.
 */
export class BinaryLayout implements BinarySource {
  /** The spans of the inputs decoded so far, in order. */
  readonly spans: BinarySpan[] = [];
  readonly #length: number;
  #offset = 0;

  constructor(length: number) {
    this.#length = length;
  }

  tensorData(name: string, datatype: DataType, count: number, size: number, where: string): TensorData {
    refusePastEnd(size, this.#length - this.#offset, where);
    this.spans.push({ name, datatype, count, offset: this.#offset, size, where });
    this.#offset += size;
    return [];
  }

  finish(): void {
    refuseUnclaimed(this.#length - this.#offset);
  }
}

/**
 * @internal The data of each span (see {@link BinaryLayout}) read from `binary`, in order, as
 * {@link BinaryReader} reads it. A header decoded apart from its data was refused, if at all, after
 * its spans: an error here comes first, as it would have when decoding with the bytes.
 * @throws InvalidInputError naming the input whose data does not hold its elements.
 */
export function readBinarySpans(spans: readonly BinarySpan[], binary: Uint8Array): TensorData[] {
  return spans.map(({ datatype, count, offset, size, where }) => decodeBinaryData(datatype, binary.subarray(offset, offset + size), count, where));
}

/**
 * @internal The data of an input whose `binary_data_size` is 0 in a body with no binary part (no
 * `Inference-Header-Content-Length`), as Triton reads it: no bytes, so `count` must be 0. The
 * bytes are new each time, not shared: the data's buffer is moved to a worker (the JSON worker's
 * reply, onnx-node's `transferFeeds`), which would detach a shared one for every later request.
 * @throws InvalidInputError naming `where` when the shape claims elements.
 */
export function noBinaryData(datatype: DataType, count: number, where: string): TensorData {
  return decodeBinaryData(datatype, new Uint8Array(0), count, where);
}

/**
 * Decodes one input's binary data: its size must be exactly what the shape needs, checked before
 * anything is allocated; BYTES elements must be valid UTF-8 (servable's BYTES tensors hold strings).
 * @throws InvalidInputError naming the input.
 */
function decodeBinaryData(datatype: DataType, bytes: Uint8Array, count: number, where: string): TensorData {
  if (datatype === 'BYTES') return decodeBinaryStrings(bytes, count, where);
  const size = bytesPerElement(datatype)!;
  if (bytes.byteLength !== count * size) {
    throw new InvalidInputError(`${where}: ${count} ${datatype} elements take ${count * size} bytes, but binary_data_size is ${bytes.byteLength}`);
  }
  return fromBytes(datatype, datatype === 'BOOL' ? normalizeBools(bytes) : bytes);
}

/**
 * Any non-zero byte is true, as in C, and becomes 1: a model's `bool` must hold 0 or 1, or the
 * reply's JSON and the model's arithmetic disagree on what true is. Copies only when a byte is
 * neither, leaving the caller's body as it was.
 */
function normalizeBools(bytes: Uint8Array): Uint8Array {
  if (bytes.every((b) => b <= 1)) return bytes;
  return bytes.map((b) => (b === 0 ? 0 : 1));
}

function decodeBinaryStrings(bytes: Uint8Array, count: number, where: string): string[] {
  if (count * 4 > bytes.byteLength) {
    throw new InvalidInputError(`${where}: ${count} BYTES elements take at least ${count * 4} bytes, but binary_data_size is ${bytes.byteLength}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<string>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > bytes.byteLength) throw new InvalidInputError(`${where}: the binary data ends before BYTES element ${i}`);
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.byteLength) throw new InvalidInputError(`${where}: BYTES element ${i} claims ${length} bytes, past the end of its binary data`);
    try {
      out[i] = decoder.decode(bytes.subarray(offset, offset + length));
    } catch {
      throw new InvalidInputError(`${where}: BYTES element ${i} is not valid UTF-8`);
    }
    offset += length;
  }
  if (offset !== bytes.byteLength) {
    throw new InvalidInputError(`${where}: ${count} BYTES elements take ${offset} bytes, but binary_data_size is ${bytes.byteLength}`);
  }
  return out;
}

/** A tensor's data as little-endian bytes; BYTES elements length-prefixed. */
export function tensorBytes(t: Tensor): Uint8Array {
  if (t.datatype !== 'BYTES') {
    const data = t.data as Float32Array;
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return lengthPrefixed(t.data as string[]);
}

/**
 * Replies up to half this long are carved from a shared buffer of this size, as Node's Buffer pool
 * does: Node 20 takes about 0.5 µs to make an ArrayBuffer of more than 64 bytes, whatever its size.
 */
const SLAB_BYTES = 8 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/**
 * `byteLength` zeroed bytes: a fresh part of the shared slab when small, else a buffer of their own.
 * A slab a caller detached (transferring a reply's whole `buffer`, against `HttpResponse.body`'s
 * rule) reads as 0 bytes long and is replaced (`>=`: a reply of none too), where every later small
 * reply threw.
 */
function allocate(byteLength: number): Uint8Array {
  if (byteLength > SLAB_BYTES / 2) return new Uint8Array(byteLength);
  if (slabUsed + byteLength >= slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const bytes = new Uint8Array(slab, slabUsed, byteLength);
  // 8-byte aligned, as a buffer of its own starts.
  slabUsed += (byteLength + 7) & ~7;
  return bytes;
}

/** @internal The length of `text` in UTF-8 as TextEncoder writes it: a lone surrogate becomes U+FFFD, 3 bytes. */
export function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) length += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two code units, four bytes.
      length += 2;
      i++;
    } else length += 2;
  }
  return length;
}

/**
 * A JSON header followed by binary chunks, and the header length to announce: the header encoded
 * straight into the body, one buffer made (a part of a shared one for a small reply). A header too
 * long for the shared buffer (JSON outputs beside binary ones) is encoded and copied: counting its
 * UTF-8 length in JavaScript took longer than that (a 1 MB header 1.1 ms against 0.8).
 */
export function joinBody(json: string, chunks: readonly Uint8Array[]): { body: Uint8Array; headerLength: number } {
  const header = json.length > SLAB_BYTES / 2 ? encoder.encode(json) : undefined;
  const headerLength = header ? header.byteLength : utf8Length(json);
  let size = headerLength;
  for (const c of chunks) size += c.byteLength;
  const body = allocate(size);
  if (header) body.set(header);
  else encoder.encodeInto(json, body);
  let offset = headerLength;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.byteLength;
  }
  return { body, headerLength };
}
