import { assertInteger, assertNumber, ModelNotReadyError } from '../core/index.js';
import type { ModelVersion } from './model-version.js';
import { callOff } from './version-loader.js';

/** Limits on what a registry keeps loaded (Ray's `max_num_models_per_replica`, by count and by bytes). */
export interface CapacityLimits {
  /** The most model versions loaded (or loading, or draining) at once. @default Infinity */
  readonly maxLoadedVersions?: number;
  /** The most estimated bytes loaded at once (see `ModelConfig.sizeBytes`). @default Infinity */
  readonly maxLoadedBytes?: number;
}

/** Gives back a reservation; calling it twice does nothing. */
export type Release = () => void;

/**
 * Keeps the loaded versions within the limits: a load first reserves room, unloading the least
 * recently used versions (idle ones first) until it fits. Reservations are made one at a time, so
 * concurrent loads never overshoot and never pick the same victim.
 */
export class Capacity {
  readonly #maxVersions: number;
  readonly #maxBytes: number;
  #versions = 0;
  #bytes = 0;
  #turn: Promise<unknown> = Promise.resolve();

  constructor(limits: CapacityLimits) {
    this.#maxVersions = limits.maxLoadedVersions ?? Infinity;
    this.#maxBytes = limits.maxLoadedBytes ?? Infinity;
    if (this.#maxVersions !== Infinity) assertInteger('maxLoadedVersions', this.#maxVersions, 1);
    assertNumber('maxLoadedBytes', this.#maxBytes, 1, Number.MAX_VALUE, true);
  }

  /** True when neither limit is set. */
  get unbounded(): boolean {
    return this.#maxVersions === Infinity && this.#maxBytes === Infinity;
  }

  /**
   * Reserves room for one version of `bytes`.
   * @param candidates - the versions that may be unloaded to make room.
   * @param evict - unloads a version; must resolve once its reservation is released.
   * @throws RangeError when `bytes` alone exceeds the byte limit; ModelNotReadyError, called off
   * (see `wasCalledOff`), when nothing can be unloaded.
   */
  reserve(label: string, bytes: number, candidates: () => readonly ModelVersion[], evict: (victim: ModelVersion) => Promise<void>): Promise<Release> {
    if (bytes > this.#maxBytes) {
      return Promise.reject(new RangeError(`Model ${label} is estimated at ${bytes} bytes, more than \`maxLoadedBytes\` (${this.#maxBytes})`));
    }
    const run = async (): Promise<Release> => {
      while (this.#versions + 1 > this.#maxVersions || this.#bytes + bytes > this.#maxBytes) {
        const victim = leastRecentlyUsed(candidates());
        if (!victim) {
          // No room now is not the version's fault: the load is called off, and may succeed later.
          throw callOff(
            new ModelNotReadyError(
              `Cannot load ${label}: ${this.#versions} versions (${this.#bytes} bytes) are loaded or loading, ` +
                `the limit is ${this.#maxVersions} (${this.#maxBytes} bytes), and none is ready to be unloaded`,
            ),
          );
        }
        await evict(victim);
      }
      this.#versions++;
      this.#bytes += bytes;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.#versions--;
        this.#bytes -= bytes;
      };
    };
    const reserved = this.#turn.then(run, run);
    this.#turn = reserved.catch(() => {});
    return reserved;
  }
}

/** The victim: an idle version (no request queued or routed to it) before a busy one, then the one used longest ago. */
function leastRecentlyUsed(versions: readonly ModelVersion[]): ModelVersion | undefined {
  let best: ModelVersion | undefined;
  for (const v of versions) {
    if (v.state !== 'ready') continue;
    if (!best || rank(v) < rank(best) || (rank(v) === rank(best) && v.lastUsed < best.lastUsed)) best = v;
  }
  return best;
}

function rank(v: ModelVersion): number {
  return v.inFlight === 0 && v.held === 0 ? 0 : 1;
}
