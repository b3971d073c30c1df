/**
 * `servable/redis`: Redis-backed caches over a client you pass in (ioredis `Redis` or `Cluster`).
 * Nothing here imports ioredis.
 * @module servable/redis
 */
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
export type { RedisClientLike, RedisCommands, RedisStreamCommands } from './client.js';
export { RedisSemanticLog, type RedisSemanticLogOptions } from './semantic-log.js';
