import { assertNumber, describe } from '../core/index.js';

/** Asserts a finite number greater than zero (a duration or a size). */
export function assertPositive(name: string, value: unknown): asserts value is number {
  assertNumber(name, value, 0);
  if (value === 0) throw new RangeError(`Expected \`${name}\` to be a number > 0, got ${describe(value)}`);
}
