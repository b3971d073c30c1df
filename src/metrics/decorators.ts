import { describe, optionError } from '../core/index.js';
import { counting, timing, tracking, wrap, type AnyFunction, type Hooks, type Incrementer, type InstrumentOptions, type Observer, type UpDown } from './instrument.js';

/**
 * A method decorator that works in both of TypeScript's modes: standard (TC39) decorators, the
 * default since TypeScript 5.0, and `experimentalDecorators`, which NestJS projects use.
 */
export interface MetricDecorator {
  /** Standard decorators: `(method, context)`. */
  <F extends AnyFunction>(method: F, context: ClassMethodDecoratorContext): F;
  /** `experimentalDecorators`: `(prototype or class, name, descriptor)`. */
  <T>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<T>): TypedPropertyDescriptor<T>;
}

/**
 * Times every call of the method into `histogram`, in seconds (see {@link timed}). The metric is
 * yours: decorators never create metrics, so nothing lands on prom-client's global registry.
 *
 * @example
 * ```ts
 * const seconds = new Histogram({ name: 'embed_seconds', help: 'Embedding time', labelNames: ['method'], registers: [promRegistry] });
 * class Embedder {
 *   @Timed(seconds, { methodLabel: 'method' })
 *   async embed(text: string) { ... }
 * }
 * ```
 */
export function Timed(histogram: Observer, options: InstrumentOptions = {}): MetricDecorator {
  return decorator('Timed', options, timing(histogram, options));
}

/** Counts every call of the method into `counter` once it has returned, thrown or settled (see {@link counted}). */
export function Counted(counter: Incrementer, options: InstrumentOptions = {}): MetricDecorator {
  return decorator('Counted', options, counting(counter, options));
}

/** Keeps `gauge` at the number of calls of the method running now (see {@link inFlight}). */
export function InFlight(gauge: UpDown, options: InstrumentOptions = {}): MetricDecorator {
  return decorator('InFlight', options, tracking(gauge, options));
}

function decorator(name: string, options: InstrumentOptions, hooks: Hooks): MetricDecorator {
  function decorate(target: unknown, context: unknown, descriptor?: PropertyDescriptor | number): unknown {
    if (isStandardContext(context)) {
      if (context.kind !== 'method') throw optionError(`@${name} decorates methods, got ${context.kind === 'accessor' ? 'an' : 'a'} ${context.kind} (${String(context.name)})`);
      return wrap(target as AnyFunction, functionName(context.name), options, hooks);
    }
    const misplaced = legacyMisplacement(target, context, descriptor);
    if (misplaced) throw optionError(`@${name} decorates methods, got ${misplaced}`);
    if (typeof descriptor !== 'object' || typeof descriptor.value !== 'function') {
      throw optionError(`@${name} decorates methods, got ${describe((descriptor as PropertyDescriptor | null)?.value)} at ${String(context)}`);
    }
    // In place, not a copy: Nest's applyDecorators() ignores what a method decorator returns.
    descriptor.value = wrap(descriptor.value as AnyFunction, functionName(context as string | symbol), options, hooks);
    return descriptor;
  }
  return decorate as MetricDecorator;
}

/**
 * What `experimentalDecorators` applied the decorator to, when not a method, in the words of a
 * standard decorator's `context.kind`: so both modes refuse a getter or a class alike.
 */
function legacyMisplacement(target: unknown, key: unknown, descriptor: unknown): string | undefined {
  if (typeof descriptor === 'number') return `a parameter (${key === undefined ? 'constructor' : String(key)})`;
  if (key === undefined) return `a class (${typeof target === 'function' ? target.name : describe(target)})`;
  // TypeScript gives a field no descriptor; Babel's legacy decorators one with its initializer.
  if (descriptor === undefined || 'initializer' in (descriptor as object)) return `a field (${String(key)})`;
  const { get, set } = descriptor as PropertyDescriptor;
  // One descriptor for a get/set pair or an `accessor` field, as a standard decorator's 'accessor'.
  if (get && set) return `an accessor (${String(key)})`;
  if (get) return `a getter (${String(key)})`;
  if (set) return `a setter (${String(key)})`;
  return undefined;
}

/** The name JavaScript gives the function of a method keyed `key`: `[Symbol.iterator]` for a symbol, as timed() labels it. */
function functionName(key: string | symbol): string {
  if (typeof key === 'string') return key;
  return key.description === undefined ? '' : `[${key.description}]`;
}

function isStandardContext(value: unknown): value is { kind: string; name: string | symbol } {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}
