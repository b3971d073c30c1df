import { realpath, stat } from 'node:fs/promises';
import { assertInteger, clockOption, assertOptionKeys, assertObject, assertOneOf, assertString, ClosedError, describe, Emitter, optionError, InvalidInputError, ModelNotFoundError, MAX_TIMER_MS, UnavailableError, type Clock } from '../core/index.js';
import type { ModelRegistry, RepositoryControl, RepositoryIndexEntry, RepositoryState, VersionState } from '../registry/index.js';
import { BackendCache, defaultBackends, type BackendFactory } from './backends.js';
import { parseConfig } from './config-file.js';
import { isModelName } from './paths.js';
import { listModelDirs, listVersions, readModel } from './scan.js';
import { Slots } from './slots.js';
import { ModelSync } from './sync.js';

/**
 * How the repository's models are loaded (Triton's `--model-control-mode`):
 * - `none`: every model (or those in `models`) at {@link ModelRepository.start}, nothing after;
 * - `explicit`: those in `models` at start, the rest through {@link ModelRepository.load} and
 *   {@link ModelRepository.unload} (and the protocol's repository endpoints);
 * - `poll`: every model at start, then the root is watched: new versions are loaded once their
 *   files stop changing, removed ones unloaded, changed ones reloaded, each model apart from the others.
 */
export type ControlMode = 'none' | 'explicit' | 'poll';

/** Options of {@link ModelRepository}. */
export interface RepositoryOptions {
  /** The repository's root: `<root>/<model>/config.json` and `<root>/<model>/<version>/model.onnx`. */
  readonly root: string;
  /** Where the models are loaded. */
  readonly registry: ModelRegistry;
  /** @default 'none' */
  readonly mode?: ControlMode;
  /** The models to load at start; in `none` and `poll` modes, the only ones managed. @default every model in `none` and `poll`, none in `explicit` */
  readonly models?: readonly string[];
  /** How often `poll` mode looks at the root, in milliseconds. @default 5000 */
  readonly pollIntervalMs?: number;
  /**
   * How many models' changes in `poll` mode load at once (Triton's `--model-load-thread-count`);
   * the others wait their turn, so a look that finds many changed models (a repository copied in)
   * does not load them all together. A change that only unloads (a removed model or version)
   * waits for none, since it frees room. `start()` loads this many models at once too, in every
   * mode, taking them in the listing's order (explicit mode: `models`' order); under a registry
   * with `maxLoadedVersions` or `maxLoadedBytes` it loads one at a time whatever this is, so the
   * first loaded are the first evicted (loads going on together would leave that to the order they end).
   * @default 4
   */
  readonly loadConcurrency?: number;
  /** Backends by the name a config's `backend` gives, made with the config's options. @default {'onnx-node': onnxNode} */
  readonly backends?: Readonly<Record<string, BackendFactory>>;
  /** The clock poll timers, and the waits for drains (at most `registry.loadTimeoutMs`), run on. @default the registry's clock */
  readonly clock?: Clock;
}

/** The events a ModelRepository emits. */
export interface RepositoryEvents {
  /**
   * A model's config is invalid, or a version failed to load (the registry's `failure` event has
   * the load failures too), or a model directory has no config.json (a Triton model's `config.pbtxt`). Reported once for the same files: fixing them retries; an explicit load of a name with no directory, at each try. A load that
   * found no room within `loadTimeoutMs`, or another load of its version in flight, is not the
   * files' fault: the next poll tries it again, reporting it again only when it fails otherwise.
   */
  failure: [{ readonly name: string; readonly version: string | undefined; readonly error: Error }];
}

const STATE: Record<VersionState, RepositoryState> = {
  loading: 'LOADING',
  ready: 'READY',
  draining: 'UNLOADING',
  unloaded: 'UNAVAILABLE',
  failed: 'UNAVAILABLE',
};

/**
 * A model repository on disk (Node only): reads each model's `config.json` and version
 * directories and keeps a registry in line with them, under one of three control modes. A model
 * name (from a request or a directory listing) never leads outside the root.
 */
export class ModelRepository extends Emitter<RepositoryEvents> implements RepositoryControl {
  /** The control mode. */
  readonly mode: ControlMode;
  readonly #options: RepositoryOptions;
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #loadSlots: Slots;
  #sync: ModelSync | undefined;
  /** Set as start() begins, before its first await, so a second start() meanwhile is refused; unset when start() rejects. */
  #starting = false;
  #turn: Promise<unknown> = Promise.resolve();
  /** Each model's change going on in `poll` mode. */
  readonly #changing = new Map<string, Promise<void>>();
  /** Calls off the loads of start(), `poll` changes and explicit loads at {@link ModelRepository.close}. */
  readonly #closing = new AbortController();
  /** Releases the marks start() set on the registry (`expectLoad`), one per model. */
  #expected: (() => void)[] = [];
  #timer: unknown;

