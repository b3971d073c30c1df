/**
 * Which recent batches the run-time model leaves out of its fit: a lone batch far off the line the
 * others draw (a GC pause, a scheduler hiccup), until the batch recorded next to it is far off the
 * same way and so confirms a real change.
 */

/** Batches in the window before any is judged: with fewer, which one is off cannot be told. */
const MIN_SAMPLES = 5;
/** How many times the others' prediction a batch must take (or its inverse) to be off their line. */
export const FAR_RATIO = 2;
/** How many robust standard deviations of the residuals it must lie from that line, so noise is not taken for a stall. */
const FAR_SIGMAS = 3;
/** The median absolute deviation times this estimates a normal spread's standard deviation. */
const MAD_TO_SIGMA = 1.4826;
/**
 * The most lone outliers a window may hold: more are a slowdown that recurs (a pause every few
 * batches), how the model runs, which the spread must keep. Where most batches take the same time,
 * the robust spread is near 0 and every slow batch stands out of it, rare or not.
 */
const MAX_LONE = 2;

/**
 * The lone outliers of a window of batches (`items[i]` items that took `ms[i]`), held as a ring
 * whose oldest batch is at `oldest`: the indexes of the batches to leave out of the fit.
 *
 * Each batch whose size lies within the others' sizes is judged against the least-squares line of
 * the others (its deleted residual, `r / (1 - h)` with h its leverage), so an outlier cannot pull
 * the line it is judged by. It is off the line when it took over `FAR_RATIO` times that line's
 * prediction for its size (or under its inverse) and lies `FAR_SIGMAS` robust standard deviations
 * of the residuals from it. The batch furthest off is set apart and the rest judged again, so that
 * one stall, tilting the line, does not make normal batches look off it. A batch set apart is left
 * out only while neither batch recorded next to it is off the line the same way: two slow batches
 * in a row are a slowdown, and count at once. More than `MAX_LONE` lone ones are a slowdown that
 * recurs: none is left out.
 *
 * @internal
 */
export function loneOutliers(items: readonly number[], ms: readonly number[], oldest: number): number[] {
  const n = items.length;
  const rest: number[] = [];
  for (let i = 0; i < n; i++) rest.push(i);
  // Index to side: -1 far below the others' line, 1 far above.
  const off = new Map<number, number>();
  const residuals = new Float64Array(n);
  while (rest.length >= MIN_SAMPLES && rest.length * 2 > n) {
    const far = furthestOff(items, ms, rest, residuals);
    if (far === undefined) break;
    off.set(rest[far.at]!, far.side);
    rest.splice(far.at, 1);
  }
  const lone: number[] = [];
  for (const [i, side] of off) {
    const age = (i - oldest + n) % n;
    const confirmed = (age > 0 && off.get((i - 1 + n) % n) === side) || (age < n - 1 && off.get((i + 1) % n) === side);
    if (!confirmed) lone.push(i);
  }
  return lone.length > MAX_LONE ? [] : lone;
}

/**
 * Of the batches at `rest`, the one furthest off the line of the others, if any is off it: its
 * place in `rest` and its side. The spread, which takes two medians, is measured only when some
 * batch is that many times off its prediction, as none is in most windows. `residuals` is room
 * for the residuals of `rest`, which it overwrites.
 */
