import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatBatch } from '../../src/core/index.js';

test('concatBatch joins BYTES tensors of any length', () => {
  const big = Array.from({ length: 300_000 }, (_, i) => `s${i}`);
  const out = concatBatch([
    { datatype: 'BYTES', shape: [1], data: ['first'] },
    { datatype: 'BYTES', shape: [big.length], data: big },
  ]);
  assert.deepEqual(out.shape, [300_001]);
  assert.equal(out.data.length, 300_001);
  assert.deepEqual([out.data[0], out.data[1], out.data[300_000]], ['first', 's0', 's299999']);
});
