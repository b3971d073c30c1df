/**
 * What the batcher learns about itself: batch run time as a linear function of its items, fitted
 * by least squares over recent batches. Adaptive mode decides from it, and from the arrival rate
 * (adaptive-dispatch.ts), when a batch should go.
 */
import { LineWatch } from './drift.js';
import { FAR_RATIO, keptSpread, loneOutliers, median } from './outliers.js';
import { dropBefore, slowerPast } from './slower-past.js';

/** A snapshot of the learned run-time model, as {@link DynamicBatcher.runTime} reports it. */
export interface RunTimeModel {
  /** Milliseconds each item adds to a batch (a in a·n + b); 0 until fitted. */
  readonly perItemMs: number;
  /** Fixed milliseconds of every batch (b in a·n + b); 0 until fitted. */
  readonly overheadMs: number;
  /** Mean run time of the recent batches the fit is drawn from, or undefined before the first. */
  readonly meanRunMs: number | undefined;
  /** Batches the fit is drawn from. */
  readonly samples: number;
  /** Recent batches left out of the fit as lone outliers (a stall no batch next to it confirmed). */
  readonly outliers: number;
  /** True once batches of at least two sizes were seen, so a and b are fitted, not guessed; kept while batches of one size alone still lie on the line. */
  readonly fitted: boolean;
  /**
   * Standard deviation of the recent batches' run times around the fit (the mean before one); 0
   * before the first. A burst of batches far off the fit that has ended (a stall that held several
   * in a row, the newest batch back on the other side of the line, no other batch far off that
   * way) is left out, and the rest taken about their mean where it lies below the line the burst
   * raised.
   */
  readonly spreadMs: number;
}

/**
 * How many standard deviations of run time adaptive mode keeps in hand when it plans against the
 * objective: planning with the fit alone, about half the batches run longer than planned, and
 * requests at the edge of the objective are answered late instead of shed.
 */
const SPREAD_MARGIN = 2;

/** The time adaptive mode keeps in hand against `maxLatencyMs` for run-time noise. */
export function noiseMarginMs(model: LatencyModel): number {
  return SPREAD_MARGIN * model.spreadMs;
}

/**
 * The most items a request that has waited `waitedMs` may share a batch with and still finish
 * within the objective, noise margin kept: (maxLatencyMs - waited - b - margin) / a, rounded down.
 * Only for a fitted model with a per-item cost above 0.
 */
export function allowance(model: LatencyModel, maxLatencyMs: number, waitedMs: number): number {
  return Math.floor((maxLatencyMs - waitedMs - model.overheadMs - noiseMarginMs(model)) / model.perItemMs);
}

/**
 * How long `parts` batches of `maxBatchSize` items take on `instances` running side by side: the
 * rounds they need, each taking the model's estimate for a full batch.
 */
export function partsRunMs(model: LatencyModel, parts: number, maxBatchSize: number, instances: number): number {
  return Math.ceil(parts / Math.max(1, instances)) * model.estimate(maxBatchSize);
}

/**
 * True when the model says not even one item, started at once, finishes within the objective.
 * The model is then the likelier fault (drawn from a few slow first batches, say), and an idle
 * batcher runs requests rather than refuse them: refusing all would leave no batch to correct it.
 */
export function nothingFits(model: LatencyModel, maxLatencyMs: number): boolean {
  return model.estimate(1) + noiseMarginMs(model) >= maxLatencyMs;
}

/** Batch run time = a·items + b, fitted by least squares over a window of recent batches. */
export class LatencyModel {
  readonly #items: number[] = [];
  readonly #ms: number[] = [];
  readonly #window: number;
  #next = 0;
  #a = 0;
  #b = 0;
  #mean: number | undefined;
  #meanItems = 1;
  /** The smallest batch the line was fitted on (kept with the line while batches of one size lie on it). */
  #minItems = 1;
  #spread = 0;
  #fitted = false;
  /** True while the window holds batches of one size alone and the line is kept from before. */
  #kept = false;
  #samples = 0;
  #cuts = 0;
  /** True when a batch was recorded since the last fit. */
  #stale = false;
  /** Batches recorded since the last fit, at most a window's: those a kept line has not yet been checked against. */
  #unchecked = 0;
  /** Of the last line fitted on two sizes or more: its batches, their mean and largest size, Sxx and spread. */
  #lineCount = 0;
  #lineMostItems = 0;
  #lineMeanItems = 0;
  #lineSxx = 0;
  #lineSpread = 0;
  readonly #watch = new LineWatch();

  /** @param window How many recent batches the fit is drawn from. */
  constructor(window = 50) {
    this.#window = window;
  }

  /** How many times a slower past was dropped from the window (see slower-past.ts). */
  get cuts(): number {
    return this.#cuts;
  }

