import { stat } from 'node:fs/promises';
import { DeadlineExceededError, MAX_TIMER_MS, ModelNotFoundError, ModelNotReadyError, onAbort, resolvesWithin, UnavailableError, type Clock } from '../core/index.js';
import { compareVersions, loadErrorOf, wantedVersions, wasCalledOff, wasTransient, type ModelConfig, type ModelRegistry, type VersionState } from '../registry/index.js';
import type { BackendCache } from './backends.js';
import { readClassLabels, type ClassLabelFiles } from './class-labels.js';
import { applyRouting, type FailureSink, type Routed } from './routing.js';
import { labelsOf, parseConfig, withoutRouting, type RepositoryModelConfig } from './config-file.js';
import { digestHandler, loadHandler } from './handler-module.js';
import { modelDir } from './paths.js';
import { digestFiles, listVersions, readModel, type ModelOnDisk, type VersionOnDisk } from './scan.js';

/** A loaded version's files: their sizes and times, a digest of their bytes, and the config they were loaded under. */
interface LoadedFiles {
  readonly fingerprint: string;
  /**
   * The model's config when the version was loaded, its routing (`labels`, `traffic`) aside, which
   * moves without a reload: a look that kept it through a change (its files still changing) reloads it at the next.
   */
  readonly loadKey: string;
  /** Tells files rewritten as they were (new times, the same bytes) from changed ones; '' when unread. */
  readonly digest: string;
  /** The model file's real path, which a Kubernetes volume update moves to a new directory. */
  readonly modelPath: string;
  /** The labels its registered config gives it, which a load on a request (after an eviction) points at it: kept as config.json's. */
  readonly labels: string;
}

/** What the repository has loaded of one model. */
interface Loaded extends Routed {
  /** The config's text plus a digest of its handler module: the routing problems reported are this config's. */
  readonly configKey: string;
  /** Version → its directory's files when it was loaded. */
  readonly versions: Map<string, LoadedFiles>;
}

/** A failure recorded for a model or a version. */
interface Failed {
  /** The config and the files' sizes and times that failed. */
  readonly key: string;
  /** The config and a digest of the version's bytes that failed: the same bytes rewritten (a Kubernetes volume update) are not tried again. */
  readonly bytesKey?: string;
  readonly reason: string;
  /** True for a failure that says nothing of the files (no room): the next look tries them again. */
  readonly retry: boolean;
}

/** How one reconciliation runs. */
export interface SyncOptions {
  /** The root as this look resolved it (a link to it may have been swapped since the last): models and links are read and checked against it. */
  readonly root: string;
  /** The root's target now, its links resolved again: a swap that moved it off `root` during the look makes the look's listing stale. */
  readonly currentRoot: () => Promise<string>;
  /** Load only versions whose files did not change since the previous look (poll mode: skips half-written versions). */
  readonly stable: boolean;
  /** Try again versions that failed before with the same files, and load those unloaded to make room (start, an explicit load). */
  readonly retryFailed: boolean;
  /**
   * Taken before the model's first load and freed once its loads end (poll mode: `loadConcurrency`);
   * a change that only unloads takes none.
   */
  readonly loadSlot?: () => Promise<() => void>;
  /**
   * Calls its loads off (the repository closes): a load called off is not reported, the change's
   * labels, traffic and unloads are not applied, and the sync rejects with the signal's reason;
   * one aborted already loads nothing.
   */
  readonly signal?: AbortSignal;
}

/**
 * Brings the registry in line with one model's directory: loads the versions the config's policy
 * wants (new ones, changed ones, and all of them when the config changed), then unloads the ones
 * it no longer wants. Old versions keep serving until a wanted one is ready; a failed load leaves
 * them serving.
 */
export class ModelSync {
  readonly #registry: ModelRegistry;
  readonly #backends: BackendCache;
  readonly #fail: FailureSink;
  readonly #clock: Clock;
  /** Aborts as the repository closes: no drain is waited for after that. */
  readonly #closing: AbortSignal;
  readonly #loaded = new Map<string, Loaded>();
  /** `name` → version → fingerprint at the previous look: the versions on disk then, no others. */
  readonly #seen = new Map<string, Map<string, string>>();
  /** `name` or `name/version` → the key of the files that failed, why, and whether the next look tries them again. */
  readonly #failed = new Map<string, Failed>();

