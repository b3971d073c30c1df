import { Buffer } from 'node:buffer';
import { assertFunction, assertInteger, assertOptionKeys, assertObject, assertString, CacheError } from '../../core/index.js';
import { decodeRecord, encodeRecord, type LoggedRecord, type SemanticLog, type SemanticRecord } from '../index.js';
import type { RedisStreamCommands } from './client.js';

/** Options of {@link RedisSemanticLog}. */
export interface RedisSemanticLogOptions {
  /** A connected client you own (ioredis `Redis` or `Cluster`); the log never closes it. */
  readonly client: RedisStreamCommands;
  /** The stream key; one per semantic cache (per model). @default 'servable:semantic' */
  readonly key?: string;
  /**
   * About how many records the stream keeps (`XADD MAXLEN ~`); older ones are trimmed. Keep it well
   * above what every replica together writes between two syncs of one: a replica the trimming
   * passes drops every entry it holds (see {@link RedisSemanticLog.read}). @default 100000
   */
  readonly maxLength?: number;
  /** Records read per XRANGE call. @default 1000 */
  readonly readCount?: number;
}

/**
 * A {@link SemanticLog} on a Redis stream, so replicas of a SemanticCache share their entries:
 * each change is one binary stream entry (`XADD key MAXLEN ~ n * r <bytes>`), and each replica
 * replays the stream from its last position (`XRANGE key last + COUNT n`, which must still hold
 * `last`: a stream that lost it makes the replica drop every entry, see {@link RedisSemanticLog.read}).
 * Ages come from the stream ids and the server's TIME, so replicas' clocks never need to agree.
 */
export class RedisSemanticLog implements SemanticLog {
  readonly #client: RedisStreamCommands;
  readonly #key: string;
  readonly #maxLength: number;
  readonly #readCount: number;

  constructor(options: RedisSemanticLogOptions) {
    assertObject('options', options);
    assertOptionKeys('RedisSemanticLog', options, ['client', 'key', 'maxLength', 'readCount']);
    const { client, key = 'servable:semantic', maxLength = 100_000, readCount = 1000 } = options;
    assertObject('client', client);
    for (const command of ['xadd', 'xrangeBuffer', 'time'] as const) assertFunction(`client.${command}`, client[command]);
    assertString('key', key);
    assertInteger('maxLength', maxLength, 1);
    assertInteger('readCount', readCount, 1);
    this.#client = client;
    this.#key = key;
    this.#maxLength = maxLength;
    this.#readCount = readCount;
  }

  async append(record: SemanticRecord): Promise<void> {
    const bytes = encodeRecord(record);
    await this.#client.xadd(this.#key, 'MAXLEN', '~', this.#maxLength, '*', 'r', Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  /**
   * The records after `cursor`. When the stream no longer holds `cursor`'s own record (a Redis
   * restart without persistence, a flush, or MAXLEN trimming past a replica that fell behind),
   * records this replica never read may be lost, clears among them: the answer then is a clear of
   * every partition followed by every record the stream holds, and says why in `errors`.
   */
  async read(cursor: string | undefined): Promise<{ records: LoggedRecord[]; cursor: string | undefined; errors: CacheError[] }> {
    const [seconds, micros] = await this.#client.time();
    const now = Number(seconds) * 1000 + Number(micros) / 1000;
    const records: LoggedRecord[] = [];
    const errors: CacheError[] = [];
    // The first range includes the cursor's record, to tell whether the stream still holds it.
    let start = cursor ?? '-';
    let check = cursor !== undefined;
    for (;;) {
      const entries = await this.#client.xrangeBuffer(this.#key, start, '+', 'COUNT', this.#readCount);
      const full = entries.length === this.#readCount;
      if (check) {
        check = false;
        if (entries[0]?.[0].toString() === cursor) entries.shift();
        else {
          errors.push(new CacheError(`Stream ${this.#key} no longer holds ${cursor}, the last record read: records after it may be lost (a restart without persistence, a flush, or trimming past it); every entry is dropped`));
          records.push({ record: { kind: 'clear', partition: undefined }, ageMs: 0 });
          // Every record the stream holds is replayed, from its start: a server restarted on a clock
          // behind the old one writes ids below the cursor. An emptied stream is read from its start next time.
          cursor = undefined;
          start = '-';
          continue;
        }
      }
      for (const [idBytes, fields] of entries) {
        const id = idBytes.toString();
        cursor = id;
        const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 'r');
        const bytes = at >= 0 ? fields[at + 1] : undefined;
        if (!bytes) {
          errors.push(new CacheError(`Stream entry ${id} of ${this.#key} has no record`));
          continue;
        }
        try {
          records.push({ record: decodeRecord(bytes), ageMs: Math.max(0, now - Number(id.split('-')[0])) });
        } catch (error) {
          errors.push(error instanceof CacheError ? error : new CacheError(`Stream entry ${id} of ${this.#key}: ${String(error)}`));
        }
      }
      if (!full) return { records, cursor, errors };
      start = `(${cursor}`;
    }
  }
}
