import { monitorEventLoopDelay } from 'node:perf_hooks';

/** The q-quantile (0..1) of a list of numbers. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The median of a list of numbers. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Starts measuring event-loop delay; the returned function stops and gives its p99 in milliseconds. */
export function watchEventLoop(): () => number {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return () => {
    h.disable();
    return h.percentile(99) / 1e6;
  };
}

/** What a benchmark prints after a target. */
export function verdict(ok: boolean): 'PASS' | 'MISS' {
  return ok ? 'PASS' : 'MISS';
}

/** Formats a table of rows with aligned columns. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? format(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  return cells.map((r) => r.map((c, i) => String(c).padStart(widths[i]!)).join('  ')).join('\n');
}

function format(n: number): string {
  if (!Number.isFinite(n) || Number.isInteger(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** What a closed loop measured. */
export interface LoopResult {
  /** Items answered. */
  readonly items: number;
  /** Calls that failed (the call returned 0 items). */
  readonly errors: number;
  /** Wall time of the whole loop, in seconds. */
  readonly seconds: number;
  /** Each call's latency, in milliseconds. */
  readonly latencies: readonly number[];
}

/**
 * Runs `callers` concurrent closed loops for `seconds`: each caller awaits `call(caller)` and calls
 * again at once. `call` resolves with the items it answered, 0 for a failure.
 */
export async function closedLoop(callers: number, seconds: number, call: (caller: number) => Promise<number>): Promise<LoopResult> {
  const latencies: number[] = [];
  let items = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      while (performance.now() < end) {
        const t = performance.now();
        const n = await call(caller);
        latencies.push(performance.now() - t);
        if (n > 0) items += n;
        else errors += 1;
      }
    }),
  );
  return { items, errors, seconds: (performance.now() - start) / 1000, latencies };
}
