import { basename, resolve } from 'node:path';
import { abortError, describe, type TensorMap } from '../../core/index.js';
import { checkLoadOptions, type Backend, type LoadOptions, type ModelSource } from '../index.js';
import { readReply, type RunResult } from './arena.js';
import { resolveOptions, type OnnxNodeOptions, type ResolvedOnnxNodeOptions } from './options.js';
import { WorkerPool } from './pool.js';
import type { OrtWorkerInfo, OrtWorkerInit } from './protocol.js';
import { importOrt } from './runtime.js';
import { OnnxNodeSession } from './session.js';
import { modelBytes } from './transfer.js';
import { estimateOnnxBytes } from './estimate.js';

/** Under tsx the sources run as .ts and workers inherit `--import tsx`; from dist, the .js. */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

const SOURCE_EXPECTED = "Expected a path to an .onnx file or the model's bytes (Uint8Array), got ";

/** The onnx-node backend. */
export interface OnnxNodeBackend extends Backend {
  readonly name: 'onnx-node';
  /** The options with their defaults filled in. */
  readonly options: ResolvedOnnxNodeOptions;
  /** True for a path ending in `.onnx` and for a Uint8Array (the model's bytes). */
  accepts(source: ModelSource): boolean;
  /**
   * Starts `instances` worker threads, each with its own ONNX Runtime session. The first worker
   * tries the devices in order; the others open the device it settled on.
   * @throws TypeError for a source it does not accept; BackendUnavailableError listing every
   * device's failure when none can load the model (or the first cannot, with `strict`), or when
   * onnxruntime-node is not installed; BackendError when a worker thread cannot be spawned or dies
   * before it is ready; the abort error when `signal` aborts.
   */
  load(source: ModelSource, options?: LoadOptions): Promise<OnnxNodeSession>;
  /**
   * The model's size: its bytes' length, or the `.onnx` file's size on disk (what a registry counts
   * against `maxLoadedBytes` when the config gives no `sizeBytes`); undefined for a path that names
   * no regular file.
   * @throws TypeError for a source it does not accept; BackendError naming the file when it cannot
   * be read; the abort error when `signal` aborts.
   */
  estimateBytes(source: ModelSource, options?: LoadOptions): Promise<number | undefined>;
}

/**
 * A backend that runs ONNX models with onnxruntime-node in worker threads, on the first device
 * in `devices` that works. Options are checked here; onnxruntime-node is imported at the first load.
 * @throws TypeError or RangeError for a bad option, quoting it.
 */
export function onnxNode(options: OnnxNodeOptions = {}): OnnxNodeBackend {
  const resolved = resolveOptions(options);
  return {
    name: 'onnx-node',
    options: resolved,
    accepts: isOnnxSource,
    async load(source: ModelSource, loadOptions: LoadOptions = {}): Promise<OnnxNodeSession> {
      checkLoadOptions(loadOptions);
      if (!isOnnxSource(source)) {
        throw new TypeError(SOURCE_EXPECTED + describe(source));
      }
      const { signal } = loadOptions;
      const label = loadOptions.label ?? (typeof source === 'string' ? basename(source) : 'model');
      if (signal?.aborted) throw abortError(signal);
      await importOrt();
      const init: OrtWorkerInit = {
        model: typeof source === 'string' ? resolve(source) : modelBytes(source),
        label,
        devices: resolved.devices,
        strict: resolved.strict,
        intraOpNumThreads: resolved.intraOpNumThreads,
        intraOpSpinning: resolved.intraOpSpinning,
        interOpNumThreads: resolved.interOpNumThreads,
        graphOptimizationLevel: resolved.graphOptimizationLevel,
        workerNice: resolved.workerNice,
      };
      const pool = await WorkerPool.start<OrtWorkerInfo, TensorMap, RunResult>({
        url: WORKER_URL,
        size: resolved.instances,
        label: `onnx-node ${label}`,
        signal,
        spinMs: resolved.spinWaitMs,
        threads: resolved.intraOpNumThreads,
        depth: resolved.pipelineDepth,
        runTimeoutMs: resolved.runTimeoutMs,
        readArena: (info) => {
          const names = info.outputs.map((o) => o.name);
          return (arena) => readReply(arena, names);
        },
        workerData: (first) => (first ? { ...init, devices: init.devices.slice(first.deviceIndex, first.deviceIndex + 1), strict: true } : init),
      });
      return new OnnxNodeSession(pool, label, resolved.transferFeeds);
    },
    async estimateBytes(source: ModelSource, loadOptions: LoadOptions = {}): Promise<number | undefined> {
      if (!isOnnxSource(source)) throw new TypeError(SOURCE_EXPECTED + describe(source));
      return estimateOnnxBytes(source, loadOptions);
    },
  };
}

function isOnnxSource(source: ModelSource): source is string | Uint8Array {
  return (typeof source === 'string' && source.toLowerCase().endsWith('.onnx')) || source instanceof Uint8Array;
}
