import { allocate, bareNumber, fromHalfBits, HALF_OVERFLOW, InvalidInputError, toHalfBits, type DataType, type Tensor, type TensorData } from '../core/index.js';
import { describeJson } from './json-non-finite.js';

const INT_RANGES: Partial<Record<DataType, readonly [number, number]>> = {
  INT8: [-(2 ** 7), 2 ** 7 - 1],
  UINT8: [0, 2 ** 8 - 1],
  INT16: [-(2 ** 15), 2 ** 15 - 1],
  UINT16: [0, 2 ** 16 - 1],
  INT32: [-(2 ** 31), 2 ** 31 - 1],
  UINT32: [0, 2 ** 32 - 1],
};

const BIGINT_RANGES: Partial<Record<DataType, readonly [bigint, bigint]>> = {
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  UINT64: [0n, 2n ** 64n - 1n],
};

/**
 * The smallest finite magnitudes that round to infinity, with the largest that do not: FP32's lies
 * halfway between its largest float and 2^128, and ties go to even, which is infinity.
 */
const FLOAT_LIMITS: Partial<Record<DataType, readonly [overflow: number, max: number]>> = {
  FP16: [HALF_OVERFLOW, 65504],
  FP32: [2 ** 128 - 2 ** 103, (2 - 2 ** -23) * 2 ** 127],
};

const SPECIAL_FLOATS: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Infinity, '-Infinity': -Infinity };

/**
 * Visits the leaves of JSON tensor data in row-major order, flat or nested, and returns how many
 * there are. Nesting deeper than `maxDepth` arrays is refused, so the walk is bounded by the shape's rank.
 */
export function forEachLeaf(data: readonly unknown[], maxDepth: number, where: string, visit?: (value: unknown, index: number) => void): number {
  const stack: { readonly items: readonly unknown[]; next: number }[] = [{ items: data, next: 0 }];
  let count = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next >= top.items.length) {
      stack.pop();
      continue;
    }
    const value = top.items[top.next++];
    if (Array.isArray(value)) {
      if (stack.length >= maxDepth) throw nestedTooDeep(where, maxDepth);
      stack.push({ items: value, next: 0 });
    } else {
      visit?.(value, count);
      count++;
    }
  }
  return count;
}

/** The refusal of JSON tensor data with an array nested deeper than the shape's `maxDepth` dimensions. */
export function nestedTooDeep(where: string, maxDepth: number): InvalidInputError {
  return new InvalidInputError(`${where}: \`data\` is nested deeper than the shape's ${maxDepth} dimensions`);
}

/**
 * Decodes JSON tensor data of `count` leaves into the datatype's storage, checking every value:
 * BOOL as true/false, integers in range, INT64/UINT64 as safe integers or decimal strings,
 * FP16/FP32/FP64 as numbers or "NaN"/"Infinity"/"-Infinity" (a finite number that would round to
 * infinity in the datatype is out of range), BYTES as strings.
 * @throws InvalidInputError naming `where`, the element and the bad value.
 */
export function decodeJsonData(datatype: DataType, data: readonly unknown[], count: number, maxDepth: number, where: string): TensorData {
  const out = allocate(datatype, count);
  const bad = (value: unknown, index: number, expected: string, got = describeJson(value)): InvalidInputError => {
    return new InvalidInputError(`${where}: expected ${expected} for ${datatype}, got ${got} at element ${index}`);
  };
  let set: (value: unknown, index: number) => void;
  const ints = INT_RANGES[datatype];
  const bigints = BIGINT_RANGES[datatype];
  if (datatype === 'BYTES') {
    const strings = out as string[];
    set = (v, i) => {
      if (typeof v !== 'string') throw bad(v, i, 'a string');
      strings[i] = v;
    };
  } else if (datatype === 'BOOL') {
    const bytes = out as Uint8Array;
    set = (v, i) => {
      if (typeof v !== 'boolean') throw bad(v, i, 'true or false');
      bytes[i] = v ? 1 : 0;
    };
  } else if (ints) {
    const [min, max] = ints;
    const array = out as Int32Array;
    set = (v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(v, i, `an integer from ${min} to ${max}`);
      array[i] = v;
    };
  } else if (bigints) {
    const [min, max] = bigints;
    const array = out as BigInt64Array;
    set = (v, i) => {
      const n = toBigInt(v);
      if (n === undefined || n < min || n > max) {
        const expected = `an integer from ${min} to ${max} (a number ${min < 0n ? 'from -(2^53 - 1) to 2^53 - 1' : 'up to 2^53 - 1'}, or a decimal string)`;
        if (typeof v !== 'number' || !Number.isInteger(v) || Number.isSafeInteger(v)) throw bad(v, i, expected);
        // A bare integer past 2^53 - 1 that JSON.parse has already rounded: name the number it read, not as if the
        // client had sent that, and ask for a decimal string only where one could be in range.
        if (v < Number(min) || v > Number(max)) throw bad(v, i, expected, `a bare number out of range (read as ${v})`);
        throw bad(v, i, expected, `a bare number past 2^53 - 1 (read as ${BigInt(v)}), which JSON.parse cannot read exactly: send it as a decimal string,`);
      }
      array[i] = n;
    };
  } else {
    const array = out as Float64Array;
    const half = datatype === 'FP16';
    const [overflow, max] = FLOAT_LIMITS[datatype] ?? [Infinity, Number.MAX_VALUE];
    set = (v, i) => {
      const n = typeof v === 'number' ? v : typeof v === 'string' ? SPECIAL_FLOATS[v] : bareNumber(v);
      if (n === undefined) throw bad(v, i, 'a number (or "NaN", "Infinity", "-Infinity")');
      // A number JSON.parse made infinite was a literal too large for any float (1e400).
      if (typeof v === 'number' && (v >= overflow || v <= -overflow)) throw bad(v, i, `a number from -${max} to ${max} (or "NaN", "Infinity", "-Infinity")`);
      array[i] = half ? toHalfBits(n) : n;
    };
  }
  forEachLeaf(data, maxDepth, where, set);
  return out;
}

function toBigInt(value: unknown): bigint | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return BigInt(value);
  return undefined;
}

/**
 * A tensor's data as a flat JSON array: BOOL as booleans, FP16 as numbers, non-finite floats as
 * "NaN"/"Infinity"/"-Infinity", INT64/UINT64 as numbers when they are safe integers and as decimal
 * strings otherwise, BYTES as strings.
 */
export function encodeJsonData(t: Tensor): unknown[] {
  switch (t.datatype) {
    case 'BYTES':
      return [...(t.data as string[])];
    case 'BOOL':
      return Array.from(t.data as Uint8Array, (b) => b !== 0);
    case 'FP16':
      return Array.from(t.data as Uint16Array, (bits) => jsonFloat(fromHalfBits(bits)));
    case 'FP32':
    case 'FP64':
      return Array.from(t.data as Float64Array, jsonFloat);
    case 'INT64':
    case 'UINT64':
      return Array.from(t.data as BigInt64Array, jsonBigInt);
    default:
      return Array.from(t.data as Int32Array);
  }
}

function jsonFloat(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}

function jsonBigInt(n: bigint): number | string {
  return n >= -Number.MAX_SAFE_INTEGER && n <= Number.MAX_SAFE_INTEGER ? Number(n) : n.toString();
}
