import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHalfBits } from '../../src/core/index.js';
import { tfFloat } from '../../src/protocol/tf-values.js';

// tfFloat's fast path (one multiplication by a power of ten) against a slow reference built the
// way the code before it was: toExponential's correctly rounded digits, ties taken to even where
// exact BigInt arithmetic says the float lies halfway, %g's choice of style, the six digits'
// round trip through Number and Math.fround, else nine.

const bitsView = new DataView(new ArrayBuffer(4));

/** A finite float's exact value as mantissa * 2^exponent. */
function exact(x: number): [bigint, number] {
  bitsView.setFloat32(0, Math.abs(x));
  const bits = bitsView.getUint32(0);
  const field = bits >>> 23;
  const fraction = bits & 0x7fffff;
  return field === 0 ? [BigInt(fraction), -149] : [BigInt(fraction | 0x800000), field - 150];
}

/** Whether |x| equals the decimal digits * 10^power exactly. */
function equalsDecimal(x: number, digits: bigint, power: number): boolean {
  const [mantissa, two] = exact(x);
  let left = mantissa;
  let right = digits;
  if (two >= 0) left <<= BigInt(two);
  else right <<= BigInt(-two);
  if (power >= 0) right *= 10n ** BigInt(power);
  else left *= 10n ** BigInt(-power);
  return left === right;
}

/** C's `%.{precision}g` of a finite float other than 0, rounding a tie to even. */
function referenceG(x: number, precision: number): string {
  const [mantissaText, exponentText] = Math.abs(x).toExponential(precision - 1).split('e');
  let digits = mantissaText!.replace('.', '');
  const exponent = Number(exponentText);
  const longer = Math.abs(x).toExponential(precision);
  if (longer[longer.indexOf('e') - 1] === '5' && Number(longer) === Math.abs(x)) {
    const [m, p] = longer.split('e');
    const last = digits.charCodeAt(precision - 1) - 0x30;
    // toExponential took the tie away from zero; an odd digit there goes back down.
    if (equalsDecimal(x, BigInt(m!.replace('.', '')), Number(p) - precision) && last % 2 === 1) {
      digits = digits.slice(0, -1) + String(last - 1);
    }
  }
  digits = digits.replace(/0+$/, '');
  const sign = x < 0 ? '-' : '';
  if (exponent < -4 || exponent >= precision) {
    const rest = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${rest}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}${fraction === '' ? '.0' : `.${fraction}`}`;
}

function reference(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const six = referenceG(x, 6);
  return Math.fround(Number(six.replace(/\.0$/, ''))) === x ? six : referenceG(x, 9);
}

/** mulberry32: a seeded stream of 32-bit words. */
function words(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const fromBits = (bits: number): number => {
  bitsView.setUint32(0, bits >>> 0);
  return bitsView.getFloat32(0);
};
const bitsOf = (x: number): number => {
  bitsView.setFloat32(0, x);
  return bitsView.getUint32(0);
};

/** x and the floats up to `reach` steps either side of it, both signs. */
function neighbours(x: number, reach: number): number[] {
  const bits = bitsOf(Math.abs(Math.fround(x)));
  const out: number[] = [];
  for (let d = -reach; d <= reach; d++) {
    const b = bits + d;
    if (b < 0 || b > 0x7f800000) continue;
    out.push(fromBits(b), -fromBits(b));
  }
  return out;
}

function edgeCases(): number[] {
  const out: number[] = [];
  for (let e = -45; e <= 38; e++) out.push(...neighbours(Number(`1e${e}`), 4));
  for (let e = -14; e <= 27; e++) {
    // Six- and nine-digit carries and ties: 999999.5, 9999995, 99999999.5, 999999999.5 and 1.0000005, scaled.
    for (const m of [9.999995, 9.9999995, 9.99999995, 9.999999995, 1.0000005, 1.00000005, 1.000000005, 5.000005, 2.5]) {
      out.push(...neighbours(m * 10 ** e, 3));
    }
  }
  for (const x of [1e6, 999999, 999999.5, 1e-5, 9.99999e-6, 99999999.5, 16777216, 16777217, 3.4028234663852886e38]) {
    out.push(...neighbours(x, 6));
  }
  // Subnormals, the least normal floats, the largest.
  out.push(...neighbours(fromBits(1), 6), ...neighbours(fromBits(0x7fffff), 6), ...neighbours(fromBits(0x800000), 6), ...neighbours(fromBits(0x7f7fffff), 6));
  return out;
}

function check(values: Iterable<number>): void {
  for (const x of values) {
    const want = reference(x);
    if (tfFloat(x, 'float') !== want) assert.equal(tfFloat(x, 'float'), want, `float bits 0x${bitsOf(x).toString(16)}`);
  }
}

test('tfFloat equals the slow reference on the edges of its fast path: powers of ten, carries, ties, subnormals, FLT_MAX, both signs', () => {
  check(edgeCases());
});

test('tfFloat equals the slow reference on every FP16 value', () => {
  check(Array.from({ length: 0x10000 }, (_, bits) => fromHalfBits(bits)));
});

test('tfFloat equals the slow reference on seeded random FP32 bit patterns, and on those with exponents in the fast range', () => {
  const next = words(0x5eed);
  const values: number[] = [];
  for (let i = 0; i < 150_000; i++) values.push(fromBits(next()));
  // Exponents 2^-50 to 2^94 (10^-15 to 10^28), the fast path's range and a step past it.
  for (let i = 0; i < 150_000; i++) {
    const w = next();
    values.push(fromBits((w & 0x807fffff) | ((77 + (w >>> 23) % 145) << 23)));
  }
  check(values);
});
