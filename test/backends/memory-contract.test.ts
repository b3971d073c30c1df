import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemoryModel } from 'servable';
import { backendContract, memoryBackend } from 'servable/testing';
import { B, expected, feeds, W } from './linear-case.js';

/** Y = X·W + B as a JavaScript function. */
const linear: MemoryModel = {
  inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 3] }],
  run({ X }) {
    const x = X!.data as Float32Array;
    const n = X!.shape[0]!;
    const y = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 3; j++) y[i * 3 + j] = B[j]! + x[i * 2]! * W[0]![j]! + x[i * 2 + 1]! * W[1]![j]!;
    }
    return { Y: { datatype: 'FP32', shape: [n, 3], data: y } };
  },
};

backendContract(test, () => ({ backend: memoryBackend(), source: linear }), { name: 'memory', feeds, expected, device: 'cpu' });
// Runs that finish in a later turn of the event loop, so concurrent runs interleave.
const deferred: MemoryModel = { ...linear, run: (feeds) => new Promise((resolve) => setImmediate(() => resolve(linear.run(feeds)))) };
backendContract(test, () => ({ backend: memoryBackend({ concurrency: 3 }), source: deferred }), {
  name: 'memory (concurrency 3, asynchronous model)',
  feeds,
  expected,
});

test('memoryBackend refuses an unknown option by name', () => {
  assert.throws(() => memoryBackend({ concurency: 3 } as never), /^TypeError: Unknown option `concurency`; memoryBackend takes clock, concurrency$/);
  assert.throws(() => memoryBackend(null as never), /^TypeError: Expected `options` to be an object, got null \(null\)$/);
});
