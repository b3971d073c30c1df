import { CancelledError } from './errors.js';
import { rethrowLater } from './rethrow.js';

/** The error to reject with when `signal` aborts: its reason if that is an Error, else a CancelledError. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return new CancelledError(undefined, { cause: reason });
}

/** The callbacks waiting on a signal, and the one listener that runs them. */
interface Waiting {
  readonly callbacks: Set<() => void>;
  readonly listener: () => void;
}

/**
 * What waits on each signal. One listener per signal serves every request that shares it: Node
 * warns of a listener leak past 10 listeners on one signal, and a caller may well pass one
 * signal to dozens of requests.
 */
const waiting = new WeakMap<AbortSignal, Waiting>();

const noop = (): void => {};

/** Runs `fn` once when `signal` aborts; returns a function that removes it. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return noop;
  if (signal.aborted) {
    fn();
    return noop;
  }
  let w = waiting.get(signal);
  if (!w) {
    const callbacks = new Set<() => void>();
    w = { callbacks, listener: () => runAll(signal, callbacks) };
    waiting.set(signal, w);
    signal.addEventListener('abort', w.listener, { once: true });
  }
  const { callbacks, listener } = w;
  // A wrapper of its own, so that the same function registered twice is removed once per call.
  const entry = (): void => fn();
  callbacks.add(entry);
  return () => {
    if (!callbacks.delete(entry) || callbacks.size > 0) return;
    waiting.delete(signal);
    signal.removeEventListener('abort', listener);
  };
}

/** Runs every callback of an aborted signal; one that throws is rethrown later and does not stop the rest, as with listeners. */
function runAll(signal: AbortSignal, callbacks: Set<() => void>): void {
  waiting.delete(signal);
  // The live set, so a callback removed by an earlier one does not run, as with listeners.
  for (const fn of callbacks) {
    try {
      fn();
    } catch (error) {
      rethrowLater(error);
    }
  }
  callbacks.clear();
}
