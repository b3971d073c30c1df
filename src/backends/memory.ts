import { abortError, BackendError, ClosedError, systemClock, type Clock, type TensorMap, assertFunction, assertInteger, assertOptionKeys, assertObject, describe } from '../core/index.js';
import { checkLoadOptions, checkRunOptions } from './call-options.js';
import { checkFeeds, checkTensor } from './check-feeds.js';
import type { Backend, LoadOptions, ModelSession, ModelSource, RunOptions, TensorSpec } from './types.js';

/** A model defined as a JavaScript function over tensors, for the memory backend. */
export interface MemoryModel {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Computes the outputs for a batch of feeds; throw to simulate a backend failure. */
  run(feeds: TensorMap): TensorMap | Promise<TensorMap>;
  /** Simulated run time in milliseconds on the backend's clock, fixed or as a function of the batch size. */
  readonly latencyMs?: number | ((batchSize: number) => number);
}

/** One recorded {@link ModelSession.run} of a memory session. */
export interface MemoryCall {
  /** The model's label (`name:version`) or `memory` when none was given. */
  readonly label: string;
  /** The first dimension of the first input: the batch size the batcher formed. */
  readonly batchSize: number;
  /** The feeds as received. */
  readonly feeds: TensorMap;
}

/** Options of {@link memoryBackend}. */
export interface MemoryBackendOptions {
  /** The clock simulated latency waits on. @default systemClock */
  readonly clock?: Clock;
  /** How many runs may execute at once. @default 1 */
  readonly concurrency?: number;
}

/** The memory backend: a Backend that also records every run. */
export interface MemoryBackend extends Backend {
  /** Every run of every session, in order. */
  readonly calls: MemoryCall[];
}

/**
 * A backend that runs {@link MemoryModel} functions with the same contract as the real ones:
 * feeds are checked against the declared inputs, outputs against the declared outputs, runs are
 * asynchronous, honour AbortSignal before they start, and are recorded.
 */
export function memoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  assertObject('options', options as unknown);
  assertOptionKeys('memoryBackend', options, ['clock', 'concurrency']);
  const clock = options.clock ?? systemClock;
  const concurrency = options.concurrency ?? 1;
  assertInteger('concurrency', concurrency, 1);
  const calls: MemoryCall[] = [];
  return {
    name: 'memory',
    calls,
    accepts: isMemoryModel,
    async load(source: ModelSource, loadOptions: LoadOptions = {}): Promise<ModelSession> {
      checkLoadOptions(loadOptions);
      if (!isMemoryModel(source)) {
        throw new TypeError(`Expected a memory model ({inputs, outputs, run}), got ${describe(source)}`);
      }
      assertFunction('run', source.run);
      return new MemorySession(source, clock, concurrency, loadOptions.label ?? 'memory', calls);
    },
  };
}

function isMemoryModel(source: ModelSource): source is MemoryModel {
  const m = source as Partial<MemoryModel>;
  return typeof m === 'object' && m !== null && typeof m.run === 'function' && Array.isArray(m.inputs) && Array.isArray(m.outputs);
}

class MemorySession implements ModelSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly device = 'cpu';
  readonly fallbacks = [];
  readonly concurrency: number;
  readonly #model: MemoryModel;
  readonly #clock: Clock;
  readonly #label: string;
  readonly #calls: MemoryCall[];
  #disposed = false;

  constructor(model: MemoryModel, clock: Clock, concurrency: number, label: string, calls: MemoryCall[]) {
    this.inputs = model.inputs;
    this.outputs = model.outputs;
    this.concurrency = concurrency;
    this.#model = model;
    this.#clock = clock;
    this.#label = label;
    this.#calls = calls;
  }

  async run(feeds: TensorMap, options: RunOptions = {}): Promise<TensorMap> {
    checkRunOptions(options);
    if (this.#disposed) throw new ClosedError(`Session ${this.#label} is disposed`);
    if (options.signal?.aborted) throw abortError(options.signal);
    checkFeeds(this.inputs, feeds);
    const batchSize = Object.values(feeds)[0]?.shape[0] ?? 1;
    this.#calls.push({ label: this.#label, batchSize, feeds });
    const latency = typeof this.#model.latencyMs === 'function' ? this.#model.latencyMs(batchSize) : this.#model.latencyMs ?? 0;
    const start = this.#clock.now();
    if (latency > 0) await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, latency));
    const outputs = await this.#model.run(feeds);
    const inferMs = this.#clock.now() - start;
    for (const spec of this.outputs) {
      const out = outputs[spec.name];
      if (!out) throw new BackendError(`Memory model ${this.#label} did not return output '${spec.name}'`);
      try {
        checkTensor(spec, out, 'output');
      } catch (error) {
        throw new BackendError(`Memory model ${this.#label}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (options.timings) options.timings.inferMs = inferMs;
    return outputs;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
  }
}
