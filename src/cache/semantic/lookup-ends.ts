/** What {@link LookupEnds.race} answers for a lookup ended early. */
export const ENDED = Symbol('ended');

interface Running {
  readonly partition: string;
  readonly end: () => void;
}

/**
 * The lookups in flight (embedding, verification), by partition, so that `endLookups` can end
 * them early: their callers go on as on a miss, while the work they waited for goes on unawaited.
 */
export class LookupEnds {
  readonly #running = new Set<Running>();

  /**
   * Settles like the lookup `start` begins, or with {@link ENDED} once {@link LookupEnds.end}
   * reaches its partition; registered before the lookup starts, which may end it itself.
   */
  race<T>(partition: string, start: () => Promise<T>): Promise<T | typeof ENDED> {
    return new Promise<T | typeof ENDED>((resolve, reject) => {
      const running: Running = { partition, end: () => resolve(ENDED) };
      this.#running.add(running);
      const done = (): boolean => this.#running.delete(running);
      start().then(
        (value) => done() && resolve(value),
        (error: unknown) => done() && reject(error),
      );
    });
  }

  /** Ends the lookups whose partition `within` accepts. */
  end(within: (partition: string) => boolean): void {
    for (const running of this.#running) {
      if (!within(running.partition)) continue;
      this.#running.delete(running);
      running.end();
    }
  }
}
