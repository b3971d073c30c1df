/**
 * TF-Serving v1 REST requests: `:predict` in the row (`instances`) and columnar (`inputs`)
 * formats. Datatypes and input names come from the model; shapes from the nesting of the JSON
 * values, which must be rectangular. BYTES values may be `{"b64": "..."}`.
 */
import { InvalidInputError, type DataType, type Tensor, type TensorMap } from '../core/index.js';
import type { TensorSpec } from '../backends/index.js';
import type { InferenceRequest } from '../handler/index.js';
import { isObject } from './json-body.js';
import type { DataRanges } from './json-data-ranges.js';
import { describeJson } from './json-non-finite.js';
import { claimedElements, MAX_RANK } from './oip-request.js';
import { decodeJsonData } from './tensor-json.js';
import { IN_AN_INSTANCE, nestedTooDeep, rangedTensor, type RangedValues } from './tf-ranges.js';

/** The only signature servable models have. */
export const SIGNATURE = 'serving_default';

/** Which format a predict request used; the reply answers in the same one. */
export type PredictFormat = 'row' | 'columnar';

/** A decoded `:predict` request. */
export interface DecodedPredict {
  readonly request: InferenceRequest;
  readonly format: PredictFormat;
}

// ignoreBOM: a U+FEFF that starts a b64 value is its data, not a byte order mark.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a `:predict` body against the model's inputs.
 * @throws InvalidInputError naming the input (and the instance) that is wrong.
 */
export function decodePredict(body: Record<string, unknown>, inputs: readonly TensorSpec[], maxElements: number): DecodedPredict {
  return decodeRangedPredict(body, inputs, maxElements, undefined);
}

/**
 * {@link decodePredict} of a body parsed by the JSON decoder, where `ranges` holds the tensors'
 * arrays that `body` has marks in place of (see json-data-ranges.ts). The InvalidInputErrors it
 * throws are marked as read for the inputs (see {@link isReadError}).
 */
export function decodeRangedPredict(body: Record<string, unknown>, inputs: readonly TensorSpec[], maxElements: number, ranges: DataRanges | undefined): DecodedPredict {
  try {
    return readPredict(body, inputs, maxElements, ranges);
  } catch (error) {
    // Its 400s; not a range's 413 (a body too large to decode counts without the version, as on /infer).
    throw error instanceof InvalidInputError ? markReadError(error) : error;
  }
}

/** The errors raised reading a JSON object as a `:predict` body for a version's inputs (not those of parsing it). */
const readErrors = new WeakSet<object>();

/**
 * @internal True for an error raised reading a `:predict` body, a JSON object, for the inputs of the
 * version it goes to, rather than parsing it: the request is counted against that version.
 */
export function isReadError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && readErrors.has(error);
}

/** @internal Marks `error` as {@link isReadError} (as a JSON worker revives it), and returns it. */
export function markReadError<E>(error: E): E {
  if (typeof error === 'object' && error !== null) readErrors.add(error);
  return error;
}

function readPredict(body: Record<string, unknown>, inputs: readonly TensorSpec[], maxElements: number, ranges: DataRanges | undefined): DecodedPredict {
  const signature = body.signature_name;
  // TF-Serving reads an empty signature_name as the default signature.
  if (signature !== undefined && signature !== '' && signature !== SIGNATURE) {
    throw new InvalidInputError(`Unknown signature_name ${describeJson(signature)}; servable models have one signature, '${SIGNATURE}'`);
  }
  const hasInstances = body.instances !== undefined;
  if (hasInstances === (body.inputs !== undefined)) {
    throw new InvalidInputError('Expected exactly one of `instances` (row format) or `inputs` (columnar format)');
  }
  const tensors = hasInstances ? decodeRows(body.instances, inputs, maxElements, ranges) : decodeColumns(body.inputs, inputs, maxElements, ranges);
  return { request: { inputs: tensors }, format: hasInstances ? 'row' : 'columnar' };
}

