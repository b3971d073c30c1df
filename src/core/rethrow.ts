/**
 * Throws `error` in a microtask, where it becomes an `uncaughtException` (Node) or an `error`
 * event (browsers), as an error thrown from any callback does: the way a failing callback of the
 * user's (a listener) is reported without failing the operation that called it.
 * @internal
 */
export function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
