import { assertFunction, assertOptionKeys, assertObject, assertString, describe, optionError, messageOf } from '../core/index.js';

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
  /** Fixed label values of every sample: strings or finite numbers. @default {} */
  readonly labels?: Labels;
  /**
   * A label set to `'success'` or `'failure'` (a throw or a rejection); ignored by {@link inFlight}.
   * @default none
   */
  readonly outcomeLabel?: string;
  /** A label set to the function's (or decorated method's) name, less bind()'s `bound ` prefix; an anonymous function is refused. @default none */
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
  const clock = checkOptions(options, true).clock ?? performance;
  checkLabels(histogram, options, true);
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
  checkOptions(options, true);
  checkLabels(counter, options, true);
  return { start: () => (labels) => counter.inc(labels) };
}

/** The hooks of {@link inFlight}. */
export function tracking(gauge: UpDown, options: InstrumentOptions): Hooks {
  checkMetric('gauge', gauge, ['inc', 'dec']);
  checkOptions(options, false);
  checkLabels(gauge, options, false);
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
 * Only a real Promise (`instanceof Promise`, as every async function returns) is awaited: the
 * wrapper returns a promise of the same class that settles as it does, with the promise's own
 * named properties but then/catch/finally (ky's `.json()`, `util.promisify(exec)`'s `.child`).
 * Any other thenable, such as a lazy query builder (Knex, Prisma, Mongoose) that runs only once
 * `then` is called, is returned untouched and timed as a synchronous value; wrap the function that
 * awaits it to time the query.
 * A generator function (`function*`, `async function*`) is timed over its iteration: from the
 * first `next()` until it finishes, throws, or is returned by its consumer (a success).
 *
 * The metric's labels are checked here: a prom-client metric that does not declare a label the
 * options set (`labels`, `outcomeLabel`, `methodLabel`) is a TypeError. Recording never changes
 * what `fn` returns or throws; a metric that fails anyway is reported once per wrapper as a
 * process warning (`SERVABLE_METRIC_RECORDING`).
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

/** Wraps `fn` so every call increments `counter` once it has returned, thrown, or settled (see {@link timed} for promises, thenables and errors). */
export function counted<F extends AnyFunction>(fn: F, counter: Incrementer, options: InstrumentOptions = {}): F {
  return wrap(fn, undefined, options, counting(counter, options));
}

/**
 * Wraps `fn` so `gauge` holds how many calls are running now: up when one starts, down when it
 * returns, throws or settles (see {@link timed} for promises, thenables and errors).
 * `outcomeLabel` does not apply.
 */
export function inFlight<F extends AnyFunction>(fn: F, gauge: UpDown, options: InstrumentOptions = {}): F {
  return wrap(fn, undefined, options, tracking(gauge, options));
}

/** What `function*` and `async function*` functions inherit from; their wrappers are of the same kind. */
const GENERATOR_FUNCTION: unknown = Object.getPrototypeOf(function* () {});
const ASYNC_GENERATOR_FUNCTION: unknown = Object.getPrototypeOf(async function* () {});

/**
 * The wrapper behind the functions and the decorators; `name` overrides `fn.name` for `methodLabel`.
 * A generator function's wrapper is a generator function too: its body, like the one it wraps,
 * starts at the first `next()`, and the call is recorded when the iteration ends (finished,
 * thrown, or returned by the consumer: `break` in a `for…of` is a success).
 */
export function wrap<F extends AnyFunction>(fn: F, name: string | undefined, options: InstrumentOptions, hooks: Hooks): F {
  assertFunction('fn', fn);
  if (/^class[\s{]/.test(Function.prototype.toString.call(fn))) {
    throw optionError(`Expected \`fn\` to be a function to call, got class ${fn.name || '(anonymous)'}: wrap its methods, or a function that calls \`new\``);
  }
  const base: Record<string, string | number> = { ...options.labels };
  if (options.methodLabel !== undefined) {
    // fn.bind() names its result 'bound list'; the label is the method's name.
    const method = name ?? fn.name.replace(/^(bound )+/, '');
    // Prometheus reads an empty label value as no label: every anonymous function would share one series.
    if (!method) {
      throw optionError(`Expected \`fn\` to have a name for \`methodLabel\` '${options.methodLabel}', got an anonymous function: name it, or set the label in \`labels\``);
    }
    base[options.methodLabel] = method;
  }
  const { outcomeLabel } = options;
  const success: Labels = outcomeLabel === undefined ? base : { ...base, [outcomeLabel]: 'success' };
  const failure: Labels = outcomeLabel === undefined ? base : { ...base, [outcomeLabel]: 'failure' };
  let warned = false;
  const record = <T>(step: () => T): T | undefined => {
    try {
      return step();
    } catch (error) {
      if (!warned) {
        warned = true;
        process.emitWarning(`Recording a metric of ${(name ?? fn.name) || 'an anonymous function'} failed: ${messageOf(error)}`, { code: 'SERVABLE_METRIC_RECORDING' });
      }
      return undefined;
    }
  };
  const begin: Begin = () => {
    const end = record(() => hooks.start(base));
    return (labels) => {
      if (end) record(() => end(labels));
    };
  };
  const kind: unknown = Object.getPrototypeOf(fn);
  if (kind === GENERATOR_FUNCTION || kind === ASYNC_GENERATOR_FUNCTION) {
    return named(fn, (kind === GENERATOR_FUNCTION ? iterating : iteratingAsync)(fn, begin, success, failure));
  }
  const wrapper = function (this: unknown, ...args: unknown[]): unknown {
    const finish = begin();
    let result: unknown;
    try {
      result = fn.apply(this, args);
    } catch (error) {
      finish(failure);
      throw error;
    }
    if (!(result instanceof Promise)) {
      finish(success);
      return result;
    }
    const settled = result.then(
      (value: unknown) => {
        finish(success);
        return value;
      },
      (error: unknown) => {
        finish(failure);
        throw error;
      },
    );
    // Callers may read what the function put on its promise: ky's .json(), promisify(exec)'s .child.
    // Reflect.defineProperty, as it returns false rather than throwing where `settled` holds its own.
    // Names only: the symbols are Node's (async_hooks ids, AsyncLocalStorage stores), each
    // promise's own, and redefining them took ~1 µs a call. Not its own then/catch/finally, which
    // would hand the caller's handlers to `result` and leave `settled`'s rejection unhandled.
    for (const key of Object.getOwnPropertyNames(result)) {
      if (!PROMISE_METHODS.has(key)) Reflect.defineProperty(settled, key, Object.getOwnPropertyDescriptor(result, key)!);
    }
    return settled;
  };
  return named(fn, wrapper);
}

type Begin = () => (labels: Labels) => void;

/** What a caller awaits or handles the wrapper's promise through: its own, never the function's promise's. */
const PROMISE_METHODS: ReadonlySet<string> = new Set(['then', 'catch', 'finally']);

/** The wrapper of a `function*`: recorded from its first `next()` until the iteration ends. */
function iterating(fn: AnyFunction, begin: Begin, success: Labels, failure: Labels): AnyFunction {
  return function* (this: unknown, ...args: unknown[]): Generator<unknown, unknown, unknown> {
    const finish = begin();
    let failed = false;
    try {
      return yield* fn.apply(this, args);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      finish(failed ? failure : success);
    }
  };
}

/** The wrapper of an `async function*`, as {@link iterating}. */
function iteratingAsync(fn: AnyFunction, begin: Begin, success: Labels, failure: Labels): AnyFunction {
  return async function* (this: unknown, ...args: unknown[]): AsyncGenerator<unknown, unknown, unknown> {
    const finish = begin();
    let failed = false;
    try {
      return yield* fn.apply(this, args);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      finish(failed ? failure : success);
    }
  };
}

/** Gives `wrapper` the name, length and reflect-metadata of `fn`. */
function named<F extends AnyFunction>(fn: F, wrapper: AnyFunction): F {
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
    throw optionError(`Expected \`${name}\` to be a prom-client metric with ${methods.map((m) => `${m}()`).join(' and ')}, got ${describe(metric)}`);
  }
}

/** Asserts that a prom-client metric declares every label the options set; other metrics are taken on trust. */
function checkLabels(metric: unknown, options: InstrumentOptions, withOutcome: boolean): void {
  const { name, labelNames } = metric as { name?: unknown; labelNames?: unknown };
  if (!Array.isArray(labelNames)) return;
  const set: [string, string | undefined][] = [
    ...Object.keys(options.labels ?? {}).map((label): [string, string] => ['labels', label]),
    ['methodLabel', options.methodLabel],
    ['outcomeLabel', withOutcome ? options.outcomeLabel : undefined],
  ];
  for (const [option, label] of set) {
    if (label !== undefined && !labelNames.includes(label)) {
      throw optionError(`Expected the labelNames of metric \`${String(name)}\` to include '${label}' (set by \`${option}\`), got ${describe(labelNames)}`);
    }
  }
}

/** Checks the options; `withOutcome` when `outcomeLabel` applies (not to {@link inFlight}). */
function checkOptions(options: InstrumentOptions, withOutcome: boolean): InstrumentOptions {
  assertObject('options', options);
  assertOptionKeys('the metric wrapper', options, ['labels', 'outcomeLabel', 'methodLabel', 'clock']);
  if (options.labels !== undefined) assertObject('labels', options.labels);
  for (const [label, value] of Object.entries(options.labels ?? {})) {
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
      throw optionError(`Expected \`labels.${label}\` to be a string or a finite number, got ${describe(value)}`);
    }
  }
  if (options.outcomeLabel !== undefined) assertString('outcomeLabel', options.outcomeLabel);
  if (options.methodLabel !== undefined) assertString('methodLabel', options.methodLabel);
  // One label set twice would silently keep only the last value: the method name or a fixed label lost.
  const taken = new Set(Object.keys(options.labels ?? {}));
  for (const [option, label] of [['methodLabel', options.methodLabel], ['outcomeLabel', withOutcome ? options.outcomeLabel : undefined]] as const) {
    if (label === undefined) continue;
    if (taken.has(label)) throw optionError(`Expected \`${option}\` to name a label no other option sets, got ${describe(label)}`);
    taken.add(label);
  }
  const clock: unknown = options.clock;
  if (clock !== undefined && typeof (clock as { now?: unknown } | null)?.now !== 'function') {
    throw optionError(`Expected \`clock\` to have now(), got ${describe(options.clock)}`);
  }
  return options;
}
