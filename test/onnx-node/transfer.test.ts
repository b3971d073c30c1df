import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelBytes } from '../../src/backends/onnx-node/transfer.js';

test('model bytes go to the workers in a buffer of their own: a view is cut out, shared memory copied', () => {
  const whole = new Uint8Array([1, 2, 3]);
  assert.equal(modelBytes(whole), whole, 'bytes that own their buffer are sent as they are');

  const file = new Uint8Array(1024).fill(9);
  const view = modelBytes(file.subarray(100, 103));
  assert.equal(view.buffer.byteLength, 3, 'a clone of the view would carry the whole 1024-byte buffer');
  assert.deepEqual(Array.from(view), [9, 9, 9]);

  const shared = new Uint8Array(new SharedArrayBuffer(3));
  shared.set([4, 5, 6]);
  const copied = modelBytes(shared);
  assert.ok(copied.buffer instanceof ArrayBuffer);
  assert.deepEqual(Array.from(copied), [4, 5, 6]);
});
