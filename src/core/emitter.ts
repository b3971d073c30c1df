import { EventEmitter } from 'eventemitter3';

/**
 * An EventEmitter whose listeners cannot break the operation that emits: a listener that throws
 * has its error rethrown in a microtask (an `uncaughtException` unless the app handles it), and
 * the library carries on. Emitting costs a try/catch frame; V8 forwards the rest arguments to
 * `super.emit` without building an array once the call is optimized.
 * @internal
 */
export class Emitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  override emit<K extends EventEmitter.EventNames<Events>>(event: K, ...args: EventEmitter.EventArgs<Events, K>): boolean {
    try {
      return super.emit(event, ...args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
      return true;
    }
  }
}
