/**
 * Reads a JSON array of numbers, flat or nested (as many as the caller says, or rectangular in the
 * shape its nesting implies), straight from a body's bytes into FP32 or FP64 storage: no string of
 * the body, no array of doubles, three to four times faster than `JSON.parse` on an image. Each
 * value is the one `JSON.parse` gives, stored as a Float32Array or Float64Array stores it; where
 * this reader cannot be sure of that it reads the number with `Number()`. TF-Serving's bare `NaN`,
 * `Infinity` and `Inf` (maybe after a minus) are read as the numbers parseNonFinite gives them;
 * anything else but plain JSON numbers makes it give up.
 */

import { isSpace } from './json-chars.js';

// Not imported from json-chars.ts: in this loop, an imported binding read on every byte took up to
// a third longer over an image.
const ZERO = 0x30;
const NINE = 0x39;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const N = 0x4e;
const I = 0x49;

/** Powers of ten a double holds exactly: a mantissa of up to 15 digits times or over one is correctly rounded (Clinger's fast path). */
const EXACT_POWERS = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** 10^-350 … 10^349, each the double nearest it. */
const POWERS = Array.from({ length: 700 }, (_, i) => Number(`1e${i - 350}`));

/** The mantissa digits read exactly enough for FP32; later ones only move the exponent. */
const MAX_DIGITS = 19;

/**
 * How far, relative to a value, an estimate of a 16-19 digit number may be trusted to lie from the
 * double `JSON.parse` reads (it strays a few units in the 53rd bit). FP32 keeps the estimate only
 * when the estimate moved this far either way rounds to the same float: rounding is monotonic, so
 * that double rounds to it too.
 */
const MARGIN = 2 ** -40;

/**
 * The numbers of the JSON array `bytes[start, end)` in row-major order, nested at most `maxDepth`
 * arrays deep, as `count` values of `datatype`; undefined when the array holds anything but JSON
 * numbers and arrays, is not exactly one well-formed array, holds other than `count` numbers, or
 * holds a finite number the datatype's storage would make infinite. Those cases, and every error, are
 * left to `JSON.parse` and the generic decoder, whose messages clients see.
 */
export function parseFloatArray(bytes: Uint8Array, start: number, end: number, datatype: 'FP32' | 'FP64', count: number, maxDepth: number): Float32Array | Float64Array | undefined {
  // n numbers take at least 2n + 1 bytes: a shape the range cannot hold allocates nothing (a 100-byte body may claim 2^26 elements).
  if (count > (end - start) / 2) return undefined;
  const reading: Reading = { out: allocate(datatype, count), n: 0, cap: count, dims: undefined, rank: 0 };
  return readArray(bytes, start, end, reading, maxDepth) && reading.n === count ? reading.out : undefined;
}

/** A tensor read by {@link parseFloatTensor}: the shape of each range's array, and every range's numbers one after another. */
export interface FloatTensor {
  readonly shape: number[];
  readonly data: Float32Array | Float64Array;
}

/**
 * The numbers of the JSON arrays `ranges` of `bytes`, each rectangular and of the same shape, in
 * row-major order, one range after another, as values of `datatype`; the shape is the one the
 * nesting of the first range gives, as TF-Serving's JSON implies it, at most `maxRank` deep.
 * Undefined, as for {@link parseFloatArray}, for anything else, and for more than `maxElements`
 * numbers in all.
 */
export function parseFloatTensor(bytes: Uint8Array, ranges: readonly { start: number; end: number }[], datatype: 'FP32' | 'FP64', maxRank: number, maxElements: number): FloatTensor | undefined {
  const [first, ...rest] = ranges;
  if (first === undefined) return undefined;
  // The first range's count is unknown until it is read: storage grows as it fills, up to what its
  // bytes can hold, from room for a number every 16 bytes (a float32 printed in full takes 12 to 21).
  const length = first.end - first.start;
  const cap = Math.min(maxElements, Math.floor(length / 2));
  const reading: Reading = { out: allocate(datatype, Math.min(cap, Math.max(4096, length >> 4))), n: 0, cap, dims: new Array<number>(maxRank).fill(-1), rank: 0 };
  if (!readArray(bytes, first.start, first.end, reading, maxRank)) return undefined;
  const shape = reading.dims!.slice(0, reading.rank);
  const each = reading.n;
  if (each * ranges.length > maxElements) return undefined;
  // Each other range needs 2n + 1 bytes for the first's n numbers: one too short allocates nothing
  // (a 2 MB body of one long row and 63 short ones took 512 MiB of FP64 storage before refusing).
  if (rest.some((range) => range.end - range.start < 2 * each + 1)) return undefined;
  const out = allocate(datatype, each * ranges.length);
  out.set(reading.out.subarray(0, each));
  // The other ranges must have the first's shape, which leaves them room for exactly its count.
  const others: Reading = { out, n: each, cap: out.length, dims: reading.dims, rank: reading.rank };
  for (const range of rest) if (!readArray(bytes, range.start, range.end, others, maxRank)) return undefined;
  return { shape, data: out };
}

