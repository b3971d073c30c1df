import { abortError, assertOptionKeys, assertObject, assertString, clockOption, ClosedError, Emitter, ModelNotFoundError, systemClock, type Clock } from '../core/index.js';
import type { Backend } from '../backends/index.js';
import { checkAcquireOptions, checkSelector } from './acquire-options.js';
import type { InferenceRequest, InferenceResponse } from '../handler/index.js';
import { Capacity, type Release } from './capacity.js';
import { checkBackends, checkEnsembleSteps, checkModelConfig, checkTimeout } from './config.js';
import { checkSizeKnown } from './measure.js';
import { closeWithin, DEFAULT_CLOSE_TIMEOUT_MS } from './close.js';
import { checkLoadOptions, explicitLoad } from './explicit-load.js';
import { ModelEntry, type VersionStatus } from './model-entry.js';
import type { ModelVersion } from './model-version.js';
import { checkModelTraffic } from './traffic.js';
import { DEFAULT_LOAD_TIMEOUT_MS, forwardBatcherEvents, loadFailure, pickBackend } from './version-loader.js';
import { startLoad, type LoadRunner } from './load-runner.js';
import { assertKept, checkVersionPolicy } from './version-policy.js';
import { SwapTracker } from './swap-tracker.js';
import { Retirer } from './retire.js';
import { PendingLoads } from './pending.js';
import type { VersionHold } from './hold.js';
import type { AcquireOptions, RegistryLoadOptions, ModelConfig, RegistryEvents, RegistryOptions, TrafficPolicy, VersionMetadata, VersionPolicy, VersionQueue, VersionSelector } from './types.js';

type AnyConfig = ModelConfig<unknown, unknown>;

/**
 * Holds the versions of every model: loads them through a backend, warms them up before they take
 * traffic, routes names, versions and labels to ready versions, swaps versions without dropping a
 * request, and unloads them after their queued work is done.
 */
export class ModelRegistry extends Emitter<RegistryEvents> {
  readonly #backends: readonly Backend[];
  /** The clock its timings and bounded waits run on (`RegistryOptions.clock`); a repository's and a service's too, unless given their own. */
  readonly clock: Clock;
  /** How long loading a version may take once it has room (`RegistryOptions.loadTimeoutMs`). */
  readonly loadTimeoutMs: number;
  /** How long {@link ModelRegistry.close} waits for drains (`RegistryOptions.closeTimeoutMs`). */
  readonly closeTimeoutMs: number;
  /** The most versions it keeps loaded (`RegistryOptions.maxLoadedVersions`); Infinity when unset. */
  readonly maxLoadedVersions: number;
  /** The most estimated bytes it keeps loaded (`RegistryOptions.maxLoadedBytes`); Infinity when unset. */
  readonly maxLoadedBytes: number;
  readonly #capacity: Capacity;
  readonly #models = new Map<string, ModelEntry>();
  readonly #swaps = new SwapTracker((name, from, to) => this.emit('swap', { name, from, to }));
  readonly #retirer = new Retirer(this, this.#swaps, this.#models, (entry) => this.#cleanup(entry));
  readonly #loads: LoadRunner;
  readonly #pending = new PendingLoads();
  #closed = false;

