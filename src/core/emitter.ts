import { EventEmitter } from 'eventemitter3';
import { rethrowLater } from './rethrow.js';

/** One listener as eventemitter3 stores it. */
interface Stored {
  readonly fn: (...args: unknown[]) => unknown;
  readonly context: unknown;
  readonly once: boolean;
}

/** eventemitter3's listener storage: by event name, one listener or an array of them. */
interface Storage {
  readonly _events: Record<string | symbol, Stored | Stored[] | undefined>;
}

/** Set only on engines without Object.create, where eventemitter3 prefixes its keys. */
const prefix = EventEmitter.prefixed;

/**
 * The event emitter every servable class with events extends ({@link InferenceService},
 * {@link ModelRegistry}, {@link DynamicBatcher}, {@link ResultCache}, {@link SemanticCache}, the
 * repository's `ModelRepository`): eventemitter3's `EventEmitter` (browser-safe, so the core
 * bundles for browsers), with `on`, `once`, `off`, `emit` and the rest of its API, whose events are
 * typed by `Events`, a map from each event's name to the arguments its listeners receive, so
 * `service.on('request', (event) => ...)` knows `event` is a {@link RequestEvent}.
 *
 * Its listeners cannot break the operation that emits, nor each other: a listener that throws has
 * its error rethrown in a microtask (an `uncaughtException` unless the app handles it), the
 * listeners after it still run, and the load, request or lookup that emitted carries on as if it
 * had not been there. Otherwise it behaves as eventemitter3's: listeners run in the order they
 * were added, a `once` listener is removed before it runs, a listener added during an emit waits
 * for the next one, and one removed during an emit still runs in it.
 *
 * @typeParam Events - each event's name and its listeners' arguments, as `{ batch: [BatchEvent] }`.
 */
export class Emitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  // Walks eventemitter3's own storage the way its emit does, because its emit stops at a throw
  // and does not say which listener threw. The walk costs one try/catch frame, as calling
  // super.emit in one did; only a throw takes a second frame, to go on from the next listener.
  /** Calls each listener of `event` with `args`; answers whether it had any. */
  override emit<K extends EventEmitter.EventNames<Events>>(event: K, ...args: EventEmitter.EventArgs<Events, K>): boolean {
    const key = typeof prefix === 'string' && typeof event === 'string' ? prefix + event : event;
    const stored = (this as unknown as Storage)._events[key];
    if (stored === undefined) return false;
    if (Array.isArray(stored)) {
      this.#runFrom(event, stored, 0, stored.length, args);
      return true;
    }
    try {
      this.#call(event, stored, args);
    } catch (error) {
      rethrowLater(error);
    }
    return true;
  }

  /** Runs `listeners[start..end)`; one that throws is rethrown later and the rest still run. */
  #runFrom(event: EventEmitter.EventNames<Events>, listeners: readonly Stored[], start: number, end: number, args: unknown[]): void {
    let i = start;
    try {
      for (; i < end; i++) this.#call(event, listeners[i]!, args);
    } catch (error) {
      rethrowLater(error);
      this.#runFrom(event, listeners, i + 1, end, args);
    }
  }

  #call(event: EventEmitter.EventNames<Events>, { fn, context, once }: Stored, args: unknown[]): void {
    if (once) this.removeListener(event, fn as EventEmitter.EventListener<Events, typeof event>, undefined, true);
    fn.apply(context, args);
  }
}
