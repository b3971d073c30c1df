import { availableParallelism } from 'node:os';
import { assertBoolean, assertInteger, assertOptionKeys, assertNumber, assertObject, assertOneOf, describe, optionError } from '../../core/index.js';
import { assertDevice, type Device } from './devices.js';

/** How far ONNX Runtime rewrites the graph when it loads a model. */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Options of {@link onnxNode}. */
export interface OnnxNodeOptions {
  /**
   * Devices in order of preference. Each model version loads on the first that works; the
   * failures before it are reported in `session.fallbacks`.
   * @default ['cpu']
   */
  readonly devices?: readonly Device[];
  /**
   * Worker threads per model version, each with its own ONNX Runtime session (Triton's
   * `instance_group` count). The session's `concurrency` is this number.
   * @default Math.min(2, os.availableParallelism())
   */
  readonly instances?: number;
  /**
   * Threads ONNX Runtime uses inside one operator, per instance.
   * @default Math.max(1, Math.floor(os.availableParallelism() / instances))
   */
  readonly intraOpNumThreads?: number;
  /** Threads running independent operators in parallel, per instance. @default ONNX Runtime's */
  readonly interOpNumThreads?: number;
  /**
   * Let ONNX Runtime's intra-op threads busy-wait between parallel sections
   * (`session.intra_op.allow_spinning`). It saves their wake-ups, but when the instances' threads
   * already fill every core a spinning thread takes the core from the ones doing the work and from
   * the event loop: with 1 instance × 2 threads on 2 cores, 64 callers got 565-718 items/s with
   * spinning and 923-1076 without, side by side (docs/measurements/batching.md); one caller at a
   * time waited about 0.5 ms longer without.
   * @default true while instances × intraOpNumThreads leave a core free, else false
   */
  readonly intraOpSpinning?: boolean;
  /** Graph optimizations applied at load. @default 'all' */
  readonly graphOptimizationLevel?: GraphOptimizationLevel;
  /** Fail when the first device cannot load the model instead of falling back to the next. @default false */
  readonly strict?: boolean;
  /**
   * Move the feeds' ArrayBuffers to the worker instead of copying them: `run()` then leaves the
   * caller's feed arrays detached (length 0). Set `false` to keep them usable at the cost of one copy.
   * @default true
   */
  readonly transferFeeds?: boolean;
  /**
   * How long a worker that has answered busy-waits for its next run before it sleeps, in
   * milliseconds, while the process's inference threads leave a core free; with it on (over 0), the
   * event loop also polls between turns for the results of runs expected to take under 5 ms.
   * Waking a sleeping thread costs tens of microseconds on virtual machines, as much as a small
   * model's inference, and a core that has idled runs the next inference slower for a while; the
   * price is CPU time on cores that would otherwise idle. Raise it to cover the usual gap between
   * requests where latency at low load matters more than idle CPU; 0 never spins. ONNX Runtime's
   * own thread pool spins the same way (`session.intra_op.allow_spinning`).
   * @default 1
   */
  readonly spinWaitMs?: number;
  /**
   * How much lower than the process's the worker threads' scheduling priority is, as a niceness
   * added to the process's (0-19; Linux only, where each thread can be reniced: elsewhere it does
   * nothing). The event loop's work is short and decides when the workers get their next batch:
   * with the workers at the same priority it waits for a core behind them, up to a scheduler slice
   * of several milliseconds. Niced workers give way as soon as the event loop has work and take
   * the core back when it sleeps. They give way to other busy processes of normal priority in the
   * same scheduling group too (cgroup, or terminal session where autogroup is on), and there a
   * process whose event loop never sleeps starves them; 0 keeps them at the process's priority.
   * 5 keeps the event loop's lag as low as 10 in the measurements (docs/backends.md, Thread
   * priority) and gives up about half as much of the model's share to a busy event loop.
   * @default 5
   */
  readonly workerNice?: number;
  /**
   * Runs an instance holds at once. With 2, the next batch is handed to a busy instance, which
   * starts it the moment its current run ends instead of waiting for the event loop to take in the
   * reply and send the next (a wait that grows with the event loop's other work, such as HTTP
   * requests). The session's `concurrency`, the batches a batcher keeps in flight, is
   * `instances × pipelineDepth`. The price: a batch handed over is dispatched, so it no longer
   * waits in the batcher's queue, where a request can still be cancelled, time out, or be
   * overtaken by a higher priority; and its compute time includes the wait behind the run ahead.
   * @default 1
   */
  readonly pipelineDepth?: number;
  /**
   * How long one run may take on its instance, in milliseconds (TorchServe's `responseTimeout`).
   * A batch still running after this long fails with a BackendError, as does the one handed to
   * its instance behind it (`pipelineDepth`), and a new worker replaces the instance at once; the
   * other instances run on. ONNX Runtime cannot be stopped mid-run: the old worker exits once its
   * run returns, holding its thread and memory until then. `Infinity` waits for ever.
   * @default 120000
   */
  readonly runTimeoutMs?: number;
}

