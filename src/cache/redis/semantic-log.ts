import { Buffer } from 'node:buffer';
import { assertFunction, assertInteger, assertKnownKeys, assertObject, assertString, CacheError } from '../../core/index.js';
import { decodeRecord, encodeRecord, type LoggedRecord, type SemanticLog, type SemanticRecord } from '../index.js';
import type { RedisStreamCommands } from './client.js';

/** Options of {@link RedisSemanticLog}. */
export interface RedisSemanticLogOptions {
  /** A connected client you own (ioredis `Redis` or `Cluster`). */
  readonly client: RedisStreamCommands;
  /** The stream key; one per semantic cache (per model). @default 'servable:semantic' */
  readonly key?: string;
  /** About how many records the stream keeps (`XADD MAXLEN ~`); older ones are trimmed. @default 100000 */
  readonly maxLength?: number;
  /** Records read per XRANGE call. @default 1000 */
  readonly readCount?: number;
}

/**
 * A {@link SemanticLog} on a Redis stream, so replicas of a SemanticCache share their entries:
 * each change is one binary stream entry (`XADD key MAXLEN ~ n * r <bytes>`), and each replica
 * replays the stream from its last position (`XRANGE key (last + COUNT n`). Ages come from the
 * stream ids and the server's TIME, so replicas' clocks never need to agree.
 */
export class RedisSemanticLog implements SemanticLog {
  readonly #client: RedisStreamCommands;
  readonly #key: string;
  readonly #maxLength: number;
  readonly #readCount: number;

  constructor(options: RedisSemanticLogOptions) {
    assertObject('options', options);
    assertKnownKeys('RedisSemanticLog', options, ['client', 'key', 'maxLength', 'readCount']);
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

  async read(cursor: string | undefined): Promise<{ records: LoggedRecord[]; cursor: string | undefined; errors: CacheError[] }> {
    const [seconds, micros] = await this.#client.time();
    const now = Number(seconds) * 1000 + Number(micros) / 1000;
    const records: LoggedRecord[] = [];
    const errors: CacheError[] = [];
    for (;;) {
      const entries = await this.#client.xrangeBuffer(this.#key, cursor === undefined ? '-' : `(${cursor}`, '+', 'COUNT', this.#readCount);
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
      if (entries.length < this.#readCount) return { records, cursor, errors };
    }
  }
}
