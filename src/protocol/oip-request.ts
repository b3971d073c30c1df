import {
  assertInteger,
  DATA_TYPES,
  describe,
  InvalidInputError,
  isDataType,
  optionError,
  type Tensor,
  type TensorMap,
} from '../core/index.js';
import type { InferenceRequest } from '../handler/index.js';
import { BinaryReader, noBinaryData, type BinarySource } from './binary.js';
import { isObject } from './json-body.js';
import type { DataRanges } from './json-data-ranges.js';
import { describeJson } from './json-non-finite.js';
import { decodeJsonData, forEachLeaf, nestedTooDeep } from './tensor-json.js';

/** The most dimensions a tensor may have (NumPy's limit). */
export const MAX_RANK = 32;

/**
 * An OIP inference request decoded into tensors, with its scheduling parameters, as plain data
 * that can be posted to another thread (see {@link JsonDecoder}).
 */
export interface InferRequestData {
  readonly request: InferenceRequest;
  /** From `parameters.timeout` (microseconds, as Triton's schedule policy), in milliseconds; absent for 0 or none. */
  readonly timeoutMs?: number | undefined;
  /** From `parameters.priority` (1 is the highest, 0 the model's default); absent for 0 or none. */
  readonly priority?: number | undefined;
  /** Each requested output's `parameters.binary_data`: how to return it, undefined to follow {@link binaryAll}. */
  readonly binaryOutputs: ReadonlyMap<string, boolean | undefined>;
  /** `parameters.binary_data_output`: how the other outputs are returned. */
  readonly binaryAll: boolean;
  /**
   * Each output asked for as its top classes (`parameters.classification` > 0, Triton's
   * classification extension), with how many; undefined when none is.
   */
  readonly classification: ReadonlyMap<string, number> | undefined;
}

/** The outputs a request asks for, as {@link decodeOutputs} reads them. */
interface RequestedOutputs {
  readonly binaryOutputs: ReadonlyMap<string, boolean | undefined>;
  readonly classification: ReadonlyMap<string, number> | undefined;
}

const NO_OUTPUTS: RequestedOutputs = { binaryOutputs: new Map(), classification: undefined };

/** An OIP inference request decoded into tensors, with its scheduling parameters. */
export interface DecodedInferRequest extends InferRequestData {
  /** True when an output is to be returned as binary data (`binary_data`, else `binary_data_output`). */
  binaryOutput(name: string): boolean;
}

/** Limits a decoded request must keep, and the binary tensor data that came with it. */
export interface DecodeLimits {
  /** The most elements one input may claim. */
  readonly maxElements: number;
  /**
   * The binary part of the body (what follows its JSON part), which the inputs with
   * `parameters.binary_data_size` take in order; bytes that none of them takes are refused.
   */
  readonly binary?: Uint8Array | undefined;
}

/** {@link DecodeLimits} as the decoder reads them: the binary part as a reader, and the JSON decoder's ranges. */
interface DecodeSources {
  readonly maxElements: number;
  readonly binary?: BinarySource | undefined;
  /** Inputs' `data` arrays left unparsed in the body, marked in their place. */
  readonly ranges?: DataRanges | undefined;
}

/**
 * Decodes an OIP v2 inference request body: `{id?, parameters?, inputs: [{name, datatype, shape,
 * parameters?, data}], outputs?: [{name, parameters?}]}`. Every check that depends on the shape's
 * claimed size runs against the data actually sent before anything of that size is allocated.
 * @throws InvalidInputError saying which input is wrong and how; TypeError or RangeError for `limits` that are not valid, quoting them,
 * with `code` `'ERR_SERVABLE_INVALID_OPTION'`.
 */
export function decodeInferRequest(body: Record<string, unknown>, limits: DecodeLimits): DecodedInferRequest {
  const { maxElements, binary } = limits;
  assertInteger('limits.maxElements', maxElements, 1);
  if (binary !== undefined && !(binary instanceof Uint8Array)) throw optionError(`Expected \`limits.binary\` to be a Uint8Array, got ${describe(binary)}`);
  return withBinaryOutput(decodeInferRequestData(body, { maxElements, binary: binary && new BinaryReader(binary) }));
}

