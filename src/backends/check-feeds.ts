import { describe, InvalidInputError, matchesStorage, storageName, elementCount, type TensorMap } from '../core/index.js';
import type { TensorSpec } from './types.js';

/**
 * Checks feeds against a model's input specs: an object of tensors by name, every input present,
 * no unknown names, each a tensor object (not a bare number or typed array, which are never taken
 * for a scalar or given a shape), datatype and storage as declared, a shape of integers >= 0
 * matching the fixed dimensions, data length equal to the shape's size.
 * @throws InvalidInputError naming the input and what was wrong.
 */
export function checkFeeds(specs: readonly TensorSpec[], feeds: TensorMap): void {
  if (!isRecord(feeds)) {
    throw new InvalidInputError(`Expected \`inputs\` to be an object of tensors by input name (${specs.map((s) => `'${s.name}'`).join(', ')}), got ${shown(feeds)}`);
  }
  for (const name of Object.keys(feeds)) {
    if (!specs.some((s) => s.name === name)) {
      throw new InvalidInputError(`Unknown input '${name}'; the model takes ${specs.map((s) => `'${s.name}'`).join(', ')}`);
    }
  }
  for (const spec of specs) {
    const feed = feeds[spec.name];
    if (feed === undefined) throw new InvalidInputError(`Missing input '${spec.name}'`);
    checkTensor(spec, feed, 'input');
  }
}

/** Checks one tensor against its spec; `what` is `input` or `output` for messages. */
export function checkTensor(spec: TensorSpec, t: TensorMap[string], what = 'input'): void {
  if (!isRecord(t)) {
    throw new InvalidInputError(
      `${capital(what)} '${spec.name}': expected a tensor {datatype, shape, data} (${spec.datatype}, shape [${spec.shape.join(', ')}]), got ${shown(t)}`,
    );
  }
  if (t.datatype !== spec.datatype) {
    throw new InvalidInputError(`${capital(what)} '${spec.name}': expected datatype ${spec.datatype}, got ${t.datatype}`);
  }
  if (!matchesStorage(t.datatype, t.data)) {
    throw new InvalidInputError(`${capital(what)} '${spec.name}': expected ${storageName(t.datatype)} data for ${t.datatype}`);
  }
  // A symbolic dimension takes any value, so a shape such as [-1, -2] for [-1, -1] would otherwise
  // pass on its element count and fail inside the backend.
  if (!isShape(t.shape)) {
    throw new InvalidInputError(`${capital(what)} '${spec.name}': expected a shape of integers >= 0, got ${describe(t.shape)}`);
  }
  if (!shapeFits(spec.shape, t.shape)) {
    throw new InvalidInputError(
      `${capital(what)} '${spec.name}': expected shape [${spec.shape.join(', ')}], got [${t.shape.join(', ')}]`,
    );
  }
  const n = elementCount(t.shape);
  if (t.data.length !== n) {
    throw new InvalidInputError(
      `${capital(what)} '${spec.name}': shape [${t.shape.join(', ')}] holds ${n} elements, got ${t.data.length}`,
    );
  }
}

/** True when `shape` has the spec's rank and matches every fixed (non -1) dimension. */
export function shapeFits(spec: readonly number[], shape: readonly number[]): boolean {
  return spec.length === shape.length && spec.every((d, i) => d < 0 || d === shape[i]);
}

function isShape(shape: unknown): boolean {
  if (!Array.isArray(shape)) return false;
  for (const d of shape) if (!Number.isSafeInteger(d) || d < 0) return false;
  return true;
}

/** An object that is neither an array nor a typed array: what a tensor, or a map of them, must be. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** A value for a message; a typed array by its type and length rather than its elements. */
function shown(value: unknown): string {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return `a ${value.constructor.name} of ${(value as unknown as ArrayLike<unknown>).length} elements, with no datatype or shape`;
  }
  return describe(value);
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
