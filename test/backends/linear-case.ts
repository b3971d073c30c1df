import type { TensorMap } from 'servable';
import { linearReference } from '../fixtures/onnx-models.js';

/** The contract's model in every backend test: Y = X·W + B, exact in float32. */
export const W = [[1, 2, 0], [0, -1, 3]];
export const B = [10, 20, 30];

const X = [[1, 2], [3, -4], [0, 0], [-5, 7]];

/** A batch of four rows. */
export const feeds: TensorMap = { X: { datatype: 'FP32', shape: [X.length, 2], data: new Float32Array(X.flat()) } };

/** Its exact answer. */
export const expected: TensorMap = {
  Y: { datatype: 'FP32', shape: [X.length, 3], data: new Float32Array(X.flatMap((row) => linearReference(W, B, row))) },
};
