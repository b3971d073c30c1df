import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFeeds } from '../../src/backends/index.js';
import { InvalidInputError, type TensorMap } from '../../src/core/index.js';

test('a shape that is not integers >= 0 is refused quoting it, even where its element count matches symbolic dimensions', () => {
  const specs = [{ name: 'x', datatype: 'FP32' as const, shape: [-1, -1] }];
  const bad: [unknown, RegExp][] = [
    [[-1, -2], /Input 'x': expected a shape of integers >= 0, got \[-1,-2\] \(array\)/],
    [[0.5, 4], /Input 'x': expected a shape of integers >= 0, got \[0\.5,4\]/],
    [[2, Number.NaN], /expected a shape of integers >= 0, got \[2,/],
    [undefined, /Input 'x': expected a shape of integers >= 0, got undefined/],
  ];
  for (const [shape, message] of bad) {
    const feeds = { x: { datatype: 'FP32', shape, data: new Float32Array(2) } } as unknown as TensorMap;
    assert.throws(() => checkFeeds(specs, feeds), (e: unknown) => e instanceof InvalidInputError && message.test(e.message), String(shape));
  }
  checkFeeds(specs, { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) } });
  checkFeeds(specs, { x: { datatype: 'FP32', shape: [0, 2], data: new Float32Array(0) } });
});

test('BYTES data with a hole is refused: every element must be a string', () => {
  const specs = [{ name: 's', datatype: 'BYTES' as const, shape: [-1] }];
  const feeds = { s: { datatype: 'BYTES', shape: [2], data: new Array<string>(2) } } as TensorMap;
  assert.throws(() => checkFeeds(specs, feeds), (e: unknown) => e instanceof InvalidInputError && /Input 's': expected string\[\] data for BYTES/.test(e.message));
  checkFeeds(specs, { s: { datatype: 'BYTES', shape: [2], data: ['a', ''] } });
});
