import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARENA_BYTES, readReply, readTensors, writeReply, writeTensors } from '../../src/backends/onnx-node/arena.js';
import type { Tensor, TensorMap } from '../../src/core/index.js';

const names = ['flags', 'ids', 'scores', 'half', 'scalar', 'empty'];

test('tensors of every numeric datatype round-trip through the arena, each 8-byte aligned', () => {
  const arena = new SharedArrayBuffer(ARENA_BYTES);
  const tensors: TensorMap = {
    // 3 bytes, so the next tensor's data would be misaligned without padding.
    flags: { datatype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    ids: { datatype: 'INT64', shape: [2, 2], data: new BigInt64Array([-(2n ** 63n), -1n, 1n, 2n ** 63n - 1n]) },
    scores: { datatype: 'FP64', shape: [1, 2], data: new Float64Array([Math.PI, -5e-324]) },
    half: { datatype: 'FP16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
    scalar: { datatype: 'INT32', shape: [], data: new Int32Array([-7]) },
    empty: { datatype: 'FP32', shape: [0, 4], data: new Float32Array(0) },
  };
  assert.equal(writeTensors(arena, names, tensors), true);
  const back = readTensors(arena, names);
  assert.deepEqual(Object.keys(back), Object.keys(tensors));
  for (const [name, t] of Object.entries(tensors)) {
    const got = back[name]!;
    assert.equal(got.datatype, t.datatype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual(Array.from(got.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), name);
    assert.ok((got.data as Float32Array).buffer instanceof ArrayBuffer, `${name} is copied out of the shared arena`);
  }
});

test('views into larger buffers are written as their own bytes only', () => {
  const arena = new SharedArrayBuffer(ARENA_BYTES);
  const whole = new Float32Array([9, 9, 1, 2, 3, 9]);
  assert.equal(writeTensors(arena, ['y'], { y: { datatype: 'FP32', shape: [3], data: whole.subarray(2, 5) } }), true);
  assert.deepEqual(Array.from(readTensors(arena, ['y'])['y']!.data as Float32Array), [1, 2, 3]);
});

test('strings, unknown names and tensors that do not fit are refused and nothing is written', () => {
  const arena = new SharedArrayBuffer(1024);
  const header = new Int32Array(arena);
  header[0] = 42;
  const small: Tensor = { datatype: 'FP32', shape: [2], data: new Float32Array([1, 2]) };
  const refused: [string, TensorMap][] = [
    ['BYTES', { y: { datatype: 'BYTES', shape: [1], data: ['a'] } }],
    ['a name the model does not have', { z: small }],
    ['1 KiB of data in a 1 KiB arena, header and all', { y: { datatype: 'FP32', shape: [256], data: new Float32Array(256) } }],
  ];
  for (const [what, tensors] of refused) {
    assert.equal(writeTensors(arena, ['y'], tensors), false, what);
    assert.equal(header[0], 42, `${what}: nothing written`);
  }
  assert.equal(writeTensors(arena, ['y'], { y: small }), true, 'a small one fits');
});

test('a reply carries its outputs and the time ONNX Runtime took', () => {
  const arena = new SharedArrayBuffer(ARENA_BYTES);
  const outputs: TensorMap = { y: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([0.25, 0.75]) } };
  assert.equal(writeReply(arena, ['y'], { outputs, inferMs: 0.8125 }), true);
  assert.deepEqual(readReply(arena, ['y']), { outputs, inferMs: 0.8125 });
});
