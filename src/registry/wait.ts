import { abortError, assertNumber, DeadlineExceededError, MAX_TIMER_MS, onAbort, type Clock } from '../core/index.js';

/**
 * Waits for `promise`, giving up when `signal` aborts or after `timeoutMs` on `clock` (a timeout
 * longer than a timer can hold counts as none, as in the batcher); the promise itself goes on
 * (other callers may be waiting for it too).
 */
export function waitFor<T>(
  promise: Promise<T>,
  what: string,
  options: { readonly signal?: AbortSignal | undefined; readonly timeoutMs?: number | undefined },
  clock: Clock,
): Promise<T> {
  const { signal, timeoutMs } = options;
  if (!signal && timeoutMs === undefined) return promise;
  if (timeoutMs !== undefined) assertNumber('timeoutMs', timeoutMs, 0);
  return new Promise<T>((resolve, reject) => {
    const timer = timeoutMs === undefined || timeoutMs > MAX_TIMER_MS
      ? undefined
      : clock.setTimeout(() => finish(() => reject(new DeadlineExceededError(`${what} was not ready within ${timeoutMs} ms`))), timeoutMs);
    // onAbort calls back at once for a signal aborted already, before it has returned a stop.
    let stop = (): void => {};
    function finish(settle: () => void): void {
      if (timer !== undefined) clock.clearTimeout(timer);
      stop();
      settle();
    }
    stop = onAbort(signal, () => finish(() => reject(abortError(signal!))));
    promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}
