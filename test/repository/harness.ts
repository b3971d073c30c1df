import { syncBuiltinESMExports } from 'node:module';
import type { TestContext } from 'node:test';
import { InferenceService, ModelRegistry, memoryBackend, type AcquireOptions, type RegistryOptions, type InferenceResponse, type ModelConfig, type RegistryLoadOptions, type Tensor } from 'servable';
import { FakeClock } from 'servable/testing';
import { ModelRepository, type BackendFactory, type ControlMode, type RepositoryEvents, type RepositoryOptions } from 'servable/repository';
import { jsonBackends, tempRoot } from './fixtures.js';

// The setups the repository tests share: repositories over temp roots, registries on fake clocks, slow backends.

export const x = (a: number, b: number) => ({ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([a, b]) } as Tensor } });

export const offset = (r: InferenceResponse) => (r.outputs.y!.data as Float32Array)[0]!;

/** The repository's failure events, as `name[:version]: message`. */
export function failuresOf(repository: ModelRepository): string[] {
  const failures: string[] = [];
  repository.on('failure', (f: RepositoryEvents['failure'][0]) => failures.push(`${f.name}${f.version ? `:${f.version}` : ''}: ${f.error.message}`));
  return failures;
}

/**
 * Closes the repository, then the registry, and removes the temp root, once however often it is
 * called. It is registered with the test's end (`t.after`), so a test whose assertion fails before
 * its own cleanup still closes the poll timer and loads, and the file reports the failure, where
 * its process stayed alive on them.
 */
export function closeAtEnd(t: TestContext, repository: ModelRepository, registry: ModelRegistry, remove: () => Promise<void>): () => Promise<void> {
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await repository.close();
      await registry.close();
      await remove();
    })());
  t.after(close);
  return close;
}

/**
 * A repository over a temp root, and a registry (of `Registry`) with the memory backend on a fake
 * clock, which the repository's waits then run on too; with the repository's failure events.
 * Both are closed, and the root removed, at the test's end (see {@link closeAtEnd}).
 */
export async function onFakeClock<R extends ModelRegistry>(
  t: TestContext,
  registryOptions: Omit<RegistryOptions, 'backends' | 'clock'>,
  repositoryOptions: Omit<RepositoryOptions, 'root' | 'registry'>,
  Registry: new (options: RegistryOptions) => R,
) {
  const { root, remove } = await tempRoot();
  const clock = new FakeClock();
  const registry = new Registry({ backends: [memoryBackend()], clock, ...registryOptions });
  const repository = new ModelRepository({ root, registry, ...repositoryOptions });
  closeAtEnd(t, repository, registry, remove);
  return { root, remove, clock, registry, repository, failures: failuresOf(repository) };
}

/** A poll repository over a registry holding at most `maxLoadedVersions`, waiting 1000 ms for room (see {@link onFakeClock}). */
export function roomLimited(t: TestContext, maxLoadedVersions: number, pollIntervalMs = 3_600_000, loads?: string[]) {
  return onFakeClock(t, { maxLoadedVersions, loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs, backends: jsonBackends(loads).backends }, ModelRegistry);
}

/** A repository in `mode` over a temp root, with a service over its registry; `done()` closes both and removes the root, as the test's end does if it fails first (see {@link closeAtEnd}). */
export async function setup(t: TestContext, mode: ControlMode, models?: string[]) {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const { backends, memory } = jsonBackends(loads);
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  const repository = new ModelRepository({ root, registry, mode, models, backends });
  const failures = failuresOf(repository);
  const ask = async (model: string, options = {}) => offset(await service.infer(model, x(0, 0), options));
  const done = closeAtEnd(t, repository, registry, remove);
  return { root, registry, service, repository, failures, loads, memory, ask, done };
}

/** A registry counting the repository's calls to load and acquire (requests acquire through acquireHeld). */
export class Watched extends ModelRegistry {
  calls = 0;
  override load<Req, Res>(config: ModelConfig<Req, Res>, options?: RegistryLoadOptions) {
    this.calls++;
    return super.load(config, options);
  }
  override acquire(name: string, options?: AcquireOptions) {
    this.calls++;
    return super.acquire(name, options);
  }
}

/** The json backend of {@link jsonBackends}, each load first waiting for what `before` gives for its label (`model:version`). */
export function gatedJson(loads: string[], before: (label: string) => Promise<void> | void): Record<string, BackendFactory> {
  const json = jsonBackends(loads).backends.json!;
  const gated: BackendFactory = (options) => {
    const inner = json(options);
    return {
      ...inner,
      async load(source, loadOptions) {
        await before(loadOptions?.label ?? '?');
        return inner.load(source, loadOptions);
      },
    };
  };
  return { json: gated };
}

/** Json backends whose every load takes `ms` on `on.clock` (set once made), recording the loads started, those going on and the most at once. */
export function slowBackends(ms: number) {
  const on = { clock: undefined as FakeClock | undefined, started: [] as string[], loading: 0, peak: 0 };
  const backends = gatedJson([], async (label) => {
    on.started.push(label);
    on.peak = Math.max(on.peak, ++on.loading);
    await new Promise<void>((resolve) => on.clock!.setTimeout(resolve, ms));
    on.loading--;
  });
  return { backends, on };
}

/**
 * Puts what `replacement` makes of a built-in module's export in its place for the rest of the test
 * (its ES module importers see it through syncBuiltinESMExports), and the real one back after it.
 */
export function replaceExport<M extends object, K extends keyof M>(t: TestContext, module: M, name: K, replacement: (real: M[K]) => M[K]): void {
  const real = module[name];
  const put = (value: M[K]) => {
    module[name] = value;
    syncBuiltinESMExports();
  };
  put(replacement(real));
  t.after(() => put(real));
}
