import { assertFunction, assertObject, assertString, describe, isPromiseLike } from '../core/index.js';

/** Label values, as prom-client takes them. */
export type Labels = Readonly<Record<string, string | number>>;

/** A metric that records observations: a prom-client Histogram or Summary. */
export interface Observer {
  observe(labels: Labels, value: number): void;
}

/** A metric that counts: a prom-client Counter (or Gauge). */
export interface Incrementer {
  inc(labels: Labels, value?: number): void;
}

/** A metric that goes up and down: a prom-client Gauge. */
export interface UpDown extends Incrementer {
  dec(labels: Labels, value?: number): void;
}

/** Options of {@link timed}, {@link counted} and {@link inFlight}. */
export interface InstrumentOptions {
  /** Fixed label values of every sample. @default {} */
  readonly labels?: Labels;
  /**
   * A label set to `'success'` or `'failure'` (a throw or a rejection); ignored by {@link inFlight}.
   * @default none
   */
  readonly outcomeLabel?: string;
  /** A label set to the function's (or decorated method's) name. @default none */
  readonly methodLabel?: string;
  /** Where {@link timed} reads the time, in milliseconds. @default performance */
  readonly clock?: { now(): number };
}

/** Any function; the wrapper keeps its signature and `this`. */
export type AnyFunction = (this: any, ...args: any[]) => any;

/** What an instrument does around one call. */
export interface Hooks {
  /** Runs before the call with the fixed labels; returns what runs after it, with the labels of how it ended. */
  start(labels: Labels): (labels: Labels) => void;
}

/** The hooks of {@link timed}. */
export function timing(histogram: Observer, options: InstrumentOptions): Hooks {
  checkMetric('histogram', histogram, ['observe']);
  const clock = checkOptions(options).clock ?? performance;
  return {
    start() {
      const begun = clock.now();
      return (labels) => histogram.observe(labels, (clock.now() - begun) / 1000);
    },
  };
}

/** The hooks of {@link counted}. */
export function counting(counter: Incrementer, options: InstrumentOptions): Hooks {
  checkMetric('counter', counter, ['inc']);
  checkOptions(options);
  return { start: () => (labels) => counter.inc(labels) };
}

/** The hooks of {@link inFlight}. */
export function tracking(gauge: UpDown, options: InstrumentOptions): Hooks {
  checkMetric('gauge', gauge, ['inc', 'dec']);
  checkOptions(options);
  return {
    start(labels) {
      gauge.inc(labels);
      return () => gauge.dec(labels);
    },
  };
}

/**
 * Wraps `fn` so every call is timed into `histogram`, in seconds, whether it returns, throws or
 * returns a promise (timed until it settles). `this` and the arguments pass through unchanged.
 *
 * @example
 * ```ts
 * const seconds = new Histogram({ name: 'tokenize_seconds', help: 'Tokenizer time', registers: [promRegistry] });
 * const tokenize = timed(rawTokenize, seconds);
 * ```
 */
export function timed<F extends AnyFunction>(fn: F, histogram: Observer, options: InstrumentOptions = {}): F {
  return wrap(fn, undefined, options, timing(histogram, options));
}

/** Wraps `fn` so every call increments `counter` once it has returned, thrown, or settled. */
export function counted<F extends AnyFunction>(fn: F, counter: Incrementer, options: InstrumentOptions = {}): F {
  return wrap(fn, undefined, options, counting(counter, options));
}

/**
 * Wraps `fn` so `gauge` holds how many calls are running now: up when one starts, down when it
 * returns, throws or settles. `outcomeLabel` does not apply.
 */
export function inFlight<F extends AnyFunction>(fn: F, gauge: UpDown, options: InstrumentOptions = {}): F {
  return wrap(fn, undefined, options, tracking(gauge, options));
}

/** The wrapper behind the functions and the decorators; `name` overrides `fn.name` for `methodLabel`. */
export function wrap<F extends AnyFunction>(fn: F, name: string | undefined, options: InstrumentOptions, hooks: Hooks): F {
  assertFunction('fn', fn);
  const base: Record<string, string | number> = { ...options.labels };
  if (options.methodLabel !== undefined) base[options.methodLabel] = name ?? fn.name;
  const { outcomeLabel } = options;
  const success: Labels = outcomeLabel === undefined ? base : { ...base, [outcomeLabel]: 'success' };
  const failure: Labels = outcomeLabel === undefined ? base : { ...base, [outcomeLabel]: 'failure' };
  const wrapper = function (this: unknown, ...args: unknown[]): unknown {
    const end = hooks.start(base);
    let result: unknown;
    try {
      result = fn.apply(this, args);
    } catch (error) {
      end(failure);
      throw error;
    }
    if (!isPromiseLike(result)) {
      end(success);
      return result;
    }
    return result.then(
      (value) => {
        end(success);
        return value;
      },
      (error: unknown) => {
        end(failure);
        throw error;
      },
    );
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: fn.length, configurable: true });
  copyReflectMetadata(fn, wrapper);
  return wrapper as F;
}

/**
 * Frameworks such as NestJS keep route and guard metadata on the method itself (reflect-metadata);
 * the wrapper carries it over, so decorator order does not matter.
 */
function copyReflectMetadata(from: object, to: object): void {
  const reflect = Reflect as unknown as {
    getOwnMetadataKeys?: (target: object) => unknown[];
    getOwnMetadata?: (key: unknown, target: object) => unknown;
    defineMetadata?: (key: unknown, value: unknown, target: object) => void;
  };
  if (typeof reflect.getOwnMetadataKeys !== 'function' || !reflect.getOwnMetadata || !reflect.defineMetadata) return;
  for (const key of reflect.getOwnMetadataKeys(from)) reflect.defineMetadata(key, reflect.getOwnMetadata(key, from), to);
}

function checkMetric(name: string, metric: unknown, methods: readonly string[]): void {
  if (methods.some((m) => typeof (metric as Record<string, unknown> | null | undefined)?.[m] !== 'function')) {
    throw new TypeError(`Expected \`${name}\` to be a prom-client metric with ${methods.map((m) => `${m}()`).join(' and ')}, got ${describe(metric)}`);
  }
}

function checkOptions(options: InstrumentOptions): InstrumentOptions {
  assertObject('options', options);
  if (options.labels !== undefined) assertObject('labels', options.labels);
  if (options.outcomeLabel !== undefined) assertString('outcomeLabel', options.outcomeLabel);
  if (options.methodLabel !== undefined) assertString('methodLabel', options.methodLabel);
  const clock: unknown = options.clock;
  if (clock !== undefined && typeof (clock as { now?: unknown } | null)?.now !== 'function') {
    throw new TypeError(`Expected \`clock\` to have now(), got ${describe(options.clock)}`);
  }
  return options;
}
