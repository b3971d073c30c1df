import { Backoff } from './backoff.js';
import type { Started } from './start-worker.js';

/** How {@link Replacements} starts workers and tells its pool what became of them. */
export interface ReplacementHooks<Info> {
  /** Starts one worker. */
  start(): Promise<Started<Info>>;
  /** A replacement reported ready. */
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
    this.#hooks.start().then(
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
    );
  }

  /** Cancels a pending retry and schedules none from now on (the pool is closing). */
  stopRetrying(): void {
    this.#retrying = false;
    this.#retry.cancel();
  }

  #startMissing(): void {
    for (let missing = this.#hooks.missing() - this.#starting; missing > 0; missing--) this.start();
  }
}
