import { until } from '../fixtures/until.js';

/**
 * A gate pool-worker.ts's `gate` job blocks on until the test opens it: [0] counts jobs that
 * reached it, [1] opens it.
 */
export function gate() {
  const buffer = new SharedArrayBuffer(8);
  const view = new Int32Array(buffer);
  return {
    buffer,
    reached: (n: number) => until(() => Atomics.load(view, 0) >= n, `${n} jobs reached the gate`, 5000),
    open() {
      Atomics.store(view, 1, 1);
      Atomics.notify(view, 1);
    },
  };
}
