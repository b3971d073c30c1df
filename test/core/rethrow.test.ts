import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rethrowLater } from '../../src/core/index.js';
import { catchingUncaught } from '../fixtures/uncaught.js';

test('rethrowLater returns at once and throws the error, as it is, in a microtask', async () => {
  await catchingUncaught(async (uncaught) => {
    const error = new Error('a listener bug');
    rethrowLater(error);
    rethrowLater('not an Error');
    assert.deepEqual(uncaught, []);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(uncaught, [error, 'not an Error']);
  });
});
