import { Backoff } from './backoff.js';
import type { Started } from './start-worker.js';

/** How {@link Replacements} starts workers and tells its pool what became of them. */
export interface ReplacementHooks<Info> {
  /** Starts one worker; `signal` calls the start off (see startWorker). */
  start(signal: AbortSignal): Promise<Started<Info>>;
  /** A replacement reported ready (never once {@link Replacements.close} has called it off). */
  started(started: Started<Info>): void;
  /** A replacement failed to start; {@link Replacements.starting} no longer counts it. */
  failed(error: unknown): void;
  /** How many workers the pool lacks, those starting aside. */
  missing(): number;
}

/**
 * Starts workers in place of a pool's dead ones. One that fails to start is tried again with
 * backoff (see {@link Backoff}), with as many others as the pool then lacks.
 */
export class Replacements<Info> {
  readonly #hooks: ReplacementHooks<Info>;
  readonly #retry = new Backoff();
  readonly #callOff = new AbortController();
  /** Each start in flight, settled once what became of it has been handled. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #starting = 0;
  #retrying = true;

  constructor(hooks: ReplacementHooks<Info>) {
    this.#hooks = hooks;
  }

  /** Replacements started and not yet ready or failed. */
  get starting(): number {
    return this.#starting;
  }

  /** Starts one replacement. */
  start(): void {
    this.#starting += 1;
    const settled: Promise<unknown> = this.#hooks.start(this.#callOff.signal).then(
      (started) => {
        this.#starting -= 1;
        this.#retry.reset();
        this.#hooks.started(started);
      },
      (error: unknown) => {
        this.#starting -= 1;
        if (this.#retrying) this.#retry.schedule(() => this.#startMissing());
        this.#hooks.failed(error);
      },
    ).finally(() => this.#inFlight.delete(settled));
    this.#inFlight.add(settled);
  }

  /** Cancels a pending retry and schedules none from now on (the pool is closing). */
  stopRetrying(): void {
    this.#retrying = false;
    this.#retry.cancel();
  }

  /**
   * Stops retrying and calls off the replacements still starting: each is terminated, or, inside
   * a native start step, left to exit once the step returns. Resolves once every start has
   * settled.
   */
  async close(): Promise<void> {
    this.stopRetrying();
    this.#callOff.abort();
    await Promise.all(this.#inFlight);
  }

  #startMissing(): void {
    for (let missing = this.#hooks.missing() - this.#starting; missing > 0; missing--) this.start();
  }
}
