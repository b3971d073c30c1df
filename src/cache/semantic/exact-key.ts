import { CacheError, describe, hash128, isPromiseLike } from '../../core/index.js';
import { canonicalParts } from '../key.js';
import type { MaybePromise } from '../store.js';
import type { SemanticQuery } from './types.js';

/** The exact-tier key of a query by default: the text itself, or a hash of the tensors. */
export function defaultExactKey(query: SemanticQuery): string {
  return typeof query === 'string' ? `s:${query}` : `t:${hash128(canonicalParts(query))}`;
}

/**
 * The exact-tier key `exactKey` gives `query`, synchronously when it answers synchronously.
 * @throws CacheError when it answers with anything but a string, which would key every such query alike.
 */
export function exactKeyOf<Q extends SemanticQuery>(exactKey: (query: Q) => MaybePromise<string>, query: Q): MaybePromise<string> {
  const key: unknown = exactKey(query);
  return isPromiseLike(key) ? Promise.resolve(key).then(checked) : checked(key);
}

function checked(key: unknown): string {
  if (typeof key !== 'string') throw new CacheError(`Expected \`exactKey\` to return a string, got ${describe(key)}`);
  return key;
}
