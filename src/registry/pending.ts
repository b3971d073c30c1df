/**
 * Models a caller said it is about to load (a repository's `start()`: its initial loads), each
 * counted as starting until the caller says its load has ended: a model waiting for its turn
 * holds server readiness back as one loading does. A model marked more than once stays pending
 * until every mark is released.
 */
export class PendingLoads {
  readonly #marks = new Map<string, Set<object>>();

  /** Marks `name`; the function returned releases this mark alone, however often it is called. */
  mark(name: string): () => void {
    const mark = {};
    const marks = this.#marks.get(name) ?? new Set();
    marks.add(mark);
    this.#marks.set(name, marks);
    return () => {
      if (this.#marks.get(name) !== marks) return;
      marks.delete(mark);
      if (marks.size === 0) this.#marks.delete(name);
    };
  }

  has(name: string): boolean {
    return this.#marks.has(name);
  }

  names(): string[] {
    return [...this.#marks.keys()];
  }

  /** Releases every mark (the registry closes). */
  clear(): void {
    this.#marks.clear();
  }
}
