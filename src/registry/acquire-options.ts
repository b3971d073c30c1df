import { assertKnownKeys, assertNumber, assertObject, assertSignal, assertString } from '../core/index.js';
import type { AcquireOptions, VersionSelector } from './types.js';

/** Every option's name, so a misspelt one (`timeoutMS`, `lable`) is refused, not ignored. */
const ACQUIRE_KEYS = Object.keys({ version: true, label: true, signal: true, timeoutMs: true } satisfies Record<keyof AcquireOptions, true>);

/** A selector's fields. */
const SELECTOR_KEYS = Object.keys({ version: true, label: true } satisfies Record<keyof VersionSelector, true>);

/**
 * Checks the selector of {@link ModelRegistry.resolve} as a constructor's options are checked, and returns it.
 * @throws TypeError naming an unknown field or quoting a bad value.
 */
export function checkSelector(selector: VersionSelector): VersionSelector {
  assertObject('selector', selector as unknown);
  assertKnownKeys('ModelRegistry.resolve()', selector, SELECTOR_KEYS);
  if (selector.version !== undefined) assertString('version', selector.version);
  if (selector.label !== undefined) assertString('label', selector.label);
  return selector;
}

/**
 * Checks the options of {@link ModelRegistry.acquire} as a constructor's are checked, and returns them.
 * @throws TypeError or RangeError naming the option and quoting the bad value.
 */
export function checkAcquireOptions(options: AcquireOptions): AcquireOptions {
  assertObject('options', options as unknown);
  assertKnownKeys('ModelRegistry.acquire()', options, ACQUIRE_KEYS);
  if (options.version !== undefined) assertString('version', options.version);
  if (options.label !== undefined) assertString('label', options.label);
  assertSignal('signal', options.signal);
  // As the wait for a load checks it, whether or not one is waited for.
  if (options.timeoutMs !== undefined) assertNumber('timeoutMs', options.timeoutMs, 0);
  return options;
}
