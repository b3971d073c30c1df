import {
  abortError,
  assertFunction,
  assertOptionKeys,
  assertObject,
  assertString,
  CacheError,
  describe,
  Emitter,
  isPromiseLike,
  messageOf,
  optionError,
  systemClock,
  type Clock,
  type TensorMap,
} from '../core/index.js';
import { asCacheError } from './cache-error.js';
import { assertPositive, assertTimerMs, checkCacheRunOptions } from './checks.js';
import { canonicalParts, fastHasher, type KeyHasher } from './key.js';
import { flightKeyOf, isOthersFailure, SingleFlight } from './single-flight.js';
import type { CacheEventBase, ResultCacheEvents } from './result-events.js';
import type { CacheComputeControl, CacheRequest, CacheRunOptions, CacheRunResult, ResultCacheOptions } from './result-types.js';
import type { CacheStore, MaybePromise } from './store.js';
import { StallGuard, wasCut } from './timeout.js';

export type { CacheComputeControl, CacheRequest, CacheRunOptions, CacheRunResult, ResultCacheOptions } from './result-types.js';

/** Every per-request option's name, so a misspelt one (`timeoutMS`) is refused, not ignored. */
const RUN_KEYS = Object.keys({ noCache: true, noStore: true, signal: true, timeoutMs: true, flightGroup: true } satisfies Record<keyof CacheRunOptions, true>);

interface FlightState {
  readonly namespace: string;
  readonly generation: number;
  /** The flight is still reading the store: a no-cache caller must not join it. */
  readsStore: boolean;
  /** Some caller allows writing the result. */
  store: boolean;
  /** Started by a no-cache request, whose miss was a bypass: its write says so. */
  readonly bypass: boolean;
}

interface Outcome {
  readonly value: TensorMap;
  readonly hit: boolean;
}

/**
 * An exact result cache in front of any computation: the key is the model, its version and a
 * canonical hash of the inputs (names, datatypes, shapes, bytes) and of the parameters that
 * change the output. Only successful results are stored; a new version never sees an old
 * version's entries; identical requests in flight run once (single-flight); a store that fails
 * or is slower than `timeoutMs` turns into a miss and an `error` event, never a failed request.
 *
 * @example
 * const cache = new ResultCache({ store: new LruStore({ maxBytes: 64 << 20 }), ttlMs: 60_000 });
 * const { value, hit } = await cache.run({ model: 'cls', version: 1, inputs }, (signal) => session.run(inputs, { signal }));
 */
export class ResultCache extends Emitter<ResultCacheEvents> {
  readonly #store: CacheStore<TensorMap>;
  readonly #namespace: string;
  readonly #ttlMs: number | undefined;
  readonly #timed: StallGuard;
  readonly #hasher: KeyHasher;
  readonly #clock: Clock;
  readonly #flights: SingleFlight<Outcome, FlightState>;
  readonly #generations = new Map<string, number>();
  /** Namespaces being cleared, with how many clears are running: their stored entries are stale. */
  readonly #clearing = new Map<string, number>();
  readonly #writes = new Set<Promise<void>>();
  #unkeyedCount = 0;

  constructor(options: ResultCacheOptions) {
    super();
    assertObject('options', options);
    assertOptionKeys('ResultCache', options, ['store', 'namespace', 'ttlMs', 'timeoutMs', 'hasher', 'clock']);
    const { store, namespace = 'result', ttlMs, timeoutMs = 50, hasher = fastHasher, clock = systemClock } = options;
    assertObject('store', store);
    for (const method of ['get', 'set', 'delete', 'clear'] as const) assertFunction(`store.${method}`, store[method]);
    assertString('namespace', namespace);
    if (ttlMs !== undefined) assertPositive('ttlMs', ttlMs);
    assertTimerMs('timeoutMs', timeoutMs);
    assertFunction('hasher', hasher);
    this.#store = store;
    this.#namespace = namespace;
    this.#ttlMs = ttlMs;
    this.#timed = new StallGuard(timeoutMs, clock);
    this.#hasher = hasher;
    this.#clock = clock;
    this.#flights = new SingleFlight(clock);
  }

  /** Identical requests running right now. */
  get inFlight(): number {
    return this.#flights.size;
  }

