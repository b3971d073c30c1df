import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dataOf } from 'servable';
import { handlerHarness, expectOk, expectError, type MemoryModel } from 'servable/testing';
import { SentimentHandler, bucket, FEATURES } from '../../examples/sentiment-handler.js';

// A logistic-regression model as a plain function: +1 per "good" word, -1 per "bad" word.
const weights = new Float32Array(FEATURES);
weights[bucket('good')] = 1;
weights[bucket('bad')] = -1;
const model: MemoryModel = {
  inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, FEATURES] }],
  outputs: [{ name: 'logit', datatype: 'FP32', shape: [-1] }],
  run({ features }) {
    const x = dataOf(features, 'FP32');
    const n = features!.shape[0]!;
    const logit = new Float32Array(n);
    for (let row = 0; row < n; row++) {
      for (let j = 0; j < FEATURES; j++) logit[row]! += x[row * FEATURES + j]! * weights[j]!;
    }
    return { logit: { datatype: 'FP32', shape: [n], data: logit } };
  },
};

test('labels a batch of texts, and a bad request fails alone', async () => {
  const harness = await handlerHarness(new SentimentHandler(), model, { maxBatchSize: 8 });
  const results = await harness.runBatch([
    { text: 'good good film' },
    { text: '' },
    { text: 'bad plot' },
  ]);

  assert.deepEqual(expectOk(results[0]), { label: 'positive', score: 1 / (1 + Math.exp(-2)) });
  expectError(results[1], 'ERR_SERVABLE_INVALID_INPUT');
  assert.deepEqual(expectOk(results[2]), { label: 'negative', score: 1 - 1 / (1 + Math.exp(1)) });

  // The two valid requests ran as one batch of two.
  assert.deepEqual(harness.calls.map((c) => c.batchSize), [2]);
});
