import type { Link } from './link.js';

/**
 * Runs expected to take longer than this are not polled for: the event loop's wake-up, tens of
 * microseconds, is small beside them.
 */
export const POLL_MS = 5;

/** How long one poll spins before it lets the event loop turn. */
const POLL_SLICE_MS = 0.02;

/** What the poller needs of a worker: its link, and its jobs' start times, the running one first. */
export interface Polled {
  readonly link: Link;
  readonly jobs: readonly { readonly sentAt: number }[];
}

/**
 * Polls for results between event-loop turns while some worker is told so (its link's `polled`):
 * until its reply comes, its run has taken {@link POLL_MS}, or the pool stops being pollable.
 */
export class Poller<I extends Polled> {
  readonly #instances: Iterable<I>;
  readonly #pollable: () => boolean;
  readonly #deliver: (instance: I, message: unknown) => void;
  #polling = false;

  /**
   * @param instances the pool's workers
   * @param pollable true while runs are short and a core is free
   * @param deliver takes a reply read from a worker's link
   */
  constructor(instances: Iterable<I>, pollable: () => boolean, deliver: (instance: I, message: unknown) => void) {
    this.#instances = instances;
    this.#pollable = pollable;
    this.#deliver = deliver;
  }

  /** Starts polling at the next turn, unless it is already on. */
  start(): void {
    if (this.#polling) return;
    this.#polling = true;
    setImmediate(this.#poll);
  }

  readonly #poll = (): void => {
    this.#polling = false;
    // Spin a few microseconds per turn rather than one check per turn: each turn allocates an
    // Immediate, and a turn a microsecond would make garbage for the collector to stop for.
    const until = performance.now() + POLL_SLICE_MS;
    while (!this.#anyReply() && performance.now() < until);
    const now = performance.now();
    const pollable = this.#pollable();
    let waiting = false;
    for (const instance of this.#instances) {
      const job = instance.jobs[0];
      if (!job) continue;
      let message = instance.link.receive();
      if (!message && (!pollable || now - job.sentAt >= POLL_MS) && instance.link.polled) {
        // From here the reply comes by message; one may have landed in the arena meanwhile.
        instance.link.setPolled(false);
        message = instance.link.receive();
      }
      if (message) this.#deliver(instance, message);
      // A worker holding another job keeps being polled for that one's reply.
      if (instance.jobs.length > 0 && instance.link.polled) waiting = true;
    }
    if (waiting) this.start();
  };

  #anyReply(): boolean {
    for (const instance of this.#instances) if (instance.jobs.length > 0 && instance.link.hasReply()) return true;
    return false;
  }
}