  constructor(registry: ModelRegistry, backends: BackendCache, fail: FailureSink, clock: Clock, closing: AbortSignal) {
    this.#clock = clock;
    this.#closing = closing;
    this.#registry = registry;
    this.#backends = backends;
    this.#fail = fail;
  }

  /** The models this repository has loaded. */
  names(): string[] {
    return [...this.#loaded.keys()];
  }

  /** Why a model (or one of its versions) is unavailable, when a load or its config failed. */
  failure(name: string, version?: string): string | undefined {
    return this.#failed.get(version === undefined ? name : `${name}/${version}`)?.reason;
  }

  /**
   * Reconciles one model with its directory.
   * @throws the config's error, or the first version's load error, after doing all it could; the signal's reason once it aborts.
   */
  async sync(name: string, options: SyncOptions): Promise<void> {
    options.signal?.throwIfAborted();
    let disk: ModelOnDisk | undefined;
    let config: RepositoryModelConfig;
    let configKey: string;
    let loadKey: string;
    let classLabels: ClassLabelFiles;
    try {
      disk = await readModel(options.root, name);
      config = parseConfig(disk.configFile, disk.configText);
      const handlerDigest = await digestHandler(disk.dir, config.handler, disk.configFile);
      classLabels = await readClassLabels(disk.dir, config.classLabels, disk.configFile);
      configKey = `${disk.configText}#${handlerDigest}#${classLabels.digest}`;
      loadKey = `${withoutRouting(disk.configText)}#${handlerDigest}#${classLabels.digest}`;
    } catch (error) {
      const err = this.#failure(name, undefined, disk?.configText ?? '', error);
      // No directory of that name (an explicit load of any name, the HTTP load route's too): nothing is kept of it, so that
      // what this map holds stays bounded by the directories under the root, not by the names ever tried.
      if (disk === undefined && !this.#loaded.has(name) && !(await modelDir(options.root, name).then(() => true, () => false))) this.#drop(name);
      throw err;
    }
    this.#failed.delete(name);
    const previous = this.#loaded.get(name);
    const listed = await listVersions(disk.dir, config.modelFile, options.root);
    const onDisk = listed.filter((v) => v.hasModel);
    const seen = this.#seen.get(name);
    const nowSeen = new Map(listed.map((v) => [v.version, v.fingerprint]));
    this.#seen.set(name, nowSeen);
    // A version directory gone: its failure goes with it, so that what is kept stays bounded by the directories on disk.
    for (const version of seen?.keys() ?? []) if (!listed.some((v) => v.version === version)) this.#failed.delete(`${name}/${version}`);
    const stable = new Set<string>();
    const usable = onDisk.filter((v) => {
      if (!options.stable || seen?.get(v.version) === v.fingerprint) stable.add(v.version);
      return stable.has(v.version) || previous?.versions.has(v.version);
    });
    const wanted = wantedVersions(config.versionPolicy, usable.map((v) => v.version));
    // Only versions still being written (poll mode) that the policy keeps: the next look loads them; what serves keeps serving.
    if (wanted.size === 0 && usable.length < onDisk.length && wantedVersions(config.versionPolicy, onDisk.map((v) => v.version)).size > 0) return;
    if (wanted.size === 0) {
      // Called off (the repository closes) while it read the directory: the model stays as it was, as a called-off change applies no unload.
      options.signal?.throwIfAborted();
      // The root swapped (git-sync removes the old target after): its versions vanished mid-read, and are served at the new one.
      if ((await options.currentRoot()) !== options.root) throw new UnavailableError(`The repository's root moved to a new target while model '${name}' was read: the next look reads it there`);
      await this.unload(name);
      throw this.#failure(name, undefined, `${configKey}#none`, new ModelNotFoundError(`Model '${name}' has no version directory holding ${config.modelFile}`));
    }
    const next: Loaded = { configKey, config, versions: new Map(), reported: previous?.configKey === configKey ? previous.reported : new Set() };
    const errors: Error[] = [];
    let handler: ModelConfig<unknown, unknown>['handler'];
    let free: (() => void) | undefined;
    const { dir, configFile } = disk;
    // Registers a kept version's config anew (its files or its labels moved), for its load on a later request; false when that failed.
    const reregister = async (v: VersionOnDisk): Promise<boolean> => {
      try {
        handler ??= config.handler ? await loadHandler(dir, config.handler, configFile) : undefined;
        this.#registry.register(this.#modelConfig(name, v, config, handler, configFile, classLabels.lists));
        return true;
      } catch {
        return false;
      }
    };
    try {
      for (const v of usable.filter((u) => wanted.has(u.version)).sort((a, b) => compareVersions(a.version, b.version))) {
        const had = previous?.versions.get(v.version);
        const current = had !== undefined && (options.retryFailed ? this.#registry.isReady(name, v.version) : this.#serves(name, v.version));
        const sameConfig = had?.loadKey === loadKey;
        const unchanged = sameConfig && had?.fingerprint === v.fingerprint;
        const labels = labelsOf(config, v.version).join();
        // Taken once per look, before any load: a model of gigabytes is read once to tell its bytes, not at each question.
        let digesting: Promise<string> | undefined;
        const digestNow = () => (digesting ??= digestFiles(v.dir).catch(() => ''));
        if (current && !unchanged && sameConfig && stable.has(v.version) && had.digest !== '' && had.digest === (await digestNow())) {
          // Rewritten as they were (a Kubernetes volume update gives every file a new time): nothing to reload. Moved too (the volume's
          // new directory, the old one removed): a load on a later request (after an eviction) reads them there; failing that, loaded again below.
          if ((v.modelPath === had.modelPath && had.labels === labels) || (await reregister(v))) {
            next.versions.set(v.version, { ...had, fingerprint: v.fingerprint, modelPath: v.modelPath, labels });
            continue;
          }
        }
        if (current && (unchanged || !stable.has(v.version))) {
          // Its labels moved (config.json's routing alone changed): registered with them, or a load on a request would take the old ones back; failing that, the next look tries again.
          next.versions.set(v.version, unchanged && had.labels !== labels && (await reregister(v)) ? { ...had, labels } : had);
          continue;
        }
        const failKey = `${configKey}#${v.fingerprint}`;
        const failed = this.#failed.get(`${name}/${v.version}`);
        if (!options.retryFailed && failed && !failed.retry && (failed.key === failKey || (failed.bytesKey !== undefined && failed.bytesKey === `${configKey}#${await digestNow()}`))) {
          this.#failed.set(`${name}/${v.version}`, { ...failed, key: failKey });
          if (current) next.versions.set(v.version, had);
          continue;
        }
        free ??= await options.loadSlot?.();
        if (!(await stat(v.modelPath).catch(() => undefined))) {
          // Removed since the look found it (while the change waited for its turn or loaded another version): no failure; the next look finds it gone.
          if (current) next.versions.set(v.version, had);
          continue;
        }
        let digest = '';
        try {
          // Read before the load: files changed after it differ from this digest, so the next look reloads them.
          digest = await digestNow();
          handler ??= config.handler ? await loadHandler(disk.dir, config.handler, disk.configFile) : undefined;
          const joined = await this.#joinLoad(name, v.version, options.signal);
          if (joined === 'still loading') {
            // Not the files' fault, and the version stays the repository's: the next look joins the load again.
            if (had !== undefined) next.versions.set(v.version, had);
            errors.push(this.#stillLoading(name, v.version));
            continue;
          }
          const sameBytes = sameConfig && (unchanged || (had.digest !== '' && had.digest === digest));
          if (sameBytes && joined === undefined && this.#stateOf(name, v.version) === 'unloaded') {
            // Unloaded to make room, its bytes as they were: loaded again as a request would, so the registry replaces nothing (docs/caching.md).
            this.#registry.register(this.#modelConfig(name, v, config, handler, disk.configFile, classLabels.lists));
            // Its load's error, as registry.load() would reject with, not the 503 a request gets.
            await this.#registry.acquire(name, { version: v.version, signal: options.signal }).catch((error: unknown) => Promise.reject(loadErrorOf(error)));
          } else if (!(joined === 'ready' && unchanged)) await this.#registry.load(this.#modelConfig(name, v, config, handler, disk.configFile, classLabels.lists), { signal: options.signal });
          next.versions.set(v.version, { fingerprint: v.fingerprint, loadKey, digest, modelPath: v.modelPath, labels });
          this.#failed.delete(`${name}/${v.version}`);
        } catch (error) {
          if (current) next.versions.set(v.version, had);
          // Called off (unloaded or closed while it loaded, or by the signal): not the files' fault, so the next look loads them again.
          if (wasCalledOff(error) || this.#registry.closed || options.signal?.aborted) continue;
          errors.push(this.#failure(name, v.version, failKey, error, digest === '' ? undefined : `${configKey}#${digest}`));
        }
      }
    } finally {
      free?.();
    }
    // Called off (the repository closes): what loaded stays, the rest of the change is not applied, as its labels may name a version called off.
    options.signal?.throwIfAborted();
    // A version whose failed load the registry lists (TF-Serving status: END, with why) and whose directory went: forgotten with it.
    for (const { version, state } of this.#registry.has(name) ? this.#registry.versions(name) : []) {
      if (state === 'failed' && !onDisk.some((v) => v.version === version)) await this.#registry.unload(name, version).catch(() => {});
    }
    if (next.versions.size > 0) {
      this.#loaded.set(name, next);
      await this.#retireUnwanted(name, previous, next);
      applyRouting(this.#registry, this.#fail, name, previous, next, new Set(onDisk.filter((v) => !stable.has(v.version)).map((v) => v.version)));
    }
    if (errors[0]) throw errors[0];
  }

  /**
   * Reports a model directory with no config.json (a Triton model's) as an explicit load of it
   * would (`readModel`'s ModelNotFoundError), once: again only when its message changes. What this
   * repository had loaded of it (before its config.json went) is unloaded, as a removed model's is.
   */
  async configless(name: string, root: string): Promise<void> {
    if (this.#loaded.has(name)) await this.unload(name);
    await readModel(root, name).catch((error: unknown) => this.#failure(name, undefined, '', error));
  }

  /** Forgets the failures and the files seen of models neither listed nor loaded (their directories went), so that one coming back is reported again, and waits a look as a new one does. */
  forget(listed: ReadonlySet<string>): void {
    for (const key of this.#failed.keys()) {
      const name = key.split('/')[0]!;
      if (!listed.has(name) && !this.#loaded.has(name)) this.#failed.delete(key);
    }
    for (const name of this.#seen.keys()) if (!listed.has(name) && !this.#loaded.has(name)) this.#seen.delete(name);
  }

  /** Unloads every version this repository loaded of a model; false when it had loaded none. */
  async unload(name: string): Promise<boolean> {
    const loaded = this.#loaded.get(name);
    this.#loaded.delete(name);
    this.#drop(name);
    if (!loaded) return false;
    if (this.#registry.has(name)) await this.#drained(this.#registry.unload(name));
    return true;
  }

  /** Forgets the failures of a model and of its versions. */
  #drop(name: string): void {
    for (const key of this.#failed.keys()) if (key === name || key.startsWith(`${name}/`)) this.#failed.delete(key);
  }

  /**
   * Waits for an unload at most `loadTimeoutMs`, and no longer once the repository closes: the
   * registry takes the versions out of service at once, then waits for their drains, and one that
   * never ends (a run that never answers) would hold this change, every one after it, and close(),
   * for good. The drain goes on after, in the registry (whose close() bounds it by `closeTimeoutMs`).
   */
  async #drained(unloading: Promise<void>): Promise<void> {
    let stop = (): void => {};
    const closed = new Promise<void>((resolve) => (stop = onAbort(this.#closing, resolve)));
    try {
      await resolvesWithin(Promise.race([unloading, closed]), this.#registry.loadTimeoutMs, this.#clock);
    } finally {
      stop();
    }
  }

  /**
   * True when the registry still serves a version: ready, or known and loaded on its next request
   * (unloaded to make room under `maxLoadedVersions` / `maxLoadedBytes`, or loading for one).
   * A look that loaded such a version again would evict another to make room, in a loop.
   */
  #serves(name: string, version: string): boolean {
    const state = this.#stateOf(name, version);
    return state !== undefined && state !== 'failed';
  }

  /** The registry's state of a version; undefined when it does not know it. */
  #stateOf(name: string, version: string): VersionState | undefined {
    return this.#registry.has(name) ? this.#registry.versions(name).find((s) => s.version === version)?.state : undefined;
  }

  /**
   * Waits for a load of the version in flight, a request's (for a version unloaded to make room):
   * the registry refuses a second load of it as already loading. 'ready' when it made the version
   * ready; undefined when there was none, or it failed. Waits at most `loadTimeoutMs`, as long as
   * the load itself may take once it has room: waiting for room it may never get (behind a version
   * whose drain never ends), it would hold this look, and every look after it, for good.
   * @throws the signal's error when `signal` aborts first: the load goes on for its requests.
   */
  async #joinLoad(name: string, version: string, signal: AbortSignal | undefined): Promise<'ready' | 'still loading' | undefined> {
    if (this.#stateOf(name, version) !== 'loading') return undefined;
    const { loadTimeoutMs } = this.#registry;
    const timeoutMs = loadTimeoutMs > MAX_TIMER_MS ? undefined : loadTimeoutMs;
    return this.#registry.acquire(name, { version, timeoutMs, signal }).then(
      () => 'ready',
      (error: unknown) => {
        if (signal?.aborted) throw error;
        return error instanceof DeadlineExceededError ? 'still loading' : undefined;
      },
    );
  }

  #stillLoading(name: string, version: string): ModelNotReadyError {
    return new ModelNotReadyError(
      `Model '${name}' version '${version}' is still loading (a request's load) after ${this.#registry.loadTimeoutMs} ms (\`loadTimeoutMs\`); the repository looks at it again on its next load or poll`,
    );
  }

  /**
   * The registry's config of a version. With no `sizeBytes` in config.json, under `maxLoadedBytes`
   * a backend that measures (`estimateBytes`: onnx-node counts external data too) is left to
   * measure; the model file's size stands in for one that cannot, and without the bound (nothing
   * is measured then) is what the version reports.
   */
  #modelConfig(name: string, v: VersionOnDisk, config: RepositoryModelConfig, handler: ModelConfig<unknown, unknown>['handler'], configFile: string, classLabels: ModelConfig<unknown, unknown>['classLabels']): ModelConfig<unknown, unknown> {
    const backend = this.#backends.get(config.backend, configFile);
    const measured = this.#registry.maxLoadedBytes < Infinity && backend.estimateBytes !== undefined;
    return {
      name,
      version: v.version,
      source: v.modelPath,
      backend,
      handler,
      inputs: config.inputs,
      batching: config.batching,
      warmup: config.warmup,
      warmupBatchSizes: config.warmupBatchSizes,
      // The repository keeps the versions config.json's policy wants itself (see sync()); `declared` is what the config route reports.
      versionPolicy: 'all',
      declared: { versionPolicy: config.versionPolicy, labelFiles: config.classLabels },
      labels: labelsOf(config, v.version),
      classLabels,
      sizeBytes: config.sizeBytes ?? (measured ? undefined : v.sizeBytes),
    };
  }

  /** Unloads the versions loaded before and not wanted now (called once a wanted version serves). */
  async #retireUnwanted(name: string, previous: Loaded | undefined, next: Loaded): Promise<void> {
    for (const version of previous?.versions.keys() ?? []) {
      if (next.versions.has(version)) continue;
      if (this.#stateOf(name, version) !== undefined) await this.#drained(this.#registry.unload(name, version));
    }
  }

  /**
   * Records a failure; reports it unless the same files (by their sizes and times, or by their bytes:
   * `bytesKey`) failed the same way before. A load that
   * found no room within `loadTimeoutMs`, or another load of its version in flight, says nothing of
   * its files: a poll loads them again. Other failures, a load past its own deadline among them (it
   * would take as long again), wait for the files to change.
   */
  #failure(name: string, version: string | undefined, key: string, error: unknown, bytesKey?: string): Error {
    const err = error instanceof Error ? error : new Error(String(error));
    const id = version === undefined ? name : `${name}/${version}`;
    const before = this.#failed.get(id);
    this.#failed.set(id, { key, bytesKey, reason: err.message, retry: wasTransient(err) });
    if (before?.key !== key || before.reason !== err.message) this.#fail(name, version, err);
    return err;
  }
}
