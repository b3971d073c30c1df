import { ModelNotFoundError, ModelNotReadyError, RETRY_SOON_MS, type Clock } from '../core/index.js';
import { LoadWaiters } from './hold.js';
import type { ModelVersion } from './model-version.js';
import { compareVersions, newest, wantedVersions } from './version-policy.js';
import type { ModelConfig, TrafficPolicy, VersionMetadata, VersionPolicy, VersionQueue, VersionSelector, VersionState } from './types.js';

/** How many versions only a failed load left (listed failed, see {@link ModelEntry.failures}) a model keeps. */
export const MAX_FAILED_UNKNOWN = 8;

/** The label requests without a version go to, when it is set. */
export const STABLE = 'stable';

/**
 * A version's state as {@link ModelRegistry.versions} reports it: `unloaded` = known, loaded on
 * demand; `failed` = known, its last load failed (the next request tries again).
 */
export interface VersionStatus {
  readonly version: string;
  readonly state: VersionState;
  /** Why its last load failed, when `state` is `failed`. */
  readonly error?: string;
}

/** What a load replaces, put back when it fails (see {@link ModelEntry.before}). */
export interface LoadedBefore {
  readonly config: ModelConfig<unknown, unknown> | undefined;
  readonly failure: string | undefined;
  readonly policy: VersionPolicy;
}

/**
 * Everything the registry holds about one model name: the configs of its known versions, the
 * versions that are ready, loading or draining, its labels, version policy and traffic policy.
 * Resolution here is pure: no loading, no events.
 */
export class ModelEntry {
  readonly name: string;
  /** Known versions: how to load (or load again) each one. */
  readonly configs = new Map<string, ModelConfig<unknown, unknown>>();
  /** Ready versions, the only ones requests are routed to. */
  readonly live = new Map<string, ModelVersion>();
  /** Loads in progress, shared by every caller waiting for the version. */
  readonly loading = new Map<string, Promise<ModelVersion>>();
  /** When each load in {@link ModelEntry.loading} started, on the registry's clock. */
  readonly loadStarted = new Map<string, number>();
  /** How long the model's last load that made a version ready took, start to ready (room and warm-up included). */
  lastLoadMs: number | undefined;
  /** Loads `registry.load()` called off with nobody else waiting for them: disposed, not committed, once they end. */
  readonly abandoned = new Set<string>();
  /** The callers waiting for those loads. */
  readonly waiters: LoadWaiters;
  /**
   * Configs {@link ModelRegistry.load} gave a version known but not loaded, whose first ready
   * instance is reported as replacing the version (the `replace` event).
   */
  readonly replacing = new WeakSet<ModelConfig<unknown, unknown>>();
  /** Versions finishing their queued work before they are disposed. */
  readonly retiring = new Set<ModelVersion>();
  /**
   * Why the last load of a version failed, until it loads or is forgotten: a known version's, or
   * one `registry.load()` failed to bring in (nothing to put back), kept so that the status routes
   * list it failed with why (TF-Serving's END), one message per version, gone with the model.
   */
  readonly failures = new Map<string, string>();
  /** Label → version. */
  readonly labels = new Map<string, string>();
  policy: VersionPolicy = 'all';
  traffic: TrafficPolicy | undefined;

  /** Versions `registry.load()` is loading, as against loads a request started (see {@link ModelEntry.starting}). */
  readonly #explicit = new Set<string>();
  readonly #changed: () => void;
  readonly #watchers = new Set<() => void>();

