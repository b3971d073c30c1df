/**
 * True when two responses hold the same values: numbers (in typed arrays too) within `tolerance`,
 * everything else strictly equal, compared through arrays and plain objects. Tensor responses and
 * handler-defined ones are compared the same way.
 */
export function sameResponse(a: unknown, b: unknown, tolerance = 0): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= tolerance || (Number.isNaN(a) && Number.isNaN(b));
  if (typeof a === 'bigint' && typeof b === 'bigint') return a === b;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Object.is(a, b);
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<number>;
    const y = b as unknown as ArrayLike<number>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameResponse(x[i], y[i], tolerance)) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && sameResponse((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], tolerance));
}
