/**
 * How adaptive mode's kept line fares under batches of one size (docs/batching.md, "Adaptive
 * mode"): batches take 3·n + 12 ms plus Gaussian noise, a line is fitted on batches of 1, 4 and 8,
 * then every batch holds 8. Measures how many batches of 8 pass before a correct line is dropped
 * (false alarms, stationary runs) and before a line the model has left (a slowdown or speed-up)
 * is dropped (detection). Run: node --conditions=servable-source --import tsx benchmarks/line-drift.ts
 */
import { LatencyModel } from '../src/batching/adaptive.js';

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** A model with a line fitted on batches of 1, 4 and 8, then `settle` batches of 8 (the window all 8s). */
function settled(noise: () => number, sigma: number, settle: number): LatencyModel {
  const model = new LatencyModel();
  const run = (n: number) => {
    model.record(n, Math.max(0, 3 * n + 12 + sigma * noise()));
    return model.fitted;
  };
  run(1);
  run(4);
  for (let i = 0; i < settle; i++) run(8);
  return model;
}

/** Batches of 8 (each read, as a busy batcher reads the model) until the line is dropped, at most `limit`. */
function untilDropped(model: LatencyModel, noise: () => number, sigma: number, factor: number, limit: number): number {
  for (let i = 1; i <= limit; i++) {
    model.record(8, Math.max(0, factor * 36 + sigma * noise()));
    if (!model.fitted) return i;
  }
  return Infinity;
}

function quantile(sorted: number[], q: number): string {
  const value = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return value === Infinity ? 'none' : String(value);
}

const runs = Number(process.argv[2] ?? 40);
const limit = Number(process.argv[3] ?? 20_000);
for (const sigma of [0.5, 2, 5, 9]) {
  // Stationary: the line is right; every drop is a false alarm.
  let batches = 0;
  let drops = 0;
  const firsts: number[] = [];
  for (let seed = 1; seed <= runs; seed++) {
    const noise = gaussian(mulberry32(seed));
    const model = settled(noise, sigma, 60);
    let left = limit;
    let first = Infinity;
    while (left > 0) {
      const at = untilDropped(model, noise, sigma, 1, left);
      if (at === Infinity) break;
      drops++;
      first = Math.min(first, limit - left + at);
      left -= at;
      // Relearn as the batcher does: one batch of half the size.
      model.record(4, Math.max(0, 24 + sigma * noise()));
      model.fitted;
    }
    batches += limit;
    firsts.push(first);
  }
  firsts.sort((x, y) => x - y);
  const line = [`σ ${sigma} ms (${((sigma / 36) * 100).toFixed(1)}% of a batch of 8)`];
  line.push(`stationary ${drops} drops in ${batches} batches (${drops === 0 ? `> ${batches}` : Math.round(batches / drops)} a drop; first in a run: median ${quantile(firsts, 0.5)}, 10% ${quantile(firsts, 0.1)})`);
  for (const factor of [1.5, 3, 1 / 1.5]) {
    const at: number[] = [];
    for (let seed = 1; seed <= runs; seed++) {
      const noise = gaussian(mulberry32(1000 + seed));
      at.push(untilDropped(settled(noise, sigma, 100), noise, sigma, factor, 1000));
    }
    at.sort((x, y) => x - y);
    line.push(`×${factor.toFixed(2)} dropped after median ${quantile(at, 0.5)}, 90% ${quantile(at, 0.9)}, max ${quantile(at, 1)}`);
  }
  console.log(line.join('; '));
}
