import { setImmediate as nextTurn } from 'node:timers/promises';
import { DeadlineExceededError, OverloadedError, type DynamicBatcher } from 'servable';
import { quantile, watchEventLoop } from './stats.js';

/** What one closed-loop measurement gives. */
export interface LoadResult {
  /** Items answered per second during the measured window. */
  readonly itemsPerSec: number;
  /** Latency of answered calls, in milliseconds. */
  readonly p50: number;
  readonly p99: number;
  /** Event-loop delay p99 during the measured window, in milliseconds. */
  readonly lagP99: number;
  /** Calls adaptive mode shed (OverloadedError) or refused as too slow alone (DeadlineExceededError) during the window. */
  readonly shed: number;
  /** Calls answered without error during the window. */
  readonly answered: number;
}

/** How to drive one closed loop. */
export interface LoadOptions {
  /** Callers, each sending its next call as soon as the previous one is answered. */
  readonly callers: number;
  /** Length of the measured window. */
  readonly seconds: number;
  /** Items each call carries. @default 1 */
  readonly itemsPerCall?: number;
  /** Unmeasured time before the window, so queues and batch sizes settle. @default 15% of `seconds` */
  readonly warmupSeconds?: number;
}

/**
 * Runs `callers` in-process callers in a closed loop: each awaits `call(caller)`, then calls
 * again. Calls count when they finish inside the measured window. A call rejected with
 * OverloadedError or DeadlineExceededError counts as shed; its caller waits one event-loop turn before its next
 * call, as a client backing off would, so a burst of refusals cannot starve the loop.
 */
export async function closedLoop(options: LoadOptions, call: (caller: number) => Promise<unknown>): Promise<LoadResult> {
  const items = options.itemsPerCall ?? 1;
  const begin = performance.now() + (options.warmupSeconds ?? options.seconds * 0.15) * 1000;
  const end = begin + options.seconds * 1000;
  const latencies: number[] = [];
  let shed = 0;
  const inWindow = (at: number) => at >= begin && at <= end;
  let stopLag: (() => number) | undefined;
  const lagTimer = setTimeout(() => (stopLag = watchEventLoop()), Math.max(0, begin - performance.now()));
  await Promise.all(
    Array.from({ length: options.callers }, async (_, caller) => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await call(caller);
        } catch (error) {
          if (!(error instanceof OverloadedError || error instanceof DeadlineExceededError)) throw error;
          if (inWindow(performance.now())) shed++;
          await nextTurn();
          continue;
        }
        const done = performance.now();
        if (inWindow(done)) latencies.push(done - t);
      }
    }),
  );
  clearTimeout(lagTimer);
  return {
    itemsPerSec: (latencies.length * items) / options.seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    lagP99: stopLag?.() ?? Number.NaN,
    shed,
    answered: latencies.length,
  };
}

/** A batch-size counter on a batcher's `batch` events. */
export interface BatchMeter {
  /** Mean items per batch since the last reset, or NaN when none ran. */
  mean(): number;
  reset(): void;
}

/** Counts the batches a batcher runs. */
export function meterBatches<Req, Res>(batcher: DynamicBatcher<Req, Res>): BatchMeter {
  let batches = 0;
  let items = 0;
  batcher.on('batch', (event) => {
    batches++;
    items += event.size;
  });
  return {
    mean: () => (batches === 0 ? Number.NaN : items / batches),
    reset: () => {
      batches = 0;
      items = 0;
    },
  };
}
