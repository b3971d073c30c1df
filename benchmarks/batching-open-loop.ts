import type { EventLoopUtilization } from 'node:perf_hooks';
import { DeadlineExceededError, OverloadedError, QueueFullError } from 'servable';
import { quantile, watchEventLoop } from './stats.js';

/** How to drive one open loop. */
export interface OpenLoopOptions {
  /** Calls sent per second, as a Poisson process. */
  readonly rate: number;
  /** Length of the measured window. */
  readonly seconds: number;
  /** Unmeasured time before the window, so queues and the adaptive fit settle. @default 0.5 */
  readonly warmupSeconds?: number;
  /** Answers within this many milliseconds count toward goodput. */
  readonly objectiveMs: number;
  /** Seed of the arrival times, so every setting sees the same sequence. @default 1 */
  readonly seed?: number;
}

/** What one open-loop measurement gives; rates are per second of the measured window. */
export interface OpenLoopResult {
  /** The rate asked for. */
  readonly rate: number;
  /** Calls actually sent during the window. */
  readonly offeredPerSec: number;
  /** Answers within the objective. */
  readonly goodputPerSec: number;
  /** Answers over the objective. */
  readonly latePerSec: number;
  /** Calls adaptive mode shed (OverloadedError) or refused as too slow alone (DeadlineExceededError). */
  readonly shedPerSec: number;
  /** Calls rejected with QueueFullError. */
  readonly refusedPerSec: number;
  /** Latency of answered calls, from send to answer, in milliseconds. */
  readonly p50: number;
  readonly p99: number;
  /** Event-loop delay p99 during the window, in milliseconds. */
  readonly lagP99: number;
  /** Share of the window the event loop was busy (0–1): near 1, the main thread limits throughput. */
  readonly loopBusy: number;
  /** How late the driver sent calls against their scheduled times, p99 in milliseconds. */
  readonly sendLateP99: number;
  /** Calls still unsettled when the window closed (awaited, not counted). */
  readonly outstandingAtEnd: number;
}

/** xorshift32 in [0, 1), as in test/fixtures/ocr-models.ts's pseudoRandom. */
function uniform(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

/**
 * Sends `call(i)` at Poisson arrival times of `rate` per second, never waiting for answers. A
 * timer wakes at the next scheduled time and sends every call whose time has come, so slots the
 * timer's granularity or a busy event loop made it miss go out late rather than not at all.
 * Outcomes count when they happen inside the window; calls still unsettled when sending stops
 * are awaited, so the next measurement starts on an idle queue, but not counted. Any rejection
 * other than OverloadedError, DeadlineExceededError or QueueFullError is thrown once they have settled.
 */
export async function openLoop(options: OpenLoopOptions, call: (i: number) => Promise<unknown>): Promise<OpenLoopResult> {
  // A rate that is not a positive number (a capacity measured as NaN) would never schedule a call, and never end.
  if (!(options.rate > 0 && Number.isFinite(options.rate))) throw new RangeError(`Expected a positive arrival rate, got ${options.rate}`);
  const random = uniform(options.seed ?? 1);
  const gapMs = () => (-Math.log(1 - random()) / options.rate) * 1000;
  const start = performance.now();
  const begin = start + (options.warmupSeconds ?? 0.5) * 1000;
  const end = begin + options.seconds * 1000;
  const inWindow = (at: number) => at >= begin && at < end;
  const latencies: number[] = [];
  const sendLate: number[] = [];
  const pending = new Set<Promise<void>>();
  let offered = 0;
  let shed = 0;
  let refused = 0;
  let failure: unknown;

  const send = (i: number, scheduled: number) => {
    const sent = performance.now();
    if (inWindow(sent)) {
      offered++;
      sendLate.push(sent - scheduled);
    }
    const settled = call(i).then(
      () => {
        const done = performance.now();
        if (inWindow(done)) latencies.push(done - sent);
      },
      (error: unknown) => {
        const counted = inWindow(performance.now());
        if (error instanceof OverloadedError || error instanceof DeadlineExceededError) shed += counted ? 1 : 0;
        else if (error instanceof QueueFullError) refused += counted ? 1 : 0;
        else failure ??= error;
      },
    ).finally(() => pending.delete(settled));
    pending.add(settled);
  };

  let stopLag: (() => number) | undefined;
  let busyFrom: EventLoopUtilization | undefined;
  const lagTimer = setTimeout(() => {
    stopLag = watchEventLoop();
    busyFrom = performance.eventLoopUtilization();
  }, begin - start);
  await new Promise<void>((resolve) => {
    let next = start;
    let i = 0;
    const tick = () => {
      const now = performance.now();
      for (; next <= now && next < end; next += gapMs()) send(i++, next);
      setTimeout(next >= end ? resolve : tick, Math.min(next, end) - performance.now());
    };
    tick();
  });
  clearTimeout(lagTimer);
  const lagP99 = stopLag?.() ?? Number.NaN;
  const loopBusy = busyFrom ? performance.eventLoopUtilization(busyFrom).utilization : Number.NaN;
  const outstandingAtEnd = pending.size;
  while (pending.size > 0) await Promise.all(pending);
  if (failure !== undefined) throw failure;

  const perSec = (n: number) => n / options.seconds;
  const good = latencies.filter((ms) => ms <= options.objectiveMs).length;
  return {
    rate: options.rate,
    offeredPerSec: perSec(offered),
    goodputPerSec: perSec(good),
    latePerSec: perSec(latencies.length - good),
    shedPerSec: perSec(shed),
    refusedPerSec: perSec(refused),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    lagP99,
    loopBusy,
    sendLateP99: quantile(sendLate, 0.99),
    outstandingAtEnd,
  };
}
