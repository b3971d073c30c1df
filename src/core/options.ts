/**
 * Option checks shared by every constructor: each throws a TypeError or RangeError that names the
 * option, quotes the value it got and carries `code` {@link INVALID_OPTION}.
 */

/** The `code` of the TypeError or RangeError an option check throws: stable, for `err.code` tests. */
export const INVALID_OPTION = 'ERR_SERVABLE_INVALID_OPTION';

/** An option mistake: a TypeError or RangeError with `code` {@link INVALID_OPTION}. */
export type OptionError = (TypeError | RangeError) & { readonly code: typeof INVALID_OPTION };

/** Builds an option mistake's error: `TypeError` (or `RangeError`) with `code` {@link INVALID_OPTION}. */
export function optionError(message: string, Kind: TypeErrorConstructor | RangeErrorConstructor = TypeError, options?: ErrorOptions): OptionError {
  return Object.assign(new Kind(message, options), { code: INVALID_OPTION } as const);
}

const SHOWN = 80;
const SHOWN_DEPTH = 8;

/**
 * What a JSON reader that takes bare `NaN`, `Infinity` and `-Infinity` (TF-Serving's and Triton's
 * dialect) parses each token to, kept apart from JSON strings that spell the same words;
 * {@link describe} shows each, at any depth, as the number the client wrote.
 */
export const BARE_NUMBERS = Object.freeze({ NaN: Symbol('NaN'), Infinity: Symbol('Infinity'), '-Infinity': Symbol('-Infinity') });
const BARE_SYMBOLS = new Set<unknown>(Object.values(BARE_NUMBERS));

/** The number one of {@link BARE_NUMBERS} stands for; undefined for any other value. */
export function bareNumber(value: unknown): number | undefined {
  return typeof value === 'symbol' && BARE_SYMBOLS.has(value) ? Number(value.description) : undefined;
}

/**
 * Renders a value and its type for an error message: `0 (number)`, `"x" (string)`, `[1,2] (array)`.
 * It shows what JSON.stringify would, but builds 80 characters at most, 8 levels deep, so a huge,
 * deeply nested or cyclic value from a request body costs no more to describe than a small one;
 * a value that throws while being read (a getter, a Proxy) is shown by its tag.
 */
export function describe(value: unknown): string {
  let shown: string;
  try {
    shown = preview(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  if (shown.length > SHOWN) shown = `${shown.slice(0, SHOWN - 3)}...`;
  return `${shown} (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}

function preview(value: unknown): string {
  const parts: string[] = [];
  let length = 0;
  const emit = (s: string): void => {
    parts.push(s);
    length += s.length;
  };
  const walk = (v: unknown, depth: number): void => {
    if (length > SHOWN) return;
    if (v === null || typeof v !== 'object') return emit(scalar(v, SHOWN + 1 - length));
    if (depth === SHOWN_DEPTH) return emit(Array.isArray(v) ? '[...]' : '{...}');
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return walk(toJSON.call(v), depth + 1);
    if (Array.isArray(v)) {
      emit('[');
      for (let i = 0; i < v.length && length <= SHOWN; i++) {
        if (i > 0) emit(',');
        walk(v[i] === undefined || typeof v[i] === 'function' ? null : v[i], depth + 1);
      }
      return emit(']');
    }
    emit('{');
    // Typed arrays by index: listing the keys of 20 million elements first would take seconds.
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const items = v as unknown as ArrayLike<unknown>;
      for (let i = 0; i < items.length && length <= SHOWN; i++) {
        emit(`${i > 0 ? ',' : ''}"${i}":`);
        walk(items[i], depth + 1);
      }
      return emit('}');
    }
    let first = true;
    for (const key in v) {
      if (length > SHOWN) break;
      if (!Object.hasOwn(v, key)) continue;
      const item = (v as Record<string, unknown>)[key];
      if (item === undefined || typeof item === 'function') continue;
      emit(`${first ? '' : ','}${JSON.stringify(key)}:`);
      first = false;
      walk(item, depth + 1);
    }
    emit('}');
  };
  walk(value, 0);
  return parts.join('');
}

/** A primitive as JSON shows it, a string cut to `room` characters first. */
function scalar(v: unknown, room: number): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > room ? v.slice(0, room) : v);
    case 'bigint':
      return `${v}n`;
    case 'function':
      return '[function]';
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return String(bareNumber(v) ?? v);
    default:
      return String(v);
  }
}

/**
 * Refuses keys of `options` outside `known`, so that a misspelt option fails instead of doing
 * nothing; `path` prefixes the key in the message (`'buckets.'`).
 */
export function assertKnownKeys(owner: string, options: object, known: readonly string[], path = ''): void {
  // for...in allocates nothing, where Object.keys makes an array: this runs on every request too.
  for (const key in options) {
    if (Object.hasOwn(options, key) && !known.includes(key)) throw optionError(`Unknown option \`${path}${key}\`; ${owner} takes ${known.join(', ')}`);
  }
}

