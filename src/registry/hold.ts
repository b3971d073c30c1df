import { optionError, type Clock } from '../core/index.js';
import type { ModelVersion } from './model-version.js';
import { waitFor } from './wait.js';

/**
 * A request's hold on the version it was routed to, as a `VersionCall` gets it from `Router.run`.
 * Pass it to {@link ModelVersion.infer} with the request: the version takes the request even if it
 * has started draining meanwhile, and releases the hold once the request is queued. The router
 * releases it when the call settles without reaching `infer` (a cache hit, an error, an abort).
 */
export class VersionHold {
  readonly version: ModelVersion;
  readonly #unhold: () => void;
  #released = false;

  /** @internal Holds are taken with {@link ModelVersion.hold}. */
  constructor(version: ModelVersion, unhold: () => void) {
    this.version = version;
    this.#unhold = unhold;
  }

  /** Whether the hold was released. */
  get released(): boolean {
    return this.#released;
  }

  /** Releases the hold; calling it again does nothing. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#unhold();
  }
}

/**
 * The TypeError (code `ERR_SERVABLE_INVALID_OPTION`) for a hold passed to a version it is not on (another version, or another instance
 * of the same one after a forced reload): that hold is left live for its own version.
 */
export function foreignHold(version: Pick<ModelVersion, 'name' | 'version'>, hold: VersionHold): TypeError {
  const on = hold.version;
  const got = on.name === version.name && on.version === version.version ? 'another instance of it' : `model '${on.name}' version '${on.version}'`;
  return optionError(`Expected \`hold\` to be a hold on model '${version.name}' version '${version.version}', got a hold on ${got}`);
}

/**
 * The callers waiting for loads of one model's versions (requests, and `registry.load()` calls):
 * a load waiting for room goes on waiting while any of them does. A version that loads while
 * callers wait is held for them until each has taken its own hold or given up, so that between the
 * load and their requests it never looks idle: evicting it then sent them to load it again, in a loop.
 * Waiters are counted per version, not per load, so every instance committed while any wait is
 * held until they all have gone on: a forced reload committing before an earlier load's waiters
 * resume keeps the instance they resume with held, and they are answered by it.
 */
export class LoadWaiters {
  readonly #waiting = new Map<string, number>();
  readonly #holds = new Map<string, VersionHold[]>();
  readonly #changed: () => void;

  /** @param changed - called when a version loads and when the last caller waiting for a version goes. */
  constructor(changed: () => void) {
    this.#changed = changed;
  }

  /** Whether a caller still waits for a load of `version`. */
  waiting(version: string): boolean {
    return this.#waiting.has(version);
  }

  /** How many callers wait for a load of `version`. */
  callers(version: string): number {
    return this.#waiting.get(version) ?? 0;
  }

  /** Holds a version that just became ready, when callers wait for it. */
  loaded(mv: ModelVersion): void {
    if (this.#waiting.has(mv.version)) {
      const holds = this.#holds.get(mv.version);
      if (holds) holds.push(mv.hold());
      else this.#holds.set(mv.version, [mv.hold()]);
    }
    this.#changed();
  }

  /** Waits for `loaded` within the caller's `timeoutMs` and `signal`, and holds the version for the caller. */
  wait(version: string, loaded: Promise<ModelVersion>, what: string, options: Parameters<typeof waitFor>[2], clock: Clock): Promise<VersionHold> {
    return this.follow(version, waitFor(loaded, what, options, clock).then((mv) => mv.hold()));
  }

  /** Counts a caller waiting for a load of `version` until `waited` settles. */
  async follow<T>(version: string, waited: Promise<T>): Promise<T> {
    this.#waiting.set(version, (this.#waiting.get(version) ?? 0) + 1);
    try {
      return await waited;
    } finally {
      const left = this.#waiting.get(version)! - 1;
      if (left > 0) this.#waiting.set(version, left);
      else {
        this.#waiting.delete(version);
        for (const hold of this.#holds.get(version) ?? []) hold.release();
        this.#holds.delete(version);
        this.#changed();
      }
    }
  }
}
