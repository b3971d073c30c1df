import { int8Kernel, type Int8Scan, type WasmMemory } from './int8-kernel.js';

const PAGE = 65536;

/**
 * Rows of int8 levels in WebAssembly memory, `width` values each (padded with zeros to a
 * multiple of 32), scored against an int8 query by the SIMD kernel. Layout of the memory:
 * rows, then the query, then one int32 score per row; the query and scores are scratch, so
 * growing only has to keep the rows.
 */
export class Int8Bank {
  readonly width: number;
  readonly #stride: number;
  readonly #memory: WasmMemory;
  readonly #scan: Int8Scan;
  #capacity = 0;
  #rows!: Int8Array;

  private constructor(width: number, kernel: { memory: WasmMemory; scan: Int8Scan }, capacity: number) {
    this.width = width;
    this.#stride = Math.ceil(width / 32) * 32;
    this.#memory = kernel.memory;
    this.#scan = kernel.scan;
    this.reserve(capacity);
  }

  /** A bank for rows of `width` values, or undefined where WebAssembly SIMD is unavailable. */
  static create(width: number, capacity: number): Int8Bank | undefined {
    const kernel = int8Kernel(1);
    return kernel ? new Int8Bank(width, kernel, capacity) : undefined;
  }

  /** Makes room for `capacity` rows, keeping those already written. */
  reserve(capacity: number): void {
    if (capacity <= this.#capacity) return;
    const bytes = capacity * this.#stride + this.#stride + 4 * capacity;
    const pages = Math.ceil(bytes / PAGE) - this.#memory.buffer.byteLength / PAGE;
    if (pages > 0) this.#memory.grow(pages);
    this.#rows = new Int8Array(this.#memory.buffer, 0, capacity * this.#stride);
    this.#rows.fill(0, this.#capacity * this.#stride); // old scratch becomes rows: padding must read as zero
    this.#capacity = capacity;
  }

  /** Writes `levels` (at most `width` values in [-127, 127]) as row `row`. */
  write(row: number, levels: Int8Array): void {
    this.#rows.set(levels, row * this.#stride);
  }

  /** Copies row `from` over row `to`. */
  move(from: number, to: number): void {
    const s = this.#stride;
    this.#rows.copyWithin(to * s, from * s, (from + 1) * s);
  }

  /** The integer dot product of each of the first `n` rows with `query` (levels in [-127, 127]); valid until the next call. */
  scores(query: Int8Array, n: number): Int32Array {
    const s = this.#stride;
    const queryAt = this.#capacity * s;
    const q = new Int8Array(this.#memory.buffer, queryAt, s);
    q.set(query);
    q.fill(0, query.length);
    const outAt = queryAt + s;
    this.#scan(0, queryAt, n, s, outAt);
    return new Int32Array(this.#memory.buffer, outAt, n);
  }
}
