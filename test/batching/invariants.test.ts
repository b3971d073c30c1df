import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { FakeClock, random, track, type Tracked } from './helpers.js';

interface Req {
  readonly id: number;
  readonly size: number;
  readonly fails: boolean;
}

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`random traffic keeps every invariant (seed ${seed})`, async () => {
    const rand = random(seed);
    const clock = new FakeClock();
    const maxBatchSize = 8;
    const concurrency = 1 + Math.floor(rand() * 3);
    let running = 0;
    const answered = new Set<number>();
    const violations: string[] = [];
    const batcher = new DynamicBatcher<Req, number>({
      clock,
      maxBatchSize,
      maxQueueDelayMs: rand() < 0.3 ? 0 : 1 + Math.floor(rand() * 10),
      maxQueueSize: 40,
      concurrency,
      priorityLevels: 3,
      agingMs: rand() < 0.5 ? 20 : undefined,
      timeoutAction: rand() < 0.3 ? 'delay' : 'reject',
      preferredBatchSizes: rand() < 0.3 ? [4] : undefined,
      batchKey: rand() < 0.5 ? (r) => r.id % 2 : undefined,
      sizeOf: (r) => r.size,
      split: (r, sizes) => sizes.map((size) => ({ ...r, size })),
      merge: (parts) => parts.reduce((a, b) => a + b, 0),
      execute: async (requests) => {
        running++;
        if (running > concurrency) violations.push(`${running} batches ran at once`);
        const items = requests.reduce((n, r) => n + r.size, 0);
        if (items > maxBatchSize) violations.push(`a batch of ${items} items`);
        for (const r of requests) if (answered.has(r.id)) violations.push(`request ${r.id} ran after it was answered`);
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 1 + items));
        running--;
        if (requests.some((r) => r.fails) && rand() < 0.5) throw new Error('batch failed');
        return requests.map((r) => (r.fails ? new Error(`request ${r.id} failed`) : r.size));
      },
    });
    const results: Tracked<number>[] = [];
    const sizes: number[] = [];
    const controllers: AbortController[] = [];
    for (let id = 0; id < 300; id++) {
      const controller = new AbortController();
      controllers.push(controller);
      const request: Req = { id, size: 1 + Math.floor(rand() * (rand() < 0.1 ? 20 : 4)), fails: rand() < 0.05 };
      const t = track(
        batcher.submit(request, {
          signal: controller.signal,
          priority: 1 + Math.floor(rand() * 3),
          timeoutMs: rand() < 0.3 ? 5 + rand() * 50 : undefined,
        }),
      );
      void t.promise.then(
        () => answered.add(id),
        () => answered.add(id),
      );
      results.push(t);
      sizes.push(request.size);
      if (rand() < 0.1) controllers[Math.floor(rand() * controllers.length)]!.abort();
      await clock.advanceAsync(rand() * 3);
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
    // A request that succeeded got back its own size (split parts summed back by merge).
    results.forEach((r, id) => {
      if (r.state === 'resolved') assert.equal(r.value, sizes[id]);
    });
    assert.ok(results.filter((r) => r.state === 'resolved').length > 200);
  });
}
