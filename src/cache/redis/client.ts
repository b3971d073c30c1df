import type { Buffer } from 'node:buffer';

/**
 * The Redis commands servable sends, typed structurally so that an ioredis `Redis` or `Cluster`
 * fits as is and the library never imports ioredis. Any client with these methods works.
 */
export interface RedisCommands {
  getBuffer(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer): Promise<unknown>;
  set(key: string, value: Buffer, unit: 'PX', milliseconds: number): Promise<unknown>;
  unlink(...keys: string[]): Promise<number>;
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[cursor: string, keys: string[]]>;
}

/** A Redis client: one server, or a cluster whose master nodes can be listed (ioredis `Cluster.nodes('master')`). */
export interface RedisClientLike extends RedisCommands {
  nodes?(role: 'master'): RedisCommands[];
}

/** The stream commands the semantic-cache log sends (ioredis `Redis` and `Cluster` have them). */
export interface RedisStreamCommands {
  xadd(key: string, ...args: (string | number | Buffer)[]): Promise<unknown>;
  xrangeBuffer(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<[id: Buffer, fields: Buffer[]][]>;
  time(): Promise<unknown[]>;
}

/** Escapes Redis glob characters so a SCAN MATCH pattern matches the text literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
