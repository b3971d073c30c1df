import {
  bytesPerElement,
  CacheError,
  DATA_TYPES,
  elementCount,
  fromBytes,
  type DataType,
  type NumericArray,
  type Tensor,
  type TensorMap,
  wtf8Bytes,
  wtf8Text,
} from '../core/index.js';

/** Turns values into bytes and back, for stores outside the process. */
export interface Codec<V> {
  encode(value: V): Uint8Array;
  /** @throws CacheError when the bytes are not a value this codec wrote. */
  decode(bytes: Uint8Array): V;
}

const MAGIC = [0x53, 0x56, 0x54, 0x01]; // "SVT" + format version 1
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const BYTE_ORDER = LITTLE_ENDIAN ? 1 : 2;
const HEADER = 12;

interface Planned {
  readonly name: Uint8Array;
  readonly tensor: Tensor;
  readonly strings: Uint8Array[] | undefined;
  readonly dataBytes: number;
}

/**
 * A binary codec for maps of tensors: no JSON, numeric data copied as raw bytes, BYTES and names
 * as length-prefixed UTF-8 (WTF-8 where a string holds a lone surrogate, so that it comes back as
 * it was). Layout: "SVT\x01", byte order, 3 reserved bytes, u32 tensor count; then per tensor u32 name length, name, u8 datatype index, u8 rank, 2 reserved bytes, f64 per
 * dimension, f64 data length, data. Decoding copies the data, so decoded tensors own aligned
 * memory even when the input bytes sit at an odd offset inside a larger buffer (as ioredis
 * replies do). Bytes written on a machine of the other byte order are refused.
 */
export const tensorCodec: Codec<TensorMap> = {
  encode(value: TensorMap): Uint8Array {
    const planned: Planned[] = [];
    let size = HEADER;
    for (const [name, tensor] of Object.entries(value)) {
      const encodedName = wtf8Bytes(name);
      const strings = tensor.datatype === 'BYTES' ? (tensor.data as string[]).map(wtf8Bytes) : undefined;
      const dataBytes = strings ? strings.reduce((n, s) => n + 4 + s.byteLength, 0) : (tensor.data as NumericArray).byteLength;
      if (tensor.shape.length > 255) throw new RangeError(`Cannot encode tensor "${name}" of rank ${tensor.shape.length} (at most 255)`);
      planned.push({ name: encodedName, tensor, strings, dataBytes });
      size += 4 + encodedName.byteLength + 4 + 8 * tensor.shape.length + 8 + dataBytes;
    }
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    out.set(MAGIC, 0);
    out[4] = BYTE_ORDER;
    view.setUint32(8, planned.length, true);
    let o = HEADER;
    for (const { name, tensor, strings, dataBytes } of planned) {
      view.setUint32(o, name.byteLength, true);
      out.set(name, o + 4);
      o += 4 + name.byteLength;
      out[o] = DATA_TYPES.indexOf(tensor.datatype);
      out[o + 1] = tensor.shape.length;
      o += 4;
      for (const d of tensor.shape) {
        view.setFloat64(o, d, true);
        o += 8;
      }
      view.setFloat64(o, dataBytes, true);
      o += 8;
      if (strings) {
        for (const s of strings) {
          view.setUint32(o, s.byteLength, true);
          out.set(s, o + 4);
          o += 4 + s.byteLength;
        }
      } else {
        const data = tensor.data as NumericArray;
        out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), o);
        o += dataBytes;
      }
    }
    return out;
  },

  decode(bytes: Uint8Array): TensorMap {
    const r = new Reader(bytes);
    if (MAGIC.some((b, i) => bytes[i] !== b)) throw corrupt('it does not start with the servable tensor header');
    if (bytes[4] !== BYTE_ORDER) throw corrupt('it was written on a machine of the other byte order');
    r.skip(8);
    const count = r.u32();
    const out: TensorMap = {};
    for (let i = 0; i < count; i++) {
      const name = r.text(r.u32());
      const datatype = DATA_TYPES[r.u8()];
      const rank = r.u8();
      r.skip(2);
      if (!datatype) throw corrupt(`tensor "${name}" has an unknown datatype`);
      const shape: number[] = [];
      for (let k = 0; k < rank; k++) shape.push(r.dim());
      const dataBytes = r.dim();
      const n = elementCount(shape);
      out[name] = datatype === 'BYTES' ? { datatype, shape, data: r.strings(n, dataBytes) } : numeric(r, name, datatype, shape, n, dataBytes);
    }
    if (r.offset !== bytes.byteLength) throw corrupt(`${bytes.byteLength - r.offset} bytes follow the last tensor`);
    return out;
  },
};

function numeric(r: Reader, name: string, datatype: Exclude<DataType, 'BYTES'>, shape: number[], n: number, dataBytes: number): Tensor {
  if (dataBytes !== n * bytesPerElement(datatype)!) throw corrupt(`tensor "${name}" holds ${dataBytes} bytes for ${n} ${datatype} elements`);
  return { datatype, shape, data: fromBytes(datatype, r.copy(dataBytes)) };
}

function corrupt(why: string): CacheError {
  return new CacheError(`Cannot decode a cached value: ${why}`);
}

/** Reads the layout with a bounds check on every field. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(n: number): number {
    const at = this.offset;
    if (at + n > this.#bytes.byteLength) throw corrupt(`it ends after ${this.#bytes.byteLength} bytes, ${at + n} needed`);
    this.offset += n;
    return at;
  }

  skip(n: number): void {
    this.#need(n);
  }

  u8(): number {
    return this.#bytes[this.#need(1)]!;
  }

  u32(): number {
    return this.#view.getUint32(this.#need(4), true);
  }

  dim(): number {
    const d = this.#view.getFloat64(this.#need(8), true);
    if (!Number.isSafeInteger(d) || d < 0) throw corrupt(`a size of ${d} is not a count`);
    return d;
  }

  text(n: number): string {
    const at = this.#need(n);
    try {
      return wtf8Text(this.#bytes.subarray(at, at + n));
    } catch {
      throw corrupt(`the ${n} bytes at offset ${at} are not UTF-8 (nor WTF-8)`);
    }
  }

  copy(n: number): Uint8Array {
    const at = this.#need(n);
    const out = new Uint8Array(n); // Buffer#slice would give a view, not a copy
    out.set(this.#bytes.subarray(at, at + n));
    return out;
  }

  strings(count: number, dataBytes: number): string[] {
    const end = this.offset + dataBytes;
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(this.text(this.u32()));
    if (this.offset !== end) throw corrupt(`string data takes ${this.offset - end + dataBytes} bytes, ${dataBytes} declared`);
    return out;
  }
}
