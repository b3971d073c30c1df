import { FakeClock } from '../../src/testing/fake-clock.js';
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatchContext, type BatchEvent, type DropEvent } from '../../src/batching/index.js';
import { QueueFullError } from '../../src/core/index.js';

/** A promise whose outcome can be read synchronously. */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  readonly state: 'pending' | 'resolved' | 'rejected';
  readonly value: T | undefined;
  readonly error: unknown;
}

/** Follows a promise's outcome without awaiting it (and marks its rejection handled). */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const t = { promise, state: 'pending' as Tracked<T>['state'], value: undefined as T | undefined, error: undefined as unknown };
  promise.then(
    (value) => Object.assign(t, { state: 'resolved', value }),
    (error: unknown) => Object.assign(t, { state: 'rejected', error }),
  );
  return t;
}

/** Resolves after `ms` on the fake clock. */
export function sleep(clock: FakeClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** One call of a recorded execute function. */
export interface Call<Req> {
  readonly requests: readonly Req[];
  readonly context: BatchContext;
  readonly at: number;
}

/**
 * An execute function that records its calls, waits `latencyMs(batch)` on the clock, then maps
 * each request through `fn` (an Error return fails that request alone).
 */
export function recorder<Req, Res>(
  clock: FakeClock,
  fn: (request: Req) => Res | Error,
  latencyMs: number | ((requests: readonly Req[]) => number) = 0,
) {
  const calls: Call<Req>[] = [];
  const execute = async (requests: readonly Req[], context: BatchContext): Promise<(Res | Error)[]> => {
    calls.push({ requests: [...requests], context, at: clock.now() });
    const ms = typeof latencyMs === 'function' ? latencyMs(requests) : latencyMs;
    if (ms > 0) await sleep(clock, ms);
    return requests.map(fn);
  };
  return { calls, execute };
}

/** Collects a batcher's events. */
export function events(batcher: DynamicBatcher<any, any>): { batches: BatchEvent[]; drops: DropEvent[] } {
  const batches: BatchEvent[] = [];
  const drops: DropEvent[] = [];
  batcher.on('batch', (e) => batches.push(e));
  batcher.on('drop', (e) => drops.push(e));
  return { batches, drops };
}

export { FakeClock };

/** A small deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An adaptive batcher of rows, split into parts of 4, on one instance whose batches take items + 2
 * ms, fitted on batches of 1 and 3.
 */
export async function splitting(maxLatencyMs: number) {
  const clock = new FakeClock();
  const { calls, execute } = recorder(clock, (r: number[]) => r, (rs) => rs.flat().length + 2);
  const batcher = new DynamicBatcher<number[], number[]>({
    clock,
    maxBatchSize: 4,
    maxLatencyMs,
    sizeOf: (r) => r.length,
    split: (r, sizes) => sizes.map((n, i) => r.slice(i * 4, i * 4 + n)),
    merge: (parts) => parts.flat(),
    execute,
  });
  const rows = (n: number) => Array.from({ length: n }, (_, i) => i);
  for (const n of [1, 3]) await Promise.all([batcher.submit(rows(n)), clock.advanceAsync(10)]);
  assert.equal(batcher.runTime.fitted, true);
  return { clock, calls, batcher, rows };
}

/** The refusal's retryAfterMs, then the true time until a submit like it is accepted (stepping the fake clock 1 ms at a time). */
export async function estimateAndTruth(clock: FakeClock, submit: () => Promise<unknown>): Promise<{ estimate: number; truth: number }> {
  const refused = track(submit());
  await clock.flush();
  assert.ok(refused.error instanceof QueueFullError, `expected the queue to be full, got ${String(refused.error)}`);
  const estimate = refused.error.retryAfterMs;
  for (let ms = 0; ; ms++) {
    const attempt = track(submit());
    await clock.flush();
    if (!(attempt.error instanceof QueueFullError)) return { estimate, truth: ms };
    await clock.advanceAsync(1);
  }
}
