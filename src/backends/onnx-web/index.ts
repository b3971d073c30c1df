/**
 * `servable/onnx-web`: the onnxruntime-web backend, for browsers, edge runtimes and Node. Models
 * run on WebAssembly or WebGPU, with the same ordered device fallback as `servable/onnx-node`.
 * @module servable/onnx-web
 */
export { onnxWeb, type OnnxWebBackend } from './backend.js';
export { WEB_DEVICES, type OnnxWebOptions, type WebDevice, type WebGraphOptimizationLevel, type WasmPaths } from './options.js';