/** {@link decodeInferRequest}'s result as plain data. */
export function decodeInferRequestData(body: Record<string, unknown>, limits: DecodeSources): InferRequestData {
  const { id, inputs, outputs } = body;
  if (id !== undefined && typeof id !== 'string') throw new InvalidInputError(`Expected \`id\` to be a string, got ${describeJson(id)}`);
  if (body.parameters !== undefined && !isObject(body.parameters)) {
    throw new InvalidInputError(`Expected \`parameters\` to be an object, got ${describeJson(body.parameters)}`);
  }
  const parameters = body.parameters;
  checkParameters(parameters);
  if (!Array.isArray(inputs)) throw new InvalidInputError(`Expected \`inputs\` to be an array, got ${describeJson(inputs)}`);
  // Names come from the client: no prototype, so an input named `__proto__` is just a name.
  const tensors: TensorMap = Object.create(null) as TensorMap;
  for (const [i, raw] of inputs.entries()) {
    const [name, t] = decodeInput(raw, i, limits);
    if (Object.hasOwn(tensors, name)) throw new InvalidInputError(`Input '${name}' is given more than once`);
    tensors[name] = t;
  }
  limits.binary?.finish();
  // An empty list asks for every output, as in Triton: no output is requested, so all are.
  const { binaryOutputs, classification } = outputs === undefined ? NO_OUTPUTS : decodeOutputs(outputs);
  return {
    request: { id, inputs: tensors, outputs: binaryOutputs.size > 0 ? [...binaryOutputs.keys()] : undefined, parameters },
    timeoutMs: timeoutOf(parameters),
    priority: priorityOf(parameters),
    binaryOutputs,
    binaryAll: booleanParameter(parameters, 'binary_data_output') ?? false,
    classification,
  };
}

/** Adds {@link DecodedInferRequest.binaryOutput} to decoded data. */
export function withBinaryOutput(data: InferRequestData): DecodedInferRequest {
  // Listed rather than spread: Node 20 defines a member written after a spread through its runtime.
  const { request, timeoutMs, priority, binaryOutputs, binaryAll, classification } = data;
  return { request, timeoutMs, priority, binaryOutputs, binaryAll, classification, binaryOutput: (name) => binaryOutputs.get(name) ?? binaryAll };
}

