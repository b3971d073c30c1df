import { assertBoolean, assertFunction, assertInteger, assertOptionKeys, assertObject, assertOneOf, assertString, describe, optionError } from '../../core/index.js';

/** Where onnxruntime-web runs a model: its WebAssembly CPU kernels, or the GPU through WebGPU. */
export type WebDevice = 'wasm' | 'webgpu';

/** Every {@link WebDevice}. */
export const WEB_DEVICES: readonly WebDevice[] = ['wasm', 'webgpu'];

/** How far ONNX Runtime rewrites the graph when it loads a model. */
export type WebGraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Where onnxruntime-web fetches its `.wasm` and `.mjs` files: a URL prefix, or each file's URL. */
export type WasmPaths = string | { readonly wasm?: string; readonly mjs?: string };

/** Options of {@link onnxWeb}. */
export interface OnnxWebOptions {
  /**
   * Devices in order of preference. Each model version loads on the first that works; the
   * failures before it are reported in `session.fallbacks`.
   * @default ['wasm']
   */
  readonly devices?: readonly WebDevice[];
  /** Fail when the first device cannot load the model instead of falling back to the next. @default false */
  readonly strict?: boolean;
  /**
   * WebAssembly threads. onnxruntime-web sets this once per page or process, when its runtime
   * starts, so every onnxWeb backend of a page must agree on it. Threads need a cross-origin
   * isolated page in browsers (COOP `same-origin`, COEP `require-corp`); 0 lets ONNX Runtime choose.
   * @default ONNX Runtime's choice
   */
  readonly numThreads?: number;
  /**
   * Where the runtime's `.wasm`/`.mjs` files are served, when they are not beside the bundle
   * (for example `'/ort/'`). Set once per page, like `numThreads`.
   * @default beside onnxruntime-web's own module
   */
  readonly wasmPaths?: WasmPaths;
  /** Graph optimizations applied at load. @default 'all' */
  readonly graphOptimizationLevel?: WebGraphOptimizationLevel;
  /**
   * Imports onnxruntime-web. Pass `() => import('onnxruntime-web/wasm')` for the smaller
   * WebAssembly-only build, or `() => import('onnxruntime-web/webgpu')` for the JSPI/asyncify one.
   * @default () => import('onnxruntime-web')
   */
  readonly runtime?: () => Promise<unknown>;
}

/** {@link OnnxWebOptions} with every default filled in. */
export interface ResolvedOnnxWebOptions {
  readonly devices: readonly WebDevice[];
  readonly strict: boolean;
  readonly numThreads: number | undefined;
  readonly wasmPaths: WasmPaths | undefined;
  readonly graphOptimizationLevel: WebGraphOptimizationLevel;
  readonly runtime: (() => Promise<unknown>) | undefined;
}

const KEYS = ['devices', 'strict', 'numThreads', 'wasmPaths', 'graphOptimizationLevel', 'runtime'];

/**
 * Validates the options and fills in the defaults.
 * @throws TypeError or RangeError naming the option and quoting the bad value.
 */
export function resolveOptions(options: OnnxWebOptions): ResolvedOnnxWebOptions {
  // An array would pass as an object with no keys, and so take every default.
  assertObject('options', options as unknown);
  assertOptionKeys('onnxWeb', options, KEYS);
  const devices = options.devices ?? ['wasm'];
  if (!Array.isArray(devices) || devices.length === 0) {
    throw optionError(`Expected \`devices\` to be a non-empty array, got ${describe(devices)}`);
  }
  // By index, not forEach: a hole ([, 'wasm']) must be refused, not skipped.
  for (let i = 0; i < devices.length; i++) assertOneOf(`devices[${i}]`, devices[i], WEB_DEVICES);
  if (new Set(devices).size !== devices.length) throw optionError(`Expected \`devices\` without repeats, got ${describe(devices)}`);
  const strict = options.strict ?? false;
  assertBoolean('strict', strict);
  if (options.numThreads !== undefined) assertInteger('numThreads', options.numThreads, 0, 1024);
  if (options.wasmPaths !== undefined) assertWasmPaths(options.wasmPaths);
  const graphOptimizationLevel = options.graphOptimizationLevel ?? 'all';
  assertOneOf('graphOptimizationLevel', graphOptimizationLevel, ['disabled', 'basic', 'extended', 'all']);
  if (options.runtime !== undefined) assertFunction('runtime', options.runtime);
  return {
    devices: [...devices],
    strict,
    numThreads: options.numThreads,
    wasmPaths: typeof options.wasmPaths === 'object' ? { ...options.wasmPaths } : options.wasmPaths,
    graphOptimizationLevel,
    runtime: options.runtime,
  };
}

function assertWasmPaths(value: unknown): asserts value is WasmPaths {
  if (typeof value === 'string') return assertString('wasmPaths', value);
  // {} names no file: it would set nothing, yet pin the paths for every later backend of the page.
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length === 0) {
    throw optionError(`Expected \`wasmPaths\` to be a URL prefix or {wasm, mjs}, got ${describe(value)}`);
  }
  for (const [key, path] of Object.entries(value)) {
    if (key !== 'wasm' && key !== 'mjs') throw optionError(`Unknown key \`${key}\` in \`wasmPaths\` (it takes wasm, mjs)`);
    assertString(`wasmPaths.${key}`, path);
  }
}
