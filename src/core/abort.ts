import { CancelledError } from './errors.js';

/** The error to reject with when `signal` aborts: its reason if that is an Error, else a CancelledError. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return new CancelledError(undefined, { cause: reason });
}

/** Runs `fn` once when `signal` aborts; returns a function that removes the listener. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
