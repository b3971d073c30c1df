/**
 * Option checks shared by every constructor: each throws a TypeError or RangeError that names the
 * option and quotes the value it got.
 */

/** Renders a value and its type for an error message: `0 (number)`, `"x" (string)`. */
export function describe(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'number' ? String(value) : typeof value === 'function' ? '[function]' : JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  return `${shown} (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}

/** Asserts an integer within [min, max]. */
export function assertInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`Expected \`${name}\` to be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new RangeError(`Expected \`${name}\` to be an integer ${range}, got ${describe(value)}`);
  }
}

/** Asserts a finite number within [min, max]; `Infinity` passes when `allowInfinity`. */
export function assertNumber(name: string, value: unknown, min = 0, max = Number.MAX_VALUE, allowInfinity = false): asserts value is number {
  if (typeof value !== 'number' || Number.isNaN(value) || (!allowInfinity && !Number.isFinite(value))) {
    throw new TypeError(`Expected \`${name}\` to be a finite number, got ${describe(value)}`);
  }
  if (value < min || (value > max && !(allowInfinity && value === Infinity))) {
    const range = max === Number.MAX_VALUE ? `>= ${min}` : `between ${min} and ${max}`;
    throw new RangeError(`Expected \`${name}\` to be a number ${range}, got ${describe(value)}`);
  }
}

/** Asserts one of a fixed set of values. */
export function assertOneOf<T>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (!allowed.includes(value as T)) {
    throw new TypeError(`Expected \`${name}\` to be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`);
  }
}

/** Asserts a function. */
export function assertFunction(name: string, value: unknown): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new TypeError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
}

/** Asserts a non-empty string. */
export function assertString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`Expected \`${name}\` to be a non-empty string, got ${describe(value)}`);
  }
}

/** Asserts a plain object (or undefined when optional). */
export function assertObject(name: string, value: unknown): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${describe(value)}`);
  }
}

/** Asserts an AbortSignal when one is given. */
export function assertSignal(name: string, value: unknown): asserts value is AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new TypeError(`Expected \`${name}\` to be an AbortSignal, got ${describe(value)}`);
  }
}
