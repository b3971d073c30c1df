/**
 * Random traffic for the invariants tests: requests of random sizes (some larger than a batch),
 * priorities, timeouts, failures and cancellations against a batcher of random options, then
 * close(). What it checks holds whatever the options; each test adds its own checks.
 */
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatcherOptions, type BatchEvent, type DropEvent } from '../../src/batching/index.js';
import { FakeClock, random, track, type Tracked } from './helpers.js';

export interface Req {
  readonly id: number;
  readonly size: number;
  readonly fails: boolean;
}

export interface Traffic {
  /** The batcher's options beyond the common ones, drawn from `rand`. */
  readonly options: (rand: () => number) => Partial<BatcherOptions<Req, number>>;
  readonly requests: number;
  /** How long a batch of `items` runs on the fake clock. */
  readonly runMs: (items: number, rand: () => number) => number;
  /** The largest random per-request timeout, past 5 ms; 30% of requests get one. */
  readonly timeoutSpanMs: number;
  readonly abortChance: number;
  /** The gap before the next request. */
  readonly gapMs: (id: number, rand: () => number) => number;
}

export interface TrafficRun {
  readonly batcher: DynamicBatcher<Req, number>;
  readonly results: Tracked<number>[];
  readonly batches: BatchEvent[];
  readonly drops: DropEvent[];
  /** Items the batches that ran held. */
  readonly ranItems: number;
}

/**
 * Runs `traffic` from `seed` and checks what holds under any options: every request answered,
 * none run after its answer, no more batches at once than `concurrency`, no batch past
 * `maxBatchSize`, the queue and the timers empty after close(), each success its own size back.
 */
export async function randomTraffic(seed: number, traffic: Traffic): Promise<TrafficRun> {
  const rand = random(seed);
  const clock = new FakeClock();
  const maxBatchSize = 8;
  const concurrency = 1 + Math.floor(rand() * 3);
  let running = 0;
  let ranItems = 0;
  const answered = new Set<number>();
  const violations: string[] = [];
  const batcher = new DynamicBatcher<Req, number>({
    clock,
    maxBatchSize,
    concurrency,
    priorityLevels: 3,
    ...traffic.options(rand),
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
      await new Promise<void>((resolve) => clock.setTimeout(resolve, traffic.runMs(items, rand)));
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
  for (let id = 0; id < traffic.requests; id++) {
    const controller = new AbortController();
    controllers.push(controller);
    const request: Req = { id, size: 1 + Math.floor(rand() * (rand() < 0.1 ? 20 : 4)), fails: rand() < 0.05 };
    const t = track(
      batcher.submit(request, {
        signal: controller.signal,
        priority: 1 + Math.floor(rand() * 3),
        timeoutMs: rand() < 0.3 ? 5 + rand() * traffic.timeoutSpanMs : undefined,
      }),
    );
    const done = () => answered.add(id);
    void t.promise.then(done, done);
    results.push(t);
    sizes.push(request.size);
    if (rand() < traffic.abortChance) controllers[Math.floor(rand() * controllers.length)]!.abort();
    await clock.advanceAsync(traffic.gapMs(id, rand));
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
    if (r.state === 'resolved') assert.equal(r.value, sizes[id], `request ${id} got its own size back`);
  });
  return { batcher, results, batches, drops, ranItems };
}
