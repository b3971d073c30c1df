/**
 * A TF-Serving `:predict` tensor whose values were left in the body's bytes (see
 * json-data-ranges.ts): read from them when its datatype is FP32 or FP64, else handed back to the
 * generic decoder as JSON.parse reads them.
 */
import { InvalidInputError, type Tensor } from '../core/index.js';
import type { TensorSpec } from '../backends/index.js';
import type { DataRange, DataRanges } from './json-data-ranges.js';
import { MAX_RANK } from './oip-request.js';

/**
 * What `values` are in a request: `instances`, the whole batch of a row-format body, which must
 * hold a row; a `column`, the whole batch of a columnar body's input; or `rows`, an input's value
 * in each instance, each a row of the batch.
 */
export type RangedValues = 'instances' | 'column' | 'rows';

/**
 * The tensor of `spec` (undefined for none) read from the bytes that `values`, marks of ranges
 * every one, stand for; undefined otherwise, and when the bytes are not a rectangular array of
 * numbers at most `maxElements` in all. Then any mark among `values` is replaced with its range as
 * JSON.parse reads it, for the generic decoder, whose checks and errors apply as before.
 * @throws as {@link DataRanges.json}.
 */
export function rangedTensor(ranges: DataRanges, spec: TensorSpec | undefined, values: unknown[], what: RangedValues, maxElements: number): Tensor | undefined {
  const claimed = values.map((value) => ranges.claim(value));
  const datatype = spec?.datatype;
  const all = claimed.length > 0 && claimed.every((range) => range !== undefined);
  const maxRank = what === 'rows' ? MAX_RANK - 1 : MAX_RANK;
  if ((datatype === 'FP32' || datatype === 'FP64') && all) {
    const read = ranges.floatTensor(claimed as DataRange[], datatype, maxRank, maxElements);
    if (read && (what !== 'instances' || read.shape[0]! > 0)) {
      return { datatype, shape: what === 'rows' ? [values.length, ...read.shape] : read.shape, data: read.data } as Tensor;
    }
  }
  // Walking the values for their shape follows first elements, and refuses them first for their depth.
  if (spec !== undefined && all && ranges.leadsDeeper(claimed as DataRange[], maxRank)) {
    const where = `Input '${spec.name}'`;
    throw what === 'column' ? nestedTooDeep(where, MAX_RANK) : nestedTooDeep(where, MAX_RANK - 1, IN_AN_INSTANCE);
  }
  for (const [i, range] of claimed.entries()) if (range !== undefined) values[i] = ranges.json(range);
  return undefined;
}

/** Where an instance's values lie, in the refusal of values nested too deep. */
export const IN_AN_INSTANCE = ' in an instance, which is one row of the batch';

/** The refusal of values nested deeper than `maxRank` dimensions, `where` naming the input and `within` where in it. */
export function nestedTooDeep(where: string, maxRank: number, within = ''): InvalidInputError {
  return new InvalidInputError(`${where}: values are nested deeper than ${maxRank} dimensions${within}`);
}
