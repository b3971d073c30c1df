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
 * Bytes of feeds at which a worker moves them back whatever the batch count. A batch this large
 * runs long enough that the message is lost in it, and holding several would keep that memory
 * from reuse: the pool's spare buffers (64 MiB in all) cannot take back four 20 MB batches at
 * once, so it would allocate a new one every fourth batch.
 */
export const HELD_BYTES = 1024 * 1024;

/**
 * The feed buffers a worker has run and not yet moved back: they go when {@link HELD_BATCHES}
 * batches' worth, or {@link HELD_BYTES}, are held, or when the worker is about to sleep with no
 * job in sight ({@link flush}, passed to `takeMessage`). Meanwhile the pool allocates the buffers
 * it lacks.
 */
export class HeldFeeds {
  readonly #end: LinkEnd;
  readonly #buffers: ArrayBuffer[] = [];
  #batches = 0;
  #bytes = 0;

  constructor(end: LinkEnd) {
    this.#end = end;
  }

  /**
   * Holds one batch's feed buffers; moves every held one back once {@link HELD_BATCHES} batches'
   * or {@link HELD_BYTES} are held.
   */
  add(buffers: readonly ArrayBuffer[]): void {
    if (buffers.length === 0) return;
    for (const buffer of buffers) {
      this.#buffers.push(buffer);
      this.#bytes += buffer.byteLength;
    }
    if (++this.#batches >= HELD_BATCHES || this.#bytes >= HELD_BYTES) this.flush();
  }

  /** Moves every held buffer back to the pool, in one message; nothing when none is held. */
  readonly flush = (): void => {
    this.#batches = 0;
    this.#bytes = 0;
    if (this.#buffers.length > 0) giveBack(this.#end, this.#buffers.splice(0));
  };
}
