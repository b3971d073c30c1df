import assert from 'node:assert/strict';
import test from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LruStore } from '../../src/cache/lru-store.js';
import { tensorMapBytes } from '../../src/cache/size.js';
import type { TensorMap } from '../../src/core/index.js';
import { cacheStoreContract } from '../../src/testing/cache-store-contract.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

cacheStoreContract(
  test,
  () => {
    const clock = new FakeClock();
    return { store: new LruStore({ maxBytes: 1 << 20, clock }), advance: (ms: number) => clock.advance(ms) };
  },
  'LruStore',
);

const row = (n: number, fill = 1): TensorMap => ({ y: { datatype: 'FP32', shape: [n], data: new Float32Array(n).fill(fill) } });

test('LruStore counts tensor bytes and evicts the least recently used entries to stay under maxBytes', () => {
  const one = new LruStore({ maxBytes: 1 << 20 });
  one.set('ns', 'k0', row(1000));
  const entry = one.bytes;
  assert.ok(entry > tensorMapBytes(row(1000)) + 2 * '2:ns'.length + 2 * 'k0'.length, 'the key and the bookkeeping count too');
  const store = new LruStore({ maxBytes: entry * 3 });
  store.set('ns', 'k0', row(1000, 0));
  store.set('ns', 'k1', row(1000, 1));
  store.set('ns', 'k2', row(1000, 2));
  assert.equal(store.size, 3);
  assert.equal(store.bytes, entry * 3);
  assert.ok(store.bytes > 12_000, 'the 4,000 bytes of each FP32 buffer are counted');
  assert.equal(store.get('ns', 'k0')?.y?.data[0], 0); // k0 is now the most recent
  store.set('ns', 'k3', row(1000, 3));
  assert.equal(store.get('ns', 'k1'), undefined, 'k1 was the least recently used');
  assert.deepEqual(['k0', 'k2', 'k3'].map((k) => store.get('ns', k)?.y?.data[0]), [0, 2, 3]);
});

test('LruStore refuses an entry larger than maxBytes and drops the old value under that key', () => {
  const store = new LruStore({ maxBytes: 2000 });
  store.set('ns', 'k', row(10));
  store.set('ns', 'k', row(1000));
  assert.equal(store.get('ns', 'k'), undefined);
  assert.equal(store.size, 0);
});

test('LruStore applies its default TTL and a per-entry TTL on the injected clock', () => {
  const clock = new FakeClock();
  const store = new LruStore({ maxBytes: 1 << 20, ttlMs: 100, clock });
  store.set('ns', 'default', row(1));
  store.set('ns', 'long', row(1), 1000);
  clock.advance(101);
  assert.equal(store.get('ns', 'default'), undefined);
  assert.ok(store.get('ns', 'long'));
  clock.advance(900);
  assert.equal(store.get('ns', 'long'), undefined);
});

test('LruStore bounds the entry count with maxEntries and keeps its namespace index in step with evictions', () => {
  const store = new LruStore({ maxBytes: 1 << 20, maxEntries: 2 });
  store.set('a', 'k1', row(1));
  store.set('b', 'k2', row(1));
  store.set('a', 'k3', row(1));
  assert.equal(store.get('a', 'k1'), undefined);
  store.clear('a');
  assert.equal(store.get('a', 'k3'), undefined);
  assert.ok(store.get('b', 'k2'));
  assert.equal(store.size, 1);
});

test('LruStore validates its options, quoting the bad value', () => {
  assert.throws(() => new LruStore({ maxBytes: 0 }), /`maxBytes` to be an integer >= 1, got 0 \(number\)/);
  assert.throws(() => new LruStore({ maxBytes: 1.5 }), /`maxBytes` to be an integer, got 1.5/);
  assert.throws(() => new LruStore({ maxBytes: 10, ttlMs: 0 }), /`ttlMs` to be a number > 0, got 0/);
  assert.throws(() => new LruStore({ maxBytes: 10, maxEntries: -1 }), /`maxEntries`/);
  assert.throws(() => new LruStore({ maxBytes: 10, sizeOf: 3 as never }), /`sizeOf` to be a function, got 3/);
  assert.throws(() => new LruStore({ maxBytes: 10, ttlMS: 5 } as never), /^TypeError: Unknown option `ttlMS`; LruStore takes maxBytes, maxEntries, ttlMs, sizeOf, clock$/);
  const store = new LruStore({ maxBytes: 10 });
  assert.throws(() => store.set('ns', 'k', row(1), -5), /`ttlMs` to be a number >= 0, got -5/);
  // What sizeOf returned is quoted, not the entry's size with the store's own bookkeeping added.
  assert.throws(() => new LruStore({ maxBytes: 1000, sizeOf: () => -100 }).set('ns', 'k', row(1)), /`sizeOf\(value\)` to be a number >= 0, got -100/);
  assert.throws(() => new LruStore({ maxBytes: 1 << 20, sizeOf: () => '8' as never }).set('ns', 'k', row(1)), /`sizeOf\(value\)` to be a finite number, got "8" \(string\)/);
  assert.throws(() => store.set('ns', 'k', { y: 'nope' } as never), /Expected tensor "y" to be \{datatype, shape, data\}/);
});

test('LruStore.clear(namespace, keyPrefix) removes the keys of that namespace that begin with the prefix only', () => {
  const store = new LruStore({ maxBytes: 1 << 20 });
  const value = row(1);
  for (const key of ['1:a', '1:b', '11:a', '2:a']) for (const ns of ['m', 'm2']) store.set(ns, key, value);
  store.clear('m', '1:');
  assert.deepEqual(['1:a', '1:b', '11:a', '2:a'].map((k) => [store.get('m', k) !== undefined, store.get('m2', k) !== undefined]), [[false, true], [false, true], [true, true], [true, true]]);
  store.clear('m', '11:');
  store.clear('m', '2:');
  assert.equal(store.size, 4);
  store.set('m', '3:a', value);
  assert.equal(store.get('m', '3:a'), value, 'the namespace index still works once emptied by prefix');
});

test('LruStore counts what an entry of a small result really takes, its bookkeeping included, so maxBytes bounds the heap', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  };
  const store = new LruStore({ maxBytes: 1 << 30, ttlMs: 60_000 });
  const n = 5000;
  const before = used();
  // A classifier's answer (two floats) under a ResultCache-like key: '<version>:<digest>'.
  for (let i = 0; i < n; i++) {
    const y = { datatype: 'FP32', shape: [1, 2], data: new Float32Array([i, 1]) } as const;
    store.set('default', `3:${(0x1000_0000_0000 + i * 7919).toString(16)}${'0123456789abcdef'.repeat(2)}`, { 'softmax_0.tmp_0': y });
  }
  const taken = used() - before;
  assert.equal(store.size, n);
  assert.ok(store.bytes >= 0.8 * taken, `counted ${store.bytes} bytes for ${taken} taken`);
  assert.ok(store.bytes <= 1.5 * taken, `counted ${store.bytes} bytes for ${taken} taken`);
});

test('a bad ttlMs, or tensorMapBytes given no map of tensors, throws with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => new LruStore({ maxBytes: 10, ttlMs: 0 }), { name: 'RangeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => tensorMapBytes(null as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => tensorMapBytes({ x: 1 } as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
