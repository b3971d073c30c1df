import { ModelNotFoundError, ModelNotReadyError } from '../core/index.js';
import type { Backend } from '../backends/index.js';
import type { Capacity, Release } from './capacity.js';
import type { ModelEntry } from './model-entry.js';
import type { ModelRegistry } from './model-registry.js';
import type { ModelVersion } from './model-version.js';
import { declaredSize, measureVersion } from './measure.js';
import { callOff, handlerFree, loadVersion, pickBackend, wasCalledOff } from './version-loader.js';
import type { ModelConfig } from './types.js';

/** What a load needs of its registry. */
export interface LoadRunner {
  readonly registry: ModelRegistry;
  readonly backends: readonly Backend[];
  readonly capacity: Capacity;
  /** Every model's entry: a handler instance serves one version at a time. */
  readonly entries: () => Iterable<ModelEntry>;
  /** Makes a loaded version take traffic; `release` gives its room back once it is unloaded. */
  readonly commit: (entry: ModelEntry, mv: ModelVersion, config: ModelConfig<unknown, unknown>, release: Release | undefined) => void;
  /** Called once a load has ended, whatever its outcome. */
  readonly ended: (entry: ModelEntry) => void;
}

/**
 * Starts loading a known version, or returns its load in flight: one load at a time per version,
 * shared by every caller (see {@link ModelEntry.loading}).
 */
export function startLoad(runner: LoadRunner, entry: ModelEntry, version: string): Promise<ModelVersion> {
  const existing = entry.loading.get(version);
  if (existing) return existing;
  const promise = loadNow(runner, entry, version).finally(() => {
    entry.loading.delete(version);
    entry.loadStarted.delete(version);
    entry.abandoned.delete(version);
    runner.ended(entry);
  });
  promise.catch(() => {});
  entry.loading.set(version, promise);
  return promise;
}

/**
 * Reserves room for the version, loads it and has it committed; a `failure` event when it fails,
 * none when it was called off (see `wasCalledOff`).
 */
async function loadNow(runner: LoadRunner, entry: ModelEntry, version: string): Promise<ModelVersion> {
  const { registry } = runner;
  const config = entry.configs.get(version);
  if (!config) throw new ModelNotFoundError(`Model '${entry.name}' has no version '${version}'`);
  const ref = { name: entry.name, version };
  const started = registry.clock.now();
  entry.loadStarted.set(version, started);
  // Unloaded, replaced or abandoned while it ran, or the registry closed.
  const goneOff = (): boolean => registry.closed || entry.configs.get(version) !== config || entry.abandoned.has(version);
  entry.failures.delete(version);
  registry.emit('loading', ref);
  let release: Release | undefined;
  try {
    const backend = pickBackend(runner.backends, config);
    await handlerFree(config, runner.entries());
    const wanted = (): boolean => entry.wants(version, config);
    // Under the bound, measured before room is reserved, and reported as the version's sizeBytes: what it reserved.
    const { maxLoadedBytes } = registry;
    const sizeBytes =
      maxLoadedBytes === Infinity
        ? declaredSize(config)
        : await measureVersion(config, backend, { version, clock: registry.clock, timeoutMs: registry.loadTimeoutMs, maxLoadedBytes, wanted, watch: (watcher) => entry.watch(watcher) });
    if (backend) {
      release = await runner.capacity.reserve(`'${entry.name}' version '${version}'`, sizeBytes, wanted);
    }
    const mv = await loadVersion(config, {
      version,
      backend,
      sizeBytes,
      clock: registry.clock,
      resolveStep: (model, options) => registry.acquireHeld(model, options),
      onStep: (event) => {
        if (registry.listenerCount('step') > 0) registry.emit('step', event());
      },
      labels: () => entry.labelsOf(version),
      timeoutMs: registry.loadTimeoutMs,
    });
    if (goneOff()) {
      await mv.unload();
      throw new ModelNotReadyError(`Model '${entry.name}' version '${version}' was unloaded while it loaded`);
    }
    entry.lastLoadMs = registry.clock.now() - started;
    runner.commit(entry, mv, config, release);
    entry.trimFailures();
    return mv;
  } catch (error) {
    release?.();
    const err = error instanceof Error ? error : new Error(String(error));
    // A load gone off while it ran, or given up while it waited for room, was called off, not failed: no alert for it.
    if (wasCalledOff(err) || goneOff()) throw callOff(err);
    entry.failures.set(version, err.message);
    registry.emit('failure', { ...ref, error: err, stage: 'load' });
    throw err;
  }
}