function furthestOff(items: readonly number[], ms: readonly number[], rest: readonly number[], residuals: Float64Array): { at: number; side: number } | undefined {
  const n = rest.length;
  let sx = 0;
  let sy = 0;
  // The smallest and largest sizes, and how many batches have each.
  let least = Infinity;
  let most = -Infinity;
  let leastCount = 0;
  let mostCount = 0;
  for (let k = 0; k < n; k++) {
    const i = rest[k]!;
    const x = items[i]!;
    sx += x;
    sy += ms[i]!;
    if (x < least) {
      least = x;
      leastCount = 0;
    }
    if (x === least) leastCount++;
    if (x > most) {
      most = x;
      mostCount = 0;
    }
    if (x === most) mostCount++;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  for (let k = 0; k < n; k++) {
    const i = rest[k]!;
    sxx += (items[i]! - mx) ** 2;
    sxy += (items[i]! - mx) * (ms[i]! - my);
  }
  const a = sxx > 0 ? sxy / sxx : 0;
  let at = -1;
  let side = 0;
  let furthestMs = 0;
  for (let k = 0; k < n; k++) {
    const i = rest[k]!;
    const x = items[i]!;
    const y = ms[i]!;
    const residual = y - my - a * (x - mx);
    residuals[k] = residual;
    // Beyond the sizes of the others their line is a guess: a batch larger than any before may
    // well take more than twice what it predicts.
    if ((x === least && leastCount === 1) || (x === most && mostCount === 1)) continue;
    const leverage = 1 / n + (sxx > 0 ? (x - mx) ** 2 / sxx : 0);
    const off = residual / (1 - leverage);
    const predicted = y - off;
    const s = y > FAR_RATIO * predicted ? 1 : y * FAR_RATIO < predicted ? -1 : 0;
    if (s !== 0 && Math.abs(off) > furthestMs) {
      at = k;
      side = s;
      furthestMs = Math.abs(off);
    }
  }
  if (at < 0) return undefined;
  // Under noisy run times this runs up to n/2 times a refit: medians by selection, not sorting.
  const centre = medianInPlace(residuals, n);
  for (let k = 0; k < n; k++) residuals[k] = Math.abs(residuals[k]! - centre);
  const sigma = MAD_TO_SIGMA * medianInPlace(residuals, n);
  // The furthest is the likeliest to stand out of the noise: if it does not, none does.
  return furthestMs > FAR_SIGMAS * sigma ? { at, side } : undefined;
}

/**
 * The spread of a fit's batches (`ms[i]` against its `predicted[i]`, `order` their indexes in the
 * order they ran) less a burst that has ended: batches far off the fit, over `FAR_RATIO` times
 * their prediction (or under its inverse) and more than `FAR_SIGMAS` robust standard deviations
 * of the residuals from their median, next to another far off the same way, where the newest batch
 * lies on the other side of the fit, and no other batch is far off that way. With none left out
 * it is `rmsMs`, the root mean square of the residuals.
 *
 * A stall that held several batches in a row counts in the line, as a slowdown would (see
 * {@link loneOutliers}), but once it has ended, not in the spread: five batches at 30 × among 45
 * made it 30 ms, and twice that, kept in hand, exceeded a 20 ms objective, so every queued request
 * was shed until they left the window. The rest are then taken about their mean where it lies
 * below the fit: the burst raised the line above them, a gap that is slack, not noise. While the
 * newest batch lies on the burst's side, the model may have got slower, and a spread that left
 * out a slowdown's first batches answered requests late while the line caught up. Far-off batches
 * in more than one group (apart from each other, or bursts that recur: two in a row every ten
 * batches read 4.8 ms where a fifth of them took 30 × longer) count as in the fit.
 *
 * @internal
 */
export function keptSpread(ms: readonly number[], predicted: readonly number[], order: readonly number[], rmsMs: number): number {
  const n = ms.length;
  const newest = order[order.length - 1]!;
  const burst = ms[newest]! > predicted[newest]! ? -1 : 1;
  // Most windows hold no two batches in a row that many times off their prediction: nothing is
  // left out, and the two medians are not taken.
  const far = (i: number) => (burst === 1 ? ms[i]! > FAR_RATIO * predicted[i]! : ms[i]! * FAR_RATIO < predicted[i]!);
  let pair = false;
  for (let t = 1; t < order.length && !pair; t++) pair = far(order[t - 1]!) && far(order[t]!);
  if (!pair) return rmsMs;
  const residuals = Float64Array.from(ms, (y, i) => y - predicted[i]!);
  const deviations = Float64Array.from(residuals);
  const centre = medianInPlace(deviations, n);
  for (let i = 0; i < n; i++) deviations[i] = Math.abs(residuals[i]! - centre);
  const farMs = FAR_SIGMAS * MAD_TO_SIGMA * medianInPlace(deviations, n);
  // Each batch's side of the fit where it lies far off it, in the order they ran: 1 above, -1 below.
  const sides = order.map((i) => {
    if (Math.abs(residuals[i]! - centre) <= farMs) return 0;
    return ms[i]! > FAR_RATIO * predicted[i]! ? 1 : ms[i]! * FAR_RATIO < predicted[i]! ? -1 : 0;
  });
  const kept: number[] = [];
  let groups = 0;
  for (let t = 0; t < order.length; t++) {
    if (sides[t] === burst && sides[t - 1] !== burst) groups++;
    const left = sides[t] === burst && (sides[t - 1] === burst || sides[t + 1] === burst);
    if (!left) kept.push(residuals[order[t]!]!);
  }
  // Far-off batches in more than one group are stalls that recur, how the model runs.
  if (kept.length === n || groups > 1) return rmsMs;
  const mean = Math.min(0, kept.reduce((sum, r) => sum + r, 0) / kept.length);
  return Math.sqrt(kept.reduce((sum, r) => sum + (r - mean) ** 2, 0) / kept.length);
}

/** The median of a non-empty list. @internal */
export function median(values: readonly number[]): number {
  return medianInPlace(Float64Array.from(values));
}

/**
 * The median of the first `length` values of an array, which it reorders: the middle values are
 * selected in linear time, not sorted, and the result is the one a sort would give.
 */
function medianInPlace(values: Float64Array, length = values.length): number {
  const middle = length >> 1;
  select(values, length, middle);
  if (length % 2 === 1) return values[middle]!;
  // Selection leaves the smaller half before the middle: its largest is the other middle value.
  let below = values[0]!;
  for (let i = 1; i < middle; i++) if (values[i]! > below) below = values[i]!;
  return (below + values[middle]!) / 2;
}

/**
 * Moves the `k`-th smallest (from 0) of the first `length` values to index `k`, those before it no
 * larger and those after no smaller (Wirth's selection).
 */
function select(values: Float64Array, length: number, k: number): void {
  let lo = 0;
  let hi = length - 1;
  while (lo < hi) {
    const pivot = values[k]!;
    let i = lo;
    let j = hi;
    do {
      while (values[i]! < pivot) i++;
      while (pivot < values[j]!) j--;
      if (i <= j) {
        const swap = values[i]!;
        values[i] = values[j]!;
        values[j] = swap;
        i++;
        j--;
      }
    } while (i <= j);
    if (j < k) lo = i;
    if (k < i) hi = j;
  }
}
