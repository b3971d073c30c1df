import { describe, optionError, ModelNotReadyError, resolvesWithin, type Clock } from '../core/index.js';
import type { Backend } from '../backends/index.js';
import { isEnsemble } from './ensemble.js';
import { callOff } from './version-loader.js';
import type { ModelConfig } from './types.js';

/** What measuring meets first when the load is called off before the estimate ends. */
const GONE = Symbol('gone');

/** What {@link measureVersion} needs besides the config and its backend. */
export interface MeasureContext {
  readonly version: string;
  readonly clock: Clock;
  /** How long the backend's estimate may take (`RegistryOptions.loadTimeoutMs`). */
  readonly timeoutMs: number;
  /** The registry's `maxLoadedBytes`, for messages. */
  readonly maxLoadedBytes: number;
  /** Whether the load is still wanted (`ModelEntry.wants`): once it is not, the estimate is aborted and not waited for. */
  readonly wanted: () => boolean;
  /** Calls its argument whenever `wanted` may have changed, until the returned stop is called. */
  readonly watch: (watcher: () => void) => () => void;
}

/**
 * Refuses, under a `maxLoadedBytes` bound, a config whose size the registry cannot tell: no
 * `sizeBytes`, a source not given as bytes (a path, a backend's own model), and a backend with no
 * `estimateBytes`. It would count as 0 bytes, and the bound would hold nothing back. An ensemble
 * holds no weights of its own.
 * @throws TypeError quoting the source.
 */
export function checkSizeKnown(config: ModelConfig<unknown, unknown>, version: string, backend: Backend | undefined, maxLoadedBytes: number): void {
  if (maxLoadedBytes === Infinity || config.sizeBytes !== undefined || config.source instanceof Uint8Array || isEnsemble(config.source)) return;
  if (backend?.estimateBytes) return;
  throw sizeUnknown(config, version, maxLoadedBytes, `the ${backend?.name} backend measures only a source given as bytes, so ${describe(config.source)} would`);
}

/** A version's size as its config declares it: `sizeBytes`, else the source's byte length when it is bytes, else 0. */
export function declaredSize(config: ModelConfig<unknown, unknown>): number {
  if (config.sizeBytes !== undefined) return config.sizeBytes;
  return config.source instanceof Uint8Array ? config.source.byteLength : 0;
}

/**
 * The estimated size of a version under `maxLoadedBytes`, reserved and reported as its
 * `sizeBytes`: {@link declaredSize} when the config declares one, else what the backend's
 * `estimateBytes` gives (a model file's size on disk), else 0 (an ensemble; a backend that does
 * not measure is refused by {@link checkSizeKnown}). Load-time only; without the bound nothing
 * needs it and nothing is measured.
 * @throws the estimate's error (a file that cannot be read); TypeError when the backend cannot
 * measure the source or answers no number of bytes; ModelNotReadyError when the estimate takes
 * longer than `timeoutMs`, or, called off (see `wasCalledOff`), once the load is not wanted any
 * more (the estimate is aborted, and not waited for).
 */
export async function measureVersion(config: ModelConfig<unknown, unknown>, backend: Backend | undefined, context: MeasureContext): Promise<number> {
  if (config.sizeBytes !== undefined || config.source instanceof Uint8Array || !backend?.estimateBytes) return declaredSize(config);
  const { version, maxLoadedBytes } = context;
  const bytes = await estimate(backend, config, context);
  if (bytes !== undefined && !(typeof bytes === 'number' && bytes >= 0 && bytes <= Number.MAX_VALUE)) {
    throw new TypeError(`Expected the ${backend.name} backend's estimateBytes to give a number of bytes >= 0 or undefined for model '${config.name}' version '${version}', got ${describe(bytes)}`);
  }
  if (bytes !== undefined) return bytes;
  throw sizeUnknown(config, version, maxLoadedBytes, `the ${backend.name} backend cannot measure ${describe(config.source)}, which would`);
}

/**
 * The backend's estimate, aborted past `timeoutMs`, or at once when the load is not wanted any
 * more: a backend may not stop at the abort (a `stat` on a lost network mount does not), so
 * neither waits for it.
 */
async function estimate(backend: Backend, config: ModelConfig<unknown, unknown>, context: MeasureContext): Promise<number | undefined> {
  const { version, clock, timeoutMs, wanted, watch } = context;
  const calledOff = (): ModelNotReadyError => callOff(new ModelNotReadyError(`Model '${config.name}' version '${version}' was called off while it was measured`));
  if (!wanted()) throw calledOff();
  const controller = new AbortController();
  let unwatch = (): void => {};
  const gone = new Promise<typeof GONE>((resolve) => {
    unwatch = watch(() => wanted() || resolve(GONE));
  });
  try {
    const first = Promise.race([Promise.resolve(backend.estimateBytes!(config.source, { label: `${config.name}:${version}`, signal: controller.signal })), gone]);
    const came = await resolvesWithin(first, timeoutMs, clock);
    const bytes = came ? await first : undefined;
    if (came && bytes !== GONE) return bytes;
    const error = came ? calledOff() : new ModelNotReadyError(`Model '${config.name}' version '${version}' was not measured within ${timeoutMs} ms (\`loadTimeoutMs\`)`);
    controller.abort(error);
    throw error;
  } finally {
    unwatch();
  }
}

/** The refusal of a config whose size is unknown under the bound; `why` ends in "would", as in "… would count as 0 bytes". */
function sizeUnknown(config: ModelConfig<unknown, unknown>, version: string, maxLoadedBytes: number, why: string): TypeError {
  return optionError(
    `Expected \`sizeBytes\` for model '${config.name}' version '${version}': the registry has \`maxLoadedBytes\` (${maxLoadedBytes}) and ${why} count as 0 bytes; give its estimated memory (the model file's size, say)`,
  );
}
