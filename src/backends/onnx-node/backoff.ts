/**
 * The first retry's delay: a start that failed for a passing reason (memory short for a moment, a
 * model file being replaced by a deploy) is tried again before many runs have been turned away.
 */
const FIRST_MS = 100;

/**
 * The longest delay. Each failed try spawns a thread and tries to open the model, so a cause that
 * lasts costs at most two of them a minute, and a pool is back within 30 s of the cause ending.
 */
const MAX_MS = 30_000;

/**
 * Calls a function again after a failure, waiting twice as long after each failure in a row (100 ms
 * doubling to 30 s), on one timer that never keeps the process alive.
 */
export class Backoff {
  #delayMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Calls `fn` after the next delay, unless a call is already pending (it then covers this one). */
  schedule(fn: () => void): void {
    if (this.#timer) return;
    this.#delayMs = Math.min(this.#delayMs === 0 ? FIRST_MS : this.#delayMs * 2, MAX_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      fn();
    }, this.#delayMs);
    this.#timer.unref();
  }

  /** After a success: the next failure waits the first delay again. */
  reset(): void {
    this.#delayMs = 0;
  }

  /** Drops the pending call, if any. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
