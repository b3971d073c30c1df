import { assertKnownKeys, assertObject, assertSignal, assertString } from '../core/index.js';
import type { LoadOptions, RunOptions } from './types.js';

/** Every option's name of a run, so a misspelt one (`signl`) is refused, not ignored. */
const RUN_KEYS = Object.keys({ signal: true, timings: true } satisfies Record<keyof RunOptions, true>);

/** Every option's name of a load. */
const LOAD_KEYS = Object.keys({ label: true, signal: true } satisfies Record<keyof LoadOptions, true>);

/**
 * Checks the options of {@link ModelSession.run} as a constructor's are checked; for custom
 * sessions too.
 * @throws TypeError naming an unknown option or quoting a bad value.
 */
export function checkRunOptions(options: RunOptions): void {
  assertObject('options', options as unknown);
  assertKnownKeys('run()', options, RUN_KEYS);
  assertSignal('signal', options.signal);
  if (options.timings !== undefined) assertObject('timings', options.timings);
}

/**
 * Checks the options of {@link Backend.load} as a constructor's are checked; for custom backends too.
 * @throws TypeError naming an unknown option or quoting a bad value.
 */
export function checkLoadOptions(options: LoadOptions): void {
  assertObject('options', options as unknown);
  assertKnownKeys('load()', options, LOAD_KEYS);
  if (options.label !== undefined) assertString('label', options.label);
  assertSignal('signal', options.signal);
}
