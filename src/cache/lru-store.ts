import { LRUCache } from 'lru-cache';
import { assertFunction, assertInteger, assertOptionKeys, assertNumber, assertObject, systemClock, type Clock, type TensorMap } from '../core/index.js';
import { assertPositive } from './checks.js';
import { tensorMapBytes } from './size.js';
import type { CacheStore } from './store.js';

/** Options of {@link LruStore}. */
export interface LruStoreOptions<V = TensorMap> {
  /**
   * The most memory the entries may take, in bytes (values counted by `sizeOf`, keys by length,
   * plus the store's own bookkeeping per entry); the least recently used entries leave first. An
   * entry larger than this is not stored.
   */
  readonly maxBytes: number;
  /** The most entries held, whatever their size. @default unbounded (only `maxBytes` applies) */
  readonly maxEntries?: number;
  /** The time to live of an entry set without one, in milliseconds. @default none: entries live until evicted */
  readonly ttlMs?: number;
  /** Bytes a value takes, a number >= 0 (`set` throws a TypeError or RangeError quoting another). @default tensorMapBytes: tensor buffers plus a small overhead per tensor */
  readonly sizeOf?: (value: V) => number;
  /** The clock TTLs are measured on. @default systemClock */
  readonly clock?: Clock;
}

/**
 * What the store keeps per entry besides its key and value: the slot, lru-cache's records of it
 * (map entry, list links, size, TTL) and the namespace index's entry, about 290 bytes measured on
 * Node 20. Left out, 2-float classifier answers took 2.2 times maxBytes.
 */
const ENTRY_OVERHEAD = 256;

interface Slot<V> {
  readonly namespace: string;
  readonly value: V;
}

/**
 * An in-process {@link CacheStore} on `lru-cache`, bounded in bytes, with TTL. Every operation
 * answers synchronously, so a hit costs no promise and no timer. Values are stored by reference:
 * treat what `get` returns as read-only.
 */
export class LruStore<V = TensorMap> implements CacheStore<V> {
  readonly #lru: LRUCache<string, Slot<V>>;
  readonly #byNamespace = new Map<string, Set<string>>();
  readonly #sizeOf: (value: V) => number;
  readonly #maxBytes: number;

  constructor(options: LruStoreOptions<V>) {
    assertObject('options', options);
    assertOptionKeys('LruStore', options, ['maxBytes', 'maxEntries', 'ttlMs', 'sizeOf', 'clock']);
    const { maxBytes, maxEntries, ttlMs, clock = systemClock } = options;
    assertInteger('maxBytes', maxBytes, 1);
    if (maxEntries !== undefined) assertInteger('maxEntries', maxEntries, 1);
    if (ttlMs !== undefined) assertPositive('ttlMs', ttlMs);
    this.#sizeOf = options.sizeOf ?? (tensorMapBytes as unknown as (value: V) => number);
    assertFunction('sizeOf', this.#sizeOf);
    this.#maxBytes = maxBytes;
    // lru-cache treats a start time of 0 as "no TTL": count from 1 whatever the clock's origin.
    const origin = clock.now() - 1;
    this.#lru = new LRUCache<string, Slot<V>>({
      maxSize: maxBytes,
      ...(maxEntries !== undefined ? { max: maxEntries } : {}),
      ...(ttlMs !== undefined ? { ttl: ttlMs } : {}),
      ttlResolution: 0,
      perf: { now: () => clock.now() - origin },
      dispose: (slot, id, reason) => {
        if (reason !== 'set') this.#unindex(slot.namespace, id);
      },
    });
  }

  /** How many entries are held (expired ones count until touched). */
  get size(): number {
    return this.#lru.size;
  }

  /** Bytes held, as counted by `sizeOf`. */
  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  get(namespace: string, key: string): V | undefined {
    return this.#lru.get(slotId(namespace, key))?.value;
  }

  set(namespace: string, key: string, value: V, ttlMs?: number): void {
    if (ttlMs !== undefined) assertPositive('ttlMs', ttlMs);
    const id = slotId(namespace, key);
    const bytes = this.#sizeOf(value);
    assertNumber('sizeOf(value)', bytes, 0);
    const size = bytes + 2 * id.length + ENTRY_OVERHEAD;
    if (size > this.#maxBytes) {
      this.#lru.delete(id);
      return;
    }
    this.#lru.set(id, { namespace, value }, { size: Math.ceil(size), ...(ttlMs !== undefined ? { ttl: ttlMs } : {}) });
    let ids = this.#byNamespace.get(namespace);
    if (!ids) this.#byNamespace.set(namespace, (ids = new Set()));
    ids.add(id);
  }

  delete(namespace: string, key: string): void {
    this.#lru.delete(slotId(namespace, key));
  }

  clear(namespace: string, keyPrefix?: string): void {
    const ids = this.#byNamespace.get(namespace);
    if (!ids) return;
    if (keyPrefix !== undefined) {
      const start = slotId(namespace, keyPrefix);
      for (const id of [...ids]) if (id.startsWith(start)) this.#lru.delete(id);
      return;
    }
    for (const id of [...ids]) this.#lru.delete(id);
    this.#byNamespace.delete(namespace);
  }

  #unindex(namespace: string, id: string): void {
    const ids = this.#byNamespace.get(namespace);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) this.#byNamespace.delete(namespace);
  }
}

/** One string per (namespace, key) pair, unambiguous whatever characters either holds. */
function slotId(namespace: string, key: string): string {
  return `${namespace.length}:${namespace}${key}`;
}
