import { Int8Bank } from './int8-bank.js';

/** Slack for float rounding in the bounds, far above the ~1e-7 relative error of float32 sums. */
const EPSILON = 1e-5;

/** Per-part facts of a quantized vector. */
interface Quantized {
  scale: number;
  headResidue: number;
  tailResidue: number;
  headNorm: number;
  tailNorm: number;
}

/**
 * An int8 copy of every row (one scale per row) in WebAssembly memory, used to bound each row's
 * exact dot product with the query from above, so that only rows that could reach the cut are
 * scored exactly. With x = s·x̂ + rx and q = t·q̂ + rq (rounding residues),
 * |q·x − s·t·(q̂·x̂)| ≤ |rx|·|q| + |rq|·|s·x̂|.
 *
 * Rows are split in a head and a tail bank. A first pass reads only the heads and bounds the tail
 * by Cauchy-Schwarz (|q_t|·|x_t|); most rows fail it when the cut is high, and the survivors are
 * scored exactly. When too many survive (a low cut), a second pass bounds the tails with their
 * int8 copies too. Either way no row that could reach the cut is skipped.
 */
export class QuantizedRows {
  readonly #dims: number;
  readonly #split: number;
  readonly #head: Int8Bank;
  readonly #tail: Int8Bank | undefined;
  readonly #levels: Int8Array;
  readonly #query: Quantized = { scale: 0, headResidue: 0, tailResidue: 0, headNorm: 0, tailNorm: 0 };
  #capacity = 0;
  #scales: Float32Array = new Float32Array(0);
  #headResidues: Float32Array = new Float32Array(0);
  #tailResidues: Float32Array = new Float32Array(0);
  #tailNorms: Float32Array = new Float32Array(0);
  #survivors = new Int32Array(0);

  private constructor(dims: number, split: number, head: Int8Bank, tail: Int8Bank | undefined, capacity: number) {
    this.#dims = dims;
    this.#split = split;
    this.#head = head;
    this.#tail = tail;
    this.#levels = new Int8Array(dims);
    this.reserve(capacity);
  }

  /** Int8 rows for `dims`-long vectors, or undefined where WebAssembly SIMD is unavailable. */
  static create(dims: number, capacity: number): QuantizedRows | undefined {
    const split = dims >= 128 ? Math.ceil(dims / 64) * 32 : dims;
    const head = Int8Bank.create(split, capacity);
    if (!head) return undefined;
    const tail = split < dims ? Int8Bank.create(dims - split, capacity) : undefined;
    return new QuantizedRows(dims, split, head, tail, capacity);
  }

  /** Makes room for `capacity` rows, keeping the rows already set. */
  reserve(capacity: number): void {
    if (capacity <= this.#capacity) return;
    this.#head.reserve(capacity);
    this.#tail?.reserve(capacity);
    const grow = (old: Float32Array): Float32Array => {
      const next = new Float32Array(capacity);
      next.set(old);
      return next;
    };
    this.#scales = grow(this.#scales);
    this.#headResidues = grow(this.#headResidues);
    this.#tailResidues = grow(this.#tailResidues);
    this.#tailNorms = grow(this.#tailNorms);
    this.#survivors = new Int32Array(capacity);
    this.#capacity = capacity;
  }

  /** Quantizes `vectors[offset .. offset + dims)` into row `row`. */
  set(row: number, vectors: Float32Array, offset: number): void {
    const facts = quantize(vectors, offset, this.#dims, this.#split, this.#levels, {} as Quantized);
    this.#head.write(row, this.#levels.subarray(0, this.#split));
    this.#tail?.write(row, this.#levels.subarray(this.#split));
    this.#scales[row] = facts.scale;
    this.#headResidues[row] = facts.headResidue;
    this.#tailResidues[row] = facts.tailResidue;
    this.#tailNorms[row] = facts.tailNorm;
  }

  /** Copies row `from` over row `to`. */
  move(from: number, to: number): void {
    this.#head.move(from, to);
    this.#tail?.move(from, to);
    this.#scales[to] = this.#scales[from]!;
    this.#headResidues[to] = this.#headResidues[from]!;
    this.#tailResidues[to] = this.#tailResidues[from]!;
    this.#tailNorms[to] = this.#tailNorms[from]!;
  }

  /**
   * Visits, in order, every row among the first `n` whose bound reaches `cut`; `visit` scores it
   * exactly and returns the cut to use from then on (raised as better rows are found).
   */
  scan(query: Float32Array, n: number, cut: number, visit: (row: number) => number): void {
    const q = quantize(query, 0, this.#dims, this.#split, this.#levels, this.#query);
    const head = this.#head.scores(this.#levels.subarray(0, this.#split), n);
    const scales = this.#scales;
    const headResidues = this.#headResidues;
    const tailNorms = this.#tailNorms;
    const qs = q.scale;
    const qeHead = q.headResidue;
    const qnHead = q.headNorm;
    const qnTail = q.tailNorm;
    const headBound = (r: number): number => {
      const e = headResidues[r]!;
      return qs * scales[r]! * head[r]! + e * qnHead + qeHead * (1 + EPSILON + e) + EPSILON;
    };
    if (!this.#tail) {
      for (let r = 0; r < n; r++) if (headBound(r) >= cut) cut = visit(r);
      return;
    }
    const survivors = this.#survivors;
    const slack = qeHead * (1 + EPSILON) + EPSILON;
    const perResidue = qnHead + qeHead;
    let m = 0;
    for (let r = 0; r < n; r++) {
      if (qs * scales[r]! * head[r]! + headResidues[r]! * perResidue + slack + qnTail * tailNorms[r]! >= cut) survivors[m++] = r;
    }
    if (m <= n >>> 4) {
      for (let i = 0; i < m; i++) {
        const r = survivors[i]!;
        if (headBound(r) + qnTail * tailNorms[r]! >= cut) cut = visit(r);
      }
      return;
    }
    const tail = this.#tail.scores(this.#levels.subarray(this.#split), n);
    const tailResidues = this.#tailResidues;
    const qeTail = q.tailResidue;
    for (let i = 0; i < m; i++) {
      const r = survivors[i]!;
      const e = tailResidues[r]!;
      const bound = headBound(r) + qs * scales[r]! * tail[r]! + e * qnTail + qeTail * (tailNorms[r]! + EPSILON + e);
      if (bound >= cut) cut = visit(r);
    }
  }
}

/**
 * Rounds `dims` values to int8 levels of one step, max|v|/127, into `levels`, and measures the
 * rounding residue and the norm of the head (`[0, split)`) and of the tail separately.
 */
function quantize(values: Float32Array, offset: number, dims: number, split: number, levels: Int8Array, out: Quantized): Quantized {
  let max = 0;
  for (let i = 0; i < dims; i++) max = Math.max(max, Math.abs(values[offset + i]!));
  const scale = max / 127;
  const inverse = scale > 0 ? 1 / scale : 0;
  let headResidue = 0;
  let tailResidue = 0;
  let headNorm = 0;
  let tailNorm = 0;
  for (let i = 0; i < dims; i++) {
    const v = values[offset + i]!;
    const level = Math.round(v * inverse);
    levels[i] = level;
    const d = v - level * scale;
    if (i < split) {
      headResidue += d * d;
      headNorm += v * v;
    } else {
      tailResidue += d * d;
      tailNorm += v * v;
    }
  }
  out.scale = scale;
  out.headResidue = Math.sqrt(headResidue);
  out.tailResidue = Math.sqrt(tailResidue);
  out.headNorm = Math.sqrt(headNorm);
  out.tailNorm = Math.sqrt(tailNorm);
  return out;
}