function decodeRows(batch: unknown, inputs: readonly TensorSpec[], maxElements: number, ranges: DataRanges | undefined): TensorMap {
  const [whole, instances] = fromRanges(ranges, inputs, batch, 'instances', maxElements);
  if (whole) return whole;
  if (!Array.isArray(instances) || instances.length === 0) {
    throw new InvalidInputError(`Expected \`instances\` to be a non-empty array, got ${describeJson(instances)}`);
  }
  const isNamed = (i: unknown): boolean => isObject(i) && !isB64(i);
  const named = instances.every(isNamed);
  if (!named && inputs.length !== 1) {
    throw new InvalidInputError(`The model takes ${inputs.length} inputs (${names(inputs)}): each instance must be an object naming them`);
  }
  // Read as bare values, an instance naming the input would be refused as a scalar of the wrong shape or type.
  const firstNamed = isNamed(instances[0]);
  const differs = named ? -1 : instances.findIndex((i) => isNamed(i) !== firstNamed);
  if (differs > 0) {
    const form = (i: unknown) => (isNamed(i) ? 'an object naming the inputs' : 'a bare value');
    throw new InvalidInputError(
      `Instance ${differs} is ${form(instances[differs])}, but instance 0 is ${form(instances[0])}: send every instance in one form`,
    );
  }
  const columns = new Map<string, unknown[]>();
  for (const spec of inputs) columns.set(spec.name, []);
  for (const [i, instance] of instances.entries()) {
    if (!named) {
      columns.get(inputs[0]!.name)!.push(instance);
      continue;
    }
    for (const [name, value] of Object.entries(instance as Record<string, unknown>)) {
      const column = columns.get(name);
      if (!column) throw new InvalidInputError(`Unknown input '${name}' in instance ${i}; the model takes ${names(inputs)}`);
      column.push(value);
    }
    for (const spec of inputs) {
      if (columns.get(spec.name)!.length !== i + 1) throw new InvalidInputError(`Input '${spec.name}' is missing from instance ${i}`);
    }
  }
  const tensors: TensorMap = {};
  for (const spec of inputs) {
    const where = `Input '${spec.name}'`;
    const rows = columns.get(spec.name)!;
    const ranged = ranges && rangedTensor(ranges, spec, rows, 'rows', maxElements);
    if (ranged) {
      tensors[spec.name] = ranged;
      continue;
    }
    const inner = shapeOf(rows[0], where, MAX_RANK - 1, IN_AN_INSTANCE);
    const leaves: unknown[] = [];
    for (const [i, row] of rows.entries()) {
      const shape = shapeOf(row, where, MAX_RANK - 1, IN_AN_INSTANCE);
      if (shape.length !== inner.length || shape.some((d, k) => d !== inner[k])) {
        throw new InvalidInputError(`${where}: instance ${i} has shape [${shape.join(', ')}], instance 0 has [${inner.join(', ')}]`);
      }
      flattenInto(row, shape, leaves, where);
    }
    tensors[spec.name] = toTensor(spec.datatype, [rows.length, ...inner], leaves, where, maxElements);
  }
  return tensors;
}

function decodeColumns(batch: unknown, inputs: readonly TensorSpec[], maxElements: number, ranges: DataRanges | undefined): TensorMap {
  const [whole, columns] = fromRanges(ranges, inputs, batch, 'column', maxElements);
  if (whole) return whole;
  const byName = isObject(columns) && !isB64(columns) ? columns : undefined;
  if (!byName && inputs.length !== 1) {
    throw new InvalidInputError(`The model takes ${inputs.length} inputs (${names(inputs)}): \`inputs\` must be an object naming them`);
  }
  const values = byName ?? { [inputs[0]!.name]: columns };
  const tensors: TensorMap = {};
  for (const name of Object.keys(values)) {
    if (!inputs.some((s) => s.name === name)) throw new InvalidInputError(`Unknown input '${name}'; the model takes ${names(inputs)}`);
  }
  for (const spec of inputs) {
    const where = `Input '${spec.name}'`;
    if (!Object.hasOwn(values, spec.name)) throw new InvalidInputError(`Missing input '${spec.name}'`);
    const one = [values[spec.name]];
    const ranged = ranges && rangedTensor(ranges, spec, one, 'column', maxElements);
    if (ranged) {
      tensors[spec.name] = ranged;
      continue;
    }
    const value = one[0];
    const shape = shapeOf(value, where, MAX_RANK);
    const leaves: unknown[] = [];
    flattenInto(value, shape, leaves, where);
    tensors[spec.name] = toTensor(spec.datatype, shape, leaves, where, maxElements);
  }
  return tensors;
}

