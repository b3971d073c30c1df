import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertOptionKeys } from '../../src/core/index.js';

const KEYS = ['limit', 'name', 'timeoutMs'];

test('assertOptionKeys refuses an option set to null, naming it (with its path) and quoting null; undefined passes', () => {
  assert.throws(() => assertOptionKeys('Thing', { limit: 1, name: null }, KEYS), {
    name: 'TypeError',
    code: 'ERR_SERVABLE_INVALID_OPTION',
    message: 'Expected `name` to be set, or left out where it is optional, got null (null)',
  });
  assert.throws(() => assertOptionKeys('Thing', { limit: null }, KEYS, { path: 'buckets.' }), { code: 'ERR_SERVABLE_INVALID_OPTION', message: /^Expected `buckets.limit` to be set, or left out where it is optional, got null \(null\)$/ });
  assert.equal(assertOptionKeys('Thing', { limit: undefined, name: 'x' }, KEYS), undefined);
});

test('assertOptionKeys still names an unknown key first, as assertKnownKeys does', () => {
  assert.throws(() => assertOptionKeys('Thing', { limt: null }, KEYS), { code: 'ERR_SERVABLE_INVALID_OPTION', message: 'Unknown option `limt`; Thing takes limit, name, timeoutMs' });
});
