/**
 * Node-only helpers that the onnx-node backend and the HTTP adapters share.
 * @module
 */
export { spawnWorker } from './spawn-worker.js';
