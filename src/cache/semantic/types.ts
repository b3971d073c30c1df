import { assertBoolean, assertKnownKeys, assertObject, describe, optionError, type CacheError, type Clock, type TensorMap } from '../../core/index.js';
import type { MaybePromise } from '../store.js';
import type { SemanticLog } from './record.js';

/** What a semantic cache is asked with: text, or the tensors of a request. */
export type SemanticQuery = string | TensorMap;

/**
 * Maps a query to a vector (any scale: the cache normalises it). `signal` aborts when the cache
 * gives the embedding up (after `timeoutMs`) or every caller has left: stop the work then.
 */
export type Embedder<Q extends SemanticQuery> = (query: Q, signal?: AbortSignal) => MaybePromise<ArrayLike<number>>;

/** A second opinion on a near match: return false to treat it as a miss. */
export type Verifier<Q extends SemanticQuery> = (query: Q, match: { readonly query: Q; readonly value: TensorMap; readonly similarity: number }) => MaybePromise<boolean>;

/** Options of {@link SemanticCache}. */
export interface SemanticCacheOptions<Q extends SemanticQuery = string> {
  /** Maps a query to its embedding: a function, or a model run through `onnxEmbedder`. */
  readonly embed: Embedder<Q>;
  /** The length of every embedding. */
  readonly dimensions: number;
  /**
   * The least cosine similarity, in [-1, 1], for a near match to count as a hit. Higher is
   * stricter: fewer hits and fewer false hits. Choose it from a measurement on your own queries
   * (docs/caching.md shows how); there is no safe default. A similarity short of it by no more
   * than float32 rounding (2^-22) counts, so 1 matches identical and same-direction embeddings.
   */
  readonly threshold: number;
  /** The most entries kept, across all partitions; the least recently used leave first. */
  readonly maxEntries: number;
  /** How long an entry stays, in milliseconds. @default none */
  readonly ttlMs?: number;
  /** The exact-tier key of a query. @default the text itself, or a hash of the tensors */
  readonly exactKey?: (query: Q) => MaybePromise<string>;
  /** An extra check a near match must pass (an exact match never asks). @default none */
  readonly verify?: Verifier<Q>;
  /** Shares entries with other replicas through a log (see `RedisSemanticLog`). @default none */
  readonly log?: SemanticLog;
  /** How often to replay the log, in milliseconds; 0: only when {@link SemanticCache.sync} is called. @default 1000 */
  readonly syncIntervalMs?: number;
  /**
   * The longest an embedding, a verification or a log write may take, and the longest
   * {@link SemanticCache.sync} and `close()` wait for a log read, in milliseconds. A slower
   * embedding or verification makes a miss (the query is computed) and an `error` event, and while
   * an embedding (or a verification) that timed out has not answered, lookups skip the embedder
   * (or the verifier) the same way; a {@link SemanticCache.store} whose embedding is late or
   * skipped rejects with a CacheError.
   * Synchronous embedders and verifiers are never timed. @default 1000
   */
  readonly timeoutMs?: number;
  /** Screen large partitions with an int8 WebAssembly SIMD pass (same answers, faster). @default true */
  readonly accelerate?: boolean;
  /** The clock TTLs, timers and durations run on. @default systemClock */
  readonly clock?: Clock;
}

/** Where an entry lives: a string, or parts (`[model, version, tenant]`) joined unambiguously. */
export type Partition = string | readonly (string | number)[];

/** Per-request options of {@link SemanticCache.run}. */
export interface SemanticRunOptions {
  /** Entries are only ever matched within one partition: put the model version and the tenant in it. @default '' */
  readonly partition?: Partition | undefined;
  /** Skip reading the cache; the fresh result may still be stored. */
  readonly noCache?: boolean | undefined;
  /** Skip storing the result. */
  readonly noStore?: boolean | undefined;
  /** Releases this caller; the computation is aborted only when every caller sharing it has left. */
  readonly signal?: AbortSignal | undefined;
  /**
   * This caller's time left, in milliseconds from the call (a request's remaining timeout): an
   * embedding or a verification still pending then, or an identical query it joined that has not
   * answered, fails it with a DeadlineExceededError, and the others sharing the flight wait on.
   * `compute` is not timed by it: bound it by the same time. @default none
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Only calls with the same group share an in-flight computation; stored answers are shared
   * regardless. Give calls that `compute` would run differently (another timeout or priority) a
   * group of their own, so one caller's scheduling never applies to another. @default none
   */
  readonly flightGroup?: string | undefined;
  /**
   * The model the query is asked of, named in this call's `hit`, `miss` or `coalesce` event (as a
   * ResultCache's events name theirs), which ServingMetrics counts under its `model` label. It
   * plays no part in matching: put the model in the partition. @default none
   */
  readonly model?: string | undefined;
  /** The model's version, named in the same event beside `model`. @default none */
  readonly version?: string | undefined;
}