  /**
   * @param changed - called when a version becomes ready, when the last caller waiting for a
   * version's load goes, and when a version is forgotten: a load waiting for room looks again.
   */
  constructor(name: string, changed: () => void) {
    this.name = name;
    this.#changed = () => {
      changed();
      for (const watcher of [...this.#watchers]) watcher();
    };
    this.waiters = new LoadWaiters(this.#changed);
  }

  /** Calls `watcher` whenever what {@link ModelEntry.wants} answers may have changed, until the returned stop is called. */
  watch(watcher: () => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  /** True when `version`, or any version when none is given, can take requests. */
  isReady(version?: string): boolean {
    return version === undefined ? this.live.size > 0 : this.live.has(version);
  }

  /**
   * True while `registry.load()` loads a version and no version is ready yet: the model is
   * starting. A load a request started (a registered version, or one evicted) is on demand and
   * does not count, nor does a reload while another version serves.
   */
  get starting(): boolean {
    return this.#explicit.size > 0 && this.live.size === 0;
  }

  /** Waits for `registry.load()`'s load of `version`, as a caller of it (see {@link LoadWaiters.follow}), the model {@link ModelEntry.starting} meanwhile. */
  async loadExplicitly<T>(version: string, loading: Promise<T>): Promise<T> {
    this.#explicit.add(version);
    try {
      return await this.waiters.follow(version, loading);
    } finally {
      this.#explicit.delete(version);
    }
  }

  /** True when nothing is known, loading or draining any more. */
  get empty(): boolean {
    return this.configs.size === 0 && this.live.size === 0 && this.loading.size === 0 && this.retiring.size === 0;
  }

  /**
   * Whether a load of `version` with `config` is still wanted: the version was not unloaded or
   * replaced since (nor the registry closed, which unloads every version), the load was not
   * abandoned, and a caller waits for it.
   */
  wants(version: string, config: ModelConfig<unknown, unknown>): boolean {
    return this.configs.get(version) === config && !this.abandoned.has(version) && this.waiters.waiting(version);
  }

  /** Marks the load of `version` in flight {@link ModelEntry.abandoned}; one waiting for room looks again at once. */
  abandon(version: string): void {
    this.abandoned.add(version);
    this.#changed();
  }

  /** Makes `config` the one `version` loads with, and its version policy, if any, the model's. */
  configure(version: string, config: ModelConfig<unknown, unknown>): void {
    this.configs.set(version, config);
    if (config.versionPolicy) this.policy = config.versionPolicy;
  }

  /**
   * The versions the policy drops, among those not loading (ready, or known only), and whether a
   * version it keeps is ready: a ready one it drops is unloaded only then.
   */
  outsidePolicy(): { readonly dropped: string[]; readonly wantedReady: boolean } {
    const settled = [...this.configs.keys()].filter((v) => this.live.has(v) || !this.loading.has(v));
    const wanted = wantedVersions(this.policy, settled);
    return { dropped: settled.filter((v) => !wanted.has(v)), wantedReady: [...wanted].some((v) => this.live.has(v)) };
  }

  /** What a load of `version` replaces: its config, its last failure and the model's policy. */
  before(version: string): LoadedBefore {
    return { config: this.configs.get(version), failure: this.failures.get(version), policy: this.policy };
  }

  /**
   * Puts back what a failed load of `version` with `config` replaced, where nothing replaced it
   * since: the caller has the error, and a failed load changes nothing (its policy would drop
   * versions at the next load).
   */
  restore(version: string, config: ModelConfig<unknown, unknown>, before: LoadedBefore): void {
    if (this.configs.get(version) === config) {
      // A version it made known keeps its load's failure (set by the load, none when called off), not its config.
      if (before.config) {
        if (before.failure === undefined) this.failures.delete(version);
        else this.failures.set(version, before.failure);
        this.configs.set(version, before.config);
      } else {
        this.configs.delete(version);
        // Called off (no failure of its own): the failure listed before it stays, as a called-off load changes nothing.
        if (before.failure !== undefined && !this.failures.has(version)) this.failures.set(version, before.failure);
      }
      this.trimFailures();
    }
    if (this.policy === config.versionPolicy) this.policy = before.policy;
  }

  /**
   * Forgets the failures of versions only a failed load left (not known otherwise) that a newer
   * ready version superseded, and beyond {@link MAX_FAILED_UNKNOWN} the oldest of them: what the
   * status routes list stays bounded however many new versions fail.
   */
  trimFailures(): void {
    const newestReady = newest(this.live.keys());
    const only = [...this.failures.keys()].filter((v) => !this.knows(v)).sort(compareVersions);
    const kept = only.filter((v) => newestReady === undefined || compareVersions(v, newestReady) > 0).slice(-MAX_FAILED_UNKNOWN);
    for (const v of only) if (!kept.includes(v)) this.failures.delete(v);
  }

  /** Forgets a version's config, last failure and the labels pointing at it; returns those labels. */
  forget(version: string): string[] {
    this.configs.delete(version);
    this.failures.delete(version);
    const labels = this.labelsOf(version);
    for (const label of labels) this.labels.delete(label);
    this.#changed();
    return labels;
  }

  /** Points `label` at `version`; false when it points there already. */
  point(label: string, version: string): boolean {
    if (this.labels.get(label) === version) return false;
    this.labels.set(label, version);
    return true;
  }

  /** The labels pointing at `version`, sorted. */
  labelsOf(version: string): string[] {
    return [...this.labels].filter(([, v]) => v === version).map(([l]) => l).sort();
  }

  /** The version requests without a version go to: the `stable` label's when it is ready, else the newest ready one. */
  defaultVersion(): ModelVersion | undefined {
    const stable = this.labels.get(STABLE);
    const labelled = stable === undefined ? undefined : this.live.get(stable);
    return labelled ?? this.live.get(newest(this.live.keys()) ?? '');
  }

  /**
   * The version a selector names, whether or not it is loaded: the version itself, the label's
   * version, or for neither the `stable` label's version, else the newest ready version, else the
   * newest known version the policy keeps.
   * @throws ModelNotFoundError when the version or label is unknown, or no version is known.
   */
  target(selector: VersionSelector = {}): string {
    if (selector.version !== undefined) {
      if (!this.knows(selector.version)) throw new ModelNotFoundError(`Model '${this.name}' has no version '${selector.version}'`);
      return selector.version;
    }
    if (selector.label !== undefined) {
      const version = this.labels.get(selector.label);
      if (version === undefined) throw new ModelNotFoundError(`Model '${this.name}' has no label '${selector.label}'`);
      return version;
    }
    const stable = this.labels.get(STABLE);
    if (stable !== undefined) return stable;
    const chosen = newest(this.live.keys()) ?? newest(wantedVersions(this.policy, this.configs.keys()));
    if (chosen === undefined) throw new ModelNotFoundError(`Model '${this.name}' has no version`);
    return chosen;
  }

  /**
   * The ready version a selector names, without loading anything.
   * @param clock - the registry's clock, read only for when a version loading is expected to be ready.
   * @throws ModelNotFoundError when it is unknown; ModelNotReadyError when it is not ready: with
   * `retryAfterMs` what the model's last load took less the time this one has run (at least 1 s;
   * 1 s when no load was timed) while it loads, none when it is not loaded.
   */
  resolve(selector: VersionSelector, clock: Clock): ModelVersion {
    if (selector.version === undefined && selector.label === undefined) {
      const chosen = this.defaultVersion();
      if (chosen) return chosen;
    }
    const version = this.target(selector);
    const mv = this.live.get(version);
    if (mv) return mv;
    const started = this.loadStarted.get(version);
    // A version not loaded stays so until a request or a load asks for it: no retry is expected to find it ready.
    if (started === undefined) throw new ModelNotReadyError(`Model '${this.name}' version '${version}' is not loaded`, { retryAfterMs: null });
    const left = this.lastLoadMs === undefined ? 0 : this.lastLoadMs - (clock.now() - started);
    throw new ModelNotReadyError(`Model '${this.name}' version '${version}' is loading`, { retryAfterMs: Math.max(RETRY_SOON_MS, left) });
  }

  /** Every version known, loading or ready. */
  versions(): string[] {
    return [...new Set([...this.configs.keys(), ...this.live.keys(), ...this.loading.keys()])];
  }

  /** True when `version` is known, loading, ready or draining. */
  knows(version: string): boolean {
    return this.configs.has(version) || this.live.has(version) || this.loading.has(version);
  }

  /** The metadata of every ready or draining version, newest first. */
  metadata(): VersionMetadata[] {
    return this.#serving().sort((a, b) => compareVersions(b.version, a.version)).map((v) => v.metadata());
  }

  /** How busy every ready or draining version is. */
  queues(): VersionQueue[] {
    return this.#serving().map(({ name, version, batcher }) => ({
      name,
      version,
      queued: batcher.queued,
      queuedItems: batcher.queuedItems,
      inFlight: batcher.inFlight,
    }));
  }

  #serving(): ModelVersion[] {
    return [...this.live.values(), ...this.retiring];
  }

  /** Every known version with its state, newest first. */
  statuses(): VersionStatus[] {
    const versions = new Set([...this.configs.keys(), ...this.live.keys(), ...this.loading.keys(), ...[...this.retiring].map((v) => v.version), ...this.failures.keys()]);
    return [...versions].sort((a, b) => compareVersions(b, a)).map((version) => {
      const live = this.live.get(version);
      if (live) return { version, state: live.state };
      if (this.loading.has(version)) return { version, state: 'loading' as const };
      // Out of service but still answering what was routed to it (evicted, replaced, unloaded).
      if ([...this.retiring].some((v) => v.version === version)) return { version, state: 'draining' as const };
      const error = this.failures.get(version);
      if (error !== undefined) return { version, state: 'failed' as const, error };
      return { version, state: 'unloaded' as const };
    });
  }
}
