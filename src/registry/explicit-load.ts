import { abortError, assertOptionKeys, assertObject, assertSignal, ModelNotReadyError, onAbort } from '../core/index.js';
import type { ModelEntry } from './model-entry.js';
import type { ModelVersion } from './model-version.js';
import { markTransient } from './version-loader.js';
import type { RegistryLoadOptions, ModelConfig } from './types.js';

/** Every option's name, so a misspelt one (`sigal`) is refused, not ignored. */
const LOAD_KEYS = Object.keys({ signal: true } satisfies Record<keyof RegistryLoadOptions, true>);

/**
 * Checks the options of {@link ModelRegistry.load} as a constructor's are checked, and returns them.
 * @throws TypeError naming an unknown option or quoting a bad value.
 */
export function checkLoadOptions(options: RegistryLoadOptions): RegistryLoadOptions {
  assertObject('options', options as unknown);
  assertOptionKeys('ModelRegistry.load()', options, LOAD_KEYS);
  assertSignal('signal', options.signal);
  return options;
}

/**
 * `registry.load()`'s side of a load: puts `config` in place for `version`, starts the load and
 * waits for it as one of its callers, and puts back what `config` replaced when the load fails.
 * When `signal` aborts and requests wait for the same load, it goes on for them with `config`,
 * and this rejects at once. Otherwise the load is abandoned: called off at once while it is measured
 * or waits for room, disposed once its session is open (the backend's load is bounded by `loadTimeoutMs`), and
 * this rejects once it has ended, what `config` replaced put back; a load that committed before the
 * abort resolves this still. `cleanup` runs once this settles.
 * @throws ModelNotReadyError, transient, when a load of the version is in flight already; the
 * load's error; the signal's reason when it is an Error, else a CancelledError.
 */
export async function explicitLoad(
  entry: ModelEntry,
  version: string,
  config: ModelConfig<unknown, unknown>,
  start: () => Promise<ModelVersion>,
  signal: AbortSignal | undefined,
  cleanup: () => void,
): Promise<ModelVersion> {
  if (entry.loading.has(version)) throw markTransient(new ModelNotReadyError(`Model '${entry.name}' version '${version}' is already loading`));
  const before = entry.before(version);
  // A loaded version's old instance drains as replaced; one not loaded has none to say so.
  if (before.config && !entry.live.has(version)) entry.replacing.add(config);
  entry.configure(version, config);
  const loading = start();
  let othersWait = false;
  let stop = (): void => {};
  const waited = new Promise<ModelVersion>((resolve, reject) => {
    let abandoned = false;
    loading.then(
      (mv) => abandoned || resolve(mv),
      (error: unknown) => abandoned || reject(error),
    );
    stop = onAbort(signal, () => {
      // Ended already: its outcome is on its way.
      if (entry.loading.get(version) !== loading) return;
      const error = abortError(signal!);
      // Decided at once, before the load can commit; this caller still counts among its waiters.
      othersWait = entry.waiters.callers(version) > 1;
      if (othersWait) return reject(error);
      abandoned = true;
      entry.abandon(version);
      // A load that resolves committed before the abort (an abandoned one is disposed, and rejects): it serves, with `config`.
      void loading.then(resolve, () => reject(error));
    });
  });
  try {
    return await entry.loadExplicitly(version, waited);
  } catch (error) {
    if (!othersWait) {
      entry.restore(version, config, before);
      // Its mark goes with it: the same object registered or loaded later replaces nothing it did not.
      entry.replacing.delete(config);
    }
    throw error;
  } finally {
    stop();
    cleanup();
  }
}
