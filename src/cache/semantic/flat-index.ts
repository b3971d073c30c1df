import { assertBoolean, assertInteger, assertObject, assertOptionKeys } from '../../core/index.js';
import { QuantizedRows } from './quantized-rows.js';

/**
 * The rows the buffer starts with, and never shrinks below: one, since every partition has an
 * index of its own and many hold a single entry (one per tenant, say).
 */
const MIN_ROWS = 1;

/** Options of {@link FlatIndex}. */
export interface FlatIndexOptions {
  /**
   * Screen rows with an int8 WebAssembly SIMD pass before scoring exactly (where available).
   * Results are identical either way; only the speed differs.
   * @default true
   */
  readonly accelerate?: boolean;
  /** The row count from which the screening pass is used. @default 1024 */
  readonly accelerateAt?: number;
}

/** The best row of a search and its exact score. */
export interface IndexMatch {
  readonly slot: number;
  readonly score: number;
}

/**
 * An exact flat index of unit vectors in one Float32Array: the score of a row is its dot product
 * with the query (the cosine similarity, since both are normalised). Rows are dense: removing a
 * row moves the last row into its slot. Large indexes screen rows with an int8 SIMD pass that
 * bounds each score from above, then score the survivors exactly, so the answer is the same
 * as a full float scan.
 */
export class FlatIndex {
  readonly dimensions: number;
  readonly #accelerate: boolean;
  readonly #accelerateAt: number;
  #vectors: Float32Array;
  #size = 0;
  #quantized: QuantizedRows | undefined;

  constructor(dimensions: number, options: FlatIndexOptions = {}) {
    assertInteger('dimensions', dimensions, 1, 65536);
    assertObject('options', options);
    assertOptionKeys('FlatIndex', options, ['accelerate', 'accelerateAt']);
    const { accelerate = true, accelerateAt = 1024 } = options;
    assertBoolean('accelerate', accelerate);
    assertInteger('accelerateAt', accelerateAt, 1);
    this.dimensions = dimensions;
    this.#accelerate = accelerate;
    this.#accelerateAt = accelerateAt;
    this.#vectors = new Float32Array(MIN_ROWS * dimensions);
  }

  /** The number of rows. */
  get size(): number {
    return this.#size;
  }

  /** The rows the buffer holds before it grows: doubled when full, halved once a quarter is in use. */
  get capacity(): number {
    return this.#vectors.length / this.dimensions;
  }

  /** True once the int8 screening pass is in use. */
  get accelerated(): boolean {
    return this.#quantized !== undefined;
  }

  /** Appends a unit vector; returns its slot. */
  add(vector: Float32Array): number {
    const d = this.dimensions;
    const slot = this.#size;
    if ((slot + 1) * d > this.#vectors.length) {
      const grown = new Float32Array(this.#vectors.length * 2);
      grown.set(this.#vectors);
      this.#vectors = grown;
      this.#quantized?.reserve(grown.length / d);
    }
    this.#vectors.set(vector, slot * d);
    this.#size++;
    if (this.#quantized) this.#quantized.set(slot, this.#vectors, slot * d);
    else if (this.#accelerate && this.#size >= this.#accelerateAt) this.#startScreening();
    return slot;
  }

  /** Removes the row in `slot`; returns the slot whose row moved into it (the last one), or -1 if none moved. */
  remove(slot: number): number {
    const last = this.#size - 1;
    if (slot < 0 || slot > last) throw new RangeError(`Expected a slot between 0 and ${last}, got ${slot}`);
    this.#size--;
    const d = this.dimensions;
    if (slot !== last) {
      this.#vectors.copyWithin(slot * d, last * d, (last + 1) * d);
      this.#quantized?.move(last, slot);
    }
    if (this.#size <= this.#vectors.length / d / 4 && this.#vectors.length > MIN_ROWS * d) this.#shrink();
    return slot === last ? -1 : last;
  }

  /** The exact score of one row. */
  score(query: Float32Array, slot: number): number {
    return dot(query, this.#vectors, slot * this.dimensions, this.dimensions);
  }

  /**
   * The best row scoring at least `minScore` among those `accept` admits (asked only of rows
   * that would improve the current best), or undefined. Ties go to the lower slot.
   */
  search(query: Float32Array, minScore: number, accept: (slot: number) => boolean = () => true): IndexMatch | undefined {
    if (query.length !== this.dimensions) throw new RangeError(`Expected a query of ${this.dimensions} dimensions, got ${query.length}`);
    let best = -Infinity;
    let bestSlot = -1;
    const d = this.dimensions;
    const vectors = this.#vectors;
    const consider = (slot: number): number => {
      const s = dot(query, vectors, slot * d, d);
      if (s >= minScore && s > best && accept(slot)) {
        best = s;
        bestSlot = slot;
      }
      return Math.max(minScore, nextUp(best));
    };
    if (this.#quantized) this.#quantized.scan(query, this.#size, minScore, consider);
    else for (let slot = 0; slot < this.#size; slot++) consider(slot);
    return bestSlot < 0 ? undefined : { slot: bestSlot, score: best };
  }

  /**
   * Halves the rows' buffer once a quarter of it is in use, so that an index that shrank (its
   * partition's entries evicted by others') does not keep the memory of its peak. The int8 rows,
   * whose WebAssembly memory cannot shrink, are built again at the new size, or dropped below
   * `accelerateAt` until the index grows back to it.
   */
  #shrink(): void {
    this.#vectors = this.#vectors.slice(0, this.#vectors.length / 2);
    if (!this.#quantized) return;
    this.#quantized = undefined;
    if (this.#size >= this.#accelerateAt) this.#startScreening();
  }

  #startScreening(): void {
    const d = this.dimensions;
    const quantized = QuantizedRows.create(d, this.#vectors.length / d);
    if (!quantized) return;
    for (let slot = 0; slot < this.#size; slot++) quantized.set(slot, this.#vectors, slot * d);
    this.#quantized = quantized;
  }
}

/** A cut just above `best`, so rows that can only tie it are not scored (ties keep the lower slot). */
function nextUp(best: number): number {
  return best === -Infinity ? best : best + Number.EPSILON * Math.max(1, Math.abs(best));
}

/** The dot product of `query` with `dims` values of `vectors` from `offset`, four lanes at a time. */
function dot(query: Float32Array, vectors: Float32Array, offset: number, dims: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < dims; i += 4) {
    s0 += query[i]! * vectors[offset + i]!;
    s1 += query[i + 1]! * vectors[offset + i + 1]!;
    s2 += query[i + 2]! * vectors[offset + i + 2]!;
    s3 += query[i + 3]! * vectors[offset + i + 3]!;
  }
  for (; i < dims; i++) s0 += query[i]! * vectors[offset + i]!;
  return s0 + s1 + s2 + s3;
}