  /**
   * Records one successful batch, which started when {@link cuts} read `cuts`: one that started
   * before a slower past was dropped and took over `FAR_RATIO` times the estimate belongs to it.
   */
  record(items: number, ms: number, cuts = this.#cuts): void {
    if (cuts !== this.#cuts && ms > FAR_RATIO * this.estimate(items)) return;
    this.#items[this.#next] = items;
    this.#ms[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#window;
    this.#stale = true;
    this.#unchecked = Math.min(this.#unchecked + 1, this.#window);
  }

  /**
   * Predicted run time of a batch of `items`, 0 before any batch. Until batches of two sizes give
   * a slope, the split between per-item and fixed cost is unknown, so the estimate is the lower of
   * its two bounds: the mean run time for larger batches, a proportional share for smaller ones.
   * The mean of full 16-item batches must not stand for the cost of one item, or a saturated
   * batcher that only ever runs full batches would shed every request and never learn otherwise.
   * For the same reason a fitted line is not followed below the smallest batch it was fitted on:
   * fitted on batches of 15 and 16 alone, noise can make it flat, and its fixed cost would then be
   * a whole batch's. Below that size the estimate is the same lower bound, the smallest batch's
   * time shared out per item.
   */
  estimate(items: number): number {
    this.#refit();
    if (this.#fitted) {
      const least = this.#minItems;
      return items < least ? ((this.#a * least + this.#b) * items) / least : this.#a * items + this.#b;
    }
    return this.#mean === undefined ? 0 : this.#mean * Math.min(1, items / this.#meanItems);
  }

  /** Mean run time of the recent batches the fit is drawn from, or undefined before the first. */
  get meanRunMs(): number | undefined {
    this.#refit();
    return this.#mean;
  }

  /**
   * Median run time of the recent batches, or undefined before the first: a few cold or stalled
   * batches barely move it, where they would hold the mean up until they left the window. Taken
   * on each read, which only a refused request makes.
   */
  get medianRunMs(): number | undefined {
    return this.#ms.length === 0 ? undefined : median(this.#ms);
  }

  /** The cost of each item (a); 0 until fitted. */
  get perItemMs(): number {
    this.#refit();
    return this.#a;
  }

  /** The fixed cost of a batch (b); 0 until fitted. */
  get overheadMs(): number {
    this.#refit();
    return this.#b;
  }

  /** Mean items of the batches the fit is drawn from; every batch's size while they hold one size. */
  get meanItems(): number {
    this.#refit();
    return this.#meanItems;
  }

  /** The largest batch the line was fitted on, while {@link LatencyModel.fitted}: beyond it the line is a guess. */
  get mostItems(): number {
    this.#refit();
    return this.#lineMostItems;
  }

  /** Standard deviation of the recent run times around the fit, or around the mean before one, less a burst that has ended (see {@link RunTimeModel.spreadMs}). */
  get spreadMs(): number {
    this.#refit();
    return this.#spread;
  }

  /** True once the batches the fit is drawn from hold at least two sizes, or one size alone that still lies on the last line. */
  get fitted(): boolean {
    this.#refit();
    return this.#fitted;
  }

  /**
   * True while the batches the fit is drawn from all hold one size and the line is kept from an
   * earlier fit: they check it at that size alone, never its slope.
   */
  get keptLine(): boolean {
    this.#refit();
    return this.#kept;
  }

  /** The model as plain data. */
  snapshot(): RunTimeModel {
    this.#refit();
    const { length } = this.#items;
    return {
      perItemMs: this.#a,
      overheadMs: this.#b,
      meanRunMs: this.#mean,
      samples: this.#samples,
      outliers: length - this.#samples,
      fitted: this.#fitted,
      spreadMs: this.#spread,
    };
  }

  /**
   * Refits the line and its spread to the window, less its lone outliers, at the first read after
   * a batch was recorded: a batcher that reads none of it (no `maxLatencyMs`, no timed request
   * waiting, no full queue) pays nothing per batch, and one that does pays once per batch, however
   * often it reads. One stalled batch would otherwise tilt the line and swell the spread kept in
   * hand, and every request would look too slow until it left the window.
   */
  #refit(): void {
    if (!this.#stale) return;
    this.#stale = false;
    const oldest = this.#items.length < this.#window ? 0 : this.#next;
    const lone = loneOutliers(this.#items, this.#ms, oldest);
    const xs = lone.length === 0 ? this.#items : this.#items.filter((_, i) => !lone.includes(i));
    const ys = lone.length === 0 ? this.#ms : this.#ms.filter((_, i) => !lone.includes(i));
    this.#samples = xs.length;
    this.#fitLine(xs, ys);
    // Around the line, or around the mean while there is none.
    const predicted = xs.map((x) => (this.#fitted ? this.#a * x + this.#b : this.#mean!));
    let squares = 0;
    for (let i = 0; i < xs.length; i++) squares += (ys[i]! - predicted[i]!) ** 2;
    const rms = Math.sqrt(squares / xs.length);
    // Rounding leaves a trace on exact data; it must not move a cap computed with it.
    const trace = 1e-9 * (this.#mean! + 1);
    // The fit's batches in the order they ran, by their place in the window and in xs.
    const order = Array.from(this.#items, (_, k) => (oldest + k) % this.#items.length).filter((i) => !lone.includes(i));
    const spread = keptSpread(ys, predicted, lone.length === 0 ? order : order.map((i) => i - lone.filter((j) => j < i).length), rms);
    this.#spread = spread < trace ? 0 : spread;
    // The CUSUM watching a kept line is scaled, as it was tuned (benchmarks/line-drift.ts), by
    // the spread of every batch of the fit.
    if (this.#fitted && !this.#watch.active) this.#lineSpread = rms < trace ? 0 : rms;
    this.#unchecked = 0;
    // Batches since a fresh version's slow first runs: fit the present alone (see slower-past.ts).
    const past = slowerPast(this.#items, this.#ms, order, (n) => (this.#fitted ? this.#a * n + this.#b : this.#mean!));
    if (past === 0) return;
    this.#next = dropBefore(this.#items, this.#ms, oldest, order[past]!);
    this.#cuts++;
    this.#stale = true;
    this.#refit();
  }

  /**
   * Whether the batches of one size that are all the window holds still lie on the last line. A
   * steady load settles on one size, and once the batches of other sizes leave the window the line
   * would be lost, and any larger batch estimated at their mean: a model that got 3 × slower
   * (3·n + 12 ms, batches of 3) ran a batch of 5, 27 ms, planned as 21. The line is kept until a
   * CUSUM of the batches recorded since says they left it (see {@link LineWatch}); each batch is
   * checked once, at the first fit after it.
   */
  #onLine(items: number): boolean {
    if (!this.#watch.active) {
      const dx = items - this.#lineMeanItems;
      this.#watch.start(this.#lineSpread, 1 / this.#lineCount + (dx * dx) / this.#lineSxx);
    }
    const predicted = this.#a * items + this.#b;
    const tolerance = 1e-9 * (predicted + 1);
    for (let k = Math.min(this.#unchecked, this.#items.length); k > 0; k--) {
      const i = (this.#next - k + this.#window) % this.#window;
      if (this.#items[i] === items && this.#watch.offLine(this.#ms[i]! - predicted, tolerance)) return false;
    }
    return true;
  }

  /**
   * Whether the line passes within three of their own standard deviations, or within `FAR_RATIO`
   * times, of the mean of the batches of one size the window holds. The CUSUM judges them in the
   * spread of the fit the line came from, and a fit drawn across a fresh version's slow first
   * batches and the fast ones after has a spread wider than its error at that size: kept, such a
   * line said a batch of 1 that took 1.5 ms took 8.7, so nothing seemed to fit the objective, every
   * request but one at a time was shed, and no batch of another size ran to correct it.
   */
  #throughMean(items: number, ys: readonly number[], mean: number): boolean {
    let squares = 0;
    for (let i = 0; i < ys.length; i++) squares += (ys[i]! - mean) * (ys[i]! - mean);
    const predicted = this.#a * items + this.#b;
    // Or within FAR_RATIO of it: occasional slow batches swing their own spread and exact ones have
    // none, while the line a cold start left behind was off by more than that (8.7 ms for 1.5).
    return (
      Math.abs(mean - predicted) <= 3 * Math.sqrt(squares / ys.length) + 1e-9 * (predicted + 1) ||
      (predicted <= FAR_RATIO * mean && FAR_RATIO * predicted >= mean)
    );
  }

  #fitLine(xs: readonly number[], ys: readonly number[]): void {
    const n = xs.length;
    let sx = 0;
    let sy = 0;
    let least = Infinity;
    let most = -Infinity;
    for (let i = 0; i < n; i++) {
      sx += xs[i]!;
      sy += ys[i]!;
      least = Math.min(least, xs[i]!);
      most = Math.max(most, xs[i]!);
    }
    const fittedDownTo = this.#minItems;
    this.#minItems = least;
    const mx = sx / n;
    const my = sy / n;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      const dx = xs[i]! - mx;
      sxx += dx * dx;
      sxy += dx * (ys[i]! - my);
    }
    this.#mean = my;
    this.#meanItems = mx;
    this.#kept = false;
    if (sxx === 0) {
      // Beyond the sizes it was fitted on the line is a guess, too loose to tell a shift by.
      if (this.#fitted && least >= fittedDownTo && least <= this.#lineMostItems && this.#throughMean(least, ys, my) && this.#onLine(least)) {
        // Kept, the line is still the one fitted down to its smallest batch.
        this.#minItems = fittedDownTo;
        this.#kept = true;
        return;
      }
      this.#watch.stop();
      this.#fitted = false;
      this.#a = 0;
      this.#b = 0;
      return;
    }
    this.#watch.stop();
    this.#lineCount = n;
    this.#lineMeanItems = mx;
    this.#lineSxx = sxx;
    this.#lineMostItems = most;
    this.#fitted = true;
    this.#a = sxy / sxx;
    this.#b = my - this.#a * mx;
    // Noise can tilt the line below zero; keep both terms non-negative.
    if (this.#a < 0) {
      this.#a = 0;
      this.#b = my;
    } else if (this.#b < 0) {
      let sxxo = 0;
      let sxyo = 0;
      for (let i = 0; i < n; i++) {
        sxxo += xs[i]! * xs[i]!;
        sxyo += xs[i]! * ys[i]!;
      }
      this.#a = sxyo / sxxo;
      this.#b = 0;
    }
  }
}
