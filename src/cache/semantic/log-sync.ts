import type { CacheError, Clock } from '../../core/index.js';
import { semanticError } from '../cache-error.js';
import { boundedBy } from '../timeout.js';
import { PendingClears } from './pending-clears.js';
import type { SemanticLog, SemanticRecord } from './record.js';

/** What the reads of the log are for: `apply` takes a record (throwing when this replica cannot), `failed` is told each failure. */
export interface LogReader {
  apply(record: SemanticRecord, ageMs: number): void;
  failed(error: CacheError): void;
}

/** A read of the log; `late` once a {@link LogSync.sync} reported it took longer than `timeoutMs`. */
interface Read {
  done: Promise<void>;
  late: boolean;
}

/**
 * A replica's reads of the log, from the last record read: one at a time, each after the clears
 * of this replica on their way to the log, and none applied that spans a local clear; every
 * `intervalMs` (0: never) and on {@link LogSync.sync}, which waits for one at most `timeoutMs`.
 */
export class LogSync {
  readonly #log: SemanticLog;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #reader: LogReader;
  readonly #clears = new PendingClears();
  /** Local clears so far: a read that spans one applies nothing it read. */
  #generation = 0;
  #cursor: string | undefined;
  #reading: Read | undefined;
  #timer: unknown;
  #closed = false;

  constructor(log: SemanticLog, timeoutMs: number, clock: Clock, intervalMs: number, reader: LogReader) {
    this.#log = log;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#reader = reader;
    if (intervalMs > 0) this.#schedule(intervalMs);
  }

  /** A local clear, whose record `written` appends: a read under way applies nothing, and the next waits for `written` to settle. */
  cleared(written: Promise<unknown>): void {
    this.#generation++;
    this.#clears.add(written);
  }

  /**
   * Waits for the read in flight, or a new one, at most `timeoutMs`; a longer wait is reported as
   * a failure, and the read goes on: it applies what it reads, or fails unreported again.
   */
  async sync(): Promise<void> {
    const read = this.#read();
    try {
      await boundedBy(read.done, this.#timeoutMs, this.#clock, 'sync');
    } catch (cause) {
      read.late = true;
      if (!this.#closed) this.#reader.failed(semanticError('sync', cause));
    }
  }

  /** Stops the periodic reads; a read that ends later applies and reports nothing. */
  stop(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
  }

  /** Resolves when the read in flight ends, or after `timeoutMs`. */
  async settled(): Promise<void> {
    if (this.#reading) await boundedBy(this.#reading.done, this.#timeoutMs, this.#clock, 'sync').catch(() => {});
  }

  /** The read in flight, or a new one: one log read at a time. */
  #read(): Read {
    if (this.#reading) return this.#reading;
    const read: Read = { done: Promise.resolve(), late: false };
    read.done = this.#replay(read).finally(() => {
      this.#reading = undefined;
    });
    return (this.#reading = read);
  }

  async #replay(read: Read): Promise<void> {
    try {
      const generation = this.#generation;
      if (this.#clears.written) await this.#clears.written;
      const { records, cursor, errors = [] } = await this.#log.read(this.#cursor);
      // A clear since the read began: what it read may be entries the clear removed. Read again, after the clear's record.
      if (generation !== this.#generation || this.#closed) return;
      for (const error of errors) this.#reader.failed(error);
      for (const { record, ageMs } of records) {
        try {
          this.#reader.apply(record, ageMs);
        } catch (cause) {
          // Skipped, not read again: one record this replica cannot take (another embedder's length, say) would stop its sync for good.
          this.#reader.failed(semanticError('sync', cause));
        }
      }
      this.#cursor = cursor;
    } catch (cause) {
      if (!this.#closed && !read.late) this.#reader.failed(semanticError('sync', cause));
    }
  }

  #schedule(intervalMs: number): void {
    this.#timer = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      void this.#read().done.finally(() => {
        if (!this.#closed) this.#schedule(intervalMs);
      });
    }, intervalMs);
  }
}