  constructor(options: RegistryOptions) {
    super();
    assertObject('options', options);
    assertOptionKeys('ModelRegistry', options, ['backends', 'clock', 'maxLoadedVersions', 'maxLoadedBytes', 'loadTimeoutMs', 'closeTimeoutMs']);
    this.#backends = checkBackends(options.backends);
    this.clock = clockOption(options.clock, systemClock);
    this.loadTimeoutMs = checkTimeout('loadTimeoutMs', options.loadTimeoutMs, DEFAULT_LOAD_TIMEOUT_MS, 1);
    this.closeTimeoutMs = checkTimeout('closeTimeoutMs', options.closeTimeoutMs, DEFAULT_CLOSE_TIMEOUT_MS, 0);
    this.#capacity = new Capacity(options, { clock: this.clock, timeoutMs: this.loadTimeoutMs }, () => this.#retirer.evictable(), (victim) => this.#retirer.evict(victim));
    this.maxLoadedVersions = options.maxLoadedVersions ?? Infinity;
    this.maxLoadedBytes = options.maxLoadedBytes ?? Infinity;
    this.#loads = {
      registry: this,
      backends: this.#backends,
      capacity: this.#capacity,
      entries: () => this.#models.values(),
      commit: (entry, mv, config, release) => this.#commit(entry, mv, config, release),
      ended: (entry) => this.#cleanup(entry),
    };
  }

  /**
   * Loads a model version, warms it up, and makes it ready for traffic. Other versions keep
   * serving while it loads, and keep serving if it fails. Loading a version that is already ready
   * replaces it the same way: the new instance takes traffic once warm, the old one drains.
   * `options.signal` calls it off, leaving the registry as before (see {@link RegistryLoadOptions.signal}).
   * @throws the load's own error when it fails: the backend's, an option error (code
   * `ERR_SERVABLE_INVALID_OPTION`) from the config or its handler, ModelTooLargeError when the
   * version alone exceeds `maxLoadedBytes`, ModelNotReadyError when it found no room or time within
   * `loadTimeoutMs`; ModelNotReadyError, transient, when the version is loading already;
   * the signal's reason when it is an Error, else CancelledError; TypeError quoting a bad option.
   */
  async load<Req = InferenceRequest, Res = InferenceResponse>(config: ModelConfig<Req, Res>, options: RegistryLoadOptions = {}): Promise<ModelVersion<Req, Res>> {
    const { signal } = checkLoadOptions(options);
    if (signal?.aborted) throw abortError(signal);
    const { entry, version } = this.#admit(config as AnyConfig);
    const loaded = explicitLoad(entry, version, config as AnyConfig, () => startLoad(this.#loads, entry, version), signal, () => this.#cleanup(entry));
    return (await loaded) as unknown as ModelVersion<Req, Res>;
  }

  /**
   * Makes a version known without loading it: the first request for it loads it (and waits), and
   * under `maxLoadedVersions` / `maxLoadedBytes` it may be unloaded when idle and loaded again.
   */
  register<Req = InferenceRequest, Res = InferenceResponse>(config: ModelConfig<Req, Res>): void {
    const { entry, version } = this.#admit(config as AnyConfig);
    entry.configure(version, config as AnyConfig);
    // A failed load was the old config's; the new one has not been tried.
    entry.failures.delete(version);
    this.#retirer.applyPolicy(entry);
  }

  /**
   * The ready version a selector names (the `stable` label's, else the newest ready one, when it
   * names none), without loading anything.
   * @throws ModelNotFoundError when the model, version or label is unknown; ModelNotReadyError when it is not ready
   * (its `retryAfterMs`, while it loads, from how long the model's last load took); TypeError for a bad selector.
   */
  resolve(name: string, selector: VersionSelector = {}): ModelVersion {
    if (this.#closed) throw new ClosedError('The registry is closed');
    return this.#entry(name).resolve(checkSelector(selector), this.clock);
  }

  /** {@link ModelRegistry.resolve} by version only. */
  get(name: string, version?: string): ModelVersion {
    return this.resolve(name, { version });
  }

  /**
   * The ready version a selector names, loading it first when it is known but not loaded;
   * concurrent callers share one load. A `signal` aborted already starts no load.
   * @throws as {@link ModelRegistry.resolve}, plus DeadlineExceededError after `timeoutMs`, the signal's reason when it is an
   * Error and CancelledError otherwise once `signal` aborts, ModelNotReadyError when
   * the load fails (its error as the `cause`), and TypeError or RangeError quoting an unknown option or a bad value.
   */
  async acquire(name: string, options: AcquireOptions = {}): Promise<ModelVersion> {
    const hold = await this.acquireHeld(name, checkAcquireOptions(options));
    hold.release();
    return hold.version;
  }

  /**
   * @internal {@link ModelRegistry.acquire}, held for one request by the router, ensemble steps and
   * TF-Serving's `:predict`, which release it in every path, as {@link ModelVersion.hold} says.
   */
  async acquireHeld(name: string, options: AcquireOptions = {}): Promise<VersionHold> {
    if (this.#closed) throw new ClosedError('The registry is closed');
    const entry = this.#entry(name);
    const version = entry.target(options);
    const live = entry.live.get(version);
    if (live) return live.hold();
    // A caller gone already starts no load, which would only be called off.
    if (options.signal?.aborted) throw abortError(options.signal);
    const loaded = startLoad(this.#loads, entry, version).catch((error: unknown) => Promise.reject(loadFailure(name, version, error)));
    return entry.waiters.wait(version, loaded, `Model '${name}' version '${version}'`, options, this.clock);
  }

  /**
   * The version {@link ModelRegistry.acquire} would give at once, or undefined when it would have
   * to load it first; lets a caller queue a request in the same tick when no load is needed.
   * @throws ModelNotFoundError as {@link ModelRegistry.acquire}.
   */
  peek(name: string, selector: VersionSelector = {}): ModelVersion | undefined {
    if (this.#closed) throw new ClosedError('The registry is closed');
    const entry = this.#entry(name);
    return entry.live.get(entry.target(selector));
  }

  /** True when `name` (at `version`, or any version) can take requests. */
  isReady(name: string, version?: string): boolean {
    return this.#models.get(name)?.isReady(version) === true;
  }

  /**
   * True while no version of `name` is ready and {@link ModelRegistry.load} loads one, or a load
   * of it is expected ({@link ModelRegistry.expectLoad}); loads requests started do not count.
   */
  isStarting(name: string): boolean {
    return this.#models.get(name)?.starting === true || (this.#pending.has(name) && !this.isReady(name));
  }

  /** The models {@link ModelRegistry.isStarting} is true of: while there is one, server readiness answers 503. */
  starting(): string[] {
    return [...new Set([...this.#models.keys(), ...this.#pending.names()])].filter((name) => this.isStarting(name));
  }

  /**
   * Says a {@link ModelRegistry.load} of `name` is coming (a repository's `start()` marks the models
   * it lists before their turn to load comes): while none of its versions is ready, the model
   * counts as starting, holding server readiness back, until the function returned is called (its
   * load ended, failed or was called off). {@link ModelRegistry.close} releases every mark; a closed registry marks nothing.
   * @throws TypeError quoting a name that is not a string.
   */
  expectLoad(name: string): () => void {
    assertString('name', name);
    return this.#closed ? () => {} : this.#pending.mark(name);
  }

  /** Loads waiting for room under `maxLoadedVersions` / `maxLoadedBytes`: unloading a version (it drains first), waiting for one to finish loading, or queued behind. */
  get loadsWaitingForRoom(): number {
    return this.#capacity.waiting;
  }

  /** True once {@link ModelRegistry.close} has been called: nothing is served any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when the registry knows `name`, loaded or not. */
  has(name: string): boolean {
    return this.#models.has(name);
  }

  /** The names of every model the registry knows. */
  names(): string[] {
    return [...this.#models.keys()];
  }

  /**
   * Every known version of `name` with its state (`unloaded` = known, loaded on demand), newest
   * first; `failed` ones with why, among them versions a `load()` failed to bring in (not served,
   * listed for the status routes until a newer version is ready, they load or are unloaded).
   */
  versions(name: string): VersionStatus[] {
    return this.#entry(name).statuses();
  }

  /** The metadata of every ready or draining version of `name`, newest first; all models when no name is given. */
  list(name?: string): VersionMetadata[] {
    const names = name === undefined ? [...this.#models.keys()] : [name];
    return names.flatMap((n) => this.#models.get(n)?.metadata() ?? []);
  }

  /**
   * The queue of every ready or draining version: a version replaced or unloaded drains what it
   * had queued, and its queue counts until it is gone.
   */
  queues(): VersionQueue[] {
    return [...this.#models.values()].flatMap((entry) => entry.queues());
  }

  /** Points a label (`stable`, `canary`, any name) at a known version; requests naming the label follow it at once. */
  setLabel(name: string, label: string, version: string): void {
    assertString('label', label);
    assertString('version', version);
    const entry = this.#entry(name);
    if (!entry.knows(version)) throw new ModelNotFoundError(`Model '${name}' has no version '${version}'`);
    this.#swaps.change(entry, () => this.#point(entry, label, version));
  }

  /** Removes a label; returns false when it was not set. */
  removeLabel(name: string, label: string): boolean {
    const entry = this.#entry(name);
    if (!entry.labels.has(label)) return false;
    this.#swaps.change(entry, () => {
      entry.labels.delete(label);
      this.emit('label', { name, label, version: undefined });
    });
    return true;
  }

  /** The labels of a model: label → version. */
  labels(name: string): Record<string, string> {
    return Object.fromEntries(this.#entry(name).labels);
  }

  /** Which versions of a model are kept: `'all'` unless a load's `versionPolicy` or setVersionPolicy set one. */
  versionPolicy(name: string): VersionPolicy {
    return this.#entry(name).policy;
  }

  /** Sets which versions of a model are kept; versions it drops are unloaded once a version it keeps is ready. */
  setVersionPolicy(name: string, policy: VersionPolicy): void {
    checkVersionPolicy('versionPolicy', policy);
    const entry = this.#entry(name);
    entry.policy = policy;
    this.#retirer.applyPolicy(entry);
  }

  /** Sets how requests that name no version are split and mirrored (`undefined`: the default version). @throws ModelNotFoundError for a target the model lacks. */
  setTraffic(name: string, policy: TrafficPolicy | undefined): void {
    const entry = this.#entry(name);
    if (policy !== undefined) checkModelTraffic('traffic', policy, entry);
    entry.traffic = policy;
  }

  /** The traffic policy of a model, if it has one. */
  traffic(name: string): TrafficPolicy | undefined {
    return this.#entry(name).traffic;
  }

  /**
   * Stops routing to a version (all versions when none is given), lets its queued work finish,
   * then disposes it; the version is forgotten, labels pointing at it removed.
   */
  async unload(name: string, version?: string): Promise<void> {
    const entry = this.#entry(name);
    // A version only a failed load left (listed failed): its failure is forgotten.
    if (version !== undefined && !entry.knows(version) && entry.failures.delete(version)) return;
    if (version !== undefined && !entry.knows(version)) throw new ModelNotFoundError(`Model '${name}' has no version '${version}'`);
    const versions = version === undefined ? entry.versions() : [version];
    await Promise.all(versions.map((v) => this.#retirer.unloadOne(entry, v, 'explicit')));
    this.#cleanup(entry);
  }

  /** Refuses new loads and unloads every version of every model, waiting for their drains at most {@link RegistryOptions.closeTimeoutMs}. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#pending.clear();
    const entries = [...this.#models.values()];
    const waits = entries.flatMap((e) => [...e.versions().map((v) => this.#retirer.unloadOne(e, v, 'close')), ...[...e.retiring].map((mv) => mv.unload().catch(() => {}))]);
    await closeWithin(Promise.all(waits), this.closeTimeoutMs, this.clock, () => entries.flatMap((e) => [...e.retiring]), this);
  }

  /** Validates a config and finds (or creates) its model's entry. */
  #admit(config: AnyConfig): { entry: ModelEntry; version: string } {
    if (this.#closed) throw new ClosedError('The registry is closed');
    checkModelConfig(config);
    const backend = pickBackend(this.#backends, config);
    const version = config.version ?? '1';
    checkSizeKnown(config, version, backend, this.maxLoadedBytes);
    const entry = this.#models.get(config.name) ?? new ModelEntry(config.name, () => this.#capacity.changed());
    const policy = config.versionPolicy ?? entry.policy;
    assertKept(policy, [...entry.configs.keys(), version], version);
    checkEnsembleSteps(config, version, (model) => this.#models.get(model));
    this.#models.set(config.name, entry);
    return { entry, version };
  }

  #entry(name: string): ModelEntry {
    const entry = this.#models.get(name);
    if (!entry) throw new ModelNotFoundError(`Model '${name}' not found`);
    return entry;
  }

  /** Makes a loaded version take traffic: labels move to it, a replaced instance and versions outside the policy drain. */
  #commit(entry: ModelEntry, mv: ModelVersion, config: AnyConfig, release: Release | undefined): void {
    if (release) this.#retirer.reserved(mv, release);
    forwardBatcherEvents(mv, this);
    this.#swaps.change(entry, () => {
      const previous = entry.live.get(mv.version);
      if (entry.replacing.delete(config) && !previous) this.emit('replace', { name: entry.name, version: mv.version });
      entry.live.set(mv.version, mv);
      mv.markReady();
      entry.waiters.loaded(mv);
      for (const label of config.labels ?? []) this.#point(entry, label, mv.version);
      this.emit('ready', mv.metadata());
      if (previous) void this.#retirer.retire(entry, previous, 'replaced', false);
      this.#retirer.applyPolicy(entry);
    });
  }

  #point(entry: ModelEntry, label: string, version: string): void {
    if (entry.point(label, version)) this.emit('label', { name: entry.name, label, version });
  }

  #cleanup(entry: ModelEntry): void {
    if (entry.empty && this.#models.get(entry.name) === entry) this.#models.delete(entry.name);
  }
}
