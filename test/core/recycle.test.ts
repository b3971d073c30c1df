import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { concatBatch, recycleBuffer, takeBuffer } from '../../src/core/index.js';

test('takeBuffer hands back a recycled buffer of the same length, else a new one', () => {
  const kept = new ArrayBuffer(24);
  recycleBuffer(kept);
  assert.equal(takeBuffer(24), kept);
  const fresh = takeBuffer(24);
  assert.notEqual(fresh, kept, 'a buffer is handed out once');
  assert.equal(fresh.byteLength, 24);
  recycleBuffer(new ArrayBuffer(32));
  assert.equal(takeBuffer(16).byteLength, 16, 'only an exact length is reused');
});

test('up to 64 buffers are kept per length; empty ones are not kept', () => {
  const buffers = Array.from({ length: 70 }, () => new ArrayBuffer(40));
  for (const b of buffers) recycleBuffer(b);
  const taken = Array.from({ length: 70 }, () => takeBuffer(40));
  assert.equal(taken.filter((b) => buffers.includes(b)).length, 64);
  const empty = new ArrayBuffer(0);
  recycleBuffer(empty);
  assert.notEqual(takeBuffer(0), empty);
});

test('concatBatch overwrites every element of a recycled buffer', () => {
  const dirty = new Float32Array([7, 7, 7, 7, 7, 7]);
  recycleBuffer(dirty.buffer);
  const out = concatBatch([
    { datatype: 'FP32', shape: [1, 3], data: new Float32Array([1, 2, 3]) },
    { datatype: 'FP32', shape: [1, 3], data: new Float32Array([4, 5, 6]) },
  ]);
  assert.equal((out.data as Float32Array).buffer, dirty.buffer, 'the recycled buffer was used');
  assert.deepEqual(Array.from(out.data as Float32Array), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(out.shape, [2, 3]);
});

test('a length whose buffers were all taken is forgotten: lengths clients choose do not pile up', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heap = (): number => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  // Each length given back once and taken again, as a feed of a new shape is then reused by a batch.
  for (let length = 1; length <= 30_000; length++) {
    recycleBuffer(new ArrayBuffer(length));
    takeBuffer(length);
  }
  const grown = heap() - before;
  assert.ok(grown < 1_000_000, `the heap grew ${grown} bytes for 30000 lengths no longer held`);
});

test('a full pool makes room for a length in use by dropping the lengths given back longest ago', () => {
  // 64 MiB of lengths nobody takes again, as a burst of unusual shapes leaves.
  const stale = Array.from({ length: 64 }, (_, i) => new ArrayBuffer(2 ** 20 - 1 - i));
  for (const b of stale) recycleBuffer(b);
  const inUse = new ArrayBuffer(2 ** 20);
  recycleBuffer(inUse);
  assert.equal(takeBuffer(2 ** 20), inUse, 'the buffer given back last was kept');
  assert.notEqual(takeBuffer(2 ** 20 - 1), stale[0], 'the length given back first made room');
  assert.equal(takeBuffer(2 ** 20 - 64), stale[63], 'a length given back since was kept');
});
