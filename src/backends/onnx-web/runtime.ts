import type * as Ort from 'onnxruntime-web';
import { messageOf } from '../../core/index.js';
import type { WasmPaths } from './options.js';

/** The onnxruntime-web module. */
export type OrtWeb = typeof Ort;

/**
 * Imports onnxruntime-web (or what `runtime` returns) and checks it is an ONNX Runtime module.
 * @throws Error whose message says why, with an install hint when the package is missing.
 */
export async function importRuntime(runtime: (() => Promise<unknown>) | undefined): Promise<OrtWeb> {
  let loaded: unknown;
  try {
    loaded = await (runtime ? runtime() : import('onnxruntime-web'));
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(`onnxruntime-web is not installed; install it with \`npm install onnxruntime-web\` (${(error as Error).message})`, {
        cause: error,
      });
    }
    throw new Error(`onnxruntime-web failed to load: ${messageOf(error)}`, { cause: error });
  }
  const ort = isOrt(loaded) ? loaded : isOrt((loaded as { default?: unknown } | null)?.default) ? (loaded as { default: OrtWeb }).default : undefined;
  if (!ort) throw new Error('The `runtime` option did not resolve to onnxruntime-web (no InferenceSession, Tensor and env)');
  return ort;
}

function isOrt(value: unknown): value is OrtWeb {
  const m = value as Partial<OrtWeb> | null | undefined;
  return typeof m?.InferenceSession?.create === 'function' && typeof m.Tensor === 'function' && typeof m.env?.wasm === 'object';
}

/** The `env.wasm` of every runtime whose WebAssembly module has started (a session was attempted). */
const started = new WeakSet<object>();

/** Records that the runtime started: from now on its `env.wasm` holds the settings in effect. */
export function markStarted(ort: OrtWeb): void {
  started.add(ort.env.wasm);
}

/**
 * Applies `numThreads` and `wasmPaths` to the runtime's env before it starts. onnxruntime-web
 * reads them once, when its WebAssembly module starts (writing back the thread count it chose),
 * and silently ignores later changes: a backend asking for other values after that is told why.
 * @returns why the settings cannot apply, or undefined when they do.
 */
export function configure(ort: OrtWeb, numThreads: number | undefined, wasmPaths: WasmPaths | undefined): string | undefined {
  const wasm = ort.env.wasm;
  if (started.has(wasm)) {
    if (numThreads !== undefined && numThreads !== 0 && numThreads !== wasm.numThreads) {
      return `onnxruntime-web already runs with numThreads ${String(wasm.numThreads)} in this page or process; it is set once, when its WebAssembly runtime starts, and cannot change to ${numThreads}`;
    }
    if (wasmPaths !== undefined && JSON.stringify(wasmPaths) !== JSON.stringify(wasm.wasmPaths)) {
      return `onnxruntime-web already loaded its files from ${JSON.stringify(wasm.wasmPaths)}; it cannot switch to ${JSON.stringify(wasmPaths)}`;
    }
    return undefined;
  }
  if (numThreads !== undefined) wasm.numThreads = numThreads;
  if (wasmPaths !== undefined) wasm.wasmPaths = typeof wasmPaths === 'string' ? wasmPaths : { ...wasmPaths };
  return undefined;
}
