import { abortError, ClosedError, type AttemptFailure, type TensorMap } from '../../core/index.js';
import { checkFeeds, checkRunOptions, type ModelSession, type RunOptions, type TensorSpec } from '../index.js';
import type { DeviceName } from './devices.js';
import type { RunResult } from './arena.js';
import type { WorkerPool } from './pool.js';
import type { OrtWorkerInfo } from './protocol.js';
import { forTransfer } from './transfer.js';

/** A model version loaded by the onnx-node backend: an ONNX Runtime session in each of its worker threads. */
export class OnnxNodeSession implements ModelSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly device: DeviceName;
  readonly fallbacks: readonly AttemptFailure[];
  /** Runs the workers hold at once (instances × `pipelineDepth`): runs beyond it wait for room. */
  readonly concurrency: number;
  readonly #pool: WorkerPool<OrtWorkerInfo, TensorMap, RunResult>;
  readonly #label: string;
  readonly #feeds: 'move' | 'copy';
  #disposed: Promise<void> | undefined;

  /** @internal Sessions come from `onnxNode().load()`. */
  constructor(pool: WorkerPool<OrtWorkerInfo, TensorMap, RunResult>, label: string, transferFeeds: boolean) {
    this.inputs = pool.info.inputs;
    this.outputs = pool.info.outputs;
    this.device = pool.info.device;
    this.fallbacks = pool.info.fallbacks;
    this.concurrency = pool.size * pool.depth;
    this.#pool = pool;
    this.#label = label;
    this.#feeds = transferFeeds ? 'move' : 'copy';
  }

  /**
   * Worker threads alive now: the `instances` option's count, fewer while a crashed worker is being
   * replaced, or while a replacement that failed to start waits for its retry (up to 30 s apart).
   */
  get instances(): number {
    return this.#pool.alive;
  }

  /**
   * Runs the model in the next free worker. With `transferFeeds` (the default) the feeds'
   * ArrayBuffers move to the worker and the caller's arrays are left detached.
   * `options.timings.inferMs` gets the time ONNX Runtime's `run()` took in the worker.
   * @throws InvalidInputError when the feeds do not fit the inputs; the abort error when `signal`
   * aborts before a worker takes the run; BackendError when ONNX Runtime fails or the worker dies;
   * ClosedError after {@link dispose}.
   */
  async run(feeds: TensorMap, options: RunOptions = {}): Promise<TensorMap> {
    checkRunOptions(options);
    if (this.#disposed) throw new ClosedError(`onnx-node ${this.#label} is disposed`);
    if (options.signal?.aborted) throw abortError(options.signal);
    checkFeeds(this.inputs, feeds);
    const { tensors, transfer } = forTransfer(feeds, this.#feeds);
    const { outputs, inferMs } = await this.#pool.run(tensors, transfer, options.signal);
    if (options.timings) options.timings.inferMs = inferMs;
    return outputs;
  }

  /** Wakes the worker that would take the next run, if it sleeps (see {@link ModelSession.expect}). */
  expect(withinMs: number): void {
    this.#pool.expect(withinMs);
  }

  /** Settles runs whose workers have answered before the event loop has delivered the answers (see {@link ModelSession.collect}). */
  collect(): void {
    this.#pool.collect();
  }

  /** Lets accepted runs finish, then releases each worker's session and stops the workers. */
  dispose(): Promise<void> {
    this.#disposed ??= this.#pool.close();
    return this.#disposed;
  }
}
