import type { InferenceSession } from 'onnxruntime-web';
import { abortError, BackendUnavailableError, describe, messageOf, type AttemptFailure } from '../../core/index.js';
import { checkLoadOptions, type Backend, type LoadOptions, type ModelSession, type ModelSource } from '../index.js';
import { resolveOptions, type OnnxWebOptions, type ResolvedOnnxWebOptions, type WebDevice } from './options.js';
import { configure, importRuntime, markStarted, type OrtWeb } from './runtime.js';
import { OnnxWebSession } from './session.js';
import { modelLocation } from './source.js';

/** The onnx-web backend. */
export interface OnnxWebBackend extends Backend {
  readonly name: 'onnx-web';
}

/**
 * A backend on onnxruntime-web, for browsers, edge runtimes and Node: models run on WebAssembly
 * (`wasm`) or on the GPU through WebGPU (`webgpu`), on the first device of `devices` that works.
 * onnxruntime-web is imported when the first model loads, so a missing package is reported as a
 * BackendUnavailableError naming it, never as a crash at import time.
 *
 * Sources: a URL or a file path as a string or URL (in Node, a `file:` URL names a file and an
 * `http:`/`https:` one is fetched), or the model's bytes.
 *
 * @example
 * ```ts
 * const backend = onnxWeb({ devices: ['webgpu', 'wasm'], wasmPaths: '/ort/' });
 * const session = await backend.load('/models/classifier.onnx');
 * session.device; // 'webgpu', or 'wasm' with session.fallbacks saying why not
 * ```
 * @throws TypeError or RangeError on a bad option.
 */
export function onnxWeb(options: OnnxWebOptions = {}): OnnxWebBackend {
  const resolved = resolveOptions(options);
  return {
    name: 'onnx-web',
    accepts: isWebSource,
    load: (source, loadOptions) => load(resolved, source, loadOptions),
  };
}

function isWebSource(source: ModelSource): boolean {
  return (typeof source === 'string' && source.length > 0) || source instanceof Uint8Array || (typeof URL === 'function' && source instanceof URL);
}

async function load(options: ResolvedOnnxWebOptions, source: ModelSource, loadOptions: LoadOptions = {}): Promise<ModelSession> {
  checkLoadOptions(loadOptions);
  let { label } = loadOptions;
  const { signal } = loadOptions;
  if (!isWebSource(source)) throw new TypeError(`Expected a model URL, path or bytes (Uint8Array), got ${describe(source)}`);
  const location = source instanceof Uint8Array ? source : String(source);
  label ??= typeof location === 'string' ? fileName(location) : 'model';
  if (signal?.aborted) throw abortError(signal);
  const unavailable = (reason: string) =>
    new BackendUnavailableError(`Cannot load ${label} with onnx-web`, options.devices.map((device) => ({ device, reason })));
  let model: string | Uint8Array;
  try {
    model = typeof location === 'string' ? await modelLocation(location, signal) : location;
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw unavailable(messageOf(error));
  }
  let ort: OrtWeb;
  try {
    ort = await importRuntime(options.runtime);
  } catch (error) {
    throw unavailable((error as Error).message);
  }
  const conflict = configure(ort, options.numThreads, options.wasmPaths);
  if (conflict) throw unavailable(conflict);

  const failures: AttemptFailure[] = [];
  for (const device of options.devices) {
    if (signal?.aborted) throw abortError(signal);
    const session = await create(ort, model, device, options).catch((error: unknown) => {
      failures.push({ device, reason: messageOf(error) });
    });
    if (!session) {
      if (options.strict) throw new BackendUnavailableError(`Cannot load ${label} on ${device}, and strict mode forbids falling back`, failures);
      continue;
    }
    if (signal?.aborted) {
      await session.release();
      throw abortError(signal);
    }
    try {
      return new OnnxWebSession(ort, session, device, failures, label);
    } catch (error) {
      await session.release();
      throw error;
    }
  }
  throw new BackendUnavailableError(`Cannot load ${label} on any of ${options.devices.join(', ')}`, failures);
}

/** The last path segment of a URL or path, without query or fragment: `classifier.onnx`. */
function fileName(url: string): string {
  return url.replace(/[?#].*$/, '').split(/[\\/]/).filter(Boolean).pop() ?? url;
}

async function create(ort: OrtWeb, model: string | Uint8Array, device: WebDevice, options: ResolvedOnnxWebOptions): Promise<InferenceSession> {
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: options.graphOptimizationLevel,
  };
  let session: InferenceSession;
  try {
    session = typeof model === 'string'
      ? await ort.InferenceSession.create(model, sessionOptions)
      : await ort.InferenceSession.create(model, sessionOptions);
  } finally {
    // The WebAssembly runtime starts with the first attempt, on any device, and keeps its settings.
    markStarted(ort);
  }
  if (!Array.isArray(session.inputMetadata)) {
    await session.release();
    throw new Error(`onnxruntime-web ${ort.env.versions?.web ?? ''} reports no input metadata; servable needs onnxruntime-web >= 1.22`);
  }
  return session;
}