function decodeInput(raw: unknown, index: number, limits: DecodeSources): [string, Tensor] {
  if (!isObject(raw)) throw new InvalidInputError(`Expected \`inputs[${index}]\` to be an object, got ${describeJson(raw)}`);
  const { name, datatype, shape, parameters } = raw;
  let { data } = raw;
  if (typeof name !== 'string' || name === '') {
    throw new InvalidInputError(`Expected \`inputs[${index}].name\` to be a non-empty string, got ${describeJson(name)}`);
  }
  const where = `Input '${name}'`;
  if (!isDataType(datatype)) {
    throw new InvalidInputError(`${where}: unknown datatype ${describeJson(datatype)}; expected one of ${DATA_TYPES.join(', ')}`);
  }
  const dims = checkShape(shape, where);
  if (parameters !== undefined && !isObject(parameters)) {
    throw new InvalidInputError(`${where}: expected \`parameters\` to be an object, got ${describeJson(parameters)}`);
  }
  refuseSharedMemory(parameters, where, 'send `data` or binary data in the body instead');
  const count = claimedElements(dims, where, limits.maxElements);
  const binarySize = parameters?.binary_data_size;
  if (binarySize !== undefined) {
    if (!Number.isSafeInteger(binarySize) || (binarySize as number) < 0) {
      throw new InvalidInputError(`${where}: expected \`parameters.binary_data_size\` to be an integer >= 0, got ${describeJson(binarySize)}`);
    }
    if (data !== undefined) throw new InvalidInputError(`${where}: has both \`data\` and \`parameters.binary_data_size\`; send one`);
    if (!limits.binary) {
      // Size 0 has no bytes to find, so needs no header, as in Triton.
      if (binarySize !== 0) throw new InvalidInputError(`${where}: has binary_data_size but the request has no Inference-Header-Content-Length header`);
      return [name, { datatype, shape: dims, data: noBinaryData(datatype, count, where) } as Tensor];
    }
    return [name, { datatype, shape: dims, data: limits.binary.tensorData(name, datatype, count, binarySize as number, where) } as Tensor];
  }
  const depth = Math.max(dims.length, 1);
  const range = limits.ranges?.claim(data);
  if (range !== undefined) {
    const floats = datatype === 'FP32' || datatype === 'FP64' ? limits.ranges!.floats(range, datatype, count, depth) : undefined;
    if (floats) return [name, { datatype, shape: dims, data: floats } as Tensor];
    if (limits.ranges!.nestsDeeper(range, depth)) throw nestedTooDeep(where, depth);
    data = limits.ranges!.json(range);
  }
  if (!Array.isArray(data)) throw new InvalidInputError(`${where}: expected \`data\` to be an array, got ${describeJson(data)}`);
  const sent = forEachLeaf(data, depth, where);
  if (sent !== count) {
    throw new InvalidInputError(`${where}: shape [${dims.join(', ')}] holds ${count} elements, but \`data\` has ${sent}`);
  }
  return [name, { datatype, shape: dims, data: decodeJsonData(datatype, data, count, depth, where) } as Tensor];
}

/** Checks a shape: an array of at most {@link MAX_RANK} integers >= 0. */
export function checkShape(shape: unknown, where: string): number[] {
  if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InvalidInputError(`${where}: expected \`shape\` to be an array of at most ${MAX_RANK} integers >= 0, got ${describeJson(shape)}`);
  }
  return shape as number[];
}

/** The element count a shape claims, refused above `maxElements` before anything is allocated. */
export function claimedElements(dims: readonly number[], where: string, maxElements: number): number {
  let count = 1;
  for (const d of dims) count *= d;
  // `!(<=)` also refuses NaN, from Infinity * 0 on absurd shapes.
  if (!(count <= maxElements)) {
    throw new InvalidInputError(
      `${where}: shape [${dims.join(', ')}] claims ${Number.isFinite(count) ? count : 'too many'} elements, more than the limit of ${maxElements}`,
    );
  }
  return count;
}

/** The outputs asked for, in order, each with its `binary_data` parameter, and those asked for as classes (NO_OUTPUTS for none). */
function decodeOutputs(outputs: unknown): RequestedOutputs {
  if (!Array.isArray(outputs)) throw new InvalidInputError(`Expected \`outputs\` to be an array, got ${describeJson(outputs)}`);
  if (outputs.length === 0) return NO_OUTPUTS;
  const wanted = new Map<string, boolean | undefined>();
  let classification: Map<string, number> | undefined;
  for (const [i, o] of outputs.entries()) {
    if (!isObject(o) || typeof o.name !== 'string' || o.name === '') {
      throw new InvalidInputError(`Expected \`outputs[${i}]\` to be an object with a non-empty \`name\`, got ${describeJson(o)}`);
    }
    // As in Triton ("output already exists in request"): two entries could ask for the output in two forms.
    if (wanted.has(o.name)) throw new InvalidInputError(`Output '${o.name}' is asked for more than once`);
    if (o.parameters !== undefined && !isObject(o.parameters)) {
      throw new InvalidInputError(`Output '${o.name}': expected \`parameters\` to be an object, got ${describeJson(o.parameters)}`);
    }
    const where = `Output '${o.name}'`;
    refuseSharedMemory(o.parameters, where, 'leave it out to have the output in the body');
    const classes = o.parameters?.classification;
    if (classes !== undefined && (!Number.isSafeInteger(classes) || (classes as number) < 0)) {
      throw new InvalidInputError(`${where}: expected \`parameters.classification\` to be an integer >= 0 (a number of classes), got ${describeJson(classes)}`);
    }
    // 0 classes is no classification, as in Triton.
    if (classes) (classification ??= new Map()).set(o.name, classes as number);
    wanted.set(o.name, booleanParameter(o.parameters, 'binary_data', where));
  }
  return { binaryOutputs: wanted, classification };
}

