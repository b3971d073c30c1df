import { assertObject, assertString, DATA_TYPES, describe, optionError, isDataType } from '../core/index.js';
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

/**
 * @internal Checks a config's `inputs` (the specs it pins: a model config's, a config.json's) and
 * returns each as `{name, datatype, shape}`, quoting the bad value.
 */
export function checkInputSpecs(value: unknown): TensorSpec[] {
  if (!Array.isArray(value)) throw optionError(`Expected \`inputs\` to be an array of {name, datatype, shape}, got ${describe(value)}`);
  return value.map((spec: unknown, i) => {
    assertObject(`inputs[${i}]`, spec);
    assertString(`inputs[${i}].name`, spec.name);
    checkSpecType(`inputs[${i}]`, spec);
    return { name: spec.name, datatype: spec.datatype, shape: spec.shape };
  });
}
