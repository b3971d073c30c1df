/** The invariants of test/batching/invariants.test.ts, in adaptive mode: shedding with split requests, keys, priorities, aging, both timeout actions, cancellation and failures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomTraffic } from './random-traffic.js';

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`random traffic in adaptive mode keeps every invariant (seed ${seed})`, async () => {
    const { results, batches, drops, ranItems } = await randomTraffic(seed, {
      options: (rand) => ({
        maxLatencyMs: 20 + Math.floor(rand() * 60),
        maxQueueDelayMs: rand() < 0.5 ? undefined : 5,
        maxQueueSize: 6,
        agingMs: rand() < 0.5 ? 15 : undefined,
        timeoutAction: rand() < 0.4 ? 'delay' : 'reject',
        preferredBatchSizes: rand() < 0.3 ? [4] : undefined,
        batchKey: rand() < 0.5 ? (r) => r.id % 2 : undefined,
      }),
      requests: 400,
      runMs: (items, rand) => 2 + items * (1 + rand()),
      timeoutSpanMs: 80,
      abortChance: 0.05,
      gapMs: (id, rand) => rand() * (id % 100 < 50 ? 1 : 6),
    });
    assert.equal(batches.reduce((n, b) => n + b.size, 0), ranItems, "the events' items are the items run");
    const reasons = new Set(batches.map((b) => b.reason));
    for (const r of reasons) assert.ok(['full', 'preferred', 'delay', 'deadline', 'adaptive', 'drain', 'retry'].includes(r), `reason ${r}`);
    assert.ok(drops.every((d) => d.queueMs >= 0), 'no negative queue time');
    const rejected = results.filter((r) => r.state === 'rejected').map((r) => r.error as Error & { retryAfterMs?: number });
    const fromExecute = rejected.filter((e) => /failed$/.test(e.message));
    assert.equal(drops.length, rejected.length - fromExecute.length, 'one drop event per request the batcher itself rejected');
    for (const e of rejected) {
      if (e.retryAfterMs !== undefined) assert.ok(Number.isInteger(e.retryAfterMs) && e.retryAfterMs >= 1, `${e.name} retryAfterMs ${e.retryAfterMs}`);
    }
  });
}
