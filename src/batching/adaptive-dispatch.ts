/**
 * Adaptive mode's dispatch time: from the arrival rate of requests and the learned run-time line,
 * when waiting for more requests stops raising throughput.
 */
import { noiseMarginMs, type LatencyModel } from './adaptive.js';

/** The arrival rate of requests as an exponentially weighted mean gap between arrivals. */
export class ArrivalRate {
  #last: number | undefined;
  #gap: number | undefined;
  /** Callers answered (by a batch, a retry, a drop or a refusal) that have not come back since. */
  #owed = 0;
  #anyAnswered = false;

  /** Records an arrival at `now`: one answered caller back, if any is out. */
  record(now: number): void {
    if (this.#owed > 0) this.#owed--;
    if (this.#last !== undefined) {
      const gap = now - this.#last;
      this.#gap = this.#gap === undefined ? gap : this.#gap + 0.2 * (gap - this.#gap);
    }
    this.#last = now;
  }

  /** The last arrival, or undefined before the first. */
  get last(): number | undefined {
    return this.#last;
  }

  /** Records that a request was answered (its caller, in a closed loop, sends another). */
  answered(): void {
    this.#owed++;
    this.#anyAnswered = true;
  }

  /**
   * Records that a batch went with none in flight: callers answered and not back by then are
   * forgotten (a closed loop that lost callers would otherwise count them out for good); those
   * that come back later arrive as new ones.
   */
  dispatchedAlone(): void {
    this.#owed = 0;
  }

  /**
   * Whether, since the first answer, as many requests have arrived as were answered, each arrival
   * counted against an answer given before it: in a closed loop, every caller answered has come
   * back, whichever batch answered it and whenever.
   */
  get answeredBack(): boolean {
    return this.#anyAnswered && this.#owed === 0;
  }

  /** The mean gap between arrivals in milliseconds, or undefined before the second arrival. */
  get meanGapMs(): number | undefined {
    return this.#gap;
  }
}

/** What {@link adaptiveDispatchAt} decides from. */
export interface AdaptiveState {
  readonly now: number;
  /** Items of the batch that could go now. */
  readonly items: number;
  readonly maxBatchSize: number;
  /** When the longest-waiting request of that batch was queued. */
  readonly oldestAt: number;
  readonly maxLatencyMs: number;
  /** An explicit cap on the wait (`maxQueueDelayMs`). */
  readonly maxWaitMs: number | undefined;
  readonly model: LatencyModel;
  readonly arrivals: ArrivalRate;
  /** Batches in flight; when not given, never taken for none. */
  readonly running?: number;
}

/**
 * When a batch of `items` should go; at or before `now` means now.
 *
 * Waiting for k more requests (k / λ ms at arrival rate λ) raises throughput when
 * (n + k) / (k/λ + a(n + k) + b) > n / (an + b), which reduces to n < λ·b for every k: wait while
 * fewer requests are queued than arrive during one batch's fixed cost. The wait ends when the
 * oldest request could no longer finish within the objective with one more item, or, should
 * arrivals stop, once the gap since the last one makes λ·b fall to n.
 *
 * No wait when no batch is in flight and every request answered has been followed by an arrival
 * (counted over all batches, not the last one alone: with two in flight, the late callers of the
 * first are not the second's): in a closed loop every caller is back, and no answer is pending to
 * send more, so the rate (a burst, then nothing for a whole batch) promises arrivals that cannot come.
 */
export function adaptiveDispatchAt(state: AdaptiveState): number {
  const { now, items, model, arrivals } = state;
  let latest = state.oldestAt + state.maxLatencyMs - model.estimate(Math.min(items + 1, state.maxBatchSize)) - noiseMarginMs(model);
  if (state.maxWaitMs !== undefined) latest = Math.min(latest, state.oldestAt + state.maxWaitMs);
  const b = model.overheadMs;
  const last = arrivals.last;
  const meanGap = arrivals.meanGapMs;
  if (latest <= now || b <= 0 || last === undefined || meanGap === undefined) return now;
  if (state.running === 0 && arrivals.answeredBack) return now;
  const gap = Math.max(meanGap, now - last);
  if (items * gap >= b) return now;
  return Math.min(latest, last + b / items);
}
