import { Buffer } from 'node:buffer';
import { assertFunction, assertInteger, assertOptionKeys, assertNumber, assertObject, assertString, type TensorMap } from '../../core/index.js';
import { tensorCodec, type CacheStore, type Codec } from '../index.js';
import { escapeGlob, type RedisClientLike, type RedisCommands } from './client.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions<V = TensorMap> {
  /** A connected client you own (ioredis `Redis` or `Cluster`); the store never closes it. */
  readonly client: RedisClientLike;
  /** Prepended to every key, to share a Redis with other data. @default 'servable:' */
  readonly prefix?: string;
  /** The time to live of an entry set without one, in milliseconds (at least 1). @default none */
  readonly ttlMs?: number;
  /** Turns values into bytes. @default tensorCodec (binary, no JSON) */
  readonly codec?: Codec<V>;
  /** Keys asked for per SCAN step when clearing a namespace. @default 1000 */
  readonly scanCount?: number;
}

/**
 * A {@link CacheStore} in Redis, shared by every process that uses the same server and prefix.
 * Keys are `<prefix><namespace>:<key>` (with `%` and `:` escaped in the namespace); values are
 * binary (`SET key bytes PX ttl`, read back with `GETBUFFER`). Clearing a namespace walks the
 * keyspace with SCAN MATCH on every master (never KEYS) and UNLINKs what matches, so Redis is
 * never blocked; on a cluster, keys are unlinked one per command since they span slots.
 *
 * @example
 * import Redis from 'ioredis';
 * const store = new RedisStore({ client: new Redis(), prefix: 'myapp:', ttlMs: 600_000 });
 */
export class RedisStore<V = TensorMap> implements CacheStore<V> {
  readonly #client: RedisClientLike;
  readonly #prefix: string;
  readonly #ttlMs: number | undefined;
  readonly #codec: Codec<V>;
  readonly #scanCount: number;

  constructor(options: RedisStoreOptions<V>) {
    assertObject('options', options);
    assertOptionKeys('RedisStore', options, ['client', 'prefix', 'ttlMs', 'codec', 'scanCount']);
    const { client, prefix = 'servable:', ttlMs, scanCount = 1000 } = options;
    assertObject('client', client);
    for (const command of ['getBuffer', 'set', 'unlink', 'scan'] as const) assertFunction(`client.${command}`, client[command]);
    if (prefix !== '') assertString('prefix', prefix);
    if (ttlMs !== undefined) assertNumber('ttlMs', ttlMs, 1);
    assertInteger('scanCount', scanCount, 1);
    const codec = options.codec ?? (tensorCodec as unknown as Codec<V>);
    assertFunction('codec.encode', codec.encode);
    assertFunction('codec.decode', codec.decode);
    this.#client = client;
    this.#prefix = prefix;
    this.#ttlMs = ttlMs;
    this.#codec = codec;
    this.#scanCount = scanCount;
  }

  async get(namespace: string, key: string): Promise<V | undefined> {
    const bytes = await this.#client.getBuffer(this.#key(namespace, key));
    return bytes === null ? undefined : this.#codec.decode(bytes);
  }

  async set(namespace: string, key: string, value: V, ttlMs = this.#ttlMs): Promise<void> {
    if (ttlMs !== undefined) assertNumber('ttlMs', ttlMs, 1);
    const encoded = this.#codec.encode(value);
    const bytes = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    const k = this.#key(namespace, key);
    if (ttlMs === undefined) await this.#client.set(k, bytes);
    else await this.#client.set(k, bytes, 'PX', Math.ceil(ttlMs));
  }

  async delete(namespace: string, key: string): Promise<void> {
    await this.#client.unlink(this.#key(namespace, key));
  }

  async clear(namespace: string, keyPrefix = ''): Promise<void> {
    const pattern = `${escapeGlob(this.#key(namespace, keyPrefix))}*`;
    const cluster = typeof this.#client.nodes === 'function';
    const nodes: RedisCommands[] = cluster ? this.#client.nodes!('master') : [this.#client];
    await Promise.all(nodes.map((node) => this.#clearNode(node, pattern, cluster)));
  }

  async #clearNode(node: RedisCommands, pattern: string, oneKeyPerCommand: boolean): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', this.#scanCount);
      cursor = next;
      if (keys.length === 0) continue;
      if (oneKeyPerCommand) await Promise.all(keys.map((k) => node.unlink(k)));
      else await node.unlink(...keys);
    } while (cursor !== '0');
  }

  #key(namespace: string, key: string): string {
    return `${this.#prefix}${escapeNamespace(namespace)}:${key}`;
  }
}

/** A namespace without `:`, so `<namespace>:*` matches its keys and no other namespace's. */
function escapeNamespace(namespace: string): string {
  return namespace.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}
