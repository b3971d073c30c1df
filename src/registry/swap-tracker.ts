import type { ModelEntry } from './model-entry.js';

/**
 * Watches changes to a model's versions and labels and reports when the version that requests
 * without a version go to has changed. Changes may nest: only the outermost reports, and events
 * held back with {@link SwapTracker.afterSwap} follow its swap, so listeners see `swap` before
 * `draining`.
 */
export class SwapTracker {
  readonly #onSwap: (name: string, from: string, to: string) => void;
  #depth = 0;
  #held: (() => void)[] = [];

  constructor(onSwap: (name: string, from: string, to: string) => void) {
    this.#onSwap = onSwap;
  }

  /** Runs a change to `entry`, then reports a swap if it moved the default version. */
  change(entry: ModelEntry, change: () => void): void {
    const before = entry.defaultVersion();
    this.#depth++;
    try {
      change();
    } finally {
      this.#depth--;
    }
    if (this.#depth > 0) return;
    const after = entry.defaultVersion();
    if (before && after && before !== after) this.#onSwap(entry.name, before.version, after.version);
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