  /**
   * Answers `request` from the store, or by joining an identical request in flight, or by running
   * `compute` (and storing its result unless `noStore`, or `compute` calls `control.noStore()`).
   * `compute` receives a signal that aborts when every caller waiting for it has gone.
   * @throws TypeError or RangeError, quoting it, for an unknown option or a bad value (a `timeoutMs` that is NaN or negative).
   */
  run(
    request: CacheRequest,
    compute: (signal: AbortSignal, control: CacheComputeControl) => Promise<TensorMap>,
    options: CacheRunOptions = {},
  ): Promise<CacheRunResult> {
    assertObject('request', request);
    assertString('request.model', request.model);
    if (typeof request.version !== 'string' && typeof request.version !== 'number') {
      throw optionError(`Expected \`request.version\` to be a string or a number, got ${describe(request.version)}`);
    }
    assertFunction('compute', compute);
    checkCacheRunOptions('ResultCache.run()', options, RUN_KEYS);
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    const deadline = options.timeoutMs === undefined ? undefined : this.#clock.now() + options.timeoutMs;
    const namespace = this.#namespaceOf(request.model);
    let digest: MaybePromise<string>;
    try {
      digest = this.#hasher(canonicalParts(request.inputs, request.parameters));
    } catch (error) {
      return this.#unkeyed(request.model, namespace, error, compute, options.signal);
    }
    if (isPromiseLike(digest)) {
      return digest.then(
        (d) => this.#keyed(request, namespace, d, compute, options, deadline),
        (error: unknown) => this.#unkeyed(request.model, namespace, error, compute, options.signal),
      );
    }
    return this.#keyed(request, namespace, digest, compute, options, deadline);
  }

