import type { EventEmitter } from 'eventemitter3';
import { allocate, ClosedError, describe, optionError, elementCount, ModelNotFoundError, ModelNotReadyError, resolvesWithin, type Clock, type TensorMap } from '../core/index.js';
import type { Backend, ModelSession, TensorSpec } from '../backends/index.js';
import { TensorHandler, type Handler } from '../handler/index.js';
import { EnsembleSession, isEnsemble, type StepResolver } from './ensemble.js';
import type { ModelEntry } from './model-entry.js';
import { ModelVersion } from './model-version.js';
import { defaultWarmupBatchSizes } from './warm-up.js';
import { checkClassLabelOutputs, checkEstimateBytes, pinInputs } from './config.js';
import type { ModelConfig, RegistryEvents, StepEvent } from './types.js';

/** The backend name ensembles report. */
export const ENSEMBLE_BACKEND = 'ensemble';

/** How long a load may take when `loadTimeoutMs` is not given: TorchServe's default `startup_timeout`, 120 s. */
export const DEFAULT_LOAD_TIMEOUT_MS = 120_000;

/** What {@link loadVersion} needs besides the config. */
export interface LoadContext {
  readonly version: string;
  /** The backend; ignored for ensembles. */
  readonly backend: Backend | undefined;
  /** Its estimated size (see `measureVersion`). */
  readonly sizeBytes: number;
  readonly clock: Clock;
  /** Finds step models of an ensemble. */
  readonly resolveStep: StepResolver;
  /** Told of each of an ensemble's model steps as it settles; `event()` builds its event. */
  readonly onStep: (event: () => StepEvent) => void;
  /** The labels pointing at the version, for its metadata. */
  readonly labels: () => readonly string[];
  /** How long the load may take (see `RegistryOptions.loadTimeoutMs`); longer than a timer can hold counts as none. */
  readonly timeoutMs: number;
}

/**
 * Picks the backend of a config: the one it names (or gives), else the first that accepts its
 * source; undefined for an ensemble.
 * @throws TypeError when none fits, with `code` `'ERR_SERVABLE_INVALID_OPTION'`.
 */
export function pickBackend(backends: readonly Backend[], config: ModelConfig<unknown, unknown>): Backend | undefined {
  if (isEnsemble(config.source)) return undefined;
  if (typeof config.backend === 'object' && config.backend !== null) {
    if (typeof config.backend.load !== 'function' || typeof config.backend.name !== 'string') {
      throw optionError(`Expected \`backend\` to be a backend name or a Backend ({name, accepts, load}), got ${describe(config.backend)}`);
    }
    checkEstimateBytes('backend', config.backend);
    return config.backend;
  }
  if (config.backend !== undefined) {
    const named = backends.find((b) => b.name === config.backend);
    if (!named) {
      throw optionError(`Expected \`backend\` to be one of ${backends.map((b) => `'${b.name}'`).join(', ')}, got ${describe(config.backend)}`);
    }
    return named;
  }
  const accepting = backends.find((b) => b.accepts(config.source));
  if (!accepting) {
    throw optionError(`No backend (${backends.map((b) => b.name).join(', ')}) accepts the source ${describe(config.source)}`);
  }
  return accepting;
}

/**
 * Loads one version: opens the session, initializes the handler and warms it up. The version is
 * returned still `loading`; the caller marks it ready. On failure everything opened is disposed.
 * @throws ModelNotReadyError when it takes longer than `timeoutMs`: the backend's load is aborted,
 * and what it opens after that is disposed.
 */
export async function loadVersion<Req, Res>(config: ModelConfig<Req, Res>, context: LoadContext): Promise<ModelVersion<Req, Res>> {
  const controller = new AbortController();
  const opening = openVersion(config, context, controller.signal);
  if (await resolvesWithin(opening, context.timeoutMs, context.clock)) return opening;
  const error = new ModelNotReadyError(`Model '${config.name}' version '${context.version}' did not load within ${context.timeoutMs} ms (\`loadTimeoutMs\`)`);
  controller.abort(error);
  throw error;
}

async function openVersion<Req, Res>(config: ModelConfig<Req, Res>, context: LoadContext, signal: AbortSignal): Promise<ModelVersion<Req, Res>> {
  const { version, clock } = context;
  const ref = { name: config.name, version };
  const started = clock.now();
  let session: ModelSession | undefined;
  let handler: Handler<Req, Res> | undefined;
  let mv: ModelVersion<Req, Res> | undefined;
  try {
    session = isEnsemble(config.source)
      ? new EnsembleSession(config.source, { ref, resolve: context.resolveStep, clock, onStep: context.onStep })
      : await context.backend!.load(config.source, { label: `${config.name}:${version}`, signal });
    // Timed out meanwhile (a backend that ignored the abort): no initialize or warm-up for nobody.
    signal.throwIfAborted();
    const inputs = pinInputs(session.inputs, config.inputs);
    checkClassLabelOutputs(config.classLabels, session.outputs);
    handler = makeHandler(config.handler);
    mv = new ModelVersion<Req, Res>({
      ...ref,
      backend: context.backend?.name ?? ENSEMBLE_BACKEND,
      session,
      handler,
      inputs,
      batching: config.batching,
      clock,
      loadMs: clock.now() - started,
      sizeBytes: context.sizeBytes,
      labels: context.labels,
      classLabels: config.classLabels,
      declared: config.declared,
    });
    await handler.initialize({ ...ref, session, inputs, outputs: session.outputs, maxBatchSize: config.batching?.maxBatchSize ?? 1 });
    signal.throwIfAborted();
    // An ensemble's steps are warm already: its own default is no warm-up.
    const warmup = config.warmup ?? (handler instanceof TensorHandler && !isEnsemble(config.source) ? zeroRequests<Req>(inputs) : []);
    // An ensemble's slots (maxInFlight) are no workers of its own: its steps' versions warmed theirs.
    // Called off or timed out meanwhile: no further warm-up batch starts.
    const batchSizes = config.warmupBatchSizes ?? defaultWarmupBatchSizes(config.batching?.maxBatchSize);
    await mv.warmup(warmup, { batchSizes, slots: isEnsemble(config.source) ? 1 : undefined, signal });
    // Timed out meanwhile: nobody takes it any more.
    signal.throwIfAborted();
    return mv;
  } catch (error) {
    await mv?.batcher.close().catch(() => {});
    await Promise.resolve(handler?.dispose()).catch(() => {});
    await session?.dispose().catch(() => {});
    throw error instanceof Error ? error : new Error(String(error));
  }
}

