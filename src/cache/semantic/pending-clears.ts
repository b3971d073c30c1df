/**
 * The clears of this replica on their way to the log, so that a sync reads the log after them: a
 * read that could miss a clear's record would put back the entries the clear removed.
 */
export class PendingClears {
  #written: Promise<void> | undefined;

  /** Holds `written` (a clear's append) until it settles, fulfilled or not. */
  add(written: Promise<unknown>): void {
    const all: Promise<void> = Promise.all([this.#written, written.catch(() => {})]).then(() => {
      if (this.#written === all) this.#written = undefined;
    });
    this.#written = all;
  }

  /** Settles once every clear added so far has settled; undefined when none is pending. */
  get written(): Promise<void> | undefined {
    return this.#written;
  }
}
