/**
 * The JSON text of a tensor's values as TF-Serving's REST API writes them (json_tensor.cc's
 * WriteDecimal): a float as `absl::StrCat` writes it, printf's `%g` (six significant digits), or
 * `%.9g` (`%.17g` for FP64) when those do not read back as the same value, with `.0` after a
 * whole number written without an exponent, so that a client reads every float output as a float
 * (Python's `json.loads` reads `32` as an int and `32.0` as a float); non-finite floats bare;
 * 64-bit integers bare at any size.
 */
import { fromHalfBits, type Tensor } from '../core/index.js';
import { toBase64 } from './base64.js';
import { encodeJsonData } from './tensor-json.js';

const encoder = new TextEncoder();

/** Each of the tensor's values as JSON text, in order; BYTES as `{"b64": ...}` when `asBytes`. */
export function tfValueTexts(t: Tensor, asBytes: boolean): string[] {
  switch (t.datatype) {
    case 'FP16':
      return Array.from(t.data as Uint16Array, (bits) => tfFloat(fromHalfBits(bits), 'float'));
    case 'FP32':
      return Array.from(t.data as Float32Array, (n) => tfFloat(n, 'float'));
    case 'FP64':
      return Array.from(t.data as Float64Array, (n) => tfFloat(n, 'double'));
    case 'INT64':
    case 'UINT64':
      // Exact at any size, as TF-Serving writes them: JSON has no limit on an integer's digits.
      return Array.from(t.data as BigInt64Array, String);
    case 'BYTES':
      return (t.data as string[]).map((s) => (asBytes ? `{"b64":"${toBase64(encoder.encode(s))}"}` : JSON.stringify(s)));
    default:
      return encodeJsonData(t).map((v) => JSON.stringify(v));
  }
}

/** The text TF-Serving writes for a float (FP16 and FP32 values) or a double. */
export function tfFloat(n: number, precision: 'float' | 'double'): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  // printf writes the sign of a negative zero, which toExponential and toFixed drop.
  if (Object.is(n, -0)) return '-0.0';
  // Whole numbers below 10^6 are exact in six digits: the common case, without a round trip.
  if (Number.isInteger(n) && Math.abs(n) < 1e6) return `${n}.0`;
  let text = printfG(n, 6);
  const readBack = precision === 'float' ? Math.fround(Number(text)) : Number(text);
  if (readBack !== n) text = printfG(n, precision === 'float' ? 9 : 17);
  return text.includes('.') || text.includes('e') ? text : `${text}.0`;
}

/** C's `%.{precision}g` of a finite number other than -0. */
function printfG(n: number, precision: number): string {
  let text = n.toPrecision(precision);
  // toPrecision picks the style %g does but for exponents -5 and -6, which it writes in full
  // ("0.0000123457") where %g writes an exponent.
  if (!text.includes('e') && text.startsWith(n < 0 ? '-0.0000' : '0.0000')) text = n.toExponential(precision - 1);
  // At six digits a tie is half a digit from the value, four floats or more away: whichever way it
  // rounds, it does not read back, and nine or seventeen digits are written.
  if (precision > 6 && isTie(n, precision)) text = toEven(text);
  return text.includes('e') ? scientific(text) : trimZeros(text);
}

/**
 * A tie JavaScript rounded away from zero as printf rounds it, to even (1234567.125 to nine digits:
 * 1234567.12, where toPrecision gives 1234567.13): an odd last digit goes down by one. It is never
 * a carry's 0, so no other digit changes.
 */
function toEven(text: string): string {
  const end = text.includes('e') ? text.indexOf('e') : text.length;
  const last = text.charCodeAt(end - 1) - 0x30;
  return last % 2 === 0 ? text : `${text.slice(0, end - 1)}${last - 1}${text.slice(end)}`;
}

/**
 * Whether `n` lies exactly halfway between two numbers of `precision` significant digits: its
 * decimal expansion ends in a 5 at digit precision + 1, which it does when it has exactly as many
 * fractional binary digits as that expansion has fractional decimal digits.
 */
function isTie(n: number, precision: number): boolean {
  const x = Math.abs(n);
  const bits = precision - Math.floor(Math.log10(x));
  return bits > 0 && Number.isInteger(x * 2 ** bits) && !Number.isInteger(x * 2 ** (bits - 1));
}

/** JavaScript's exponential notation ("1.50000e+7") as %g writes it ("1.5e+07"). */
function scientific(text: string): string {
  const e = text.indexOf('e');
  const exponent = Number(text.slice(e + 1));
  return `${trimZeros(text.slice(0, e))}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/** Drops trailing zeros after a decimal point, and the point when nothing follows it, as `%g` does. */
function trimZeros(text: string): string {
  if (!text.includes('.')) return text;
  let end = text.length;
  while (text[end - 1] === '0') end--;
  if (text[end - 1] === '.') end--;
  return text.slice(0, end);
}
