import type { InferenceSession } from 'onnxruntime-web';
import { abortError, BackendError, ClosedError, messageOf, onAbort, type AttemptFailure, type TensorMap } from '../../core/index.js';
import { checkFeeds, checkRunOptions, tensorSpec, type ModelSession, type RunOptions, type TensorSpec } from '../index.js';
import type { OrtWeb } from './runtime.js';
import { nextTask } from './next-task.js';
import { fromOrt, toOrt } from './tensors.js';
import { laneOf, type Lane } from './lane.js';
import type { WebDevice } from './options.js';

/**
 * One onnxruntime-web session. ONNX Runtime Web runs one inference at a time, across every session
 * of a runtime, so runs wait their turn in the runtime's {@link Lane} (concurrency 1); a run whose
 * signal aborts while it waits leaves at once.
 * Each run starts in a fresh task of the event loop, so a stream of runs never starves timers and I/O.
 */
export class OnnxWebSession implements ModelSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly device: WebDevice;
  readonly fallbacks: readonly AttemptFailure[];
  readonly concurrency = 1;
  readonly #ort: OrtWeb;
  readonly #session: InferenceSession;
  readonly #label: string;
  readonly #lane: Lane;
  #disposed: Promise<void> | undefined;

  /** @throws BackendError when an input or output is not a tensor servable carries. */
  constructor(ort: OrtWeb, session: InferenceSession, device: WebDevice, fallbacks: readonly AttemptFailure[], label: string) {
    this.inputs = session.inputMetadata.map((m) => tensorSpec(m, 'input'));
    this.outputs = session.outputMetadata.map((m) => tensorSpec(m, 'output'));
    this.device = device;
    this.fallbacks = fallbacks;
    this.#ort = ort;
    this.#session = session;
    this.#label = label;
    this.#lane = laneOf(ort.env.wasm);
  }

  run(feeds: TensorMap, options: RunOptions = {}): Promise<TensorMap> {
    try {
      checkRunOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal } = options;
    if (this.#disposed) return Promise.reject(new ClosedError(`Model ${this.#label} is disposed`));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    try {
      checkFeeds(this.inputs, feeds);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<TensorMap>((resolve, reject) => {
      const off = onAbort(signal, () => reject(abortError(signal!)));
      this.#lane.tail = this.#lane.tail.then(async () => {
        await nextTask();
        if (signal?.aborted) return;
        off();
        try {
          resolve(await this.#execute(feeds));
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  async #execute(feeds: TensorMap): Promise<TensorMap> {
    let outputs: InferenceSession.ReturnType;
    try {
      outputs = await this.#session.run(toOrt(this.#ort.Tensor, feeds));
    } catch (error) {
      throw new BackendError(`Model ${this.#label} failed on ${this.device}: ${messageOf(error)}`, {
        cause: error,
      });
    }
    return fromOrt(outputs);
  }

  /** Lets the runs already accepted finish, then releases the ONNX Runtime session in its turn. */
  dispose(): Promise<void> {
    if (!this.#disposed) {
      this.#disposed = this.#lane.tail.then(() => this.#session.release());
      // A release that fails must not stop the lane: the other sessions' runs wait on it.
      this.#lane.tail = this.#disposed.catch(() => {});
    }
    return this.#disposed;
  }
}
