/**
 * Whether batches of one size still lie on a kept run-time line: a two-sided CUSUM (Page's test)
 * of their residuals against it, in standard deviations of the fit. Tested after every batch, a
 * fixed-level test of the recent mean drops a correct line by chance in time (at two standard
 * errors, about every 180 batches); a CUSUM's sums sink back to 0 while batches lie on the line,
 * so its false alarms stay rare however long the line is kept (once in 250,000 batches or more),
 * and a real shift adds up within a few batches (benchmarks/line-drift.ts measures both).
 */

/** Standard deviations a residual may lie off the line, beyond the line's own error, before it counts. */
const ALLOWANCE = 0.5;
/** Standard errors of the line's prediction a residual may add to that: the line is fitted on noise too. */
const PREDICTION_ERRORS = 3;
/** The sum at which the batches are off the line. */
const THRESHOLD = 9;
/** The most one batch adds to a sum: a lone stall cannot drop the line, three batches far off the same way do. */
const MAX_STEP = THRESHOLD / 3;

/** @internal */
export class LineWatch {
  #high = 0;
  #low = 0;
  #spread = 0;
  #allowance = 0;
  #active = false;

  /** True while a line is watched. */
  get active(): boolean {
    return this.#active;
  }

  /**
   * Starts watching a line with `spreadMs` of run-time noise around it whose prediction for the
   * batches' size has `predictionVariance` (its variance over the noise's: 1/n + (x - x̄)² / Sxx).
   */
  start(spreadMs: number, predictionVariance: number): void {
    this.#high = 0;
    this.#low = 0;
    this.#spread = spreadMs;
    this.#allowance = ALLOWANCE + PREDICTION_ERRORS * Math.sqrt(predictionVariance);
    this.#active = true;
  }

  /** Stops watching. */
  stop(): void {
    this.#active = false;
  }

  /**
   * Adds a batch `residualMs` off the line; true when the batches so far have left it. With no
   * noise around the line (exact or coarse-clock times), a batch off it by more than rounding
   * counts as far off.
   */
  offLine(residualMs: number, toleranceMs: number): boolean {
    const z = this.#spread > 0 ? residualMs / this.#spread : Math.abs(residualMs) <= toleranceMs ? 0 : Math.sign(residualMs) * Infinity;
    this.#high = Math.max(0, this.#high + Math.min(MAX_STEP, z - this.#allowance));
    this.#low = Math.max(0, this.#low + Math.min(MAX_STEP, -z - this.#allowance));
    return this.#high >= THRESHOLD || this.#low >= THRESHOLD;
  }
}
