import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAllowedBatchSizes, padBatch, padTo, padToCommonShape, paddedBatchSize } from '../../src/batching/index.js';
import type { Tensor } from '../../src/core/index.js';

test('allowed batch sizes: checked like TF Serving, and the next one that holds a batch', () => {
  checkAllowedBatchSizes([1, 2, 4, 8], 8);
  checkAllowedBatchSizes([1, 4, 16], 8);
  assert.throws(() => checkAllowedBatchSizes([2, 4], 8), /Expected the last of `allowedBatchSizes` to be at least maxBatchSize \(8\), got \[2,4\] \(array\)/);
  assert.throws(() => checkAllowedBatchSizes([4, 2, 8], 8), /strictly ascending, got \[4,2,8\] \(array\)/);
  assert.throws(() => checkAllowedBatchSizes([0, 8], 8), /Expected `allowedBatchSizes\[0\]` to be an integer >= 1, got 0 \(number\)/);
  assert.throws(() => checkAllowedBatchSizes([], 8), TypeError);
  assert.throws(() => checkAllowedBatchSizes([1, , 8] as number[], 8), /Expected `allowedBatchSizes\[1\]` to be an integer >= 1, got undefined/);
  assert.deepEqual([1, 2, 3, 5, 8].map((n) => paddedBatchSize(n, [1, 2, 4, 8])), [1, 2, 4, 8, 8]);
  assert.throws(() => paddedBatchSize(9, [1, 2, 4, 8]), /No allowed batch size holds 9 items \(allowed: 1, 2, 4, 8\)/);
});

test('padBatch appends zero rows; padTo pads every dimension at its end', () => {
  const x: Tensor = { datatype: 'FP32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) };
  const rows = padBatch(x, 4);
  assert.deepEqual(rows.shape, [4, 3]);
  assert.deepEqual(Array.from(rows.data as Float32Array), [1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0]);
  assert.equal(padBatch(x, 2), x, 'nothing to pad: the same tensor');

  const cube: Tensor = { datatype: 'INT64', shape: [1, 2, 2], data: new BigInt64Array([1n, 2n, 3n, 4n]) };
  const wide = padTo(cube, [2, 3, 3]);
  assert.deepEqual(Array.from(wide.data as BigInt64Array), [1n, 2n, 0n, 3n, 4n, 0n, 0n, 0n, 0n, ...Array(9).fill(0n)]);
  assert.throws(() => padTo(cube, [1, 1, 2]), /Cannot pad INT64\[1, 2, 2\] to \[1, 1, 2\]/);
  assert.throws(() => padTo(cube, [1, 2]), RangeError);
});

test('padToCommonShape lets sequences of different lengths share a batch', () => {
  const a: Tensor = { datatype: 'INT32', shape: [1, 3], data: new Int32Array([101, 7, 102]) };
  const b: Tensor = { datatype: 'INT32', shape: [2, 5], data: new Int32Array([101, 8, 9, 10, 102, 101, 11, 12, 13, 102]) };
  const [pa, pb] = padToCommonShape([a, b]);
  assert.deepEqual(pa!.shape, [1, 5]);
  assert.deepEqual(Array.from(pa!.data as Int32Array), [101, 7, 102, 0, 0]);
  assert.equal(pb, b);
  const words: Tensor = { datatype: 'BYTES', shape: [1, 1], data: ['hi'] };
  const more: Tensor = { datatype: 'BYTES', shape: [1, 3], data: ['a', 'b', 'c'] };
  assert.deepEqual(padToCommonShape([words, more])[0]!.data, ['hi', '', '']);
  assert.throws(() => padToCommonShape([a, words]), /Cannot pad BYTES\[1, 1\] to the shape of INT32\[1, 3\]/);
  assert.deepEqual(padToCommonShape([]), []);
});

test('a pad value fills as each datatype stores it: half bits for FP16, a bigint for INT64', () => {
  const half: Tensor = { datatype: 'FP16', shape: [1, 1], data: new Uint16Array([0x3c00]) };
  assert.deepEqual(Array.from(padTo(half, [1, 3], -2).data as Uint16Array), [0x3c00, 0xc000, 0xc000]);
  const ids: Tensor = { datatype: 'INT64', shape: [1, 1], data: new BigInt64Array([5n]) };
  assert.deepEqual(Array.from(padBatch(ids, 2, -1).data as BigInt64Array), [5n, -1n]);
  const a: Tensor = { datatype: 'FP32', shape: [1, 1], data: new Float32Array([1]) };
  const b: Tensor = { datatype: 'FP32', shape: [1, 2], data: new Float32Array([2, 3]) };
  assert.deepEqual(Array.from(padToCommonShape([a, b], 9)[0]!.data as Float32Array), [1, 9]);
});

test('a pad value an integer datatype cannot hold as it is is refused, never wrapped or cut', () => {
  const bytes: Tensor = { datatype: 'UINT8', shape: [1, 1], data: new Uint8Array([1]) };
  assert.throws(() => padTo(bytes, [1, 2], 300), { name: 'RangeError', message: 'Expected the pad value to be an integer between 0 and 255 for UINT8, got 300 (number)' });
  const flags: Tensor = { datatype: 'BOOL', shape: [1, 1], data: new Uint8Array([1]) };
  assert.throws(() => padBatch(flags, 2, -1), { message: 'Expected the pad value to be an integer between 0 and 1 for BOOL, got -1 (number)' });
  const ids: Tensor = { datatype: 'INT64', shape: [1, 1], data: new BigInt64Array([5n]) };
  assert.throws(() => padBatch(ids, 2, 2.7), { message: /to be an integer between -9007199254740991 and 9007199254740991 for INT64, got 2.7/ });
  assert.deepEqual(Array.from(padTo(bytes, [1, 2], 255).data as Uint8Array), [1, 255]);
  assert.deepEqual(Array.from(padTo({ datatype: 'FP32', shape: [1, 1], data: new Float32Array([1]) }, [1, 2], 0.5).data as Float32Array), [1, 0.5]);
});

test('paddedBatchSize refuses a negative or fractional item count with code ERR_SERVABLE_INVALID_OPTION, where -1 returned 1', () => {
  assert.throws(() => paddedBatchSize(-1, [1, 4]), { name: 'RangeError', code: 'ERR_SERVABLE_INVALID_OPTION', message: 'Expected `items` to be an integer >= 0, got -1 (number)' });
  assert.throws(() => paddedBatchSize(1.5, [1, 4]), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION', message: 'Expected `items` to be an integer, got 1.5 (number)' });
  assert.throws(() => paddedBatchSize('2' as never, [1, 4]), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION', message: 'Expected `items` to be an integer, got "2" (string)' });
  assert.equal(paddedBatchSize(0, [1, 4]), 1);
});
