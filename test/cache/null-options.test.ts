import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlatIndex, LruStore, ResultCache, SemanticCache, ngramEmbedder, onnxEmbedder } from 'servable';
import { RedisSemanticLog, RedisStore } from 'servable/redis';
import { nullsTaken } from '../fixtures/null-options.js';

const fn = (): never => {
  throw new Error('not called');
};
const redis = { getBuffer: fn, set: fn, unlink: fn, scan: fn, xadd: fn, xrangeBuffer: fn, time: fn };

test('every cache and its parts refuse null for every option, naming it and quoting null, where before those read with ?? took it as their default', async () => {
  const any = (make: (o: Record<string, unknown>) => unknown) => (base: Record<string, unknown>) => (key: string) => make({ ...base, [key]: null });
  const lru = any((o) => new LruStore(o as never));
  assert.deepEqual(await nullsTaken(['maxBytes', 'maxEntries', 'ttlMs', 'sizeOf', 'clock'], lru({ maxBytes: 1000 })), [], 'LruStore');
  const store = new LruStore({ maxBytes: 1000 });
  const result = any((o) => new ResultCache(o as never));
  assert.deepEqual(await nullsTaken(['store', 'namespace', 'ttlMs', 'timeoutMs', 'hasher', 'clock'], result({ store })), [], 'ResultCache');
  const semantic = any((o) => new SemanticCache(o as never));
  const semanticKeys = ['embed', 'dimensions', 'threshold', 'maxEntries', 'ttlMs', 'exactKey', 'verify', 'log', 'syncIntervalMs', 'timeoutMs', 'accelerate', 'clock'];
  assert.deepEqual(await nullsTaken(semanticKeys, semantic({ embed: () => new Float32Array(3), dimensions: 3, threshold: 0.9, maxEntries: 10 })), [], 'SemanticCache');
  assert.deepEqual(await nullsTaken(['client', 'prefix', 'ttlMs', 'codec', 'scanCount'], any((o) => new RedisStore(o as never))({ client: redis })), [], 'RedisStore');
  assert.deepEqual(await nullsTaken(['client', 'key', 'maxLength', 'readCount'], any((o) => new RedisSemanticLog(o as never))({ client: redis })), [], 'RedisSemanticLog');
  assert.deepEqual(await nullsTaken(['dimensions', 'minN', 'maxN', 'wordWeight', 'bigramWeight'], any((o) => ngramEmbedder(o as never))({})), [], 'ngramEmbedder');
  assert.deepEqual(await nullsTaken(['run', 'feeds', 'output', 'pooling'], any((o) => onnxEmbedder(o as never))({ run: fn, feeds: fn, output: 'y' })), [], 'onnxEmbedder');
  assert.deepEqual(await nullsTaken(['accelerate', 'accelerateAt'], any((o) => new FlatIndex(3, o as never))({})), [], 'FlatIndex');
});
