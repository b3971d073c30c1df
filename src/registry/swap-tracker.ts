import type { ModelEntry } from './model-entry.js';

/**
 * Watches changes to a model's versions and labels and reports when the version that requests
 * without a version go to has changed. Changes may nest: only the outermost reports, and events
 * held back with {@link SwapTracker.afterSwap} follow its swap, so listeners see `swap` before
 * `draining`. A default version unloaded while it stays known (evicted to make room, as under a
 * tight `maxLoadedBytes` before its successor loads) is remembered, so another version ready next
 * reports the swap from it.
 */
export class SwapTracker {
  readonly #onSwap: (name: string, from: string, to: string) => void;
  #depth = 0;
  #held: (() => void)[] = [];
  /** The default version of a model that has none ready now, while that version is still known. */
  readonly #gone = new WeakMap<ModelEntry, string>();

  constructor(onSwap: (name: string, from: string, to: string) => void) {
    this.#onSwap = onSwap;
  }

  /** Runs a change to `entry`, then reports a swap if it moved the default version. */
  change(entry: ModelEntry, change: () => void): void {
    const gone = this.#depth === 0 ? this.#gone.get(entry) : undefined;
    const before = entry.defaultVersion();
    const from = before?.version ?? (gone !== undefined && entry.knows(gone) ? gone : undefined);
    this.#depth++;
    try {
      change();
    } finally {
      this.#depth--;
    }
    if (this.#depth > 0) return;
    const after = entry.defaultVersion();
    if (!after && from !== undefined && entry.knows(from)) this.#gone.set(entry, from);
    else this.#gone.delete(entry);
    // A forced reload swaps one instance for another of the same version; a version loaded again after its eviction does not.
    if (after && from !== undefined && (before ? before !== after : from !== after.version)) this.#onSwap(entry.name, from, after.version);
    const held = this.#held;
    this.#held = [];
    for (const emit of held) emit();
  }

  /** Emits now, or after the swap of the change in progress. */
  afterSwap(emit: () => void): void {
    if (this.#depth > 0) this.#held.push(emit);
    else emit();
  }
}
