import { DATA_TYPES, describe, optionError, isDataType } from '../core/index.js';
import type { TensorSpec } from '../backends/index.js';

/**
 * @internal Checks the datatype and shape of a tensor spec given as `at` (an ensemble's
 * `inputs[0]`, a repository config's), quoting the bad value.
 */
export function checkSpecType<S extends { readonly datatype?: unknown; readonly shape?: unknown }>(at: string, spec: S): asserts spec is S & Pick<TensorSpec, 'datatype' | 'shape'> {
  if (!isDataType(spec.datatype)) throw optionError(`Expected \`${at}.datatype\` to be one of ${DATA_TYPES.join(', ')}, got ${describe(spec.datatype)}`);
  if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && d >= -1)) {
    throw optionError(`Expected \`${at}.shape\` to be an array of integers >= -1 (-1 for a dynamic dimension), got ${describe(spec.shape)}`);
  }
}
