import { MAX_TIMER_MS } from '../../core/index.js';

/**
 * Watches the runs of one worker on one timer, which never keeps the process alive: calls
 * `expired` once the run going on (started at `startedAt()`) has taken `timeoutMs`. The timer is
 * not re-armed per run: armed when the worker gets a run, it stays pending across the runs after,
 * and when it fires it arms itself again for what is left of the run going on then, or stops
 * while the worker is idle. A timeout longer than a timer can hold watches nothing.
 */
export class RunWatch {
  readonly #timeoutMs: number;
  readonly #startedAt: () => number | undefined;
  readonly #expired: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param timeoutMs how long a run may take
   * @param startedAt when the run going on started (performance.now()); undefined while idle
   * @param expired called once per run that takes `timeoutMs`; call {@link arm} to go on watching
   */
  constructor(timeoutMs: number, startedAt: () => number | undefined, expired: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#startedAt = startedAt;
    this.#expired = expired;
  }

  /** Watches the run going on, unless the timer is already pending (it then covers this run). */
  arm(): void {
    if (this.#timer || this.#timeoutMs > MAX_TIMER_MS) return;
    const startedAt = this.#startedAt();
    if (startedAt === undefined) return;
    this.#timer = setTimeout(this.#check, Math.max(0, startedAt + this.#timeoutMs - performance.now()));
    this.#timer.unref();
  }

  /** Stops watching. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #check = (): void => {
    this.#timer = undefined;
    const startedAt = this.#startedAt();
    if (startedAt === undefined) return;
    if (performance.now() - startedAt < this.#timeoutMs) this.arm();
    else this.#expired();
  };
}
