import type { CacheError } from '../core/index.js';

/** Identifies the request an event is about. */
export interface CacheEventBase {
  readonly model: string;
  readonly version: string;
  /** The store namespace (`<namespace>/<model>`). */
  readonly namespace: string;
  /** The key within the namespace: `<version>:<hash>`. */
  readonly key: string;
}

/** A request answered from the store. */
export interface CacheHitEvent extends CacheEventBase {
  /** How long the lookup took, in milliseconds. */
  readonly durationMs: number;
}

/** A request that will be computed. */
export interface CacheMissEvent extends CacheEventBase {
  /** `absent`: not stored; `bypass`: the request asked not to read; `error`: the store failed or timed out. */
  readonly reason: 'absent' | 'bypass' | 'error';
  /** How long the lookup took, in milliseconds (0 for a bypass). */
  readonly durationMs: number;
}

/** A request that joined an identical one in flight instead of running its own. */
export type CacheCoalesceEvent = CacheEventBase;

/** A result written to the store. */
export interface CacheStoreEvent extends CacheEventBase {
  /** How long the write took, in milliseconds. */
  readonly durationMs: number;
  /** The write of a result computed after a `bypass` miss (a no-cache request), not after a lookup that missed. */
  readonly bypass: boolean;
}

/** A store or key failure that the cache absorbed (fail open). */
export interface CacheErrorEvent {
  readonly operation: 'key' | 'get' | 'set' | 'clear';
  readonly model: string;
  readonly namespace: string;
  readonly key?: string;
  readonly error: CacheError;
}

/** The events of {@link ResultCache}; every `run` emits exactly one of `hit`, `miss` or `coalesce`, and again each time a joiner runs again. */
export interface ResultCacheEvents {
  hit: [event: CacheHitEvent];
  miss: [event: CacheMissEvent];
  coalesce: [event: CacheCoalesceEvent];
  store: [event: CacheStoreEvent];
  error: [event: CacheErrorEvent];
}
