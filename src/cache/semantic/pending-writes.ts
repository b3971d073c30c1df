/** A write that may still store an entry: a result being computed or embedded, a `store()` embedding. */
export interface PendingWrite {
  readonly partition: string;
  /** Set once a clear reached its partition: what it would store predates the clear. */
  cleared: boolean;
}

/**
 * The writes in flight, by partition, so that a clear (a local `invalidate()` or one replayed
 * from the log) stops those it reaches: an answer computed before a clear is not stored after it.
 */
export class PendingWrites {
  readonly #open = new Set<PendingWrite>();

  /** Runs `write` with a pending write of `partition`, open until the promise it answers settles. */
  async hold<T>(partition: string, write: (pending: PendingWrite) => Promise<T>): Promise<T> {
    const pending: PendingWrite = { partition, cleared: false };
    this.#open.add(pending);
    try {
      return await write(pending);
    } finally {
      this.#open.delete(pending);
    }
  }

  /** Marks the open writes whose partition `within` accepts as cleared. */
  clear(within: (partition: string) => boolean): void {
    for (const pending of this.#open) if (within(pending.partition)) pending.cleared = true;
  }
}
