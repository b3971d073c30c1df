import type { InferenceSession, Tensor as OrtTensor, TypedTensor } from 'onnxruntime-web';
import { BackendError, type Tensor, type TensorMap } from '../../core/index.js';
import { dataTypeOf, ortType } from '../index.js';

/** The constructor of onnxruntime-web's Tensor. */
export type OrtTensorConstructor = new (type: OrtTensor.Type, data: OrtTensor.DataType, dims: readonly number[]) => OrtTensor;

/** Wraps checked feeds as onnxruntime-web tensors, sharing their data. */
export function toOrt(Tensor: OrtTensorConstructor, feeds: TensorMap): Record<string, OrtTensor> {
  const out: Record<string, OrtTensor> = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new Tensor(ortType(t.datatype), t.data, t.shape);
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
    const datatype = dataTypeOf(value.type);
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
