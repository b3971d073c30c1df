import onnxProto from 'onnx-proto';
import type { DataType } from '../../src/core/index.js';

const { onnx } = onnxProto;

/** ONNX TensorProto.DataType codes of each datatype. */
const ELEM_TYPES: Record<DataType, number> = {
  FP32: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, BYTES: 8, BOOL: 9, FP16: 10, FP64: 11, UINT32: 12, UINT64: 13,
};

/** One Identity per datatype: input `in_<T>` [batch, 2] is returned as `out_<T>`. */
export function identityModel(datatypes: readonly DataType[]): Uint8Array {
  const info = (name: string, t: DataType) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: ELEM_TYPES[t], shape: { dim: [{ dimParam: 'batch' }, { dimValue: 2 }] } } },
    });
  const graph = onnx.GraphProto.create({
    name: 'identity',
    node: datatypes.map((t) => onnx.NodeProto.create({ opType: 'Identity', input: [`in_${t}`], output: [`out_${t}`] })),
    input: datatypes.map((t) => info(`in_${t}`, t)),
    output: datatypes.map((t) => info(`out_${t}`, t)),
  });
  const model = onnx.ModelProto.create({ irVersion: 7, producerName: 'servable-tests', opsetImport: [{ domain: '', version: 13 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

/** The thread ids of the worker threads alive in this process (tsx's loader thread included). */
export function liveThreadIds(): number[] {
  return (process.report.getReport() as { workers: { header: { threadId: number } }[] }).workers.map((w) => w.header.threadId);
}

/** The number of worker threads alive in this process (tsx's loader thread included). */
export function liveWorkers(): number {
  return (process.report.getReport() as { workers: unknown[] }).workers.length;
}
