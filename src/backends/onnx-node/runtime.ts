import { BackendUnavailableError, messageOf } from '../../core/index.js';

/** The onnxruntime-node module. */
export type Ort = typeof import('onnxruntime-node');

const INSTALL = 'install it with `npm i onnxruntime-node` (for CUDA on Linux x64: `npm i onnxruntime-node --onnxruntime-node-install=cuda12`)';

let loading: Promise<Ort> | undefined;

/**
 * Imports onnxruntime-node on first use, never at import time, so `servable/onnx-node` loads
 * without it.
 * @throws BackendUnavailableError naming the package and how to install it.
 */
export function importOrt(): Promise<Ort> {
  loading ??= import('onnxruntime-node').catch((error: unknown) => {
    loading = undefined;
    const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    const reason = messageOf(error);
    throw new BackendUnavailableError(`onnx-node needs the onnxruntime-node package${missing ? ', which is not installed' : ''}`, [
      { device: 'onnx-node', reason: `${reason}; ${INSTALL}` },
    ]);
  });
  return loading;
}
