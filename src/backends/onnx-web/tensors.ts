import type { InferenceSession, Tensor as OrtTensor, TypedTensor } from 'onnxruntime-web';
import { BackendError, type DataType, type Tensor, type TensorMap } from '../../core/index.js';
import type { TensorSpec } from '../index.js';

/** ONNX Runtime's name for each Open Inference Protocol datatype. */
const ORT_TYPES = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
} as const satisfies Record<DataType, OrtTensor.Type>;

const DATA_TYPES = new Map<string, DataType>(Object.entries(ORT_TYPES).map(([oip, ort]) => [ort, oip as DataType]));

/** The constructor of onnxruntime-web's Tensor. */
export type OrtTensorConstructor = new (type: OrtTensor.Type, data: OrtTensor.DataType, dims: readonly number[]) => OrtTensor;

/**
 * The TensorSpec of a model input or output: symbolic dimensions become -1.
 * @throws BackendError when the value is not a tensor or its type has no datatype (int4, bfloat16).
 */
export function tensorSpec(meta: InferenceSession.ValueMetadata, what: 'input' | 'output'): TensorSpec {
  const datatype = meta.isTensor ? DATA_TYPES.get(meta.type) : undefined;
  if (!meta.isTensor || !datatype) {
    const kind = meta.isTensor ? `a ${meta.type} tensor` : 'not a tensor';
    throw new BackendError(`The model's ${what} '${meta.name}' is ${kind}; servable carries tensors of ${Object.values(ORT_TYPES).join(', ')}`);
  }
  return { name: meta.name, datatype, shape: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
}

/** Wraps checked feeds as onnxruntime-web tensors, sharing their data. */
export function toOrt(Tensor: OrtTensorConstructor, feeds: TensorMap): Record<string, OrtTensor> {
  const out: Record<string, OrtTensor> = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new Tensor(ORT_TYPES[t.datatype], t.data, t.shape);
  return out;
}

/**
 * Converts onnxruntime-web's outputs to servable tensors. FP16 comes back as a Float16Array where
 * the platform has one; servable keeps FP16 as raw bits, so it is viewed as a Uint16Array.
 * @throws BackendError on an output servable cannot carry.
 */
export function fromOrt(outputs: InferenceSession.ReturnType): TensorMap {
  const out: TensorMap = {};
  for (const [name, value] of Object.entries(outputs)) {
    const datatype = DATA_TYPES.get(value.type);
    if (!datatype) throw new BackendError(`Output '${name}' is a ${value.type} tensor, which servable does not carry`);
    let data: Tensor['data'] = value.data as Tensor['data'];
    if (datatype === 'FP16' && !(data instanceof Uint16Array)) {
      const half = (value as TypedTensor<'float16'>).data;
      data = new Uint16Array(half.buffer, half.byteOffset, half.length);
    }
    out[name] = { datatype, shape: [...value.dims], data } as Tensor;
  }
  return out;
}