/**
 * Triton's shared-memory extensions are not served: a request naming a region would otherwise be
 * answered as if it had not, leaving the client to read a region nothing wrote.
 */
function refuseSharedMemory(parameters: Record<string, unknown> | undefined, where: string, instead: string): void {
  const region = parameters?.shared_memory_region;
  if (region !== undefined) throw new InvalidInputError(`${where}: shared memory is not supported (\`parameters.shared_memory_region\` is ${describeJson(region)}); ${instead}`);
}

/**
 * How deep a request's parameters may nest. They reach handlers, cache keys and, from a JSON
 * worker, another thread as they are, and copying them recurses: a body of parameters nested
 * thousands deep would exhaust the stack of whatever copies it.
 */
export const MAX_PARAMETER_DEPTH = 32;

/**
 * Refuses parameters nested deeper than {@link MAX_PARAMETER_DEPTH}, and a bare NaN or Infinity
 * (read by parseNonFinite) anywhere in them: they are numbers only in an input's `data`, and
 * parameters reach handlers and cache keys as they are, where a bare token would be a symbol.
 */
function checkParameters(parameters: Record<string, unknown> | undefined): void {
  if (parameters) checkNested(parameters, 'parameters', 1);
}

/**
 * Recursive, at most {@link MAX_PARAMETER_DEPTH} calls deep, so that it holds only the path it is
 * on: a path kept for each value waiting to be checked ran a 16 MB JSON worker out of heap on a
 * body of empty objects that its heap estimate took.
 */
function checkNested(holder: object, path: string, depth: number): void {
  const where = (key: string): string => (Array.isArray(holder) ? `${path}[${key}]` : `${path}.${key}`);
  for (const key in holder) {
    const value = (holder as Record<string, unknown>)[key];
    if (typeof value === 'symbol') {
      throw new InvalidInputError(`Expected \`${where(key)}\` to be standard JSON, got ${describeJson(value)}; bare NaN and Infinity are read only in an input's \`data\``);
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth === MAX_PARAMETER_DEPTH) throw new InvalidInputError(`Expected \`parameters\` to nest at most ${MAX_PARAMETER_DEPTH} levels deep; \`${where(key)}\` is deeper`);
    checkNested(value, where(key), depth + 1);
  }
}

function booleanParameter(parameters: Record<string, unknown> | undefined, key: string, where?: string): boolean | undefined {
  const value = parameters?.[key];
  if (value !== undefined && typeof value !== 'boolean') {
    const what = `\`parameters.${key}\` to be true or false, got ${describeJson(value)}`;
    throw new InvalidInputError(where === undefined ? `Expected ${what}` : `${where}: expected ${what}`);
  }
  return value;
}

function timeoutOf(parameters: Record<string, unknown> | undefined): number | undefined {
  const timeout = parameters?.timeout;
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) {
    throw new InvalidInputError(`Expected \`parameters.timeout\` to be a number of microseconds >= 0, got ${describeJson(timeout)}`);
  }
  return timeout === 0 ? undefined : timeout / 1000;
}

function priorityOf(parameters: Record<string, unknown> | undefined): number | undefined {
  const priority = parameters?.priority;
  if (priority === undefined) return undefined;
  if (!Number.isSafeInteger(priority) || (priority as number) < 0) {
    throw new InvalidInputError(`Expected \`parameters.priority\` to be an integer >= 0, got ${describeJson(priority)}`);
  }
  return priority === 0 ? undefined : (priority as number);
}
