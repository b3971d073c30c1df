/**
 * Run by webgpu.test.ts in a child process whose environment points Dawn at a Vulkan driver
 * (VK_ICD_FILENAMES, LD_LIBRARY_PATH): loads the linear model on webgpu and on cpu, runs the same
 * batches on both and prints the results as JSON.
 */
import { onnxNode } from '../../src/backends/onnx-node/index.js';
import type { TensorMap } from '../../src/core/index.js';
import { linearModel } from '../fixtures/onnx-models.js';

const model = linearModel([[1, -2], [3, 4], [-5, 6]], [10, 20]);
const batches = [
  [[1, 2, 3]],
  [[0.5, -1, 2], [3, 0.25, -4], [7, 8, 9], [-1, -2, -3], [100, 0, -100]],
];
const feeds = (xs: number[][]): TensorMap => ({ X: { datatype: 'FP32', shape: [xs.length, 3], data: new Float32Array(xs.flat()) } });

const gpu = await onnxNode({ devices: ['webgpu'], instances: 1, strict: true }).load(model, { label: 'linear:webgpu' });
const cpu = await onnxNode({ devices: ['cpu'], instances: 1 }).load(model, { label: 'linear:cpu' });
const results = [];
for (const xs of batches) {
  const [g, c] = [await gpu.run(feeds(xs)), await cpu.run(feeds(xs))];
  results.push({ shape: g['Y']!.shape, webgpu: Array.from(g['Y']!.data as Float32Array), cpu: Array.from(c['Y']!.data as Float32Array) });
}
console.log(JSON.stringify({ device: gpu.device, fallbacks: gpu.fallbacks, results }));
await Promise.all([gpu.dispose(), cpu.dispose()]);
