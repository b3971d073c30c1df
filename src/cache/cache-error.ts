import { CacheError, messageOf } from '../core/index.js';

/** `cause` as the CacheError of a failed `operation` (itself if it is one), for `error` events and the calls that reject; `cache` names the cache in its message. */
export function asCacheError(operation: string, cause: unknown, cache = 'Cache'): CacheError {
  if (cause instanceof CacheError) return cause;
  return new CacheError(`${cache} ${operation} failed: ${messageOf(cause)}`, { cause });
}

/** {@link asCacheError} for the SemanticCache, whose messages name it. */
export function semanticError(operation: string, cause: unknown): CacheError {
  return asCacheError(operation, cause, 'Semantic cache');
}
