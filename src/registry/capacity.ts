import { assertInteger, assertNumber, ModelNotReadyError, ModelTooLargeError, resolvesWithin, type Clock } from '../core/index.js';
import type { ModelVersion } from './model-version.js';
import { callOff, markTransient } from './version-loader.js';

/** Limits on what a registry keeps loaded (Ray's `max_num_models_per_replica`, by count and by bytes). */
export interface CapacityLimits {
  /** The most model versions loaded (or loading, or draining) at once. @default Infinity */
  readonly maxLoadedVersions?: number;
  /**
   * The most estimated bytes loaded at once (see `ModelConfig.sizeBytes`: by default the source's
   * byte length, or its file's size as the backend measures it when the version loads). A config
   * whose size cannot be told (the backend does not measure its source) must then give `sizeBytes`.
   * @default Infinity
   */
  readonly maxLoadedBytes?: number;
}

/** How long a reservation may wait for room, on which clock. */
export interface RoomWait {
  readonly clock: Clock;
  /** From when room is asked for (`RegistryOptions.loadTimeoutMs`); longer than a timer can hold counts as none. */
  readonly timeoutMs: number;
}

/** Gives back a reservation; calling it twice does nothing. */
export type Release = () => void;

/**
 * Keeps the loaded versions within the limits: a load first reserves room, unloading the least
 * recently used versions (idle ones first) until it fits. Reservations are made one at a time, in
 * the order asked, so concurrent loads never overshoot and never pick the same victim; one that
 * finds every loaded version still loading waits for one to be ready or unloaded, holding the
 * others back (first come, first served); one no longer wanted leaves the queue at once. Each
 * waits at most its `timeoutMs` from when it asked: a version whose drain never ends (a run that
 * never answers) would otherwise hold the queue for good.
 */
export class Capacity {
  readonly #maxVersions: number;
  readonly #maxBytes: number;
  #versions = 0;
  #bytes = 0;
  #turn: Promise<unknown> = Promise.resolve();
  #waiting = 0;
  /** Wakes the reservation waiting for room, when one waits (only the one whose turn it is can). */
  #wake: (() => void) | undefined;
  /** The reservations queued behind it: each leaves the queue when its `wanted` says no. */
  readonly #queued = new Set<() => void>();
  readonly #candidates: () => readonly ModelVersion[];
  readonly #evict: (victim: ModelVersion) => Promise<void>;
  readonly #wait: RoomWait;

