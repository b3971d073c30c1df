/** IEEE 754 half-precision conversions for FP16 tensors, which servable stores as raw bits in a Uint16Array. */

/**
 * The smallest magnitude that rounds to infinity in half precision: 65520 lies halfway between the
 * largest half (65504) and 2^16, and ties go to even, which is infinity.
 * @internal
 */
export const HALF_OVERFLOW = 65520;

const MIN_NORMAL = 2 ** -14;
const SUBNORMAL_STEP = 2 ** -24;

/** The half-precision bits nearest to `value` (round half to even, overflow to infinity). */
export function toHalfBits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= HALF_OVERFLOW) return sign | 0x7c00;
  if (a < MIN_NORMAL) return sign | roundHalfEven(a / SUBNORMAL_STEP);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  let mantissa = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    e += 1;
  }
  return sign | ((e + 15) << 10) | mantissa;
}

/** The number that half-precision `bits` hold. */
export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * SUBNORMAL_STEP;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

/** Rounds a non-negative number to an integer, ties to even. Exact for the values above, which carry few bits. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
