/**
 * The mapping between Open Inference Protocol datatypes and ONNX Runtime's tensor types, shared by
 * the onnx-node and onnx-web backends. It imports nothing from ONNX Runtime.
 * @internal
 */
import { BackendError, type DataType } from '../core/index.js';
import type { TensorSpec } from './types.js';

/** An ONNX Runtime tensor type servable can carry. */
export type OrtType = 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64' | 'string';

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
} as const satisfies Record<DataType, OrtType>;

const DATA_TYPES = new Map<string, DataType>(Object.entries(ORT_TYPES).map(([oip, ort]) => [ort, oip as DataType]));

/** ONNX Runtime's type for a datatype. */
/** @internal */
export function ortType(datatype: DataType): OrtType {
  return ORT_TYPES[datatype];
}

/** The datatype of an ONNX Runtime type, or undefined for types servable does not carry (int4, uint4). */
export function dataTypeOf(ortType: string): DataType | undefined {
  return DATA_TYPES.get(ortType);
}

/** ONNX Runtime's description of a model input or output (`session.inputMetadata[i]`). */
export interface ValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: readonly (number | string)[];
}

/**
 * The TensorSpec of an input or output: symbolic dimensions become -1.
 * @throws BackendError when the value is not a tensor or its type has no datatype (int4, bfloat16).
 */
export function tensorSpec(meta: ValueMetadata, what: 'input' | 'output'): TensorSpec {
  const datatype = meta.isTensor && meta.type !== undefined ? dataTypeOf(meta.type) : undefined;
  if (!datatype || !meta.shape) {
    const kind = meta.isTensor ? `a ${meta.type} tensor` : 'not a tensor';
    throw new BackendError(`The model's ${what} '${meta.name}' is ${kind}; servable carries tensors of ${Object.values(ORT_TYPES).join(', ')}`);
  }
  return { name: meta.name, datatype, shape: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
}