/** {@link OnnxNodeOptions} with every default filled in. */
export interface ResolvedOnnxNodeOptions {
  readonly devices: readonly Device[];
  readonly instances: number;
  readonly intraOpNumThreads: number;
  readonly interOpNumThreads: number | undefined;
  readonly intraOpSpinning: boolean;
  readonly graphOptimizationLevel: GraphOptimizationLevel;
  readonly strict: boolean;
  readonly transferFeeds: boolean;
  readonly spinWaitMs: number;
  readonly workerNice: number;
  readonly pipelineDepth: number;
  readonly runTimeoutMs: number;
}

const KEYS = ['devices', 'instances', 'intraOpNumThreads', 'interOpNumThreads', 'intraOpSpinning', 'graphOptimizationLevel', 'strict', 'transferFeeds', 'spinWaitMs', 'workerNice', 'pipelineDepth', 'runTimeoutMs'];

/**
 * Validates the options and fills in the defaults.
 * @throws TypeError or RangeError naming the option and quoting the bad value.
 */
export function resolveOptions(options: OnnxNodeOptions, cores = availableParallelism()): ResolvedOnnxNodeOptions {
  // An array would pass as an object with no keys, and so take every default.
  assertObject('options', options as unknown);
  assertOptionKeys('onnxNode', options, KEYS);
  const devices = options.devices ?? ['cpu'];
  if (!Array.isArray(devices) || devices.length === 0) {
    throw optionError(`Expected \`devices\` to be a non-empty array, got ${describe(devices)}`);
  }
  // By index, not forEach: a hole ([, 'cpu']) must be refused, not skipped.
  for (let i = 0; i < devices.length; i++) assertDevice(`devices[${i}]`, devices[i]);
  const instances = options.instances ?? Math.min(2, cores);
  assertInteger('instances', instances, 1, 256);
  const intraOpNumThreads = options.intraOpNumThreads ?? Math.max(1, Math.floor(cores / instances));
  assertInteger('intraOpNumThreads', intraOpNumThreads, 1, 1024);
  if (options.interOpNumThreads !== undefined) assertInteger('interOpNumThreads', options.interOpNumThreads, 1, 1024);
  const intraOpSpinning = options.intraOpSpinning ?? instances * intraOpNumThreads < cores;
  assertBoolean('intraOpSpinning', intraOpSpinning);
  const graphOptimizationLevel = options.graphOptimizationLevel ?? 'all';
  assertOneOf('graphOptimizationLevel', graphOptimizationLevel, ['disabled', 'basic', 'extended', 'all']);
  const strict = options.strict ?? false;
  assertBoolean('strict', strict);
  const transferFeeds = options.transferFeeds ?? true;
  assertBoolean('transferFeeds', transferFeeds);
  const spinWaitMs = options.spinWaitMs ?? 1;
  assertNumber('spinWaitMs', spinWaitMs, 0, 1000);
  const workerNice = options.workerNice ?? 5;
  assertInteger('workerNice', workerNice, 0, 19);
  const pipelineDepth = options.pipelineDepth ?? 1;
  assertInteger('pipelineDepth', pipelineDepth, 1, 4);
  const runTimeoutMs = options.runTimeoutMs ?? 120_000;
  assertNumber('runTimeoutMs', runTimeoutMs, 1, Number.MAX_VALUE, true);
  return {
    devices: devices.map((d) => (typeof d === 'string' ? d : { ...d })),
    instances,
    intraOpNumThreads,
    interOpNumThreads: options.interOpNumThreads,
    intraOpSpinning,
    graphOptimizationLevel,
    strict,
    transferFeeds,
    spinWaitMs,
    workerNice,
    pipelineDepth,
    runTimeoutMs,
  };
}
