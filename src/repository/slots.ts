/**
 * At most `size` holders at once; the others wait their turn, first come, first served. The
 * repository's `poll` changes take one before their first load, and `start()` one per model
 * (`loadConcurrency`).
 */
export class Slots {
  readonly #size: number;
  #held = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#size = size;
  }

  /** Waits for a slot; resolves with the function that frees it, to call once. */
  async take(): Promise<() => void> {
    if (this.#held < this.#size) this.#held++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return () => {
      // Handed straight to the next in line, so a newcomer cannot take it first.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#held--;
    };
  }
}
