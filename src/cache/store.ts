import type { TensorMap } from '../core/index.js';

/** A value, or a promise of it: in-process stores answer synchronously, remote ones asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * The storage contract every cache uses: four operations, each may answer synchronously or with
 * a promise. Keys live in namespaces; `clear(namespace)` removes every key of that namespace and
 * of no other, even when one namespace name is a prefix of another. Stores never interpret keys.
 *
 * Check a store of your own with `cacheStoreContract` from `servable/testing`.
 */
export interface CacheStore<V = TensorMap> {
  /** The value stored under `key` in `namespace`, or undefined when absent or expired. */
  get(namespace: string, key: string): MaybePromise<V | undefined>;
  /** Stores `value`, replacing any previous one; it expires after `ttlMs` milliseconds when given. */
  set(namespace: string, key: string, value: V, ttlMs?: number): MaybePromise<void>;
  /** Removes one key; removing an absent key is not an error. */
  delete(namespace: string, key: string): MaybePromise<void>;
  /**
   * Removes every key of `namespace`, or only those that begin with `keyPrefix` when given. A
   * store that ignores `keyPrefix` clears the whole namespace: more than asked, never less.
   */
  clear(namespace: string, keyPrefix?: string): MaybePromise<void>;
}
