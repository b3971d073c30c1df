/**
 * Calls `run` with its first `setImmediate` made to call its callback at once, and puts
 * `setImmediate` back before returning, even when `run` throws. onnxruntime-node's `session.run()`
 * (1.30) starts its native run from a `setImmediate` callback, so a run costs a turn of the
 * calling thread's event loop before it starts: 20-25 µs on the cls model on a 2-vCPU virtual
 * machine (paired runs on one thread, a worker's or the main one). A worker thread serves nothing
 * else on its event loop, so the run may start at once. Only the first call is made at once:
 * `setImmediate` is the real one again when its callback runs, so code that polls by calling it
 * again (as a later onnxruntime-node might) waits for the event loop as it expects rather than
 * spinning the thread.
 * @internal For the onnx-node workers only: on the application's thread it would hold up the
 * event loop for the whole run.
 */
export function runNow<T>(run: () => T): T {
  const deferred = globalThis.setImmediate;
  const callNow = (callback: (...args: unknown[]) => void, ...args: unknown[]): undefined => {
    globalThis.setImmediate = deferred;
    callback(...args);
    return undefined;
  };
  globalThis.setImmediate = callNow as unknown as typeof setImmediate;
  try {
    return run();
  } finally {
    globalThis.setImmediate = deferred;
  }
}
