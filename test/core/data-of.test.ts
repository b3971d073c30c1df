import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dataOf, tensor, type TensorMap } from 'servable';

test("dataOf gives a tensor's data typed by its datatype, so a handler reads outputs without a cast, and refuses another datatype or a missing tensor", () => {
  const outputs: TensorMap = {
    p: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([0.25, 0.75]) },
    ids: { datatype: 'INT64', shape: [1], data: new BigInt64Array([7n]) },
    text: { datatype: 'BYTES', shape: [1], data: ['a'] },
  };
  const p: Float32Array = dataOf(outputs.p, 'FP32');
  const ids: BigInt64Array = dataOf(outputs.ids, 'INT64');
  const text: string[] = dataOf(outputs.text, 'BYTES');
  assert.deepEqual([[...p], [...ids], text], [[0.25, 0.75], [7n], ['a']]);
  assert.equal(p, outputs.p!.data, 'the data itself, not a copy');

  assert.throws(() => dataOf(outputs.ids, 'FP32'), { name: 'TypeError', message: 'Expected a FP32 tensor, got INT64 [1]' });
  assert.throws(() => dataOf(outputs.nope, 'FP32'), { name: 'TypeError', message: 'Expected a FP32 tensor, got undefined (undefined)' });
  // A datatype that says FP32 over other storage (a tensor built by hand) is refused too.
  const forged = { datatype: 'FP32', shape: [2], data: new Float64Array(2) } as unknown as TensorMap[string];
  assert.throws(() => dataOf(forged, 'FP32'), { name: 'TypeError', message: 'Expected a FP32 tensor (Float32Array data), got Float64Array data' });
  assert.throws(() => dataOf(outputs.p, 'FP33' as 'FP32'), { name: 'TypeError', message: /^Expected a datatype \(BOOL, .*\), got "FP33" \(string\)$/ });
});

test('dataOf and tensor refuse a bad argument with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => dataOf(undefined, 'FP32'), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => tensor('FP32', new Float32Array(1), [2]), { name: 'RangeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
