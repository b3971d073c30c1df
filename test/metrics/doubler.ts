import type { MemoryModel, Tensor } from '../../src/index.js';

/** y = 2x, row by row, taking `latencyMs` of fake time per batch. */
export function doubler(latencyMs: number): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    latencyMs,
    run: ({ x }) => ({ y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => 2 * v) } }),
  };
}

/** A request of `n` rows of the doubler's input, every value `value`. */
export function rows(n: number, value = 1) {
  return { inputs: { x: { datatype: 'FP32', shape: [n, 2], data: new Float32Array(2 * n).fill(value) } as Tensor } };
}
