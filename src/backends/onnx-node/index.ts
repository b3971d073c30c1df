/**
 * The onnxruntime-node backend (`servable/onnx-node`, Node only): ONNX models on cpu, cuda,
 * tensorrt or webgpu, each model version served by a group of worker threads so inference never
 * blocks the event loop. onnxruntime-node is an optional peer, imported at the first load.
 *
 * ```ts
 * import { onnxNode } from 'servable/onnx-node';
 *
 * const backend = onnxNode({ devices: ['cuda', 'cpu'], instances: 2 });
 * const session = await backend.load('models/textdir/1/model.onnx', { label: 'textdir:1' });
 * session.device;    // 'cpu' where CUDA is missing
 * session.fallbacks; // [{ device: 'cuda', reason: 'Failed to load shared library libonnxruntime_providers_cuda.so: ...' }]
 * ```
 * @module servable/onnx-node
 */
export { onnxNode, type OnnxNodeBackend } from './backend.js';
export type { OnnxNodeSession } from './session.js';
export type { OnnxNodeOptions, ResolvedOnnxNodeOptions, GraphOptimizationLevel } from './options.js';
export {
  DEVICE_NAMES,
  type Device,
  type DeviceName,
  type CpuDevice,
  type CudaDevice,
  type TensorRtDevice,
  type WebGpuDevice,
} from './devices.js';
export { supportedDevices, type DeviceSupport } from './supported-devices.js';
