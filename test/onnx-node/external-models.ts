import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = 1;
const EXTERNAL = 1;

/** Where a tensor's data lies in an external file; `length` left out when undefined. */
export interface Placed {
  readonly location: string;
  readonly offset?: number;
  readonly length?: number;
}

/** A float32 tensor whose data is in an external file, as onnx's save_model(save_as_external_data) writes it. */
export function externalTensor(name: string, dims: number[], at: Placed): onnxProto.onnx.ITensorProto {
  const entries = [{ key: 'location', value: at.location }];
  if (at.offset !== undefined) entries.push({ key: 'offset', value: String(at.offset) });
  if (at.length !== undefined) entries.push({ key: 'length', value: String(at.length) });
  return onnx.TensorProto.create({ name, dataType: FLOAT, dims, dataLocation: EXTERNAL, externalData: entries });
}

export function floatInfo(name: string, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

export function encode(graph: onnxProto.onnx.IGraphProto): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({ irVersion: 8, producerName: 'servable-tests', opsetImport: [{ domain: '', version: 13 }], graph }),
  ).finish();
}

/** Y = X·W + B, X float32 [batch, k], with W and B given as tensors (inline or external). */
export function linearGraph(k: number, m: number, W: onnxProto.onnx.ITensorProto, B: onnxProto.onnx.ITensorProto): onnxProto.onnx.IGraphProto {
  return onnx.GraphProto.create({
    name: 'linear',
    node: [
      onnx.NodeProto.create({ opType: 'MatMul', input: ['X', 'W'], output: ['XW'] }),
      onnx.NodeProto.create({ opType: 'Add', input: ['XW', 'B'], output: ['Y'] }),
    ],
    initializer: [W, B],
    input: [floatInfo('X', ['batch', k])],
    output: [floatInfo('Y', ['batch', m])],
  });
}

/** Y = the Constant `value` (an external tensor), for a graph that holds its tensor in a node's attribute. */
export function constantGraph(value: onnxProto.onnx.ITensorProto, dims: number[]): onnxProto.onnx.IGraphProto {
  return onnx.GraphProto.create({
    name: 'constant',
    node: [onnx.NodeProto.create({ opType: 'Constant', output: ['Y'], attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: value }] })],
    output: [floatInfo('Y', dims)],
  });
}

/** Y = If(C) then `then` else `otherwise`: the branches are subgraphs in the node's `g` attributes. */
export function ifGraph(then: onnxProto.onnx.IGraphProto, otherwise: onnxProto.onnx.IGraphProto, dims: number[]): onnxProto.onnx.IGraphProto {
  const GRAPH = onnx.AttributeProto.AttributeType.GRAPH;
  return onnx.GraphProto.create({
    name: 'if',
    node: [
      onnx.NodeProto.create({
        opType: 'If',
        input: ['C'],
        output: ['Y'],
        attribute: [
          { name: 'then_branch', type: GRAPH, g: then },
          { name: 'else_branch', type: GRAPH, g: otherwise },
        ],
      }),
    ],
    input: [onnx.ValueInfoProto.create({ name: 'C', type: { tensorType: { elemType: 9, shape: { dim: [] } } } })],
    output: [floatInfo('Y', dims)],
  });
}

/** The little-endian float32 bytes of `values`. */
export function floats(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}
