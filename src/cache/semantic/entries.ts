import type { Clock, TensorMap } from '../../core/index.js';
import { FlatIndex } from './flat-index.js';
import { withinPartition, type SemanticQuery } from './types.js';

/**
 * How far a similarity computed from float32 unit vectors may be from the true cosine: each value
 * is rounded by at most 2^-24 of itself, which moves a dot product of unit vectors by at most
 * 2^-23; the rest is headroom for the float64 sums.
 */
const SIMILARITY_ERROR = 2 ** -22;

/** One cached answer. */
export interface SemanticEntry<Q> {
  readonly partition: string;
  readonly exactKey: string;
  readonly query: Q;
  readonly value: TensorMap;
  readonly vector: Float32Array;
  /** On the cache's clock; Infinity for no TTL. */
  readonly expiresAt: number;
}

/** An entry as held and found: its vector lives in its partition's index only. */
export type HeldEntry<Q> = Omit<SemanticEntry<Q>, 'vector'>;

interface Slot<Q> extends HeldEntry<Q> {
  slot: number;
}

interface Partition<Q> {
  readonly index: FlatIndex;
  readonly slots: Slot<Q>[];
}

/** Options of {@link SemanticEntries}. */
export interface SemanticEntriesOptions {
  readonly dimensions: number;
  readonly maxEntries: number;
  readonly clock: Clock;
  readonly accelerate: boolean;
}

/**
 * The entries of a semantic cache: one flat index per partition (so a lookup never sees another
 * partition's vectors), an exact-key map, one least-recently-used order across all partitions
 * bounding the total, and TTLs checked when an entry is found.
 */
export class SemanticEntries<Q> {
  readonly #options: SemanticEntriesOptions;
  readonly #partitions = new Map<string, Partition<Q>>();
  readonly #exact = new Map<string, Slot<Q>>();
  /** Insertion order is recency order: touching an entry re-inserts it. */
  readonly #recency = new Set<Slot<Q>>();

  constructor(options: SemanticEntriesOptions) {
    this.#options = options;
  }

  /** Entries held, expired ones included until they are found or evicted. */
  get size(): number {
    return this.#recency.size;
  }

  /** The live entry with this exact key in `partition`. */
  exact(partition: string, exactKey: string): HeldEntry<Q> | undefined {
    const slot = this.#exact.get(exactId(partition, exactKey));
    if (!slot) return undefined;
    if (slot.expiresAt <= this.#options.clock.now()) {
      this.#remove(slot);
      return undefined;
    }
    this.#touch(slot);
    return slot;
  }

  /**
   * The live entry of `partition` most similar to `vector` with a similarity of at least
   * `threshold`, give or take float32 rounding (so identical and same-direction vectors meet a
   * threshold of 1); the similarity is clamped to [-1, 1].
   */
  nearest(partition: string, vector: Float32Array, threshold: number): { entry: HeldEntry<Q>; similarity: number } | undefined {
    const p = this.#partitions.get(partition);
    if (!p) return undefined;
    const now = this.#options.clock.now();
    const expired: Slot<Q>[] = [];
    const match = p.index.search(vector, threshold - SIMILARITY_ERROR, (slot) => {
      const s = p.slots[slot]!;
      if (s.expiresAt > now) return true;
      expired.push(s);
      return false;
    });
    const entry = match && p.slots[match.slot]!;
    for (const s of expired) this.#remove(s);
    if (!entry || !match) return undefined;
    this.#touch(entry);
    return { entry, similarity: Math.max(-1, Math.min(1, match.score)) };
  }

  /** Adds an entry, replacing any with the same exact key in its partition, then evicts down to `maxEntries`. */
  insert(entry: SemanticEntry<Q>): void {
    const id = exactId(entry.partition, entry.exactKey);
    const old = this.#exact.get(id);
    if (old) this.#remove(old);
    let p = this.#partitions.get(entry.partition);
    if (!p) {
      p = { index: new FlatIndex(this.#options.dimensions, { accelerate: this.#options.accelerate }), slots: [] };
      this.#partitions.set(entry.partition, p);
    }
    const { vector, ...held } = entry;
    const slot: Slot<Q> = { ...held, slot: p.index.add(vector) };
    p.slots.push(slot);
    this.#exact.set(id, slot);
    this.#recency.add(slot);
    while (this.#recency.size > this.#options.maxEntries) this.#remove(this.#recency.values().next().value!);
  }

  /** Removes every entry of `partition` (and of those under it with `prefix`: see withinPartition), or of all partitions. */
  clear(partition?: string, prefix = false): void {
    if (prefix && partition !== undefined) {
      for (const key of [...this.#partitions.keys()]) if (withinPartition(key, partition)) this.clear(key);
      return;
    }
    if (partition === undefined) {
      this.#partitions.clear();
      this.#exact.clear();
      this.#recency.clear();
      return;
    }
    const p = this.#partitions.get(partition);
    if (!p) return;
    for (const s of p.slots) {
      this.#exact.delete(exactId(s.partition, s.exactKey));
      this.#recency.delete(s);
    }
    this.#partitions.delete(partition);
  }

  #touch(slot: Slot<Q>): void {
    this.#recency.delete(slot);
    this.#recency.add(slot);
  }

  #remove(slot: Slot<Q>): void {
    const p = this.#partitions.get(slot.partition);
    if (!p || p.slots[slot.slot] !== slot) return;
    const moved = p.index.remove(slot.slot);
    const last = p.slots.pop()!;
    if (moved >= 0) {
      last.slot = slot.slot;
      p.slots[slot.slot] = last;
    }
    this.#exact.delete(exactId(slot.partition, slot.exactKey));
    this.#recency.delete(slot);
    if (p.slots.length === 0) this.#partitions.delete(slot.partition);
  }
}

function exactId(partition: string, exactKey: string): string {
  return `${partition.length}:${partition}${exactKey}`;
}

/**
 * A query as the cache keeps it past the call: tensors copied, since their caller may reuse the
 * buffers under them (servable's adapters reuse a request body's once it is answered, and a
 * stored view of one then showed `verify` and the log the next request's values).
 */
export function kept<Q extends SemanticQuery>(query: Q): Q {
  if (typeof query === 'string') return query;
  const copy = Object.create(Object.getPrototypeOf(query) as object | null) as TensorMap;
  for (const name of Object.keys(query)) {
    const t = (query as TensorMap)[name]!;
    Object.defineProperty(copy, name, { value: { ...t, shape: [...t.shape], data: t.data.slice() }, enumerable: true, writable: true, configurable: true });
  }
  return copy as Q;
}
