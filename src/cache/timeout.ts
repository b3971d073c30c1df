import { CacheError, type Clock } from '../core/index.js';

/**
 * Settles like `promise`, or rejects with a CacheError once `ms` milliseconds pass on `clock`
 * (the store call itself cannot be stopped; its late answer is ignored).
 */
export function boundedBy<T>(promise: Promise<T>, ms: number, clock: Clock, operation: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new CacheError(`Cache ${operation} took longer than ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Bounds store calls by `ms`, like {@link boundedBy}, and counts the calls that ran past it and
 * are still pending: while there are any the store is stalled, and callers skip it rather than
 * queue more calls (and the values they carry) behind a store that stopped answering.
 */
export class StallGuard {
  readonly #ms: number;
  readonly #clock: Clock;
  #late = 0;

  constructor(ms: number, clock: Clock) {
    this.#ms = ms;
    this.#clock = clock;
  }

  /** True while a call that timed out has not settled yet. */
  get stalled(): boolean {
    return this.#late > 0;
  }

  bound<T>(promise: Promise<T>, operation: string): Promise<T> {
    let settled = false;
    const settle = (): void => {
      settled = true;
    };
    promise.then(settle, settle);
    return boundedBy(promise, this.#ms, this.#clock, operation).catch((error: unknown) => {
      if (!settled) {
        this.#late++;
        const done = (): void => {
          this.#late--;
        };
        promise.then(done, done);
      }
      throw error;
    });
  }
}
