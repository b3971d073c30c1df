import type { LoadResult } from './batching-load.js';
import { lineChart, type ChartSeries, type Marker } from './svg.js';

/** One batching setting of the sweep. */
export interface Setting {
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
}

/** One closed-loop measurement of a setting at a concurrency level. */
export interface Cell extends LoadResult {
  readonly setting: Setting;
  readonly callers: number;
  /** Mean items per batch over the measurement, warm-up included. */
  readonly meanBatch: number;
}

/** What the chart shows besides the sweep. */
export interface ChartContext {
  readonly settings: readonly Setting[];
  readonly concurrency: readonly number[];
  /** Adaptive mode at each concurrency level. */
  readonly adaptive: readonly Cell[];
  readonly adaptiveMaxBatch: number;
  readonly objectiveMs: number;
  /** Raw onnxruntime-node items/s at its best batch and thread setting. */
  readonly rawBest: number;
  /** The machine, in words. */
  readonly machine: string;
}

const COLORS: Record<number, string> = { 1: '#7f7f7f', 4: '#1f77b4', 8: '#2ca02c', 16: '#d62728' };
const MARKERS: Record<number, Marker> = { 0: 'circle', 1: 'square', 2: 'triangle', 5: 'diamond' };

/** The sweep as an SVG chart: p99 latency against throughput, one line per setting across concurrency levels. */
export function batchingChart(cells: readonly Cell[], ctx: ChartContext): string {
  const series: ChartSeries[] = ctx.settings.map((s) => ({
    name: `max ${s.maxBatchSize}, delay ${s.maxQueueDelayMs}`,
    color: COLORS[s.maxBatchSize] ?? 'black',
    marker: MARKERS[s.maxQueueDelayMs] ?? 'circle',
    dashed: s.maxQueueDelayMs > 0,
    points: cells
      .filter((c) => c.setting.maxBatchSize === s.maxBatchSize && c.setting.maxQueueDelayMs === s.maxQueueDelayMs)
      .map((c) => ({ x: c.itemsPerSec, y: c.p99 })),
  }));
  series.push({
    name: `adaptive, max ${ctx.adaptiveMaxBatch}, ${ctx.objectiveMs} ms`,
    color: '#ff9f1c',
    marker: 'star',
    points: ctx.adaptive.map((c) => ({
      x: c.itemsPerSec,
      y: c.p99,
      label: `${c.callers} caller${c.callers === 1 ? '' : 's'}${c.shed ? `, ${c.shed} shed` : ''}`,
    })),
  });
  const stalled = ctx.adaptive.filter((c) => c.answered === 0).map((c) => c.callers);
  return lineChart({
    title: 'Dynamic batching of the PaddleOCR direction classifier: p99 latency against throughput',
    notes: [
      `Each line joins one setting at ${ctx.concurrency.join(', ')} closed-loop callers; served path, 2 onnx-node worker instances × 1 thread.`,
      `${ctx.machine}. npm run bench -- batching`,
      ...(stalled.length > 0 ? [`Adaptive answered nothing at ${stalled.join(', ')} callers: every request was shed.`] : []),
    ],
    xLabel: 'throughput (items/s)',
    yLabel: 'p99 latency (ms, log scale)',
    series,
    guides: [
      { axis: 'x', value: ctx.rawBest, label: `raw onnxruntime-node at its best: ${ctx.rawBest.toFixed(0)}/s` },
      { axis: 'y', value: ctx.objectiveMs, label: `objective ${ctx.objectiveMs} ms` },
    ],
  });
}
