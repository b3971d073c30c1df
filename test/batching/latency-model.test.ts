import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyModel } from '../../src/batching/adaptive.js';

test('before a slope can be fitted, run time is proportional to items, not the mean batch time', () => {
  const model = new LatencyModel();
  assert.equal(model.estimate(1), 0);
  // A saturated batcher: every batch is full (16 items, 32 ms).
  for (let i = 0; i < 5; i++) model.record(16, 32);
  assert.equal(model.fitted, false);
  assert.equal(model.estimate(16), 32);
  assert.equal(model.estimate(1), 2);
  // Two sizes: the least-squares line takes over.
  model.record(4, 14);
  assert.equal(model.fitted, true);
  assert.ok(Math.abs(model.estimate(4) - 14) < 1e-9 && Math.abs(model.estimate(16) - 32) < 1e-9);
});