  constructor(options: RepositoryOptions) {
    super();
    assertObject('options', options);
    assertOptionKeys('ModelRepository', options, ['root', 'registry', 'mode', 'models', 'pollIntervalMs', 'loadConcurrency', 'backends', 'clock']);
    assertString('root', options.root);
    if (typeof options.registry?.load !== 'function') throw optionError(`Expected \`registry\` to be a ModelRegistry, got ${describe(options.registry)}`);
    this.mode = options.mode ?? 'none';
    assertOneOf('mode', this.mode, ['none', 'explicit', 'poll']);
    if (options.models !== undefined) {
      if (!Array.isArray(options.models)) throw optionError(`Expected \`models\` to be an array of model names, got ${describe(options.models)}`);
      options.models.forEach((m, i) => {
        if (!isModelName(m)) throw optionError(`Expected \`models[${i}]\` to be a model directory name, got ${describe(m)}`);
      });
    }
    this.#interval = options.pollIntervalMs ?? 5000;
    assertInteger('pollIntervalMs', this.#interval, 1, MAX_TIMER_MS);
    const loadConcurrency = options.loadConcurrency ?? 4;
    assertInteger('loadConcurrency', loadConcurrency, 1);
    this.#loadSlots = new Slots(loadConcurrency);
    if (options.backends !== undefined) assertObject('backends', options.backends);
    this.#options = options;
    this.#clock = clockOption(options.clock, options.registry.clock);
  }

  /**
   * Loads the models the mode loads at start, `loadConcurrency` at once (one at a time under the
   * registry's limits, in the listing's order), and in `poll` mode starts watching. Resolves once
   * every model's load has ended, or once {@link ModelRepository.close} has called them off.
   * Once it has listed them, each counts as starting in the registry (`registry.expectLoad`: server
   * readiness answers 503) until its load has ended, its turn to load awaited, or until close().
   * A start() that rejects (the root is not a directory, or listing it failed: a mount not ready
   * yet) loaded nothing and leaves the repository as new, so start() may be called again. Until its
   * root is checked and listed, `index()`, `poll()`, `load()` and `unload()` are refused with
   * UnavailableError (503: a retry succeeds) saying the repository is starting, where before start()
   * they are refused with InvalidInputError; once it lists its models they are answered
   * (`load()` and `unload()` after its loads).
   * @throws when the root is not a directory; the file system's error when listing it fails; InvalidInputError when start() was called already and did not reject (it may be going on still); ClosedError once the repository is closed; model failures are reported as `failure` events.
   */
  async start(): Promise<void> {
    this.#assertOpen();
    if (this.#starting) throw new InvalidInputError('The repository was started already');
    this.#starting = true;
    let root: string;
    let names: readonly string[];
    let configless: readonly string[] = [];
    try {
      root = await this.#rootDir();
      if (this.mode === 'explicit') names = this.#options.models ?? [];
      else ({ models: names, configless } = await this.#managed(root));
    } catch (error) {
      this.#starting = false;
      throw error;
    }
    const backends = new BackendCache(this.#options.backends ?? defaultBackends);
    const sync = new ModelSync(this.#options.registry, backends, (name, version, error) => this.emit('failure', { name, version, error }), this.#clock, this.#closing.signal);
    this.#sync = sync;
    // A directory with no config.json (a Triton model's) is reported as an explicit load of it would be, not passed by.
    for (const name of configless) await sync.configless(name, root);
    const { registry } = this.#options;
    // Under the registry's limits one at a time, in order: the least recently used are evicted, and loads going on together would leave that to the order they end.
    const slots = registry.maxLoadedVersions < Infinity || registry.maxLoadedBytes < Infinity ? new Slots(1) : this.#loadSlots;
    const { signal } = this.#closing;
    // Each model counts as starting (server readiness 503) from now, its turn to load awaited, until its load ends or close().
    const expected = [...new Set(names)].map((name) => ({ name, loaded: registry.expectLoad(name) }));
    this.#expected = expected.map((e) => e.loaded);
    await this.#serial(() =>
      Promise.all(
        expected.map(async ({ name, loaded }) => {
          const free = await slots.take();
          await sync.sync(name, { root, currentRoot: () => this.#target(), stable: false, retryFailed: true, signal }).catch(() => {}).finally(() => {
            loaded();
            free();
          });
        }),
      ),
    );
    if (this.mode === 'poll') this.#schedule();
  }

  /**
   * Every model directory with each version's state: READY, LOADING, UNLOADING, or UNAVAILABLE
   * with the reason (a failed load, an invalid config, not loaded).
   */
  async index(): Promise<RepositoryIndexEntry[]> {
    const sync = this.#started();
    const root = await this.#rootDir();
    const registry = this.#options.registry;
    const entries: RepositoryIndexEntry[] = [];
    const { models, configless } = await listModelDirs(root);
    for (const name of [...models, ...configless].sort()) {
      let modelFile: string;
      let dir: string;
      try {
        const disk = await readModel(root, name);
        dir = disk.dir;
        modelFile = parseConfig(disk.configFile, disk.configText).modelFile;
      } catch (error) {
        entries.push({ name, state: 'UNAVAILABLE', reason: (error as Error).message });
        continue;
      }
      const known = registry.has(name) ? registry.versions(name) : [];
      const versions = await listVersions(dir, modelFile, root);
      if (versions.length === 0) entries.push({ name, state: 'UNAVAILABLE', reason: sync.failure(name) ?? 'no version directories' });
      for (const v of versions) {
        const state = known.find((k) => k.version === v.version)?.state;
        const mapped: RepositoryState = state === undefined ? 'UNAVAILABLE' : STATE[state];
        if (mapped !== 'UNAVAILABLE') entries.push({ name, version: v.version, state: mapped });
        else entries.push({ name, version: v.version, state: mapped, reason: sync.failure(name, v.version) ?? sync.failure(name) ?? (v.hasModel ? 'not loaded' : `no ${modelFile}`) });
      }
    }
    return entries;
  }

  /**
   * Loads a model from disk, or reloads what changed (`explicit` mode only): the versions its
   * policy wants are loaded and warmed before the ones it no longer wants are unloaded.
   * {@link ModelRepository.close} calls it off as it calls off a `poll` change: it then rejects
   * with ClosedError, having applied none of the change's labels, traffic or unloads.
   * @throws ModelNotFoundError for a name that is not a model directory under the root; ClosedError once the repository is closed, or when it closes before the load ends; the config's or the load's error, saying why.
   */
  async load(name: string): Promise<void> {
    this.#explicitOnly('load');
    this.#assertOpen();
    const sync = this.#started();
    return this.#serial(async () => sync.sync(name, { root: await this.#rootDir(), currentRoot: () => this.#target(), stable: false, retryFailed: true, signal: this.#closing.signal }));
  }

  /**
   * Unloads every version of a model (`explicit` mode only), each after its queued work: resolves
   * once they have drained, or after the registry's `loadTimeoutMs` (or once the repository closes)
   * with the drains still going on.
   * One still waiting for its turn when {@link ModelRepository.close} is called unloads nothing and
   * rejects with ClosedError, as a `load()` waiting for its turn does.
   * @throws ModelNotFoundError when the repository has not loaded it; ClosedError once the repository is closed, or when it closes before the unload's turn comes.
   */
  async unload(name: string): Promise<void> {
    this.#explicitOnly('unload');
    this.#assertOpen();
    const sync = this.#started();
    const { signal } = this.#closing;
    return this.#serial(async () => {
      signal.throwIfAborted();
      if (!(await sync.unload(name))) throw new ModelNotFoundError(`Model ${JSON.stringify(String(name).slice(0, 100))} is not loaded from the repository`);
    });
  }

  /**
   * Looks at the root once (`poll` mode; the timer calls it too): loads new and changed versions
   * whose files did not change since the previous look, unloads removed ones and removed models.
   * Each model changes apart from the others: a model whose change is still going on (a load
   * waiting for room, up to the registry's `loadTimeoutMs`) is left to it, and holds back no other.
   * At most `loadConcurrency` models load at once; unloads wait for none.
   * Resolves once every model's change has ended, that one's included; a look still listing when
   * {@link ModelRepository.close} is called starts no change.
   * @throws ClosedError once the repository is closed.
   */
  async poll(): Promise<void> {
    if (this.mode !== 'poll') throw new InvalidInputError(`The repository's control mode is '${this.mode}'; poll needs 'poll'`);
    this.#assertOpen();
    await Promise.all(await this.#look());
  }

  /**
   * Stops watching, calls off the loads of `start()`, of the `poll` changes and of the explicit
   * `load()`s going on, and waits for them to end: a load waiting for room under the registry's
   * limits is called off at once (nothing reported, the registry as it was), one the backend is
   * running ends first (at most `loadTimeoutMs`) and is disposed; such a change applies none of its
   * labels, traffic or unloads, and a model still waiting for its turn to load (`loadConcurrency`,
   * or an explicit `load()` behind another) loads nothing, and a look still listing the root starts
   * no change (a removed model stays loaded). `start()` then resolves, and an explicit
   * `load()` rejects with ClosedError. An explicit `unload()` still waiting for its turn unloads
   * nothing and rejects with ClosedError too. No drain is waited for: an unload going on (explicit,
   * or of a removed model or version) resolves at once, its drains going on in the registry, whose
   * close() bounds them by its `closeTimeoutMs`. So closing the repository, then the registry, does
   * not wait for room, nor for a run that never answers.
   * Loaded models stay in the registry (close the registry to unload them).
   */
  async close(): Promise<void> {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#closing.abort(new ClosedError('The repository is closed'));
    for (const loaded of this.#expected) loaded();
    await this.#turn.catch(() => {});
    await Promise.all(this.#changing.values());
  }

  /** Lists the models (one look at a time) and starts each one's change; resolves with the changes once started. */
  #look(): Promise<Promise<void>[]> {
    const sync = this.#started();
    return this.#serial(async () => {
      const root = await this.#rootDir();
      const { models: names, configless } = await this.#managed(root);
      // Closed during the listing, or while it waited for its turn: no change starts, a removed model's unload included.
      if (this.#closing.signal.aborted) return [];
      sync.forget(new Set([...names, ...configless]));
      const removed = sync.names().filter((name) => !names.includes(name) && !configless.includes(name));
      return [
        ...configless.map((name) => this.#change(name, () => sync.configless(name, root))),
        ...names.map((name) => this.#change(name, () => sync.sync(name, { root, currentRoot: () => this.#target(), stable: true, retryFailed: false, loadSlot: () => this.#loadSlots.take(), signal: this.#closing.signal }))),
        ...removed.map((name) => this.#change(name, () => sync.unload(name))),
      ];
    });
  }

  /** Starts a change of one model, unless one is going on already: then the model is left to that one. */
  #change(name: string, work: () => Promise<unknown>): Promise<void> {
    const going = this.#changing.get(name);
    if (going) return going;
    const change = work().then(() => {}, () => {}).finally(() => this.#changing.delete(name));
    this.#changing.set(name, change);
    return change;
  }

  /**
   * The root, its links resolved anew at each look: one swapped to a new target (git-sync's
   * `root -> .worktrees/<sha>`) is followed there. @throws TypeError when it is not a directory.
   */
  async #rootDir(): Promise<string> {
    const root = await this.#target();
    if (!(await stat(root).catch(() => undefined))?.isDirectory()) throw optionError(`Expected \`root\` to be a directory, got ${describe(this.#options.root)}`);
    return root;
  }

  /** The root, its links resolved now; as given when that fails (a link missing). */
  #target(): Promise<string> {
    return realpath(this.#options.root).catch(() => this.#options.root);
  }

  /** The model directories this repository manages in `none` and `poll` modes, and those of them with no config.json. */
  async #managed(root: string): Promise<{ models: string[]; configless: string[] }> {
    const all = await listModelDirs(root);
    const only = this.#options.models;
    return only ? { models: all.models.filter((n) => only.includes(n)), configless: all.configless.filter((n) => only.includes(n)) } : all;
  }

  #schedule(): void {
    if (this.#closing.signal.aborted) return;
    this.#timer = this.#clock.setTimeout(() => {
      // The next look comes an interval after this one started its changes, not after they end.
      this.#look().catch(() => {}).finally(() => this.#schedule());
    }, this.#interval);
  }

  /** Runs the start, explicit loads and unloads, and polls' listings one at a time, so they never interleave. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(work, work);
    this.#turn = run.catch(() => {});
    return run;
  }

  #explicitOnly(what: string): void {
    if (this.mode !== 'explicit') {
      throw new InvalidInputError(`The repository's control mode is '${this.mode}'; ${what} needs 'explicit'`);
    }
  }

  #assertOpen(): void {
    if (this.#closing.signal.aborted) throw new ClosedError('The repository is closed');
  }

  #started(): ModelSync {
    if (!this.#sync) {
      // Starting is a state a retry outlasts (503); never started is the caller's mistake (400).
      if (this.#starting) throw new UnavailableError('The repository is starting: call again once start() has listed its root');
      throw new InvalidInputError('The repository is not started: call start() first');
    }
    return this.#sync;
  }
}
