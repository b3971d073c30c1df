import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loneOutliers, median } from '../../src/batching/outliers.js';
import { random } from './helpers.js';

function sortedMedian(values: readonly number[]): number {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * loneOutliers as first written (e3ee226, bec3e6d), every median a sort and every sum taken
 * afresh: the oracle the faster one must agree with, batch for batch.
 */
function referenceLoneOutliers(items: readonly number[], ms: readonly number[], oldest: number): number[] {
  const n = items.length;
  const rest = items.map((_, i) => i);
  const off = new Map<number, number>();
  while (rest.length >= 5 && rest.length * 2 > n) {
    const xs = rest.map((i) => items[i]!);
    const ys = rest.map((i) => ms[i]!);
    const m = rest.length;
    let sx = 0;
    let sy = 0;
    for (let k = 0; k < m; k++) {
      sx += xs[k]!;
      sy += ys[k]!;
    }
    const mx = sx / m;
    const my = sy / m;
    let sxx = 0;
    let sxy = 0;
    for (let k = 0; k < m; k++) {
      sxx += (xs[k]! - mx) ** 2;
      sxy += (xs[k]! - mx) * (ys[k]! - my);
    }
    const a = sxx > 0 ? sxy / sxx : 0;
    const least = Math.min(...xs);
    const most = Math.max(...xs);
    const alone = (x: number) => xs.filter((v) => v === x).length === 1;
    let at = -1;
    let side = 0;
    let furthest = 0;
    for (let k = 0; k < m; k++) {
      const x = xs[k]!;
      if ((x === least && alone(x)) || (x === most && alone(x))) continue;
      const leverage = 1 / m + (sxx > 0 ? (x - mx) ** 2 / sxx : 0);
      const residual = (ys[k]! - my - a * (x - mx)) / (1 - leverage);
      const predicted = ys[k]! - residual;
      const s = ys[k]! > 2 * predicted ? 1 : ys[k]! * 2 < predicted ? -1 : 0;
      if (s !== 0 && Math.abs(residual) > furthest) [at, side, furthest] = [k, s, Math.abs(residual)];
    }
    if (at < 0) break;
    const residuals = ys.map((y, k) => y - my - a * (xs[k]! - mx));
    const centre = sortedMedian(residuals);
    const sigma = 1.4826 * sortedMedian(residuals.map((r) => Math.abs(r - centre)));
    if (!(furthest > 3 * sigma)) break;
    off.set(rest[at]!, side);
    rest.splice(at, 1);
  }
  const lone = [...off].filter(([i, side]) => {
    const age = (i - oldest + n) % n;
    return !((age > 0 && off.get((i - 1 + n) % n) === side) || (age < n - 1 && off.get((i + 1) % n) === side));
  });
  return lone.length > 2 ? [] : lone.map(([i]) => i);
}

test('median is the middle of the sorted values, or the mean of the two middle ones', () => {
  const rand = random(7);
  for (let round = 0; round < 2000; round++) {
    const length = 1 + Math.floor(rand() * 60);
    // Few distinct values in some rounds, so ties fall on the middle.
    const distinct = rand() < 0.3 ? 1 + Math.floor(rand() * 4) : Infinity;
    const values = Array.from({ length }, () => (distinct === Infinity ? (rand() - 0.3) * 100 : Math.floor(rand() * distinct)));
    assert.equal(median(values), sortedMedian(values), `median of [${values.join(', ')}]`);
  }
});

test('loneOutliers sets aside the same batches as a sort-based reference, on noisy windows', () => {
  const rand = random(11);
  let setAside = 0;
  for (let round = 0; round < 3000; round++) {
    // A full window (a ring whose oldest batch may be anywhere) or one still filling.
    const full = rand() < 0.7;
    const length = full ? 50 : 5 + Math.floor(rand() * 45);
    const oldest = full ? Math.floor(rand() * length) : 0;
    const sizes = rand() < 0.3 ? 2 + Math.floor(rand() * 3) : 16;
    const alpha = 1.2 + 2 * rand();
    const stall = rand() * 0.1;
    const exact = rand() < 0.2;
    const items: number[] = [];
    const ms: number[] = [];
    for (let i = 0; i < length; i++) {
      const x = 1 + Math.floor(rand() * sizes);
      // Pareto-tailed noise; in some windows none, but for stalls, so many residuals are 0.
      let y = (0.3 * x + 0.25) * (exact ? 1 : (1 - rand()) ** (-1 / alpha));
      if (rand() < stall) y *= rand() < 0.8 ? 5 + 5 * rand() : 0.2;
      items.push(x);
      ms.push(y);
    }
    const lone = loneOutliers(items, ms, oldest);
    assert.deepEqual(lone, referenceLoneOutliers(items, ms, oldest), `window ${round}: items [${items.join(', ')}], ms [${ms.join(', ')}], oldest ${oldest}`);
    if (lone.length > 0) setAside++;
  }
  // The windows exercise both outcomes.
  assert.ok(setAside > 300 && setAside < 2700, `${setAside} windows with batches set aside`);
});