  /**
   * @param candidates - the versions that may be unloaded to make room.
   * @param evict - unloads a version; must resolve once its reservation is released.
   */
  constructor(limits: CapacityLimits, wait: RoomWait, candidates: () => readonly ModelVersion[], evict: (victim: ModelVersion) => Promise<void>) {
    this.#wait = wait;
    this.#candidates = candidates;
    this.#evict = evict;
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
   * Reservations asked for and neither made nor refused yet: the one whose turn it is, unloading a
   * version (which drains first) or waiting for one to finish loading, and those queued behind it.
   */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Makes a reservation waiting for room look again, and those queued behind it ask `wanted`
   * again: call it when a version becomes ready (it can be unloaded now) or when what `wanted`
   * answers may have changed. Released room wakes it itself.
   */
  changed(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    for (const ask of [...this.#queued]) ask();
  }

  /**
   * Reserves room for one version of `bytes`. When every loaded version is still loading, waits
   * for one to be ready (it is unloaded once it has answered what was routed to it) or unloaded.
   * @param wanted - whether the load is still wanted (a caller waits for it, its version was not
   * unloaded): asked at once, when its turn comes, before unloading a version or waiting for room, and at
   * every {@link Capacity.changed} and at its deadline; queued, at every {@link Capacity.changed}.
   * @throws ModelTooLargeError when `bytes` alone exceeds the byte limit; ModelNotReadyError, called off
   * (see `wasCalledOff`), when `wanted` says no: at once, leaving the queue if it is queued;
   * ModelNotReadyError naming what it waited for when it has no room `timeoutMs` after it asked
   * (its turn included).
   */
  reserve(label: string, bytes: number, wanted: () => boolean): Promise<Release> {
    if (bytes > this.#maxBytes) return Promise.reject(tooLarge(label, bytes, this.#maxBytes));
    // Given up before it asked (while it waited for a handler): it would wait in the queue for a changed() or its turn.
    if (!wanted()) return Promise.reject(this.#calledOff(label));
    this.#waiting++;
    const deadline = this.#wait.clock.now() + this.#wait.timeoutMs;
    let leave!: () => void;
    const left = new Promise<void>((resolve) => (leave = resolve));
    const ask = (): void => {
      if (wanted()) return;
      this.#queued.delete(ask);
      this.#waiting--;
      leave();
    };
    this.#queued.add(ask);
    const run = async (): Promise<Release> => {
      // Left the queue before its turn: its promise is settled, and the turn goes on to the next.
      if (!this.#queued.delete(ask)) throw this.#calledOff(label);
      try {
        for (;;) {
          // Nobody to serve is no reason to load, to unload a version, nor to hold back the loads queued behind.
          if (!wanted()) throw this.#calledOff(label);
          if (this.#fits(bytes)) break;
          // Its turn came too late (asked at the instant the one ahead did): no eviction it could not wait for.
          if (this.#wait.clock.now() >= deadline) throw this.#noRoom(label, 'its turn');
          const victim = leastRecentlyUsed(this.#candidates());
          let drained = !victim;
          let unloadFailed: { error: unknown } | undefined;
          let wake: (() => void) | undefined;
          // One callback on the drain, however often this wakes: a drain that never ends keeps it.
          if (victim) {
            void this.#evict(victim)
              .then(() => void (drained = true), (error: unknown) => void (unloadFailed = { error }))
              .then(() => wake?.());
          }
          // Woken while a victim drains too: an unload of this version calls its load off at once,
          // and room released meanwhile is taken, where it would wait out the drain.
          for (;;) {
            const woken = new Promise<void>((resolve) => (this.#wake = wake = resolve));
            const came = await resolvesWithin(woken, Math.max(0, deadline - this.#wait.clock.now()), this.#wait.clock);
            if (this.#wake === wake) this.#wake = undefined;
            if (unloadFailed) throw unloadFailed.error;
            // Not wanted any more (called off, not failed), room, or the victim drained: look again.
            if (!wanted() || this.#fits(bytes) || (came && drained)) break;
            if (came) continue;
            throw this.#noRoom(label, victim ? `'${victim.name}' version '${victim.version}' to finish draining (unloaded to make room)` : 'a version loading to be ready, or one draining to unload');
          }
        }
      } finally {
        this.#waiting--;
      }
      this.#versions++;
      this.#bytes += bytes;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.#versions--;
        this.#bytes -= bytes;
        this.changed();
      };
    };
    // Leaving the queue runs it out of turn, to be refused at once; the next waits for the turn ahead of it still.
    const ahead = this.#turn;
    const reserved = Promise.race([ahead, left]).then(run, run);
    this.#turn = Promise.all([ahead, reserved.catch(() => {})]);
    return reserved;
  }

  #calledOff(label: string): ModelNotReadyError {
    return callOff(
      new ModelNotReadyError(
        `Cannot load ${label}: ${this.#versions} versions (${this.#bytes} bytes) are loaded or loading, ` +
          `the limit is ${this.#maxVersions} (${this.#maxBytes} bytes), and the load was called off while it waited for room`,
      ),
    );
  }

  #fits(bytes: number): boolean {
    return this.#versions + 1 <= this.#maxVersions && this.#bytes + bytes <= this.#maxBytes;
  }

  #noRoom(label: string, what: string): ModelNotReadyError {
    return markTransient(new ModelNotReadyError(`Cannot load ${label}: no room within ${this.#wait.timeoutMs} ms (\`loadTimeoutMs\`) while it waited for ${what}`));
  }
}

/**
 * The refusal of a version no room can be made for: its size, the bound, and by how much it
 * exceeds it, in whole bytes rounded up (either may be no whole number, an estimate: their
 * difference would print as float noise, 500.19999999999993).
 */
function tooLarge(label: string, bytes: number, maxBytes: number): ModelTooLargeError {
  const over = Math.ceil(bytes - maxBytes);
  return new ModelTooLargeError(
    `Model ${label} is estimated at ${bytes} bytes, more than \`maxLoadedBytes\` (${maxBytes}) by ${over} ${over === 1 ? 'byte' : 'bytes'}: no room can be made for it, however many versions are unloaded`,
    bytes,
    maxBytes,
  );
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
