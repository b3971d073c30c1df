import { describe, optionError } from './options.js';

/** Time as the batcher, caches and registry see it; inject a fake one in tests. */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a pending {@link Clock.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/**
 * The longest timer that can be armed, about 24.8 days: a longer one overflows and fires at once.
 * A longer timeout counts as none.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits for `promise` at most `timeoutMs` on `clock` (longer than a timer can hold: for ever):
 * true when it resolved in time, false when the time ran out first (the promise goes on); its
 * rejection rejects. The one home of the registry's and repository's bounded waits.
 * @internal
 */
export function resolvesWithin(promise: PromiseLike<unknown>, timeoutMs: number, clock: Clock): Promise<boolean> {
  if (timeoutMs > MAX_TIMER_MS) return Promise.resolve(promise).then(() => true);
  return new Promise<boolean>((resolve, reject) => {
    const timer = clock.setTimeout(() => resolve(false), timeoutMs);
    promise.then(
      () => {
        clock.clearTimeout(timer);
        resolve(true);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * The real clock: `performance.now()` and ordinary timers. Timers are only armed while requests
 * wait on them, so they keep a process alive exactly as long as a pending request needs.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Asserts a {@link Clock}: an object with `now`, `setTimeout` and `clearTimeout`. */
export function assertClock(name: string, value: unknown): asserts value is Clock {
  const c = value as Partial<Clock> | null;
  if (typeof c !== 'object' || c === null || typeof c.now !== 'function' || typeof c.setTimeout !== 'function' || typeof c.clearTimeout !== 'function') {
    throw optionError(`Expected \`${name}\` to be a Clock ({now, setTimeout, clearTimeout}), got ${describe(value)}`);
  }
}

/**
 * A `clock` option: `value` when given, refused (quoting it) when it is not a Clock, else `fallback`.
 * @internal
 */
export function clockOption(value: unknown, fallback: Clock): Clock {
  if (value === undefined) return fallback;
  assertClock('clock', value);
  return value;
}