  /**
   * Removes every stored result of `model`, or of one of its versions when `version` is given, and
   * detaches its requests in flight so later ones recompute. Writes already started finish first,
   * so none lands after the clear. While it clears, reads of every version of the model are misses
   * and answers of the model computed meanwhile are not stored, even with `version` given. Not
   * bounded by `timeoutMs` (a SCAN of a large keyspace takes a while): while the store is
   * unreachable it waits as long as the store's client does (docs/caching.md).
   * @throws CacheError when the store cannot clear.
   */
  async invalidate(model: string, version?: string | number): Promise<void> {
    assertString('model', model);
    if (version !== undefined && typeof version !== 'string' && typeof version !== 'number') {
      throw optionError(`Expected \`version\` to be a string or a number, got ${describe(version)}`);
    }
    const namespace = this.#namespaceOf(model);
    this.#generations.set(namespace, (this.#generations.get(namespace) ?? 0) + 1);
    this.#flights.forget((state) => state.namespace === namespace);
    this.#clearing.set(namespace, (this.#clearing.get(namespace) ?? 0) + 1);
    try {
      await this.idle();
      await (version === undefined ? this.#store.clear(namespace) : this.#store.clear(namespace, `${version}:`));
    } catch (cause) {
      const error = new CacheError(`Could not clear the cached results of model "${model}": ${messageOf(cause)}`, { cause });
      this.emit('error', { operation: 'clear', model, namespace, error });
      throw error;
    } finally {
      const left = this.#clearing.get(namespace)! - 1;
      if (left === 0) this.#clearing.delete(namespace);
      else this.#clearing.set(namespace, left);
    }
  }

  /** Resolves when every store write started so far has finished (or timed out). */
  async idle(): Promise<void> {
    await Promise.all([...this.#writes]);
  }

  #namespaceOf(model: string): string {
    return `${this.#namespace}/${encodeURIComponent(model)}`;
  }

  #keyed(
    request: CacheRequest,
    namespace: string,
    digest: string,
    compute: (signal: AbortSignal, control: CacheComputeControl) => Promise<TensorMap>,
    options: CacheRunOptions,
    deadline: number | undefined,
  ): Promise<CacheRunResult> {
    const { noCache = false, noStore = false, signal, flightGroup } = options;
    const version = String(request.version);
    const key = `${version}:${digest}`;
    const base: CacheEventBase = { model: request.model, version, namespace, key };
    const flightKey = flightKeyOf(flightGroup, namespace, key);
    const running = this.#flights.meta(flightKey);
    if (running && !(noCache && running.readsStore)) {
      if (!noStore) running.store = true;
      this.emit('coalesce', base);
      return this.#flights.join(flightKey, signal, deadline).then(
        (o) => ({ value: o.value, hit: o.hit, shared: true }),
        (error: unknown) => {
          if (!isOthersFailure(error, signal, deadline, this.#clock.now())) throw error;
          return this.#keyed(request, namespace, digest, compute, options, deadline);
        },
      );
    }
    const clearing = this.#clearing.has(namespace);
    const state: FlightState = {
      namespace,
      generation: this.#generations.get(namespace) ?? 0,
      readsStore: !noCache && !clearing,
      store: !noStore,
      bypass: noCache,
    };
    if (noCache || clearing) {
      this.emit('miss', { ...base, reason: noCache ? 'bypass' : 'absent', durationMs: 0 });
      return this.#fly(flightKey, state, base, compute, signal);
    }
    const started = this.#clock.now();
    const found = this.#get(base, deadline);
    if (!isPromiseLike(found)) {
      state.readsStore = false;
      if (found.value !== undefined) {
        this.emit('hit', { ...base, durationMs: this.#clock.now() - started });
        return Promise.resolve({ value: found.value, hit: true, shared: false });
      }
      this.emit('miss', { ...base, reason: found.reason, durationMs: this.#clock.now() - started });
      return this.#fly(flightKey, state, base, compute, signal);
    }
    const work = async (flightSignal: AbortSignal): Promise<Outcome> => {
      const looked = await found;
      state.readsStore = false;
      // An answer read from a namespace that was invalidated meanwhile may predate the clear.
      const current = (this.#generations.get(namespace) ?? 0) === state.generation && !this.#clearing.has(namespace);
      if (looked.value !== undefined && current) {
        this.emit('hit', { ...base, durationMs: this.#clock.now() - started });
        return { value: looked.value, hit: true };
      }
      this.emit('miss', { ...base, reason: looked.reason, durationMs: this.#clock.now() - started });
      return this.#compute(state, base, compute, flightSignal);
    };
    return this.#flights.start(flightKey, state, work, signal).then((o) => ({ value: o.value, hit: o.hit, shared: false }));
  }

  #fly(
    flightKey: string,
    state: FlightState,
    base: CacheEventBase,
    compute: (signal: AbortSignal, control: CacheComputeControl) => Promise<TensorMap>,
    signal: AbortSignal | undefined,
  ): Promise<CacheRunResult> {
    const work = (flightSignal: AbortSignal): Promise<Outcome> => this.#compute(state, base, compute, flightSignal);
    return this.#flights.start(flightKey, state, work, signal).then((o) => ({ value: o.value, hit: false, shared: false }));
  }

  async #compute(
    state: FlightState,
    base: CacheEventBase,
    compute: (signal: AbortSignal, control: CacheComputeControl) => Promise<TensorMap>,
    signal: AbortSignal,
  ): Promise<Outcome> {
    let storable = true;
    const value = await compute(signal, {
      noStore: () => {
        storable = false;
      },
    });
    if (storable && state.store && (this.#generations.get(state.namespace) ?? 0) === state.generation) this.#write(base, value, state.bypass);
    return { value, hit: false };
  }

  /**
   * A store read whose absent, failed and timed-out reads are all misses; it rejects only when the
   * caller's `deadline` passes first, with the DeadlineExceededError that fails the caller.
   */
  #get(base: CacheEventBase, deadline: number | undefined): MaybePromise<{ value: TensorMap | undefined; reason: 'absent' | 'error' }> {
    let result: MaybePromise<TensorMap | undefined>;
    try {
      if (this.#timed.stalled) throw new CacheError('Cache get skipped: the store has not answered calls that timed out');
      result = this.#store.get(base.namespace, base.key);
    } catch (cause) {
      this.#fail('get', base, cause);
      return { value: undefined, reason: 'error' };
    }
    if (!isPromiseLike(result)) return { value: result, reason: 'absent' };
    return this.#timed.bound(result, 'get', deadline).then(
      (value) => ({ value, reason: 'absent' as const }),
      (cause: unknown) => {
        if (wasCut(cause)) throw cause;
        this.#fail('get', base, cause);
        return { value: undefined, reason: 'error' as const };
      },
    );
  }

  #write(base: CacheEventBase, value: TensorMap, bypass: boolean): void {
    const started = this.#clock.now();
    let result: MaybePromise<void>;
    try {
      if (this.#timed.stalled) throw new CacheError('Cache set skipped: the store has not answered calls that timed out');
      result = this.#store.set(base.namespace, base.key, value, this.#ttlMs);
    } catch (cause) {
      this.#fail('set', base, cause);
      return;
    }
    if (!isPromiseLike(result)) {
      this.emit('store', { ...base, durationMs: this.#clock.now() - started, bypass });
      return;
    }
    const write: Promise<void> = this.#timed.bound(result, 'set').then(
      () => {
        this.emit('store', { ...base, durationMs: this.#clock.now() - started, bypass });
      },
      (cause: unknown) => this.#fail('set', base, cause),
    ).finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  /** Runs `compute` without the cache when the request cannot be keyed (its inputs will fail in the model anyway). */
  #unkeyed(
    model: string,
    namespace: string,
    cause: unknown,
    compute: (signal: AbortSignal, control: CacheComputeControl) => Promise<TensorMap>,
    signal: AbortSignal | undefined,
  ): Promise<CacheRunResult> {
    this.emit('error', { operation: 'key', model, namespace, error: asCacheError('key', cause) });
    const state: FlightState = { namespace, generation: 0, readsStore: false, store: false, bypass: false };
    const work = async (flightSignal: AbortSignal): Promise<Outcome> => ({ value: await compute(flightSignal, UNSTORED), hit: false });
    return this.#flights.start(`!${this.#unkeyedCount++}`, state, work, signal).then((o) => ({ value: o.value, hit: false, shared: false }));
  }

  #fail(operation: 'get' | 'set', base: CacheEventBase, cause: unknown): void {
    this.emit('error', { operation, model: base.model, namespace: base.namespace, key: base.key, error: asCacheError(operation, cause) });
  }
}

/** The control of a computation whose result is never stored anyway. */
const UNSTORED: CacheComputeControl = { noStore: () => {} };