/** Re-emits a loaded version's batcher events as the registry's `batch` and `drop`, with its name and version. */
export function forwardBatcherEvents(mv: ModelVersion, registry: EventEmitter<RegistryEvents>): void {
  const ref = { name: mv.name, version: mv.version };
  mv.batcher.on('batch', (event) => {
    if (registry.listenerCount('batch') > 0) registry.emit('batch', { ...ref, ...event });
  });
  mv.batcher.on('drop', (event) => {
    if (registry.listenerCount('drop') > 0) registry.emit('drop', { ...ref, ...event });
  });
}

/**
 * What a request that had to wait for a load gets when the load fails: the version is not ready
 * (503), whatever failed, with the load's error as the `cause`. The request was not at fault, so a
 * warm-up's InvalidInputError must not reach it as a 400, nor a handler's plain Error as a 500; the
 * reason (which may name files on the server) is the operator's, in the `failure` event. No
 * `Retry-After`: files that failed are not expected to load soon (a load that ran out of time or
 * room keeps its own error, and its `Retry-After`).
 */
export function loadFailure(name: string, version: string, error: unknown): Error {
  if (error instanceof ModelNotReadyError || error instanceof ModelNotFoundError || error instanceof ClosedError) return error;
  const wrapped = new ModelNotReadyError(`Model '${name}' version '${version}' failed to load`, { cause: error, retryAfterMs: null });
  failedLoads.add(wrapped);
  return wrapped;
}

const failedLoads = new WeakSet<Error>();

/**
 * The load's own error when `error` is the one `registry.acquire()` rejects with for a
 * load that failed (see loadFailure), else `error`: for a caller that started the load itself
 * (a repository loading a version again as a request would) and answers with what failed.
 */
export function loadErrorOf(error: unknown): unknown {
  return error instanceof Error && failedLoads.has(error) ? error.cause : error;
}

const calledOff = new WeakSet<Error>();

/**
 * Marks the error of a load called off because its version was unloaded or replaced, or the
 * registry closed, while it ran, or because no caller waited for it any more while it waited for room.
 */
export function callOff<E extends Error>(error: E): E {
  calledOff.add(error);
  return error;
}

/**
 * True when a load failed only because its version was unloaded or replaced, or the registry
 * closed, while it ran, or because every caller waiting for it gave up while it waited for room
 * under `maxLoadedVersions` / `maxLoadedBytes`: the files were not at fault, and loading them
 * again may well succeed.
 */
export function wasCalledOff(error: unknown): boolean {
  return error instanceof Error && calledOff.has(error);
}

const transient = new WeakSet<Error>();

/**
 * Marks the error of a load that found no room within `loadTimeoutMs`, or another load of its
 * version in flight: its config and files are not to blame, and the same files may load later.
 */
export function markTransient<E extends Error>(error: E): E {
  transient.add(error);
  return error;
}

/**
 * True when a load failed only because it found no room within `loadTimeoutMs` under
 * `maxLoadedVersions` / `maxLoadedBytes`, or because another load of its version was in flight:
 * the files were not at fault, and the same files may load later.
 */
export function wasTransient(error: unknown): boolean {
  return error instanceof Error && transient.has(error);
}

/**
 * A handler instance serves one version at a time: waits for a draining version that still holds
 * `config`'s handler; refuses one that is serving.
 * @throws TypeError when a ready version uses the same handler instance.
 */
export async function handlerFree(config: ModelConfig<unknown, unknown>, entries: Iterable<ModelEntry>): Promise<void> {
  if (config.handler === undefined || typeof config.handler === 'function') return;
  for (const entry of entries) {
    for (const mv of entry.live.values()) {
      if (mv.handler === config.handler) {
        throw optionError(`The handler of '${config.name}' serves '${mv.name}' version '${mv.version}' already; pass a function that makes a new one`);
      }
    }
    for (const mv of entry.retiring) if (mv.handler === config.handler) await mv.unload().catch(() => {});
  }
}

function makeHandler<Req, Res>(handler: ModelConfig<Req, Res>['handler']): Handler<Req, Res> {
  if (handler === undefined) return new TensorHandler() as unknown as Handler<Req, Res>;
  return typeof handler === 'function' ? handler() : handler;
}

/** A batch-1 request of zeros when every input dimension but the batch is fixed; none otherwise. */
function zeroRequests<Req>(inputs: readonly TensorSpec[]): Req[] {
  const feeds: TensorMap = {};
  for (const spec of inputs) {
    const dims = spec.shape.slice(1);
    if (spec.shape.length === 0 || dims.some((d) => d < 0)) return [];
    const shape = [1, ...dims];
    feeds[spec.name] = { datatype: spec.datatype, shape, data: allocate(spec.datatype, elementCount(shape)) };
  }
  return [{ inputs: feeds } as Req];
}
