import { abortError, assertFunction, CacheError, Emitter, isPromiseLike, type Clock, type TensorMap } from '../../core/index.js';
import { semanticError } from '../cache-error.js';
import { flightKeyOf, isOthersFailure, SingleFlight } from '../single-flight.js';
import type { MaybePromise } from '../store.js';
import { boundedBy, StallGuard, wasCut } from '../timeout.js';
import { LogAppends } from './log-appends.js';
import { LogSync } from './log-sync.js';
import { BoundedEmbedder } from './bounded-embedder.js';
import { kept, SemanticEntries, type HeldEntry } from './entries.js';
import { defaultExactKey, exactKeyOf } from './exact-key.js';
import type { SemanticLog, SemanticRecord } from './record.js';
import { ENDED, LookupEnds } from './lookup-ends.js';
import { PendingWrites, type PendingWrite } from './pending-writes.js';
import { inScope, partitionKey, partitionScope, type Partition, type PartitionScope, type SemanticCacheEvents, type SemanticCacheOptions, type SemanticLookupLabels, type SemanticQuery, type SemanticRunOptions, type SemanticRunResult, type Verifier } from './types.js';
import { checkEntryOptions, checkOptions, checkRunOptions, lookupLabels } from './options.js';
import { normalized } from './vector.js';

interface FlightState {
  readonly partition: string;
  /** The first caller's model and version, named in its lookup's event. */
  readonly labels: SemanticLookupLabels;
  readsCache: boolean;
  store: boolean;
  /** The first caller's deadline, which cuts the lookup (embedding, verification) short. */
  readonly deadline?: number | undefined;
}

type Outcome = Omit<SemanticRunResult, 'shared'>;
type Near<Q extends SemanticQuery> = { entry: HeldEntry<Q>; similarity: number };

/**
 * A semantic cache: answers a query with the stored result of a *similar* earlier query. An exact
 * tier (same query) is checked before anything is embedded; then the query's embedding is
 * compared by cosine similarity with the entries of its partition only, and the best one at or
 * above `threshold` is a hit. Identical queries in flight run once; embedder failures turn into
 * misses and `error` events. With a `log`, replicas share entries.
 *
 * @example
 * const cache = new SemanticCache({ embed: ngramEmbedder(), dimensions: 384, threshold: 0.9, maxEntries: 10_000 });
 * const { value, hit } = await cache.run(prompt, () => llm(prompt), { partition: ['chat', 'v3', tenantId] });
 */
export class SemanticCache<Q extends SemanticQuery = string> extends Emitter<SemanticCacheEvents> {
  readonly #embedder: BoundedEmbedder<Q>;
  readonly #dimensions: number;
  readonly #threshold: number;
  readonly #ttlMs: number | undefined;
  readonly #exactKey: (query: Q) => MaybePromise<string>;
  readonly #verify: Verifier<Q> | undefined;
  readonly #log: SemanticLog | undefined;
  readonly #timeoutMs: number;
  readonly #appends: LogAppends | undefined;
  /** Verifications: skipped while one that timed out is still pending, rather than queued behind a verifier that stopped answering. */
  readonly #verifies: StallGuard;
  readonly #clock: Clock;
  readonly #entries: SemanticEntries<Q>;
  readonly #flights: SingleFlight<Outcome, FlightState>;
  readonly #ends = new LookupEnds();
  readonly #pending = new PendingWrites();
  readonly #sync: LogSync | undefined;
  #unkeyed = 0;

  constructor(options: SemanticCacheOptions<Q>) {
    super();
    const { embed, dimensions, threshold, maxEntries, ttlMs, exactKey, verify, log, syncIntervalMs, timeoutMs, accelerate, clock } = checkOptions(options);
    this.#embedder = new BoundedEmbedder(embed, dimensions, timeoutMs, clock);
    this.#dimensions = dimensions;
    this.#threshold = threshold;
    this.#ttlMs = ttlMs;
    this.#exactKey = exactKey ?? defaultExactKey;
    this.#verify = verify;
    this.#log = log;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#flights = new SingleFlight(this.#clock);
    this.#appends = log && new LogAppends(log, timeoutMs, clock, (partition, cause) => this.emit('error', { operation: 'append', partition, error: semanticError('append', cause) }));
    this.#verifies = new StallGuard(timeoutMs, this.#clock);
    this.#entries = new SemanticEntries<Q>({ dimensions, maxEntries, clock: this.#clock, accelerate });
    this.#sync = log && new LogSync(log, timeoutMs, clock, syncIntervalMs, { apply: (record, ageMs) => this.#apply(record, ageMs), failed: (error) => this.emit('error', { operation: 'sync', error }) });
  }

