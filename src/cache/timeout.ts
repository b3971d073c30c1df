import { CacheError, type Clock } from '../core/index.js';

/** Told when a bounded call runs past its time (`start`) and when it finally settles (`end`). */
interface LateCalls {
  start(): void;
  end(): void;
}

/**
 * Settles like `promise`, or rejects with a CacheError once `ms` milliseconds pass on `clock`
 * (the store call itself cannot be stopped; its late answer is ignored, and `late` told of it).
 */
export function boundedBy<T>(promise: Promise<T>, ms: number, clock: Clock, operation: string, late?: LateCalls): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = clock.setTimeout(() => {
      timedOut = true;
      late?.start();
      reject(new CacheError(`Cache ${operation} took longer than ${ms} ms`));
    }, ms);
    const settle = (): void => {
      if (timedOut) late?.end();
      else clock.clearTimeout(timer);
    };
    promise.then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
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
export class StallGuard implements LateCalls {
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
    return boundedBy(promise, this.#ms, this.#clock, operation, this);
  }

  /** @internal */
  start(): void {
    this.#late++;
  }

  /** @internal */
  end(): void {
    this.#late--;
  }
}
