/**
 * Whether the oldest batches of the run-time window ran consistently slower than the recent ones:
 * a fresh version's first runs (cold caches, a runtime's first passes) take several times the
 * steady time, and kept in the fit they pull the line up, so requests that would make the
 * objective are shed until they leave the window. A slowdown (batches getting slower) is not
 * looked for here: the slow recent batches count at once, as they should.
 */
import { FAR_RATIO } from './outliers.js';

/** Recent batches that must run at the new speed before the older ones are taken to be the past. */
const MIN_PRESENT = 5;
/**
 * Older batches that must have run slower: one or two far off are a stall the outliers' rule
 * judges, and where a tenth of batches take twice as long, three or four of them came together
 * at the window's end by chance every few thousand batches.
 */
const MIN_PAST = 6;
/** The share of them that must each have run over `FAR_RATIO` times slower. */
const SLOW_SHARE = 0.75;
/** Standard deviations of the recent batches' own noise the older ones must lie above them, on average. */
const PRESENT_SIGMAS = 3;

/**
 * How many of the batches judged are the slower past, 0 for none: the window keeps those from
 * `order[count]` on. `order` holds the indexes of the batches judged (lone outliers left out),
 * oldest first; `predict` is the window's fit.
 *
 * The residuals from the fit split in time where the split's change in mean, weighted by
 * √(before·after / n) as Page's and Hinkley's estimate of a change point weighs it, is largest. The
 * batches before that point are dropped only when there are at least `MIN_PRESENT` after it, the
 * before ones lie on average `PRESENT_SIGMAS` of the after ones' standard deviations above them,
 * there are at least `MIN_PAST` of them, and `SLOW_SHARE` of them took over `FAR_RATIO` times the
 * most the after ones allow them (see `lineOf`): noise, or a stall now and then, leaves
 * most batches near the line, and a window of batches that run at one speed is kept whole.
 */
export function slowerPast(items: readonly number[], ms: readonly number[], order: readonly number[], predict: (items: number) => number): number {
  const n = order.length;
  if (n < MIN_PAST + MIN_PRESENT) return 0;
  const residuals = order.map((i) => ms[i]! - predict(items[i]!));
  let total = 0;
  for (const r of residuals) total += r;
  let before = 0;
  let split = 0;
  let best = 0;
  for (let s = 1; s <= n - MIN_PRESENT; s++) {
    before += residuals[s - 1]!;
    if (s < MIN_PAST) continue;
    const shift = (before / s - (total - before) / (n - s)) * Math.sqrt((s * (n - s)) / n);
    if (shift > best) {
      best = shift;
      split = s;
    }
  }
  if (split === 0) return 0;
  const after = order.slice(split);
  const own = lineOf(items, ms, after);
  let squares = 0;
  for (const i of after) squares += (ms[i]! - own.at(items[i]!)) ** 2;
  const noise = Math.sqrt(squares / after.length);
  let above = 0;
  let slow = 0;
  for (let k = 0; k < split; k++) {
    const i = order[k]!;
    const expected = own.most(items[i]!);
    above += ms[i]! - expected;
    if (ms[i]! > FAR_RATIO * expected) slow++;
  }
  return above / split > PRESENT_SIGMAS * noise && slow >= SLOW_SHARE * split ? split : 0;
}

/**
 * The least-squares line of the batches at `at` (slope clamped at 0; their mean while they hold
 * one size): `at` reads it within their sizes, `most` bounds a batch's time from above anywhere, on
 * the line within their sizes, the smallest one's time below them, and the largest one's time per
 * item above: a batch is judged slower than the present only by what the present allows it.
 */
function lineOf(items: readonly number[], ms: readonly number[], at: readonly number[]): { at: (x: number) => number; most: (x: number) => number } {
  let sx = 0;
  let sy = 0;
  let least = Infinity;
  let largest = -Infinity;
  for (const i of at) {
    sx += items[i]!;
    sy += ms[i]!;
    least = Math.min(least, items[i]!);
    largest = Math.max(largest, items[i]!);
  }
  const mx = sx / at.length;
  const my = sy / at.length;
  let sxx = 0;
  let sxy = 0;
  for (const i of at) {
    sxx += (items[i]! - mx) ** 2;
    sxy += (items[i]! - mx) * (ms[i]! - my);
  }
  const a = sxx > 0 ? Math.max(0, sxy / sxx) : 0;
  const line = (x: number) => my + a * (x - mx);
  return { at: line, most: (x) => (x < least ? line(least) : x > largest ? (line(largest) * x) / largest : line(x)) };
}

/**
 * Drops the batches of a ring (`items`, `ms`, its oldest at `oldest`) recorded before the one at
 * `first`, keeping the rest oldest first from index 0; returns where the next batch goes.
 */
export function dropBefore(items: number[], ms: number[], oldest: number, first: number): number {
  const { length } = items;
  const from = (first - oldest + length) % length;
  const keptItems: number[] = [];
  const keptMs: number[] = [];
  for (let k = from; k < length; k++) {
    keptItems.push(items[(oldest + k) % length]!);
    keptMs.push(ms[(oldest + k) % length]!);
  }
  items.splice(0, length, ...keptItems);
  ms.splice(0, length, ...keptMs);
  return items.length;
}