  /** Entries held (expired ones count until found or evicted). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Answers `query` from an exact or near entry of its partition, or by joining an identical query
   * in flight, or by running `compute` (and storing its result unless `noStore`).
   */
  async run(query: Q, compute: (signal: AbortSignal) => Promise<TensorMap>, options: SemanticRunOptions = {}): Promise<SemanticRunResult> {
    assertFunction('compute', compute);
    checkRunOptions(options);
    const { noCache = false, noStore = false, signal, flightGroup, timeoutMs } = options;
    if (signal?.aborted) throw abortError(signal);
    const partition = partitionKey(options.partition);
    const labels = lookupLabels(options);
    const started = this.#clock.now();
    const deadline = timeoutMs === undefined ? undefined : started + timeoutMs;
    let exactKey: string;
    try {
      exactKey = await exactKeyOf(this.#exactKey, query);
    } catch (cause) {
      this.emit('error', { operation: 'key', partition, error: semanticError('key', cause) });
      const state: FlightState = { partition, labels, readsCache: false, store: false };
      const work = async (s: AbortSignal): Promise<Outcome> => missed(await compute(s));
      return { ...(await this.#flights.start(`!${this.#unkeyed++}`, state, work, signal)), shared: false };
    }
    if (!noCache) {
      const entry = this.#entries.exact(partition, exactKey);
      if (entry) {
        // The labels spread last in each event: Node 20 defines every member written after a spread through the runtime.
        this.emit('hit', { partition, exact: true, similarity: 1, durationMs: this.#clock.now() - started, ...labels });
        return { value: entry.value, hit: true, exact: true, similarity: 1, shared: false };
      }
    }
    const flightKey = flightKeyOf(flightGroup, partition, exactKey);
    const running = this.#flights.meta(flightKey);
    if (running && !(noCache && running.readsCache)) {
      if (!noStore) running.store = true;
      this.emit('coalesce', { partition, ...labels });
      try {
        return { ...(await this.#flights.join(flightKey, signal, deadline)), shared: true };
      } catch (error) {
        if (!isOthersFailure(error, signal, deadline, this.#clock.now())) throw error;
      }
      // Again with what is left of this caller's time, not all of it.
      return this.run(query, compute, deadline === undefined ? options : { ...options, timeoutMs: deadline - this.#clock.now() });
    }
    const state: FlightState = { partition, labels, readsCache: !noCache, store: !noStore, deadline };
    const work = (s: AbortSignal): Promise<Outcome> => this.#pending.hold(partition, (pending) => this.#lookupOrCompute(query, exactKey, state, pending, compute, s, started));
    return { ...(await this.#flights.start(flightKey, state, work, signal)), shared: false };
  }

  /**
   * The exact or near entry for `query` in its partition, without computing anything on a miss.
   * An embedding that fails, or takes longer than `timeoutMs`, is a miss and an `error` event, as in {@link SemanticCache.run}.
   */
  async lookup(query: Q, options: Pick<SemanticRunOptions, 'partition' | 'signal'> = {}): Promise<Omit<SemanticRunResult, 'shared'> | undefined> {
    checkEntryOptions('lookup', options);
    if (options.signal?.aborted) throw abortError(options.signal);
    const partition = partitionKey(options.partition);
    let exactKey: string;
    try {
      exactKey = await exactKeyOf(this.#exactKey, query);
    } catch (cause) {
      this.emit('error', { operation: 'key', partition, error: semanticError('key', cause) });
      return undefined;
    }
    const exact = this.#entries.exact(partition, exactKey);
    if (exact) return { value: exact.value, hit: true, exact: true, similarity: 1 };
    const looked = await this.#ends.race(partition, () => this.#lookUp(query, partition, options.signal));
    const near = looked === ENDED ? undefined : looked.near;
    return near ? { value: near.entry.value, hit: true, exact: false, similarity: near.similarity } : undefined;
  }

  /**
   * Stores `value` as the answer to `query` in its partition (and in the log), unless a clear of
   * its partition ({@link SemanticCache.invalidate} here, or on a replica and replayed by a sync)
   * comes before it is embedded: the answer predates the clear, as for results in flight.
   * @throws CacheError, also emitted as an `error` event, when the embedding fails or takes longer
   * than `timeoutMs` (or an earlier one that did has not answered yet), or `exactKey` fails: nothing is stored.
   */
  async store(query: Q, value: TensorMap, options: Pick<SemanticRunOptions, 'partition' | 'signal'> = {}): Promise<void> {
    checkEntryOptions('store', options);
    if (options.signal?.aborted) throw abortError(options.signal);
    const partition = partitionKey(options.partition);
    await this.#pending.hold(partition, async (pending) => {
      let exactKey: string;
      let vector: Float32Array;
      let operation: 'key' | 'embed' = 'key';
      try {
        exactKey = await exactKeyOf(this.#exactKey, query);
        operation = 'embed';
        vector = await this.#embedder.embed(query, options.signal);
      } catch (cause) {
        if (options.signal?.aborted) throw cause;
        const error = semanticError(operation, cause);
        this.emit('error', { operation, partition, error });
        throw error;
      }
      if (!pending.cleared) this.#insert(partition, exactKey, kept(query), vector, value);
    });
  }

  /**
   * Removes the entries of one partition, or of all, here and (through the log) on every replica;
   * the queries in flight in those partitions (on each replica, those it has when it syncs the
   * clear) are detached and their results not stored. With `prefix`, `partition` is a
   * list of parts and the partitions whose parts begin with them are removed too
   * (`invalidate(['cls', '2'], { prefix: true })` removes every tenant's partition of version '2';
   * the number 2 is another part).
   * @throws CacheError when the log cannot record the clear.
   */
  async invalidate(partition?: Partition, options: { readonly prefix?: boolean } = {}): Promise<void> {
    const scope = partitionScope('invalidate()', partition, options);
    const { key, prefix } = scope;
    this.#clear(scope);
    if (!this.#log) return;
    const written = this.idle().then(() => boundedBy(Promise.resolve(this.#log!.append({ kind: 'clear', partition: key, ...(prefix ? { prefix } : {}) })), this.#timeoutMs, this.#clock, 'clear'));
    this.#sync?.cleared(written);
    try {
      await written;
    } catch (cause) {
      const error = semanticError('clear', cause);
      this.emit('error', { operation: 'clear', ...(key === undefined ? {} : { partition: key }), error });
      throw error;
    }
  }

  /**
   * Ends the lookups in flight (embedding, verification) of one partition, or of all, or with
   * `prefix` of those under its parts, as misses (reason `ended`): a `run` computes its query at
   * once, a `lookup` answers undefined, and what they were waiting for goes on unawaited. For
   * lookups that must not wait any more: the InferenceService ends those of a version that leaves
   * service (an unload, a swap), which may hold the room its embedder waits for (docs/caching.md).
   */
  endLookups(partition?: Partition, options: { readonly prefix?: boolean } = {}): void {
    const scope = partitionScope('endLookups()', partition, options);
    this.#ends.end((key) => inScope(key, scope));
  }

  /**
   * Replays the log records written since the last sync (by any replica, this one included), after
   * the clears `invalidate()` is still writing there. A failed sync is a `sync` `error` event, and
   * so is one waited for `timeoutMs` (a read waits as long as its client does, through a Redis
   * outage say): it goes on, applies when it ends (or fails, then reported no more: that event
   * was its failure), and the syncs called meanwhile wait for it.
   */
  async sync(): Promise<void> {
    await this.#sync?.sync();
  }

  /** Resolves when every log write started so far has finished (or timed out). */
  async idle(): Promise<void> {
    await this.#appends?.idle();
  }

  /**
   * Stops the periodic sync and waits for pending log writes, and for a sync in flight at most
   * `timeoutMs` (a log read waits as long as its client does, through a Redis outage say); a sync
   * that ends later applies and reports nothing.
   */
  async close(): Promise<void> {
    this.#sync?.stop();
    await this.idle();
    await this.#sync?.settled();
  }

  async #lookupOrCompute(
    query: Q,
    exactKey: string,
    state: FlightState,
    pending: PendingWrite,
    compute: (signal: AbortSignal) => Promise<TensorMap>,
    signal: AbortSignal,
    started: number,
  ): Promise<Outcome> {
    const { partition, labels } = state;
    let vector: Float32Array | undefined;
    const embedded = state.readsCache;
    if (state.readsCache) {
      const looked = await this.#ends.race(partition, () => this.#lookUp(query, partition, signal, state.deadline));
      state.readsCache = false;
      const durationMs = this.#clock.now() - started;
      const near = looked === ENDED ? undefined : looked.near;
      if (near) {
        this.emit('hit', { partition, exact: false, similarity: near.similarity, durationMs, ...labels });
        return { value: near.entry.value, hit: true, exact: false, similarity: near.similarity };
      }
      vector = looked === ENDED ? undefined : looked.vector;
      this.emit('miss', { partition, reason: looked === ENDED ? 'ended' : !vector ? 'error' : near === null ? 'rejected' : 'absent', durationMs, ...labels });
    } else {
      this.emit('miss', { partition, reason: 'bypass', durationMs: 0, ...labels });
    }
    const value = await compute(signal);
    if (!state.store || pending.cleared) return missed(value);
    if (embedded) {
      if (vector) this.#insert(partition, exactKey, kept(query), vector, value);
      return missed(value);
    }
    // Storing a no-cache answer needs its embedding; the caller never waits for it, and may reuse
    // its query's buffers once answered (an HTTP body's): the embedding is of a copy.
    const asked = kept(query);
    void this.#pending
      .hold(partition, async (later) => {
        const v = await this.#embedOrReport(asked, partition, signal);
        if (v && !later.cleared) this.#insert(partition, exactKey, asked, v, value);
      })
      .catch(() => {});
    return missed(value);
  }

  /** The query's embedding (undefined when it failed) and its best near entry (null when `verify` rejected it). */
  async #lookUp(query: Q, partition: string, signal: AbortSignal | undefined, deadline?: number): Promise<{ vector?: Float32Array | undefined; near?: Near<Q> | null | undefined }> {
    const vector = await this.#embedOrReport(query, partition, signal, deadline);
    return { vector, near: vector && (await this.#near(query, partition, vector, deadline)) };
  }

  /** The best near entry; null when `verify` rejected it. */
  async #near(query: Q, partition: string, vector: Float32Array, deadline?: number): Promise<Near<Q> | null | undefined> {
    const near = this.#entries.nearest(partition, vector, this.#threshold);
    if (!near || !this.#verify) return near;
    try {
      if (this.#verifies.stalled) throw new CacheError('Cache verify skipped: the verifier has not answered calls that timed out');
      const verdict = this.#verify(query, { query: near.entry.query, value: near.entry.value, similarity: near.similarity });
      return (isPromiseLike(verdict) ? await this.#verifies.bound(Promise.resolve(verdict), 'verify', deadline) : verdict) ? near : null;
    } catch (cause) {
      if (wasCut(cause)) throw cause;
      this.emit('error', { operation: 'verify', partition, error: semanticError('verify', cause) });
      return null;
    }
  }

  async #embedOrReport(query: Q, partition: string, signal: AbortSignal | undefined, deadline?: number): Promise<Float32Array | undefined> {
    try {
      return await this.#embedder.embed(query, signal, deadline);
    } catch (cause) {
      if (signal?.aborted || wasCut(cause)) throw cause;
      this.emit('error', { operation: 'embed', partition, error: semanticError('embed', cause) });
      return undefined;
    }
  }

  /** Stores an entry; `query` is the cache's own copy of the query asked ({@link kept}). */
  #insert(partition: string, exactKey: string, query: Q, vector: Float32Array, value: TensorMap): void {
    const expiresAt = this.#ttlMs === undefined ? Infinity : this.#clock.now() + this.#ttlMs;
    this.#entries.insert({ partition, exactKey, query, value, vector, expiresAt });
    this.emit('store', { partition });
    this.#appends?.append({ kind: 'add', partition, exactKey, query, vector, value, ttlMs: this.#ttlMs });
  }

  /** Removes the entries within `scope`, and stops the writes in flight there: new callers start afresh, and what they compute is not stored. */
  #clear(scope: PartitionScope): void {
    const within = (partition: string): boolean => inScope(partition, scope);
    this.#flights.forget((state) => within(state.partition));
    this.#pending.clear(within);
    this.#entries.clear(scope.key, scope.prefix);
  }

  #apply(record: SemanticRecord, ageMs: number): void {
    if (record.kind === 'clear') return this.#clear({ key: record.partition, prefix: record.prefix === true });
    const remaining = record.ttlMs === undefined ? Infinity : record.ttlMs - ageMs;
    if (remaining <= 0) return;
    const vector = normalized(record.vector, this.#dimensions);
    const { partition, exactKey, value } = record;
    this.#entries.insert({ partition, exactKey, query: record.query as Q, value, vector, expiresAt: this.#clock.now() + remaining });
  }
}

function missed(value: TensorMap): Outcome {
  return { value, hit: false, exact: false, similarity: undefined };
}
