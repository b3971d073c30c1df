/**
 * Triton's classification extension: an output asked for with `parameters.classification` k > 0
 * is answered as its k highest-valued classes, a BYTES tensor of "<value>:<index>[:<label>]"
 * strings, as Triton's HTTP server builds it (TopkClassifications in classification.cc).
 */
import { fromHalfBits, InvalidInputError, type DataType, type Tensor } from '../core/index.js';

/** What a classification needs of the model version that answered. */
export interface ClassifiedModel {
  /** Greater than 0 when the model batches (Triton's `max_batch_size`): each row of the first dimension is then classified alone. */
  readonly maxBatchSize: number;
  /** The model's outputs, whose datatypes are checked before the request runs. */
  readonly outputs: readonly { readonly name: string; readonly datatype: DataType }[];
}

/** Replaces an output asked for as classes with its classes; any other output is returned as it is. */
export type Classifier = (name: string, tensor: Tensor) => Tensor;

/**
 * The classifier of a reply: `counts` holds each output asked for as classes with how many,
 * `classLabels` the class labels of outputs by class index (see `ModelConfig.classLabels`).
 * @throws InvalidInputError naming an output of the model that has no numeric datatype.
 */
export function classifier(counts: ReadonlyMap<string, number>, model: ClassifiedModel, classLabels?: Readonly<Record<string, readonly string[]>>): Classifier {
  for (const spec of model.outputs) {
    if (counts.has(spec.name)) checkNumeric(spec.name, spec.datatype);
  }
  const batched = model.maxBatchSize > 0;
  return (name, tensor) => {
    const k = counts.get(name);
    return k === undefined ? tensor : classify(name, tensor, k, batched, classLabels?.[name]);
  };
}

function checkNumeric(name: string, datatype: DataType): void {
  if (datatype === 'BOOL' || datatype === 'BYTES') {
    throw new InvalidInputError(`Output '${name}': \`parameters.classification\` needs a numeric output, got ${datatype}; ask for the output itself`);
  }
}

/**
 * The `k` highest-valued classes of `tensor`, highest first, ties in index order: for a `batched`
 * model one row of `k` per entry of the first dimension ([rows, k']), else one row of all the
 * elements ([k']), where k' is `k` or the number of classes in a row if that is smaller. NaN ranks
 * below every number.
 * @throws InvalidInputError for an output with no numeric datatype.
 */
export function classify(name: string, tensor: Tensor, k: number, batched: boolean, labels?: readonly string[]): Tensor<'BYTES'> {
  checkNumeric(name, tensor.datatype);
  const { shape } = tensor;
  const values = readValues(tensor);
  const rows = batched && shape.length > 0 ? shape[0]! : 1;
  let perRow = 1;
  for (let d = batched ? 1 : 0; d < shape.length; d++) perRow *= shape[d]!;
  const count = Math.min(k, perRow);
  const float = tensor.datatype === 'FP16' || tensor.datatype === 'FP32' || tensor.datatype === 'FP64';
  const data: string[] = [];
  for (let row = 0; row < rows; row++) {
    const base = row * perRow;
    const order = topClasses(values, base, perRow, count);
    for (let c = 0; c < count; c++) {
      const index = order[c]!;
      const label = labels?.[index];
      const value = values[base + index]!;
      const entry = `${float ? fixed6(value as number) : String(value)}:${index}`;
      data.push(label ? `${entry}:${label}` : entry);
    }
  }
  return { datatype: 'BYTES', shape: batched && shape.length > 0 ? [rows, count] : [count], data };
}

/** Past this many classes a row is sorted whole rather than kept in a sorted list of the best so far. */
const MAX_INSERTED = 32;

/**
 * The indices (from 0) of the `count` highest of the `length` values from `base`, highest first,
 * ties in index order. Few classes of many (top 5 of 1000, each row of a batch) are picked in one
 * pass, faster than sorting the row: the top 5 of 64 rows of 1000 took 1.3 ms, not 14 ms.
 */
function topClasses(values: ArrayLike<number | bigint>, base: number, length: number, count: number): readonly number[] {
  if (count > MAX_INSERTED) return Array.from({ length }, (_, i) => i).sort((a, b) => rank(values[base + a]!, values[base + b]!));
  const top: number[] = [];
  for (let i = 0; i < length && count > 0; i++) {
    const value = values[base + i]!;
    // An equal value stays behind the earlier index.
    if (top.length === count && rank(value, values[base + top[count - 1]!]!) >= 0) continue;
    let at = top.length === count ? count - 1 : top.length;
    while (at > 0 && rank(value, values[base + top[at - 1]!]!) < 0) {
      top[at] = top[at - 1]!;
      at--;
    }
    top[at] = i;
  }
  return top;
}

function readValues(tensor: Tensor): ArrayLike<number | bigint> {
  if (tensor.datatype !== 'FP16') return tensor.data as ArrayLike<number | bigint>;
  return Array.from(tensor.data as Uint16Array, fromHalfBits);
}

/** Highest first, NaN last; 0 for equal values, which stay in index order. */
function rank(x: number | bigint, y: number | bigint): number {
  if (x > y) return -1;
  if (x < y) return 1;
  if (x === y) return 0;
  const xNaN = Number.isNaN(x);
  return xNaN === Number.isNaN(y) ? 0 : xNaN ? 1 : -1;
}

const word = new DataView(new ArrayBuffer(8));

/**
 * `value` as C's printf("%f") writes it, which Triton's std::to_string does: six decimals of the
 * exact binary value, ties to even, the sign of a negative value or -0 kept, `inf` and `nan`
 * (`-nan` for a NaN whose sign bit is set, as glibc writes it).
 * Number.prototype.toFixed rounds ties away from zero (0.0078125 is "0.007813" there, "0.007812"
 * in C) and turns to exponents from 1e21, so the digits are worked out here.
 */
export function fixed6(value: number): string {
  word.setFloat64(0, value);
  const bits = word.getBigUint64(0);
  const sign = bits >> 63n ? '-' : '';
  // glibc writes the sign bit of a NaN too: x86's 0/0, what a model's runtime yields, is "-nan".
  if (Number.isNaN(value)) return `${sign}nan`;
  if (!Number.isFinite(value)) return `${sign}inf`;
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  // value = mantissa × 2^exponent exactly.
  const mantissa = biased === 0 ? fraction : fraction | 0x10000000000000n;
  const exponent = biased === 0 ? -1074 : biased - 1075;
  let micros: bigint;
  if (exponent >= 0) {
    micros = (mantissa << BigInt(exponent)) * 1_000_000n;
  } else {
    const scaled = mantissa * 1_000_000n;
    const shift = BigInt(-exponent);
    micros = scaled >> shift;
    const rest = scaled - (micros << shift);
    const half = 1n << (shift - 1n);
    if (rest > half || (rest === half && (micros & 1n) === 1n)) micros += 1n;
  }
  const digits = micros.toString().padStart(7, '0');
  return `${sign}${digits.slice(0, -6)}.${digits.slice(-6)}`;
}
