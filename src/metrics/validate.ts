import { describe, optionError } from '../core/index.js';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Asserts a prom-client Registry (checked by shape, so a second copy of prom-client works too). */
export function checkPromRegistry(name: string, value: unknown): void {
  const r = value as { registerMetric?: unknown; metrics?: unknown } | null | undefined;
  if (typeof r?.registerMetric !== 'function' || typeof r.metrics !== 'function') {
    throw optionError(
      `Expected \`${name}\` to be a prom-client Registry (pass \`register\` from prom-client for its global one), got ${describe(value)}`,
    );
  }
}

/** Asserts a metric name prefix: empty, or the start of a valid Prometheus metric name not reserved by Prometheus (`__`). */
export function checkPrefix(value: unknown): asserts value is string {
  if (typeof value !== 'string' || (value !== '' && !METRIC_NAME.test(value))) {
    throw optionError(`Expected \`prefix\` to be '' or match ${METRIC_NAME}, got ${describe(value)}`);
  }
  if (value.startsWith('__')) throw optionError(`Expected \`prefix\` not to start with '__' (reserved by Prometheus), got ${describe(value)}`, RangeError);
}

/** Asserts histogram buckets: a non-empty array of finite, non-negative, strictly increasing numbers. */
export function checkBuckets(name: string, value: unknown): void {
  if (!Array.isArray(value) || value.length === 0) {
    throw optionError(`Expected \`${name}\` to be a non-empty array of finite numbers, got ${describe(value)}`);
  }
  value.forEach((b: unknown, i) => {
    if (typeof b !== 'number' || !Number.isFinite(b)) throw optionError(`Expected \`${name}[${i}]\` to be a finite number, got ${describe(b)}`);
    if (b < 0) throw optionError(`Expected \`${name}[${i}]\` to be >= 0, got ${describe(b)}`, RangeError);
  });
  for (let i = 1; i < value.length; i++) {
    if (value[i] <= value[i - 1]) throw optionError(`Expected \`${name}\` to be strictly increasing, got ${describe(value)}`, RangeError);
  }
}

/** Asserts an event emitter with `on`/`off`, and any other methods a source needs. */
export function checkSource(name: string, value: unknown, methods: readonly string[] = []): void {
  const missing = ['on', 'off', ...methods].filter((m) => typeof (value as Record<string, unknown> | null | undefined)?.[m] !== 'function');
  if (missing.length > 0) {
    throw optionError(`Expected \`${name}\` to have ${['on', 'off', ...methods].map((m) => `${m}()`).join(', ')}, got ${describe(value)}`);
  }
}
