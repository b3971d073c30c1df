import { giveBack, type LinkEnd } from './link-end.js';

/**
 * Batches whose feed buffers a worker holds before it moves them back to the pool, in one message.
 * Moving them back right after each reply (`postMessage`, then the pool's event loop reading it)
 * held up the worker's next batch in a closed loop: in a worker sharing a loaded 2-vCPU machine
 * the `postMessage` took 47 µs at the median, 114 at p90 (400 batch-1 runs of the cls model), longer
 * than the pool took to send the next batch.
 */
export const HELD_BATCHES = 4;

/**
 * The feed buffers a worker has run and not yet moved back: they go when {@link HELD_BATCHES}
 * batches' worth are held, or when the worker is about to sleep with no job in sight
 * ({@link flush}, passed to `takeMessage`). Meanwhile the pool allocates the buffers it lacks.
 */
export class HeldFeeds {
  readonly #end: LinkEnd;
  readonly #buffers: ArrayBuffer[] = [];
  #batches = 0;

  constructor(end: LinkEnd) {
    this.#end = end;
  }

  /** Holds one batch's feed buffers; moves every held one back once {@link HELD_BATCHES} batches' are held. */
  add(buffers: readonly ArrayBuffer[]): void {
    if (buffers.length === 0) return;
    this.#buffers.push(...buffers);
    if (++this.#batches >= HELD_BATCHES) this.flush();
  }

  /** Moves every held buffer back to the pool, in one message; nothing when none is held. */
  readonly flush = (): void => {
    this.#batches = 0;
    if (this.#buffers.length > 0) giveBack(this.#end, this.#buffers.splice(0));
  };
}
