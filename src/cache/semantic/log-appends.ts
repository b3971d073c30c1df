import { CacheError, type Clock } from '../../core/index.js';
import { StallGuard } from '../timeout.js';
import type { SemanticLog, SemanticRecord } from './record.js';

/**
 * A replica's appends of its entries to the log, each given up after `timeoutMs`; while one that
 * timed out has not answered, the next are skipped rather than queued behind a log that stopped
 * answering. A failed, late or skipped append is told to `failed`, with its partition; none rejects.
 */
export class LogAppends {
  readonly #log: SemanticLog;
  readonly #guard: StallGuard;
  readonly #failed: (partition: string, cause: unknown) => void;
  readonly #writes = new Set<Promise<void>>();

  constructor(log: SemanticLog, timeoutMs: number, clock: Clock, failed: (partition: string, cause: unknown) => void) {
    this.#log = log;
    this.#guard = new StallGuard(timeoutMs, clock);
    this.#failed = failed;
  }

  append(record: Extract<SemanticRecord, { kind: 'add' }>): void {
    const appended = this.#guard.stalled
      ? Promise.reject(new CacheError('Cache append skipped: the log has not answered appends that timed out'))
      : this.#guard.bound(Promise.resolve().then(() => this.#log.append(record)), 'append');
    const write: Promise<void> = appended.catch((cause: unknown) => this.#failed(record.partition, cause)).finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  /** Resolves when every append started so far has finished (or timed out). */
  async idle(): Promise<void> {
    await Promise.all([...this.#writes]);
  }
}