/** The answer of {@link SemanticCache.run}. */
export interface SemanticRunResult {
  readonly value: TensorMap;
  readonly hit: boolean;
  /** True for a hit of the exact tier (same query). */
  readonly exact: boolean;
  /** The cosine similarity of the matched entry (1 for an exact hit); undefined on a miss. */
  readonly similarity: number | undefined;
  /** True when this caller joined an identical query in flight. */
  readonly shared: boolean;
}

/** The `model` and `version` a {@link SemanticCache.run} call was given, in its lookup's event; absent when it was given none. */
export interface SemanticLookupLabels {
  readonly model?: string;
  readonly version?: string;
}

/** Events of {@link SemanticCache}; every `run` emits exactly one of `hit`, `miss` or `coalesce`, and again each time a joiner runs again. */
export interface SemanticCacheEvents {
  hit: [event: SemanticLookupLabels & { readonly partition: string; readonly exact: boolean; readonly similarity: number; readonly durationMs: number }];
  /** `ended`: the lookup was ended early by {@link SemanticCache.endLookups}. */
  miss: [event: SemanticLookupLabels & { readonly partition: string; readonly reason: 'absent' | 'bypass' | 'rejected' | 'error' | 'ended'; readonly durationMs: number }];
  coalesce: [event: SemanticLookupLabels & { readonly partition: string }];
  store: [event: { readonly partition: string }];
  error: [event: { readonly operation: 'key' | 'embed' | 'verify' | 'append' | 'sync' | 'clear'; readonly partition?: string; readonly error: CacheError }];
}

/**
 * Whether the partition keyed `key` is `scope`'s or under it: when `scope` keys a list of parts,
 * the partitions whose parts begin with those.
 */
export function withinPartition(key: string, scope: string): boolean {
  return key === scope || (scope.endsWith(']') && key.startsWith(`${scope.slice(0, -1)},`));
}

/** The partitions a clear or an end applies to: one (or all, when `key` is undefined), or with `prefix` those under its parts. */
export interface PartitionScope {
  readonly key: string | undefined;
  readonly prefix: boolean;
}

/**
 * The scope `partition` and `options` name for `method` (`invalidate()`).
 * @throws TypeError for an unknown option, a `prefix` that is not a boolean, or one without a non-empty list of parts.
 */
export function partitionScope(method: string, partition: Partition | undefined, options: { readonly prefix?: boolean }): PartitionScope {
  assertObject('options', options);
  assertKnownKeys(method, options, ['prefix']);
  if (options.prefix !== undefined) assertBoolean('prefix', options.prefix);
  const prefix = options.prefix === true;
  if (prefix && (!Array.isArray(partition) || partition.length === 0)) {
    throw optionError(`Expected \`partition\` to be a non-empty array of parts with \`prefix\`, got ${describe(partition)}`);
  }
  return { key: partition === undefined ? undefined : partitionKey(partition), prefix };
}

/** Whether the partition keyed `key` is within `scope`. */
export function inScope(key: string, scope: PartitionScope): boolean {
  return scope.key === undefined || (scope.prefix ? withinPartition(key, scope.key) : key === scope.key);
}

/**
 * The partition as one string; parts are JSON-encoded so no two part lists collide (a number and
 * its string are different parts).
 * @throws TypeError for a part that is neither a string nor a finite number, which JSON would
 * encode as another part (`undefined`, `NaN` and `Infinity` as `null`) or not at all.
 */
export function partitionKey(partition: Partition | undefined): string {
  if (partition === undefined) return '';
  if (typeof partition === 'string') return partition;
  if (!Array.isArray(partition)) {
    throw optionError(`Expected \`partition\` to be a string or an array of strings and numbers, got ${describe(partition)}`);
  }
  for (let i = 0; i < partition.length; i++) {
    const part: unknown = partition[i];
    if (typeof part !== 'string' && !Number.isFinite(part)) {
      throw optionError(`Expected every part of \`partition\` to be a string or a finite number, got ${describe(part)} at index ${i}`);
    }
  }
  return JSON.stringify(partition);
}

