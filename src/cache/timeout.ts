import { CacheError, DeadlineExceededError, type Clock } from '../core/index.js';

/** Told when a bounded call runs past its time (`start`) and when it finally settles (`end`). */
interface LateCalls {
  start(): void;
  end(): void;
}

/** The errors of calls {@link boundedBy} cut at their caller's deadline. */
const cuts = new WeakSet<object>();

/** True when `error` is a call's cut at its caller's deadline, not a failure of the store (or embedder) itself. */
export function wasCut(error: unknown): boolean {
  return typeof error === 'object' && error !== null && cuts.has(error);
}

/**
 * Settles like `promise`, or rejects with a CacheError once `ms` milliseconds pass on `clock`
 * (the store call itself cannot be stopped; its late answer is ignored, and `late` told of it).
 * A caller's `deadline` (on `clock`) before then rejects with a DeadlineExceededError instead; the
 * call is still told to `late` if it runs past `ms`.
 */
export function boundedBy<T>(promise: Promise<T>, ms: number, clock: Clock, operation: string, late?: LateCalls, deadline?: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const overrun = (): void => {
      timedOut = true;
      late?.start();
      reject(new CacheError(`Cache ${operation} took longer than ${ms} ms`));
    };
    // One timer at a time: the deadline's, then (rarely) the rest of `ms`.
    const cut = deadline === undefined ? Infinity : Math.max(deadline - clock.now(), 0);
    let timer = cut >= ms ? clock.setTimeout(overrun, ms) : clock.setTimeout(() => {
      const error = new DeadlineExceededError(`The request timed out during the cache ${operation}`);
      cuts.add(error);
      reject(error);
      timer = clock.setTimeout(overrun, ms - cut);
    }, cut);
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

  /** Bounds `promise` by `ms`, and by the caller's `deadline` when given (see {@link boundedBy}). */
  bound<T>(promise: Promise<T>, operation: string, deadline?: number): Promise<T> {
    return boundedBy(promise, this.#ms, this.#clock, operation, this, deadline);
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
