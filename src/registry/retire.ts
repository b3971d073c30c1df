import type { Emitter } from '../core/index.js';
import type { Release } from './capacity.js';
import type { ModelEntry } from './model-entry.js';
import type { ModelVersion } from './model-version.js';
import type { SwapTracker } from './swap-tracker.js';
import type { RegistryEvents, UnloadReason } from './types.js';

/**
 * Takes a registry's versions out of routing and drains them: unloads, versions a policy drops,
 * versions evicted to make room. Each change runs through the registry's {@link SwapTracker}, so
 * `swap` is reported before `draining`; a drained version gives its room back.
 */
export class Retirer {
  readonly #registry: Emitter<RegistryEvents>;
  readonly #swaps: SwapTracker;
  readonly #models: ReadonlyMap<string, ModelEntry>;
  readonly #cleanup: (entry: ModelEntry) => void;
  readonly #releases = new WeakMap<ModelVersion, Release>();

  /** @param cleanup - forgets an entry once it is empty. */
  constructor(registry: Emitter<RegistryEvents>, swaps: SwapTracker, models: ReadonlyMap<string, ModelEntry>, cleanup: (entry: ModelEntry) => void) {
    this.#registry = registry;
    this.#swaps = swaps;
    this.#models = models;
    this.#cleanup = cleanup;
  }

  /** Gives `release` back once `mv` has drained; `mv` then counts against the capacity limits. */
  reserved(mv: ModelVersion, release: Release): void {
    this.#releases.set(mv, release);
  }

  /** Retires the ready instance of a version and forgets it; a load of it in flight is disposed when it ends. */
  async unloadOne(entry: ModelEntry, version: string, reason: UnloadReason): Promise<void> {
    const live = entry.live.get(version);
    const loading = entry.loading.get(version);
    const retired = live ? this.retire(entry, live, reason, true) : this.#swaps.change(entry, () => this.#forget(entry, version));
    await Promise.all([retired, loading?.catch(() => {})]);
  }

  /**
   * Drops versions outside the policy: known-only ones at once, ready ones only when a version
   * the policy keeps is ready. Loads in progress are left alone.
   */
  applyPolicy(entry: ModelEntry): void {
    const { dropped, wantedReady } = entry.outsidePolicy();
    this.#swaps.change(entry, () => {
      for (const version of dropped) {
        const live = entry.live.get(version);
        if (!live) this.#forget(entry, version);
        else if (wantedReady) void this.retire(entry, live, 'policy', true);
      }
    });
  }

  /** Takes a version out of routing at once, then drains and disposes it. */
  retire(entry: ModelEntry, mv: ModelVersion, reason: UnloadReason, forget: boolean): Promise<void> {
    const registry = this.#registry;
    this.#swaps.change(entry, () => {
      if (entry.live.get(mv.version) === mv) entry.live.delete(mv.version);
      entry.retiring.add(mv);
      if (forget) this.#forget(entry, mv.version);
    });
    const event = { name: entry.name, version: mv.version, reason };
    this.#swaps.afterSwap(() => registry.emit('draining', event));
    return mv
      .unload()
      .catch((error: unknown) => {
        registry.emit('failure', { name: entry.name, version: mv.version, error: error instanceof Error ? error : new Error(String(error)), stage: 'unload' });
      })
      .finally(() => {
        this.#releases.get(mv)?.();
        entry.retiring.delete(mv);
        registry.emit('unload', event);
        this.#cleanup(entry);
      });
  }

  /** Unloads a version to make room; one whose own version is loading again (a forced reload) is being replaced. */
  evict(victim: ModelVersion): Promise<void> {
    const entry = this.#models.get(victim.name);
    if (!entry) return victim.unload();
    return this.retire(entry, victim, entry.loading.has(victim.version) ? 'replaced' : 'evicted', false);
  }

  /** Versions that count against the capacity limits. */
  evictable(): ModelVersion[] {
    return [...this.#models.values()].flatMap((e) => [...e.live.values()]).filter((mv) => this.#releases.has(mv));
  }

  /** Forgets a version's config and the labels pointing at it. */
  #forget(entry: ModelEntry, version: string): void {
    for (const label of entry.forget(version)) this.#registry.emit('label', { name: entry.name, label, version: undefined });
  }
}
