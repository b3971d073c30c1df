/**
 * Calls `run` with `setImmediate` made to call its callback at once, and puts it back before
 * returning, even when `run` throws. onnxruntime-node's `session.run()` (1.30) starts its native
 * run from a `setImmediate` callback, so a run costs a turn of the calling thread's event loop
 * before it starts: 20-25 µs on the cls model on a 2-vCPU virtual machine (paired runs on one
 * thread, a worker's or the main one). A worker thread serves nothing else on its event loop, so
 * the run may start at once. Should a later onnxruntime-node start the run some other way, this
 * changes nothing.
 * @internal For the onnx-node workers only: on the application's thread it would hold up the
 * event loop for the whole run.
 */
export function runNow<T>(run: () => T): T {
  const deferred = globalThis.setImmediate;
  globalThis.setImmediate = callNow as unknown as typeof setImmediate;
  try {
    return run();
  } finally {
    globalThis.setImmediate = deferred;
  }
}

function callNow(callback: (...args: unknown[]) => void, ...args: unknown[]): undefined {
  callback(...args);
  return undefined;
}
