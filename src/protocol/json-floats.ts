/**
 * Reads a JSON array of numbers, flat or nested, straight from a body's bytes into FP32 or FP64
 * storage: no string of the body, no array of doubles, three to four times faster than
 * `JSON.parse` on an image. Each value is the one `JSON.parse` gives, stored as a Float32Array or
 * Float64Array stores it; where this reader cannot be sure of that it reads the number with
 * `Number()`, and anything but plain JSON numbers makes it give up.
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
 * holds a number the datatype's storage would make infinite. Those cases, and every error, are
 * left to `JSON.parse` and the generic decoder, whose messages clients see.
 */
export function parseFloatArray(bytes: Uint8Array, start: number, end: number, datatype: 'FP32' | 'FP64', count: number, maxDepth: number): Float32Array | Float64Array | undefined {
  // n numbers take at least 2n + 1 bytes: a shape the range cannot hold allocates nothing (a 100-byte body may claim 2^26 elements).
  if (count > (end - start) / 2) return undefined;
  const fp32 = datatype === 'FP32';
  const out = fp32 ? new Float32Array(count) : new Float64Array(count);
  // The smallest magnitude the storage makes infinite: halfway past FP32's largest float, ties to even.
  const overflow = fp32 ? 2 ** 128 - 2 ** 103 : Infinity;
  let i = start;
  let depth = 0;
  let n = 0;
  for (;;) {
    // A value is due: a number, or an array (`]` right after `[` closes an empty one).
    let c = bytes[i]!;
    while (isSpace(c)) c = bytes[++i]!;
    if (c === OPEN) {
      if (depth === maxDepth) return undefined;
      depth++;
      c = bytes[++i]!;
      while (isSpace(c)) c = bytes[++i]!;
      if (c !== CLOSE) continue;
    } else {
      if (depth === 0 || n === count) return undefined;
      const from = i;
      const negative = c === MINUS;
      if (negative) c = bytes[++i]!;
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
        return undefined;
      }
      if (c === DOT) {
        c = bytes[++i]!;
        if (!(c >= ZERO && c <= NINE)) return undefined;
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
        if (!(c >= ZERO && c <= NINE)) return undefined;
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
      if (value >= overflow) return undefined;
      out[n++] = negative ? -value : value;
    }
    // A value is done: `,` or the `]` of one or more arrays.
    while (isSpace(c)) c = bytes[++i]!;
    while (c === CLOSE) {
      depth--;
      c = bytes[++i]!;
      if (depth === 0) break;
      while (isSpace(c)) c = bytes[++i]!;
    }
    if (depth === 0) break;
    if (c !== COMMA) return undefined;
    i++;
  }
  if (n !== count || i > end) return undefined;
  for (; i < end; i++) if (!isSpace(bytes[i]!)) return undefined;
  return out;
}

const ascii = new TextDecoder();

function text(bytes: Uint8Array, from: number, to: number): string {
  return ascii.decode(bytes.subarray(from, to));
}
