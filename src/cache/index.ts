/**
 * Caches: the CacheStore contract and its in-process LRU store, the exact ResultCache (key
 * hashing, single-flight, fail-open), and the SemanticCache with its flat vector index and
 * embedders. Redis stores live in `servable/redis`.
 * @module
 */
export { isPromiseLike } from '../core/index.js';
export type { CacheStore, MaybePromise } from './store.js';
export { LruStore, type LruStoreOptions } from './lru-store.js';
export { tensorMapBytes, tensorBytes } from './size.js';
export { tensorCodec, type Codec } from './codec.js';
export { canonicalJson, canonicalParts, fastHasher, inputsKey, sha256Hasher, type KeyHasher } from './key.js';
export { SingleFlight } from './single-flight.js';
export { ResultCache, type CacheComputeControl, type CacheRequest, type CacheRunOptions, type CacheRunResult, type ResultCacheOptions } from './result-cache.js';
export type {
  CacheCoalesceEvent,
  CacheErrorEvent,
  CacheEventBase,
  CacheHitEvent,
  CacheMissEvent,
  CacheStoreEvent,
  ResultCacheEvents,
} from './result-events.js';
export { SemanticCache } from './semantic/semantic-cache.js';
export {
  partitionKey,
  type Embedder,
  type Partition,
  type SemanticCacheEvents,
  type SemanticCacheOptions,
  type SemanticLookupLabels,
  type SemanticQuery,
  type SemanticRunOptions,
  type SemanticRunResult,
  type Verifier,
} from './semantic/types.js';
export { FlatIndex, type FlatIndexOptions, type IndexMatch } from './semantic/flat-index.js';
export { ngramEmbedder, onnxEmbedder, type NgramEmbedderOptions, type OnnxEmbedderOptions } from './semantic/embedders.js';
export { normalized } from './semantic/vector.js';
export { decodeRecord, encodeRecord, type LoggedRecord, type SemanticLog, type SemanticRecord } from './semantic/record.js';
