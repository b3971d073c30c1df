import { allocate, assertObject, describe, optionError, elementCount, isDataType, DATA_TYPES, type Tensor, type TensorMap } from '../core/index.js';
import type { InferenceRequest } from '../handler/index.js';

/**
 * A warm-up request written as JSON: `{"inputs": {"x": {"datatype": "FP32", "shape": [1, 2], "data": [0, 1]}}}`.
 * `data` left out means zeros (Triton's `zero_data`).
 * @throws TypeError or RangeError naming `field` and quoting the bad value.
 */
export function requestFromJson(field: string, value: unknown): InferenceRequest {
  assertObject(field, value);
  assertObject(`${field}.inputs`, value.inputs);
  const inputs: TensorMap = {};
  for (const [name, t] of Object.entries(value.inputs)) inputs[name] = tensorFromJson(`${field}.inputs.${name}`, t);
  return { inputs };
}

function tensorFromJson(field: string, value: unknown): Tensor {
  assertObject(field, value);
  const { datatype, shape, data } = value;
  if (!isDataType(datatype)) throw optionError(`Expected \`${field}.datatype\` to be one of ${DATA_TYPES.join(', ')}, got ${describe(datatype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw optionError(`Expected \`${field}.shape\` to be an array of integers >= 0, got ${describe(shape)}`);
  }
  const n = elementCount(shape);
  const out = allocate(datatype, n);
  if (data === undefined) return { datatype, shape, data: out };
  if (!Array.isArray(data) || data.length !== n) {
    throw optionError(`Expected \`${field}.data\` to be an array of ${n} values for shape [${shape.join(', ')}], got ${describe(data)}`, RangeError);
  }
  if (datatype === 'FP16') throw optionError(`Expected \`${field}.data\` to be left out (zeros) for FP16, got ${describe(data)}`);
  const wanted = datatype === 'BYTES' ? 'string' : datatype === 'BOOL' ? 'boolean' : 'number';
  data.forEach((v: unknown, i) => {
    if (typeof v !== wanted) throw optionError(`Expected \`${field}.data[${i}]\` to be a ${wanted}, got ${describe(v)}`);
    if (datatype === 'BYTES') (out as string[])[i] = v as string;
    else if (datatype === 'BOOL') (out as Uint8Array)[i] = v ? 1 : 0;
    else if (datatype === 'INT64' || datatype === 'UINT64') {
      if (!Number.isSafeInteger(v)) throw optionError(`Expected \`${field}.data[${i}]\` to be an integer, got ${describe(v)}`);
      (out as BigInt64Array)[i] = BigInt(v as number);
    }
    else (out as Float64Array)[i] = v as number;
  });
  return { datatype, shape, data: out };
}
