import { CacheError, describe } from '../../core/index.js';

/**
 * A unit-length Float32Array copy of `vector`, so that cosine similarity is a plain dot product.
 * @throws CacheError when the length is not `dimensions`, a value is not finite, or every value is 0.
 */
export function normalized(vector: ArrayLike<number>, dimensions: number): Float32Array {
  if (typeof vector?.length !== 'number') throw new CacheError(`Expected an embedding (${dimensions} numbers), got ${describe(vector)}`);
  if (vector.length !== dimensions) throw new CacheError(`Expected an embedding of ${dimensions} dimensions, got ${vector.length}`);
  // Scaled by the largest magnitude first, so that neither huge values (whose squares overflow to
  // Infinity, which made every value 0) nor tiny ones (whose squares underflow to 0) are lost.
  let max = 0;
  for (let i = 0; i < dimensions; i++) {
    const v = vector[i]!;
    if (!Number.isFinite(v)) throw new CacheError(`Expected finite embedding values, got ${describe(v)} at index ${i}`);
    max = Math.max(max, Math.abs(v));
  }
  if (max === 0) throw new CacheError('Cannot normalise an embedding whose values are all 0');
  let sum = 0;
  for (let i = 0; i < dimensions; i++) sum += (vector[i]! / max) ** 2;
  const norm = Math.sqrt(sum);
  const out = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) out[i] = vector[i]! / max / norm;
  return out;
}
