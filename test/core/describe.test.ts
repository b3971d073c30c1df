import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BARE_NUMBERS, describe } from '../../src/core/options.js';

test('describe renders small values as JSON does, with their type', () => {
  assert.equal(describe(0), '0 (number)');
  assert.equal(describe(Number.NaN), 'NaN (number)');
  assert.equal(describe(-Infinity), '-Infinity (number)');
  assert.equal(describe('x'), '"x" (string)');
  assert.equal(describe(5n), '5n (bigint)');
  assert.equal(describe(null), 'null (null)');
  assert.equal(describe(undefined), 'undefined (undefined)');
  assert.equal(describe(() => 1), '[function] (function)');
  assert.equal(describe({ a: 1, b: [1, '2'], skipped: undefined, f() {} }), '{"a":1,"b":[1,"2"]} (object)');
  assert.equal(describe([undefined, () => 1]), '[null,null] (array)');
  assert.equal(describe(new Date(0)), '"1970-01-01T00:00:00.000Z" (object)');
  assert.equal(describe(Symbol('x')), 'Symbol(x) (symbol)');
});

test('describe shows the symbols standing for bare NaN and Infinity as the numbers they name, at any depth', () => {
  assert.equal(describe([1, BARE_NUMBERS.NaN, { a: BARE_NUMBERS['-Infinity'] }]), '[1,NaN,{"a":-Infinity}] (array)');
  assert.equal(describe(BARE_NUMBERS.Infinity), 'Infinity (symbol)');
});

test('describe builds 80 characters at most, however large or deep the value', () => {
  assert.equal(describe('y'.repeat(1e6)), `"${'y'.repeat(76)}... (string)`);
  assert.equal(describe(new Array(1e6).fill(7)), `[${'7,'.repeat(38)}... (array)`);
  const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
  assert.equal(describe(deep), '[[[[[[[[[...]]]]]]]]] (array)');
  // Twenty million elements: shown by index, not by listing their keys first (that took seconds).
  assert.equal(describe(new Float32Array(2e7)), `{${Array.from({ length: 12 }, (_, i) => `"${i}":0`).join(',')},"1... (object)`);
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.equal(describe(cyclic), '{"a":1,"self":{"a":1,"self":{"a":1,"self":{"a":1,"self":{"a":1,"self":{"a":1,... (object)');
});

test('describe shows what toJSON gives, and a value that throws while read by its tag', () => {
  assert.equal(describe(Buffer.from('hi')), '{"type":"Buffer","data":[104,105]} (object)');
  assert.equal(describe(new URL('http://x/y')), '"http://x/y" (object)');
  assert.equal(
    describe({
      get boom(): never {
        throw new Error('getter');
      },
    }),
    '[object Object] (object)',
  );
});
