import {
  assertBoolean,
  assertClock,
  assertFunction,
  assertInteger,
  assertKnownKeys, assertOptionKeys,
  assertNumber,
  assertObject,
  assertSignal,
  assertString,
  MAX_TIMER_MS,
  systemClock,
  type Clock,
} from '../../core/index.js';
import { assertPositive, assertTimerMs, checkCacheRunOptions } from '../checks.js';
import type { SemanticCacheOptions, SemanticLookupLabels, SemanticQuery, SemanticRunOptions } from './types.js';

/** Every option's name, so a misspelt one (`ttlMS`) is refused, not ignored. */
const OPTION_KEYS = Object.keys({
  embed: true,
  dimensions: true,
  threshold: true,
  maxEntries: true,
  ttlMs: true,
  exactKey: true,
  verify: true,
  log: true,
  syncIntervalMs: true,
  timeoutMs: true,
  accelerate: true,
  clock: true,
} satisfies Record<keyof SemanticCacheOptions, true>);

/** The options of a SemanticCache with their defaults. */
type CheckedOptions<Q extends SemanticQuery> = SemanticCacheOptions<Q> & Required<Pick<SemanticCacheOptions<Q>, 'syncIntervalMs' | 'timeoutMs' | 'accelerate'>> & { readonly clock: Clock };

/** Checks a SemanticCache's options, quoting any bad value, and fills in the defaults. */
export function checkOptions<Q extends SemanticQuery>(options: SemanticCacheOptions<Q>): CheckedOptions<Q> {
  assertObject('options', options);
  assertOptionKeys('SemanticCache', options, OPTION_KEYS);
  const { embed, dimensions, threshold, maxEntries, ttlMs, exactKey, verify, log, syncIntervalMs = 1000, timeoutMs = 1000, accelerate = true, clock = systemClock } = options;
  assertFunction('embed', embed);
  assertInteger('dimensions', dimensions, 1, 65536);
  assertNumber('threshold', threshold, -1, 1);
  assertInteger('maxEntries', maxEntries, 1);
  if (ttlMs !== undefined) assertPositive('ttlMs', ttlMs);
  if (exactKey !== undefined) assertFunction('exactKey', exactKey);
  if (verify !== undefined) assertFunction('verify', verify);
  if (log !== undefined) {
    assertObject('log', log);
    assertFunction('log.append', log.append);
    assertFunction('log.read', log.read);
  }
  assertNumber('syncIntervalMs', syncIntervalMs, 0, MAX_TIMER_MS);
  assertTimerMs('timeoutMs', timeoutMs);
  assertBoolean('accelerate', accelerate);
  assertClock('clock', clock);
  return { embed, dimensions, threshold, maxEntries, ttlMs, exactKey, verify, log, syncIntervalMs, timeoutMs, accelerate, clock };
}

/** Every per-request option's name of `run`, so a misspelt one (`timeoutMS`) is refused, not ignored. */
const RUN_KEYS = Object.keys({
  partition: true,
  noCache: true,
  noStore: true,
  signal: true,
  timeoutMs: true,
  flightGroup: true,
  model: true,
  version: true,
} satisfies Record<keyof SemanticRunOptions, true>);

/** The options `lookup` and `store` take. */
const ENTRY_KEYS = ['partition', 'signal'];

/** Checks the per-request options of `run`, quoting any bad value; the partition is checked as it is keyed. */
export function checkRunOptions(options: SemanticRunOptions): void {
  checkCacheRunOptions('SemanticCache.run()', options, RUN_KEYS);
  if (options.model !== undefined) assertString('model', options.model);
  if (options.version !== undefined) assertString('version', options.version);
}

/**
 * The `model` and `version` of `run`'s options, for its lookup's event: those given, none when none.
 * Literals, not spreads: Node 20 copies a spread after the first through the runtime, which with
 * the events' spreads took an exact hit from ~1.3 to ~8 us.
 */
export function lookupLabels(options: SemanticRunOptions): SemanticLookupLabels {
  const { model, version } = options;
  if (model === undefined) return version === undefined ? NO_LABELS : { version };
  return version === undefined ? { model } : { model, version };
}

const NO_LABELS: SemanticLookupLabels = {};

/** Checks the options of `lookup` or `store` (`method`), quoting any bad value. */
export function checkEntryOptions(method: 'lookup' | 'store', options: Pick<SemanticRunOptions, 'partition' | 'signal'>): void {
  assertObject('options', options as unknown);
  assertKnownKeys(`SemanticCache.${method}()`, options, ENTRY_KEYS);
  assertSignal('signal', options.signal);
}
