import { MAX_TIMER_MS, type Clock } from '../core/index.js';

/** How early a timer may fire and still count as on time: the 1 ms grid real timers fire on. */
const TIMER_SLACK_MS = 1;

/**
 * The batcher's one timer for its next decision. A wait longer than one timer can hold is armed
 * in steps, and a timer that fires early by more than the slack is re-armed, so `onWake` is never
 * called before its time; it gets the time it was armed for, or now when that is later.
 */
export class WakeTimer {
  readonly #clock: Clock;
  readonly #onWake: (now: number) => void;
  #at = Infinity;
  #handle: unknown;

  constructor(clock: Clock, onWake: (now: number) => void) {
    this.#clock = clock;
    this.#onWake = onWake;
  }

  /** The time it is armed for; Infinity when it is not. */
  get at(): number {
    return this.#at;
  }

  /** Wakes at `at` (Infinity: never), replacing the time armed before. */
  arm(at: number, now: number): void {
    if (at === this.#at) return;
    if (this.#handle !== undefined) this.#clock.clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#at = at;
    if (at !== Infinity) this.#handle = this.#clock.setTimeout(this.#fire, Math.min(at - now, MAX_TIMER_MS));
  }

  readonly #fire = (): void => {
    const at = this.#at;
    this.#handle = undefined;
    this.#at = Infinity;
    const now = this.#clock.now();
    if (at - now > TIMER_SLACK_MS) return this.arm(at, now);
    this.#onWake(Math.max(now, at));
  };
}
