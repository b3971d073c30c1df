import { CacheError, isPromiseLike, onAbort, type Clock } from '../../core/index.js';
import { StallGuard } from '../timeout.js';
import type { Embedder, SemanticQuery } from './types.js';
import { normalized } from './vector.js';

/**
 * An embedder bounded in time: each embedding is normalised and given up after `timeoutMs`, and
 * while one that timed out has not answered, the embedder is skipped rather than queued behind.
 */
export class BoundedEmbedder<Q extends SemanticQuery> {
  readonly #embed: Embedder<Q>;
  readonly #dimensions: number;
  readonly #guard: StallGuard;

  constructor(embed: Embedder<Q>, dimensions: number, timeoutMs: number, clock: Clock) {
    this.#embed = embed;
    this.#dimensions = dimensions;
    this.#guard = new StallGuard(timeoutMs, clock);
  }

  /**
   * The unit-length embedding of `query`. The embedder's signal aborts with `signal`, and when
   * the embedding is given up (a timeout), so that a model behind it drops the work and the
   * embedder is not left stalled. A `deadline` (on the clock) before the timeout gives it up then
   * with a DeadlineExceededError, its caller's own.
   * @throws CacheError when the embedding fails, is late, is skipped or is no vector of `dimensions` finite numbers.
   */
  async embed(query: Q, signal: AbortSignal | undefined, deadline?: number): Promise<Float32Array> {
    if (this.#guard.stalled) throw new CacheError('Cache embed skipped: the embedder has not answered calls that timed out');
    const controller = new AbortController();
    const unlink = onAbort(signal, () => controller.abort(signal!.reason));
    try {
      const embedded = this.#embed(query, controller.signal);
      return normalized(isPromiseLike(embedded) ? await this.#guard.bound(Promise.resolve(embedded), 'embed', deadline) : embedded, this.#dimensions);
    } catch (error) {
      controller.abort(error);
      throw error;
    } finally {
      unlink();
    }
  }
}
