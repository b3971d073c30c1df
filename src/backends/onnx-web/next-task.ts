/**
 * Resolves in a later task of the event loop. onnxruntime-web settles its runs in microtasks
 * (in Node, with no macrotask at all), so back-to-back runs would starve timers, I/O and
 * rendering; the session waits for one task turn before each run. setImmediate in Node, a
 * MessageChannel in browsers (setTimeout is clamped to 4 ms when nested).
 */
export function nextTask(): Promise<void> {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') {
    const setImmediate = g.setImmediate;
    return new Promise((resolve) => setImmediate(resolve));
  }
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      const port = channel.port1 as unknown as { onmessage: (() => void) | null; close(): void };
      port.onmessage = () => {
        port.close();
        resolve();
      };
      channel.port2.postMessage(undefined);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}