/** Where {@link assertOptionKeys} and {@link assertNoNullOptions} look: `path` prefixes each key in messages. */
export interface OptionKeysCheck {
  readonly path?: string;
}

/**
 * A constructor's check of its options object, before any option is read: {@link assertKnownKeys},
 * then {@link assertNoNullOptions}. Construction only: per-request options keep {@link assertKnownKeys}.
 */
export function assertOptionKeys(owner: string, options: object, known: readonly string[], check: OptionKeysCheck = {}): void {
  assertKnownKeys(owner, options, known, check.path);
  assertNoNullOptions(options, check);
}

/**
 * Refuses an option set to `null` like any other wrong type: no constructor option gives `null` a
 * meaning (`retryAfterMs: null` is an error's, not checked here). An option left out takes its
 * default; `null` is not a way to leave one out (the types say `?: T`), and one that came as
 * `null` from a config that failed to parse is named, not silently defaulted.
 */
export function assertNoNullOptions(options: object, check: OptionKeysCheck = {}): void {
  const { path = '' } = check;
  for (const key in options) {
    if (Object.hasOwn(options, key) && (options as Record<string, unknown>)[key] === null) {
      throw optionError(`Expected \`${path}${key}\` to be set, or left out where it is optional, got ${describe(null)}`);
    }
  }
}

/** Asserts a boolean. */
export function assertBoolean(name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw optionError(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
}

/** Asserts an integer within [min, max]. */
export function assertInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw optionError(`Expected \`${name}\` to be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw optionError(`Expected \`${name}\` to be an integer ${range}, got ${describe(value)}`, RangeError);
  }
}

/** Asserts a finite number within [min, max]; `Infinity` passes when `allowInfinity`. */
export function assertNumber(name: string, value: unknown, min = 0, max = Number.MAX_VALUE, allowInfinity = false): asserts value is number {
  if (typeof value !== 'number' || Number.isNaN(value) || (!allowInfinity && !Number.isFinite(value))) {
    throw optionError(`Expected \`${name}\` to be a finite number, got ${describe(value)}`);
  }
  if (value < min || (value > max && !(allowInfinity && value === Infinity))) {
    const range = max === Number.MAX_VALUE ? `>= ${min}` : `between ${min} and ${max}`;
    throw optionError(`Expected \`${name}\` to be a number ${range}, got ${describe(value)}`, RangeError);
  }
}

/** Asserts one of a fixed set of values. */
export function assertOneOf<T>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (!allowed.includes(value as T)) {
    throw optionError(`Expected \`${name}\` to be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`);
  }
}

/** Asserts a function. */
export function assertFunction(name: string, value: unknown): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw optionError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
}

/** Asserts a non-empty string. */
export function assertString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw optionError(`Expected \`${name}\` to be a non-empty string, got ${describe(value)}`);
  }
}

/** Asserts a plain object (or undefined when optional). */
export function assertObject(name: string, value: unknown): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(`Expected \`${name}\` to be an object, got ${describe(value)}`);
  }
}

/** Asserts an AbortSignal when one is given. */
export function assertSignal(name: string, value: unknown): asserts value is AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw optionError(`Expected \`${name}\` to be an AbortSignal, got ${describe(value)}`);
  }
}
