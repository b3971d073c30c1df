import { abortError, CancelledError, DeadlineExceededError, MAX_TIMER_MS, onAbort, systemClock, type Clock } from '../core/index.js';

interface Flight<T, M> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  readonly meta: M;
  waiters: number;
  settled: boolean;
}

/**
 * Runs identical work once while it is in flight: callers with the same key share one promise.
 * Each caller may leave with its own AbortSignal, and a joiner at its own deadline; the work's
 * signal aborts only when every caller has left. `meta` is per-flight state the owner may read and
 * update while it runs.
 */
export class SingleFlight<T, M> {
  readonly #flights = new Map<string, Flight<T, M>>();
  readonly #clock: Clock;

  /** @param clock The clock joiners' deadlines are on. @default systemClock */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** How many flights are running. */
  get size(): number {
    return this.#flights.size;
  }

  /** The state of the flight running for `key`, if any. */
  meta(key: string): M | undefined {
    return this.#flights.get(key)?.meta;
  }

  /**
   * Waits for the flight running for `key`; call only when {@link SingleFlight.meta} found one.
   * At `deadline` (on the clock, in milliseconds), the caller leaves with a DeadlineExceededError;
   * the work goes on for the others.
   */
  join(key: string, signal: AbortSignal | undefined, deadline?: number): Promise<T> {
    const flight = this.#flights.get(key);
    if (!flight) return Promise.reject(new RangeError(`No flight is running for key ${JSON.stringify(key)}`));
    const ms = deadline === undefined ? Infinity : deadline - this.#clock.now();
    return this.#wait(key, flight, signal, true, ms > MAX_TIMER_MS ? Infinity : ms);
  }

  /** Starts the work for `key` (none may be running) and waits for it. */
  start(key: string, meta: M, work: (signal: AbortSignal, meta: M) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const controller = new AbortController();
    const flight: Flight<T, M> = {
      promise: Promise.resolve().then(() => work(controller.signal, meta)),
      controller,
      meta,
      waiters: 0,
      settled: false,
    };
    const done = (): void => {
      flight.settled = true;
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    flight.promise.then(done, done);
    this.#flights.set(key, flight);
    return this.#wait(key, flight, signal, false, Infinity);
  }

  /** Detaches running flights whose state matches: later callers start afresh; current ones still get their result. */
  forget(matches: (meta: M) => boolean): void {
    for (const [key, flight] of this.#flights) if (matches(flight.meta)) this.#flights.delete(key);
  }

  #wait(key: string, flight: Flight<T, M>, signal: AbortSignal | undefined, joined: boolean, ms: number): Promise<T> {
    flight.waiters++;
    // A joiner without a signal is answered as late as one with (one more hop), so joiners are
    // answered, and run again after another caller's failure, in the order they joined: the first
    // to run again starts the next flight, and with a common timeout it has the earliest deadline.
    if (!signal && ms === Infinity) return joined ? flight.promise.then() : flight.promise;
    if (signal?.aborted || ms <= 0) {
      this.#leave(key, flight);
      return Promise.reject(signal?.aborted ? abortError(signal) : lateJoiner());
    }
    return new Promise<T>((resolve, reject) => {
      let timer: unknown;
      const stop = (): void => {
        off();
        if (timer !== undefined) this.#clock.clearTimeout(timer);
      };
      const leave = (error: Error): void => {
        stop();
        this.#leave(key, flight);
        reject(error);
      };
      const off = onAbort(signal, () => leave(abortError(signal!)));
      if (ms !== Infinity) {
        timer = this.#clock.setTimeout(() => {
          timer = undefined;
          leave(lateJoiner());
        }, ms);
      }
      flight.promise.then(
        (value) => {
          stop();
          resolve(value);
        },
        (error: unknown) => {
          stop();
          reject(error);
        },
      );
    });
  }

  #leave(key: string, flight: Flight<T, M>): void {
    flight.waiters--;
    if (flight.waiters > 0 || flight.settled) return;
    if (this.#flights.get(key) === flight) this.#flights.delete(key);
    flight.controller.abort(new CancelledError('Every caller of this request gave up'));
  }
}

function lateJoiner(): DeadlineExceededError {
  return new DeadlineExceededError('The request timed out while it waited for an identical request in flight');
}

/**
 * The flight key of `key` within `scope` (a namespace or a partition) for callers of `group`.
 * Unambiguous: a grouped key starts with `g`, an ungrouped one with a digit (callers keep `!` for
 * work that is never shared).
 */
export function flightKeyOf(group: string | undefined, scope: string, key: string): string {
  const flight = `${scope.length}:${scope}${key}`;
  return group === undefined ? flight : `g${group.length}:${group}${flight}`;
}

/**
 * True when a caller that joined a flight should run again rather than take the flight's `error`:
 * a deadline or a cancellation is the failure of the caller whose computation it was (its
 * timeout, its disconnect), not of this one, whose own signal has not aborted and whose own
 * `deadline`, if any, is still after `now`. Running again ends:
 * the caller either starts its own flight, whose failure is its own, or joins a later one. A
 * deadline that was the model's (`fromModel`: adaptive batching found the request too slow even
 * alone, or it waited out the queue policy's default timeout) is not one caller's failure, nor is
 * an OverloadedError (adaptive batching shed it), and running again would queue each joiner anew,
 * one after another, each for that long.
 */
export function isOthersFailure(error: unknown, signal: AbortSignal | undefined, deadline: number | undefined, now: number): boolean {
  if (signal?.aborted || (deadline !== undefined && now >= deadline)) return false;
  return (error instanceof DeadlineExceededError && !error.fromModel) || error instanceof CancelledError;
}
