/**
 * TF-Serving v1 REST replies: `{predictions}` or `{outputs}` in the request's format, model status
 * and metadata. Outputs whose name ends in `_bytes` are returned as `{"b64": "..."}`, as TF-Serving does.
 */
import { elementCount, InvalidInputError, type DataType, type Tensor } from '../core/index.js';
import type { TensorSpec } from '../backends/index.js';
import type { InferenceResponse } from '../handler/index.js';
import type { VersionMetadata } from '../registry/index.js';
import { SIGNATURE, type PredictFormat } from './tf-request.js';
import { tfValueText } from './tf-values.js';

/**
 * Writes a response in the request's format as the reply's JSON text: `{predictions}` per instance,
 * or `{outputs}` whole, values as TF-Serving writes them (see tf-values.ts): whole floats with `.0`,
 * non-finite floats bare (`NaN`, `Infinity`, `-Infinity`).
 * @throws InvalidInputError in the row format when an output is a scalar or its batch size differs
 * from the first output's, which rows cannot hold; the columnar format can.
 */
export function encodePredict(response: InferenceResponse, format: PredictFormat): string {
  const outputs = Object.entries(response.outputs).map(([name, t]) => new Written(name, t));
  return format === 'columnar' ? columnar(outputs) : rows(outputs);
}

/** An output's values as JSON text, nested by its shape. */
class Written {
  readonly name: string;
  readonly tensor: Tensor;
  private readonly leaf: (index: number) => string;
  private readonly strides: number[];

  constructor(name: string, tensor: Tensor) {
    this.name = name;
    this.tensor = tensor;
    // TF-Serving writes a BYTES output named *_bytes as {"b64": ...}.
    this.leaf = tfValueText(tensor, tensor.datatype === 'BYTES' && name.endsWith('_bytes'));
    this.strides = tensor.shape.map((_, dim) => elementCount(tensor.shape.slice(dim + 1)));
  }

  /** The values from dimension `dim` on, starting at element `offset`. */
  text(dim = 0, offset = 0): string {
    const { shape } = this.tensor;
    if (dim === shape.length) return this.leaf(offset);
    const size = shape[dim]!;
    if (dim === shape.length - 1) {
      // One row's texts joined, where += would build a rope that is slower to flatten.
      const texts = new Array<string>(size);
      for (let i = 0; i < size; i++) texts[i] = this.leaf(offset + i);
      return `[${texts.join(',')}]`;
    }
    const stride = this.strides[dim]!;
    const parts = Array.from({ length: size }, (_, i) => this.text(dim + 1, offset + i * stride));
    return `[${parts.join(',')}]`;
  }

  /** Row `i` of the batch. */
  row(i: number): string {
    return this.text(1, i * this.strides[0]!);
  }
}

function columnar(outputs: readonly Written[]): string {
  const [only] = outputs;
  if (outputs.length === 1 && only) return `{"outputs":${only.text()}}`;
  return `{"outputs":${named(outputs, (o) => o.text())}}`;
}

function rows(outputs: readonly Written[]): string {
  const count = rowCount(outputs);
  const [only] = outputs;
  const row = (i: number) => (outputs.length === 1 && only ? only.row(i) : named(outputs, (o) => o.row(i)));
  return `{"predictions":[${Array.from({ length: count }, (_, i) => row(i)).join(',')}]}`;
}

function named(outputs: readonly Written[], text: (o: Written) => string): string {
  return `{${outputs.map((o) => `${JSON.stringify(o.name)}:${text(o)}`).join(',')}}`;
}

const USE_COLUMNS = 'the row format (`instances`) answers one prediction per batch row; ask in the columnar format (`inputs`)';

/** The batch size every output shares, as TF-Serving requires of a row-format reply. */
function rowCount(outputs: readonly Written[]): number {
  let count: number | undefined;
  for (const { name, tensor } of outputs) {
    const batch = tensor.shape[0];
    if (batch === undefined) throw new InvalidInputError(`Output '${name}' is a scalar, with no batch dimension: ${USE_COLUMNS}`);
    if (count !== undefined && batch !== count) {
      throw new InvalidInputError(`Output '${name}' has inconsistent batch size: ${batch} expecting: ${count}: ${USE_COLUMNS}`);
    }
    count = batch;
  }
  return count ?? 0;
}

/** TF-Serving's names of the datatypes. */
const TF_DTYPES: Record<DataType, string> = {
  BOOL: 'DT_BOOL',
  UINT8: 'DT_UINT8',
  UINT16: 'DT_UINT16',
  UINT32: 'DT_UINT32',
  UINT64: 'DT_UINT64',
  INT8: 'DT_INT8',
  INT16: 'DT_INT16',
  INT32: 'DT_INT32',
  INT64: 'DT_INT64',
  FP16: 'DT_HALF',
  FP32: 'DT_FLOAT',
  FP64: 'DT_DOUBLE',
  BYTES: 'DT_STRING',
};

/** `GET /v1/models/{m}/metadata`: the model's one signature in TF-Serving's shape. */
export function encodeTfMetadata(meta: VersionMetadata): Record<string, unknown> {
  const tensorInfo = (specs: readonly TensorSpec[]) =>
    Object.fromEntries(
      specs.map((s) => [
        s.name,
        { dtype: TF_DTYPES[s.datatype], tensor_shape: { dim: s.shape.map((d) => ({ size: String(d), name: '' })), unknown_rank: false }, name: s.name },
      ]),
    );
  return {
    model_spec: { name: meta.name, signature_name: '', version: meta.version },
    metadata: {
      signature_def: {
        signature_def: {
          [SIGNATURE]: { inputs: tensorInfo(meta.inputs), outputs: tensorInfo(meta.outputs), method_name: 'tensorflow/serving/predict' },
        },
      },
    },
  };
}

const TF_STATES: Record<string, string> = { loading: 'LOADING', ready: 'AVAILABLE', draining: 'UNLOADING', unloaded: 'END', failed: 'END' };

/** `GET /v1/models/{m}`: the state of each version in TF-Serving's shape. */
export function encodeTfStatus(versions: readonly { version: string; state: string; error?: string }[]): Record<string, unknown> {
  return {
    model_version_status: versions.map(({ version, state, error }) => ({
      version,
      state: TF_STATES[state] ?? 'UNKNOWN',
      status: state === 'failed' ? { error_code: 'UNKNOWN', error_message: error ?? 'The version failed to load' } : { error_code: 'OK', error_message: '' },
    })),
  };
}