function allocate(datatype: 'FP32' | 'FP64', count: number): Float32Array | Float64Array {
  return datatype === 'FP32' ? new Float32Array(count) : new Float64Array(count);
}

/** Where a reader puts its numbers, and how they must nest. */
interface Reading {
  /** The storage, replaced by a larger copy while it is below `cap`. */
  out: Float32Array | Float64Array;
  /** How many numbers `out` holds. */
  n: number;
  readonly cap: number;
  /**
   * The length of the arrays at each depth, -1 until the first array there closes: every later one
   * must match it, and numbers stand only at the deepest level (`rank`, 0 until the first number or
   * empty array reaches it). Undefined for data of no shape of its own: numbers at any depth.
   */
  readonly dims: number[] | undefined;
  rank: number;
}

/**
 * Reads the array `bytes[start, end)` into `reading`, nested at most `maxDepth` arrays deep; false
 * when it is anything but one well-formed array of JSON numbers or bare tokens (and arrays) nested as `reading`
 * requires, holds more numbers than `reading.cap`, or holds a number the storage makes infinite.
 */
function readArray(bytes: Uint8Array, start: number, end: number, reading: Reading, maxDepth: number): boolean {
  let { out, n } = reading;
  let limit = out.length;
  const { dims, cap } = reading;
  const fp32 = out instanceof Float32Array;
  // Numbers may stand from depth `leaf` to `maxDepth`: past maxDepth while a shape's rank is unknown, so that the first number sets it.
  let leaf = 1;
  // For a shape: how many arrays each array open at a depth holds, and how many numbers were read before it opened.
  let arrays: Int32Array | undefined;
  let before: Int32Array | undefined;
  if (dims) {
    if (reading.rank > 0) maxDepth = reading.rank;
    leaf = reading.rank || maxDepth + 1;
    arrays = new Int32Array(maxDepth + 1);
    before = new Int32Array(maxDepth + 1);
  }
  // The smallest magnitude the storage makes infinite: halfway past FP32's largest float, ties to even.
  const overflow = fp32 ? 2 ** 128 - 2 ** 103 : Infinity;
  let i = start;
  let depth = 0;
  for (;;) {
    // A value is due: a number, or an array (`]` right after `[` closes an empty one).
    let c = bytes[i]!;
    while (isSpace(c)) c = bytes[++i]!;
    if (c === OPEN) {
      if (depth === maxDepth) return false;
      depth++;
      if (arrays) {
        arrays[depth - 1]!++;
        arrays[depth] = 0;
        before![depth] = n;
      }
      c = bytes[++i]!;
      while (isSpace(c)) c = bytes[++i]!;
      if (c !== CLOSE) continue;
    } else {
      if (depth < leaf || n === limit) {
        if (depth === 0) return false;
        if (depth < leaf) {
          if (leaf <= maxDepth) return false;
          leaf = maxDepth = depth;
        }
        if (n === limit) {
          if (limit === cap) return false;
          limit = Math.min(cap, limit * 2);
          const grown = fp32 ? new Float32Array(limit) : new Float64Array(limit);
          grown.set(out);
          out = grown;
        }
      }
      const from = i;
      const negative = c === MINUS;
      if (negative) c = bytes[++i]!;
      if (c === N || c === I) {
        // TF-Serving's bare tokens (see json-non-finite.ts): NaN is the one NaN, whatever its sign.
        const spelling = bareSpelling(bytes, i);
        if (spelling === 0) return false;
        out[n++] = c === N ? Number.NaN : negative ? -Infinity : Infinity;
        i += spelling;
        c = bytes[i]!;
      } else {
        let mantissa = 0;
        let digits = 0;
        let exponent = 0;
        if (c === ZERO) {
          c = bytes[++i]!;
        } else if (c > ZERO && c <= NINE) {
          do {
            if (digits < MAX_DIGITS) {
              mantissa = mantissa * 10 + (c - ZERO);
              digits++;
            } else {
              exponent++;
            }
            c = bytes[++i]!;
          } while (c >= ZERO && c <= NINE);
        } else {
          return false;
        }
        if (c === DOT) {
          c = bytes[++i]!;
          if (!(c >= ZERO && c <= NINE)) return false;
          do {
            if (digits < MAX_DIGITS) {
              if (digits > 0 || c !== ZERO) digits++;
              mantissa = mantissa * 10 + (c - ZERO);
              exponent--;
            }
            c = bytes[++i]!;
          } while (c >= ZERO && c <= NINE);
        }
        if (c === 0x65 || c === 0x45) {
          c = bytes[++i]!;
          const negativeExponent = c === MINUS;
          if (c === MINUS || c === PLUS) c = bytes[++i]!;
          if (!(c >= ZERO && c <= NINE)) return false;
          let e = 0;
          do {
            // Capped far past any body's digit count, so a long exponent cannot be offset by the digits' shift into range.
            if (e < 1e15) e = e * 10 + (c - ZERO);
            c = bytes[++i]!;
          } while (c >= ZERO && c <= NINE);
          exponent += negativeExponent ? -e : e;
        }
        let value: number;
        if (mantissa === 0) {
          value = 0;
        } else if (digits <= 15 && exponent >= -22 && exponent <= 22) {
          value = exponent < 0 ? mantissa / EXACT_POWERS[-exponent]! : mantissa * EXACT_POWERS[exponent]!;
        } else {
          const estimate = exponent >= -350 && exponent < 350 ? mantissa * POWERS[exponent + 350]! : Number.NaN;
          const nearest = Math.fround(estimate);
          const margin = estimate * MARGIN;
          value = fp32 && estimate > 1e-37 && estimate < 1e38 && Math.fround(estimate + margin) === nearest && Math.fround(estimate - margin) === nearest
            ? estimate
            : Number(text(bytes, negative ? from + 1 : from, i));
        }
        // A finite literal the storage makes infinite is refused by the generic decoder, by name.
        if (value >= overflow) return false;
        out[n++] = negative ? -value : value;
      }
    }
    // A value is done: `,` or the `]` of one or more arrays.
    while (isSpace(c)) c = bytes[++i]!;
    while (c === CLOSE) {
      if (dims) {
        // An empty array that closes before any number sets the rank: its depth.
        if (leaf > maxDepth) leaf = maxDepth = depth;
        const length = depth === leaf ? n - before![depth]! : arrays![depth]!;
        if (dims[depth - 1] === -1) dims[depth - 1] = length;
        else if (dims[depth - 1] !== length) return false;
      }
      depth--;
      c = bytes[++i]!;
      if (depth === 0) break;
      while (isSpace(c)) c = bytes[++i]!;
    }
    if (depth === 0) break;
    if (c !== COMMA) return false;
    i++;
  }
  if (i > end) return false;
  for (; i < end; i++) if (!isSpace(bytes[i]!)) return false;
  reading.out = out;
  reading.n = n;
  if (dims) reading.rank = leaf;
  return true;
}

/** How many bytes the bare token at `at` spells: RapidJSON's `NaN`, `Infinity` or `Inf`, longest first; 0 for none. */
function bareSpelling(bytes: Uint8Array, at: number): number {
  if (bytes[at] === N) return bytes[at + 1] === 0x61 && bytes[at + 2] === N ? 3 : 0;
  if (bytes[at + 1] !== 0x6e || bytes[at + 2] !== 0x66) return 0;
  return bytes[at + 3] === 0x69 && bytes[at + 4] === 0x6e && bytes[at + 5] === 0x69 && bytes[at + 6] === 0x74 && bytes[at + 7] === 0x79 ? 8 : 3;
}

const ascii = new TextDecoder();

function text(bytes: Uint8Array, from: number, to: number): string {
  return ascii.decode(bytes.subarray(from, to));
}
