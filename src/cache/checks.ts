import { assertBoolean, assertKnownKeys, assertNumber, assertObject, assertSignal, assertString, describe, optionError, MAX_TIMER_MS } from '../core/index.js';

/** Asserts a finite number greater than zero (a duration or a size). */
export function assertPositive(name: string, value: unknown): asserts value is number {
  assertNumber(name, value, 0);
  if (value === 0) throw optionError(`Expected \`${name}\` to be a number > 0, got ${describe(value)}`, RangeError);
}

/**
 * Asserts a number of milliseconds > 0 that a timer can wait: Node fires a longer one (over
 * 2^31 - 1 ms, about 24.8 days) after 1 ms.
 */
export function assertTimerMs(name: string, value: unknown): asserts value is number {
  assertPositive(name, value);
  if (value > MAX_TIMER_MS) throw optionError(`Expected \`${name}\` to be at most ${MAX_TIMER_MS} ms, the longest a timer can wait, got ${describe(value)}`, RangeError);
}

/** The per-request options that both caches' `run` take. */
interface RunOptionFields {
  readonly noCache?: unknown;
  readonly noStore?: unknown;
  readonly signal?: unknown;
  readonly flightGroup?: unknown;
  readonly timeoutMs?: unknown;
}

/** Checks the per-request options of a cache's `run` (`method`, taking `keys`), quoting any bad value. */
export function checkCacheRunOptions(method: string, options: RunOptionFields, keys: readonly string[]): void {
  assertObject('options', options as unknown);
  assertKnownKeys(method, options, keys);
  if (options.noCache !== undefined) assertBoolean('noCache', options.noCache);
  if (options.noStore !== undefined) assertBoolean('noStore', options.noStore);
  assertSignal('signal', options.signal);
  if (options.flightGroup !== undefined) assertString('flightGroup', options.flightGroup);
  if (options.timeoutMs !== undefined) assertNumber('timeoutMs', options.timeoutMs, 0, Number.MAX_VALUE, true);
}
