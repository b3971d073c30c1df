/**
 * TF-Serving v1 REST replies: `{predictions}` or `{outputs}` in the request's format, model status
 * and metadata. Outputs whose name ends in `_bytes` are returned as `{"b64": "..."}`, as TF-Serving does.
 */
import { elementCount, fromHalfBits, InvalidInputError, type DataType, type Tensor } from '../core/index.js';
import type { TensorSpec } from '../backends/index.js';
import type { InferenceResponse } from '../handler/index.js';
import type { VersionMetadata } from '../registry/index.js';
import { toBase64 } from './base64.js';
import { stringifyNonFinite } from './json-non-finite.js';
import { encodeJsonData } from './tensor-json.js';
import { SIGNATURE, type PredictFormat } from './tf-request.js';

const encoder = new TextEncoder();

/**
 * Writes a response in the request's format as the reply's JSON text: `{predictions}` per instance,
 * or `{outputs}` whole. Non-finite floats are written bare (`NaN`, `Infinity`, `-Infinity`), as
 * TF-Serving writes them.
 * @throws InvalidInputError in the row format when an output is a scalar or its batch size differs
 * from the first output's, which rows cannot hold; the columnar format can.
 */
export function encodePredict(response: InferenceResponse, format: PredictFormat): string {
  const outputs = Object.entries(response.outputs);
  const reply = format === 'columnar' ? columnar(outputs) : rows(outputs);
  // Only a reply holding a non-finite float needs the slower writer.
  return outputs.some(([, t]) => hasNonFinite(t)) ? stringifyNonFinite(reply) : JSON.stringify(reply);
}

function columnar(outputs: readonly [string, Tensor][]): Record<string, unknown> {
  const [only] = outputs;
  if (outputs.length === 1 && only) return { outputs: nested(only[0], only[1]) };
  return { outputs: Object.fromEntries(outputs.map(([name, t]) => [name, nested(name, t)])) };
}

function rows(outputs: readonly [string, Tensor][]): Record<string, unknown> {
  const values = outputs.map(([name, t]) => [name, nested(name, t)] as const);
  const count = rowCount(outputs);
  const predictions = Array.from({ length: count }, (_, i) =>
    values.length === 1 ? (values[0]![1] as unknown[])[i] : Object.fromEntries(values.map(([name, v]) => [name, (v as unknown[])[i]])),
  );
  return { predictions };
}

function hasNonFinite(t: Tensor): boolean {
  if (t.datatype === 'FP16') return (t.data as Uint16Array).some((bits) => (bits & 0x7c00) === 0x7c00);
  if (t.datatype === 'FP32' || t.datatype === 'FP64') return (t.data as Float64Array).some((n) => !Number.isFinite(n));
  return false;
}

const USE_COLUMNS = 'the row format (`instances`) answers one prediction per batch row; ask in the columnar format (`inputs`)';

/** The batch size every output shares, as TF-Serving requires of a row-format reply. */
function rowCount(outputs: readonly (readonly [string, Tensor])[]): number {
  let count: number | undefined;
  for (const [name, t] of outputs) {
    const batch = t.shape[0];
    if (batch === undefined) throw new InvalidInputError(`Output '${name}' is a scalar, with no batch dimension: ${USE_COLUMNS}`);
    if (count !== undefined && batch !== count) {
      throw new InvalidInputError(`Output '${name}' has inconsistent batch size: ${batch} expecting: ${count}: ${USE_COLUMNS}`);
    }
    count = batch;
  }
  return count ?? 0;
}

/** A tensor's values in order: as {@link encodeJsonData} has them, but floats always as numbers. */
function flatValues(t: Tensor): unknown[] {
  if (t.datatype === 'FP16') return Array.from(t.data as Uint16Array, fromHalfBits);
  if (t.datatype === 'FP32' || t.datatype === 'FP64') return Array.from(t.data as Float64Array);
  return encodeJsonData(t);
}

/** A tensor as nested JSON lists; `_bytes` outputs as `{"b64": ...}`. */
function nested(name: string, t: Tensor): unknown {
  let flat = flatValues(t);
  if (t.datatype === 'BYTES' && name.endsWith('_bytes')) flat = flat.map((s) => ({ b64: toBase64(encoder.encode(s as string)) }));
  if (t.shape.length === 0) return flat[0];
  const build = (dim: number, offset: number): unknown[] => {
    const size = t.shape[dim]!;
    if (dim === t.shape.length - 1) return flat.slice(offset, offset + size);
    const stride = elementCount(t.shape.slice(dim + 1));
    return Array.from({ length: size }, (_, i) => build(dim + 1, offset + i * stride));
  };
  return build(0, 0);
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
