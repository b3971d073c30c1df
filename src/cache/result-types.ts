import type { Clock, TensorMap } from '../core/index.js';
import type { KeyHasher } from './key.js';
import type { ResultCache } from './result-cache.js';
import type { CacheStore } from './store.js';

/** Options of {@link ResultCache}. */
export interface ResultCacheOptions {
  /** Where results are kept: an LruStore, a RedisStore, or any {@link CacheStore}. */
  readonly store: CacheStore<TensorMap>;
  /** The namespace prefix; each model gets `<namespace>/<model>`. @default 'result' */
  readonly namespace?: string;
  /** How long a result stays, in milliseconds. @default none: until the store evicts it */
  readonly ttlMs?: number;
  /**
   * The longest a store read or write may take, in milliseconds; a slower one counts as a miss (or an
   * unwritten result) and an `error` event, and so does every call until it answers. Synchronous stores are never timed.
   * @default 50
   */
  readonly timeoutMs?: number;
  /** Hashes the canonical request bytes. @default fastHasher (MurmurHash3 x86_128) */
  readonly hasher?: KeyHasher;
  /** The clock timeouts and durations run on. @default systemClock */
  readonly clock?: Clock;
}

/** What identifies a result: the model version and everything that changes the output. */
export interface CacheRequest {
  readonly model: string;
  readonly version: string | number;
  readonly inputs: TensorMap;
  /** Request parameters that change the output (requested outputs, thresholds...); JSON data. */
  readonly parameters?: Readonly<Record<string, unknown>> | undefined;
}

/** Per-request options of {@link ResultCache.run}. */
export interface CacheRunOptions {
  /** Skip reading the cache (HTTP `Cache-Control: no-cache`); the fresh result may still be stored. */
  readonly noCache?: boolean | undefined;
  /** Skip writing the result (HTTP `Cache-Control: no-store`). */
  readonly noStore?: boolean | undefined;
  /** Releases this caller; the computation is aborted only when every caller sharing it has left. */
  readonly signal?: AbortSignal | undefined;
  /**
   * This caller's time left, in milliseconds from the call (a request's remaining timeout): a store
   * read still pending then, or an identical request it joined that has not answered, fails it
   * with a DeadlineExceededError, and the others sharing the flight wait on. `compute` is not timed
   * by it: bound it by the same time (the service's batcher does). @default none
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Only calls with the same group share an in-flight computation; stored answers are shared
   * regardless. Give calls that `compute` would run differently (another timeout or priority) a
   * group of their own, so one caller's scheduling never applies to another. @default none
   */
  readonly flightGroup?: string | undefined;
}

/** What `compute` may tell {@link ResultCache.run} about the result it returns. */
export interface CacheComputeControl {
  /**
   * Keeps this result out of the store; the callers sharing it still get it. For a result that is
   * not the computation's own answer to the request, such as a semantic cache's near hit, which
   * must go when that cache is invalidated.
   */
  noStore(): void;
}

/** The answer of {@link ResultCache.run}. */
export interface CacheRunResult {
  readonly value: TensorMap;
  /** True when the value came from the store. */
  readonly hit: boolean;
  /** True when this caller joined an identical request already in flight. */
  readonly shared: boolean;
}
