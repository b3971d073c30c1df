import { ModelNotFoundError, ModelNotReadyError } from '../core/index.js';
import type { AcquireOptions, ModelRegistry, ModelVersion, VersionHold, VersionRef } from '../registry/index.js';

/**
 * The holds of requests in a semantic cache lookup, by version. A lookup may embed with a model
 * served by the same registry; when that model needs room under `maxLoadedVersions` /
 * `maxLoadedBytes` and the version unloaded for it is held by such a request, neither could go on:
 * the version's drain waits for the hold, the hold for the embedding, the embedding for the room.
 * So an eviction lets go of the holds of the requests in a lookup on that version, and one that
 * then misses loads the version again ({@link LookupHolds.held}).
 */
export class LookupHolds {
  readonly #registry: ModelRegistry;
  /** Keyed by the instance held, so that tracking a request builds no key; an eviction, rare, looks its version up by name. */
  readonly #holds = new Map<ModelVersion, Set<VersionHold>>();

  constructor(registry: ModelRegistry) {
    this.#registry = registry;
  }

  /** Tracks `hold` while its request is in a lookup; {@link LookupHolds.untrack} it when the request settles. */
  track(hold: VersionHold): void {
    let holds = this.#holds.get(hold.version);
    if (!holds) this.#holds.set(hold.version, (holds = new Set()));
    holds.add(hold);
  }

  /** Stops tracking `hold` (its request settled); one an eviction already let go of is not tracked. */
  untrack(hold: VersionHold): void {
    const holds = this.#holds.get(hold.version);
    if (holds?.delete(hold) && holds.size === 0) this.#holds.delete(hold.version);
  }

  /** Releases the holds on a version being evicted: it unloads without waiting for their lookups. */
  evicted({ name, version }: VersionRef): void {
    for (const [held, holds] of [...this.#holds]) {
      if (held.name !== name || held.version !== version) continue;
      this.#holds.delete(held);
      for (const hold of holds) hold.release();
    }
  }

  /**
   * The hold a request that missed is queued with: its own, or when an eviction released it, a
   * hold on the same version loaded again (within `options`' budget and signal).
   * @throws ModelNotReadyError (503) when the version is no longer served (a newer one replaced it
   * under the version policy meanwhile), as a draining version refuses a request without a hold.
   */
  held(hold: VersionHold, options: Pick<AcquireOptions, 'signal' | 'timeoutMs'>): VersionHold | Promise<VersionHold> {
    if (!hold.released) return hold;
    const { name, version } = hold.version;
    return this.#registry.acquireHeld(name, { version, signal: options.signal, timeoutMs: options.timeoutMs }).catch((error: unknown) => {
      if (!(error instanceof ModelNotFoundError)) throw error;
      throw new ModelNotReadyError(`Model '${name}' version '${version}' left service while the request was in its cache lookup`, { cause: error });
    });
  }
}
