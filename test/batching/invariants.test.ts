import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomTraffic } from './random-traffic.js';

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`random traffic keeps every invariant (seed ${seed})`, async () => {
    const { results } = await randomTraffic(seed, {
      options: (rand) => ({
        maxQueueDelayMs: rand() < 0.3 ? 0 : 1 + Math.floor(rand() * 10),
        maxQueueSize: 40,
        agingMs: rand() < 0.5 ? 20 : undefined,
        timeoutAction: rand() < 0.3 ? 'delay' : 'reject',
        preferredBatchSizes: rand() < 0.3 ? [4] : undefined,
        batchKey: rand() < 0.5 ? (r) => r.id % 2 : undefined,
      }),
      requests: 300,
      runMs: (items) => 1 + items,
      timeoutSpanMs: 50,
      abortChance: 0.1,
      gapMs: (_, rand) => rand() * 3,
    });
    assert.ok(results.filter((r) => r.state === 'resolved').length > 200);
  });
}
