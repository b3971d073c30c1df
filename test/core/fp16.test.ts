import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHalfBits, toHalfBits } from 'servable';

test('toHalfBits gives the IEEE half nearest to a number, ties to even', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [0.1, 0x2e66],
    [65504, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00],
    [1e9, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000],
    [3 * 2 ** -25, 0x0002],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    [1023 * 2 ** -24, 0x03ff],
    [1023.5 * 2 ** -24, 0x0400],
  ];
  for (const [value, bits] of cases) assert.equal(toHalfBits(value), bits, `${value}`);
  assert.equal(toHalfBits(Number.NaN), 0x7e00);
});

test('every finite or infinite half survives fromHalfBits then toHalfBits', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = fromHalfBits(bits);
    if (Number.isNaN(value)) {
      assert.equal((bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0, true);
      continue;
    }
    assert.equal(toHalfBits(value), bits, `bits 0x${bits.toString(16)} (${value})`);
  }
});
