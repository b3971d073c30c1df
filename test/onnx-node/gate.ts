import { until } from '../fixtures/until.js';

/**
 * A gate pool-worker.ts's `gate` job (or its start, with `hold`) blocks on until the test opens
 * it: [0] counts jobs that reached it, [1] opens it, [2] is the thread id of the worker that
 * reached it last.
 */
export function gate() {
  const buffer = new SharedArrayBuffer(12);
  const view = new Int32Array(buffer);
  return {
    buffer,
    reached: (n: number) => until(() => Atomics.load(view, 0) >= n, `${n} jobs reached the gate`, 5000),
    threadId: () => Atomics.load(view, 2),
    open() {
      Atomics.store(view, 1, 1);
      Atomics.notify(view, 1);
    },
  };
}
