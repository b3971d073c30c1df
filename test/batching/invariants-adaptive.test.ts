/** The invariants of test/batching/invariants.test.ts, in adaptive mode: shedding with split requests, keys, priorities, aging, both timeout actions, cancellation and failures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatchEvent, type DropEvent } from '../../src/batching/index.js';
import { FakeClock, random, track, type Tracked } from './helpers.js';

interface Req {
  readonly id: number;
  readonly size: number;
  readonly fails: boolean;
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`random traffic in adaptive mode keeps every invariant (seed ${seed})`, async () => {
    const rand = random(seed);
    const clock = new FakeClock();
    const maxBatchSize = 8;
    const concurrency = 1 + Math.floor(rand() * 3);
    let running = 0;
    let ranItems = 0;
    const answered = new Map<number, number>();
    const violations: string[] = [];
    const batcher = new DynamicBatcher<Req, number>({
      clock,
      maxBatchSize,
      maxLatencyMs: 20 + Math.floor(rand() * 60),
      maxQueueDelayMs: rand() < 0.5 ? undefined : 5,
      maxQueueSize: 6,
      concurrency,
      priorityLevels: 3,
      agingMs: rand() < 0.5 ? 15 : undefined,
      timeoutAction: rand() < 0.4 ? 'delay' : 'reject',
      preferredBatchSizes: rand() < 0.3 ? [4] : undefined,
      batchKey: rand() < 0.5 ? (r) => r.id % 2 : undefined,
      sizeOf: (r) => r.size,
      split: (r, sizes) => sizes.map((size) => ({ ...r, size })),
      merge: (parts) => parts.reduce((a, b) => a + b, 0),
      execute: async (requests) => {
        running++;
        if (running > concurrency) violations.push(`${running} batches ran at once`);
        const items = requests.reduce((n, r) => n + r.size, 0);
        ranItems += items;
        if (items > maxBatchSize) violations.push(`a batch of ${items} items`);
        for (const r of requests) if (answered.has(r.id)) violations.push(`request ${r.id} ran after it was answered`);
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 2 + items * (1 + rand())));
        running--;
        if (requests.some((r) => r.fails) && rand() < 0.5) throw new Error('batch failed');
        return requests.map((r) => (r.fails ? new Error(`request ${r.id} failed`) : r.size));
      },
    });
    const batches: BatchEvent[] = [];
    const drops: DropEvent[] = [];
    batcher.on('batch', (e) => batches.push(e));
    batcher.on('drop', (e) => drops.push(e));
    const results: Tracked<number>[] = [];
    const sizes: number[] = [];
    const controllers: AbortController[] = [];
    for (let id = 0; id < 400; id++) {
      const controller = new AbortController();
      controllers.push(controller);
      const request: Req = { id, size: 1 + Math.floor(rand() * (rand() < 0.1 ? 20 : 4)), fails: rand() < 0.05 };
      const t = track(
        batcher.submit(request, {
          signal: controller.signal,
          priority: 1 + Math.floor(rand() * 3),
          timeoutMs: rand() < 0.3 ? 5 + rand() * 80 : undefined,
        }),
      );
      const once = () => {
        answered.set(id, (answered.get(id) ?? 0) + 1);
      };
      void t.promise.then(once, once);
      results.push(t);
      sizes.push(request.size);
      if (rand() < 0.05) controllers[Math.floor(rand() * controllers.length)]!.abort();
      await clock.advanceAsync(rand() * (id % 100 < 50 ? 1 : 6));
    }
    const closed = track(batcher.close());
    await clock.runAll();
    await clock.flush();
    assert.equal(closed.state, 'resolved');
    assert.deepEqual(violations, []);
    assert.equal(results.filter((r) => r.state === 'pending').length, 0, 'every request was answered');
    assert.equal(batcher.queued, 0);
    assert.equal(batcher.queuedItems, 0);
    assert.equal(batcher.inFlight, 0);
    assert.equal(clock.pending, 0, 'no timer is left behind');
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
    results.forEach((r, id) => {
      if (r.state === 'resolved') assert.equal(r.value, sizes[id], `request ${id} got its own size back`);
    });
  });
}