/** A single-input model's whole tensor when `batch` is a range of floats, else `batch` as JSON.parse reads it (see {@link rangedTensor}). */
function fromRanges(ranges: DataRanges | undefined, inputs: readonly TensorSpec[], batch: unknown, what: RangedValues, maxElements: number): [TensorMap | undefined, unknown] {
  if (!ranges) return [undefined, batch];
  const values = [batch];
  const tensor = rangedTensor(ranges, inputs.length === 1 ? inputs[0] : undefined, values, what, maxElements);
  if (!tensor) return [undefined, values[0]];
  // Set as the generic decoder sets its tensors, so that either gives the same map.
  const tensors: TensorMap = {};
  tensors[inputs[0]!.name] = tensor;
  return [tensors, undefined];
}

function toTensor(datatype: DataType, shape: number[], leaves: unknown[], where: string, maxElements: number): Tensor {
  claimedElements(shape, where, maxElements);
  const values = datatype === 'BYTES' ? leaves.map((v, i) => fromB64(v, i, where)) : leaves;
  return { datatype, shape, data: decodeJsonData(datatype, values, leaves.length, 1, where) } as Tensor;
}

/** The dimensions the nesting of `value` implies, following first elements; checked by {@link flattenInto}. */
function shapeOf(value: unknown, where: string, maxRank: number, within = ''): number[] {
  const dims: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    if (dims.length === maxRank) throw nestedTooDeep(where, maxRank, within);
    dims.push(v.length);
    v = v[0];
  }
  return dims;
}

/** Appends the leaves of `value` in row-major order, refusing nesting that is not rectangular with `shape`. */
function flattenInto(value: unknown, shape: readonly number[], out: unknown[], where: string): void {
  const stack: { items: readonly unknown[]; next: number }[] = [];
  if (shape.length === 0) {
    if (Array.isArray(value)) throw new InvalidInputError(`${where}: values are not rectangular`);
    out.push(value);
    return;
  }
  stack.push({ items: value as unknown[], next: 0 });
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const depth = stack.length - 1;
    if (top.next === 0 && top.items.length !== shape[depth]) {
      throw new InvalidInputError(`${where}: values are not rectangular (a list of ${top.items.length} where ${shape[depth]} were expected)`);
    }
    if (top.next >= top.items.length) {
      stack.pop();
      continue;
    }
    const v = top.items[top.next++];
    const leaf = depth === shape.length - 1;
    if (leaf === Array.isArray(v)) throw new InvalidInputError(`${where}: values are not rectangular`);
    if (leaf) out.push(v);
    else stack.push({ items: v as unknown[], next: 0 });
  }
}

function isB64(value: unknown): value is { b64: unknown } {
  return isObject(value) && Object.keys(value).length === 1 && 'b64' in value;
}

/** A BYTES value: a string, or `{"b64": ...}` whose bytes must be UTF-8 (BYTES tensors hold strings). */
function fromB64(value: unknown, index: number, where: string): unknown {
  if (!isB64(value)) return value;
  if (typeof value.b64 !== 'string') throw new InvalidInputError(`${where}: expected a base64 string in {"b64": ...} at element ${index}, got ${describeJson(value.b64)}`);
  let binary: string;
  try {
    binary = atob(value.b64);
  } catch {
    throw new InvalidInputError(`${where}: element ${index} is not valid base64`);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  try {
    return decoder.decode(bytes);
  } catch {
    throw new InvalidInputError(`${where}: element ${index} is not valid UTF-8 once base64-decoded`);
  }
}

function names(inputs: readonly TensorSpec[]): string {
  return inputs.map((s) => `'${s.name}'`).join(', ');
}
