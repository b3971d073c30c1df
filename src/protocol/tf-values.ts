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

/**
 * The JSON text of the tensor's value at a flat index; BYTES as `{"b64": ...}` when `asBytes`.
 * A function rather than an array of every value's text, which a large output would build only to
 * join.
 */
export function tfValueText(t: Tensor, asBytes: boolean): (index: number) => string {
  switch (t.datatype) {
    case 'FP16': {
      const bits = t.data as Uint16Array;
      return (i) => tfFloat(fromHalfBits(bits[i]!), 'float');
    }
    case 'FP32': {
      const data = t.data as Float32Array;
      return (i) => tfFloat(data[i]!, 'float');
    }
    case 'FP64': {
      const data = t.data as Float64Array;
      return (i) => tfFloat(data[i]!, 'double');
    }
    case 'INT64':
    case 'UINT64': {
      // Exact at any size, as TF-Serving writes them: JSON has no limit on an integer's digits.
      const data = t.data as BigInt64Array;
      return (i) => String(data[i]);
    }
    case 'BYTES': {
      const data = t.data as string[];
      return asBytes ? (i) => `{"b64":"${toBase64(encoder.encode(data[i]))}"}` : (i) => JSON.stringify(data[i]);
    }
    default: {
      const values = encodeJsonData(t);
      return (i) => JSON.stringify(values[i]);
    }
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
  const fast = precision === 'float' ? fastFloat(n) : undefined;
  if (fast !== undefined) return fast;
  let text = printfG(n, 6);
  const readBack = precision === 'float' ? Math.fround(Number(text)) : Number(text);
  if (readBack !== n) text = printfG(n, precision === 'float' ? 9 : 17);
  return text.includes('.') || text.includes('e') ? text : `${text}.0`;
}

/** 10^0 to 10^22, the powers of ten a double holds exactly. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
/** More than the error of `x * 10^k` (one rounding, below 2^-24 when the product is below 10^9). */
const SLACK = 2 ** -20;

/**
 * tfFloat's text for a float from its nine digits in one multiplication, where toPrecision, Number
 * and toPrecision again take four times as long; undefined where the digits are not certain (a
 * rounding within SLACK of a tie, a carry to another power of ten, an exponent past 10^±22 away),
 * which the exact path writes.
 */
function fastFloat(n: number): string | undefined {
  const x = Math.abs(n);
  const e = Math.floor(Math.log10(x));
  const k = 8 - e;
  if (k > 22 || e > 27) return undefined;
  // x in nine digits before the point, off by one rounding.
  const scaled = k >= 0 ? x * POW10[k]! : x / POW10[-k]!;
  if (scaled < 1e8 || scaled >= 1e9) return undefined;
  const whole = Math.floor(scaled);
  const fraction = scaled - whole;
  const below = (whole % 1000) + fraction;
  if (Math.abs(below - 500) < SLACK || Math.abs(fraction - 0.5) < SLACK) return undefined;
  const six = (whole - (whole % 1000)) / 1000 + (below > 500 ? 1 : 0);
  // The six digits' value as Number reads their text: one rounding of an exact quotient or product.
  const value = e >= 5 ? six * POW10[e - 5]! : six / POW10[5 - e]!;
  const sign = n < 0 ? '-' : '';
  if (Math.fround(value) === x) return six === 1e6 ? undefined : sign + formatG(six, 6, e);
  const nine = whole + (fraction > 0.5 ? 1 : 0);
  return nine === 1e9 ? undefined : sign + formatG(nine, 9, e);
}

/** `%g`'s exponents of fastFloat's range, 10^-14 to 10^27: `e-14` to `e+27`. */
const EXPONENTS = Array.from({ length: 42 }, (_, i) => `e${i < 14 ? '-' : '+'}${String(Math.abs(i - 14)).padStart(2, '0')}`);

/** `%g` with tfFloat's `.0` of the `digits` digits of `d` (no carry) times 10^(e - digits + 1). */
function formatG(d: number, digits: number, e: number): string {
  const text = String(d);
  let end = digits;
  while (text.charCodeAt(end - 1) === 0x30) end--;
  if (e < -4 || e >= digits) {
    const suffix = EXPONENTS[e + 14]!;
    return end === 1 ? `${text[0]!}${suffix}` : `${text[0]!}.${text.slice(1, end)}${suffix}`;
  }
  if (e < 0) return `0.${'0'.repeat(-e - 1)}${text.slice(0, end)}`;
  return end <= e + 1 ? `${text.slice(0, e + 1)}.0` : `${text.slice(0, e + 1)}.${text.slice(e + 1, end)}`;
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
