import type { InferenceResponse } from '../handler/index.js';
import type { ModelMetadata } from '../service/index.js';
import { tensorBytes } from './binary.js';
import type { Classifier } from './classification.js';
import { encodeJsonData } from './tensor-json.js';

/** One output tensor of an OIP inference response: its data in JSON, or its size in the binary part of the body. */
export interface OipOutput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data?: unknown[];
  readonly parameters?: { readonly binary_data_size: number };
}

/** The OIP v2 inference response body. */
export interface OipInferResponse {
  readonly model_name: string;
  /** The version that answered, whether the request named it or the service chose it (the inference route always knows it). */
  readonly model_version?: string;
  readonly id?: string;
  readonly outputs: readonly OipOutput[];
}

/** An encoded inference response: the JSON object, and the binary data of outputs sent as binary, in order. */
export interface EncodedInferResponse {
  readonly json: OipInferResponse;
  readonly binary: readonly Uint8Array[];
}

/**
 * Encodes a response as OIP JSON: outputs in the order `requested` names them (those it does not
 * name left out), or without it in the response's order, data flat and row-major; outputs for
 * which `binaryOutput` is true go as raw bytes after the JSON. With a `classify` (see
 * {@link classifier}), the outputs asked for as classes go as their classes.
 * @throws InvalidInputError from `classify`, for an output asked for as classes that is not numeric.
 */
export function encodeInferResponse(
  model: string,
  version: string | undefined,
  id: string | undefined,
  response: InferenceResponse,
  binaryOutput: (name: string) => boolean = () => false,
  requested?: readonly string[],
  classify?: Classifier,
): EncodedInferResponse {
  const binary: Uint8Array[] = [];
  const outputs: OipOutput[] = [];
  // By name, not in the response's order: an answer shared from the result cache or a flight is in
  // the order of the request that ran, and asking for [b, a] where [a, b] ran must still read b first.
  for (const name of requested ?? Object.keys(response.outputs)) {
    const output = response.outputs[name];
    if (output === undefined) continue;
    const t = classify ? classify(name, output) : output;
    const shape = [...t.shape];
    // No member is written after a spread, which Node 20 defines through its runtime (about 0.7 us a reply).
    if (!binaryOutput(name)) {
      outputs.push({ name, datatype: t.datatype, shape, data: encodeJsonData(t) });
      continue;
    }
    const bytes = tensorBytes(t);
    binary.push(bytes);
    outputs.push({ name, datatype: t.datatype, shape, parameters: { binary_data_size: bytes.byteLength } });
  }
  const json: { model_name: string; model_version?: string; id?: string; outputs?: readonly OipOutput[] } = { model_name: model };
  if (version !== undefined) json.model_version = version;
  if (id !== undefined) json.id = id;
  json.outputs = outputs;
  return { json: json as OipInferResponse, binary };
}

/** The OIP v2 model metadata body. */
export interface OipModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly { name: string; datatype: string; shape: readonly number[] }[];
  readonly outputs: readonly { name: string; datatype: string; shape: readonly number[] }[];
}

/** Encodes model metadata as OIP JSON; -1 marks a dynamic dimension. */
export function encodeModelMetadata(meta: ModelMetadata): OipModelMetadata {
  const spec = ({ name, datatype, shape }: { name: string; datatype: string; shape: readonly number[] }) => ({ name, datatype, shape: [...shape] });
  return {
    name: meta.name,
    versions: [...meta.versions],
    platform: meta.platform,
    inputs: meta.inputs.map(spec),
    outputs: meta.outputs.map(spec),
  };
}
