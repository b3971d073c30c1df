import assert from 'node:assert/strict';
import type { CacheStore, MaybePromise } from '../cache/index.js';
import type { Tensor, TensorMap } from '../core/index.js';

/** A test registrar: node:test's `test`, or any runner's `(name, fn)`. */
export type ContractTest = (name: string, fn: () => Promise<void>) => unknown;

/** What {@link cacheStoreContract} needs for one test: a fresh, empty store. */
export interface ContractSubject {
  readonly store: CacheStore<TensorMap>;
  /** Moves the store's clock forward by `ms`; when given, expiry is tested too. */
  readonly advance?: (ms: number) => MaybePromise<void>;
  /** Releases what the store holds (connections, keys) after the test. */
  readonly close?: () => MaybePromise<void>;
}

/**
 * The conformance suite every {@link CacheStore} must pass: registers one test per rule with
 * `test`. `make` is called once per test and must give an empty store with no default TTL.
 *
 * @example
 * import test from 'node:test';
 * cacheStoreContract(test, () => ({ store: new MyStore() }), 'MyStore');
 */
export function cacheStoreContract(test: ContractTest, make: () => MaybePromise<ContractSubject>, label = 'CacheStore'): void {
  const it = (name: string, fn: (subject: ContractSubject) => Promise<void>): void => {
    test(`${label}: ${name}`, async () => {
      const subject = await make();
      try {
        await fn(subject);
      } finally {
        await subject.close?.();
      }
    });
  };

  it('answers undefined for a key never set', async ({ store }) => {
    assert.equal(await store.get('ns', 'missing'), undefined);
  });

  it('gives back every datatype exactly, including BYTES, empty and scalar tensors', async ({ store }) => {
    const value = everyDatatype();
    await store.set('ns', 'all', value);
    assertSameTensors(await store.get('ns', 'all'), value);
  });

  it('replaces a value set again under the same key', async ({ store }) => {
    await store.set('ns', 'k', { y: fp32([1]) });
    await store.set('ns', 'k', { y: fp32([2, 3]), z: fp32([4]) });
    assertSameTensors(await store.get('ns', 'k'), { y: fp32([2, 3]), z: fp32([4]) });
  });

  it('deletes one key, and deleting an absent key is not an error', async ({ store }) => {
    await store.set('ns', 'a', { y: fp32([1]) });
    await store.set('ns', 'b', { y: fp32([2]) });
    await store.delete('ns', 'a');
    await store.delete('ns', 'never-set');
    assert.equal(await store.get('ns', 'a'), undefined);
    assertSameTensors(await store.get('ns', 'b'), { y: fp32([2]) });
  });

  it('keeps namespaces apart, even when one name is a prefix or pattern of another', async ({ store }) => {
    const namespaces = ['a', 'a:b', 'ab', 'a*', 'a%3Ab', 'a/b', '[a]'];
    for (const [i, ns] of namespaces.entries()) await store.set(ns, 'k', { y: fp32([i]) });
    for (const [i, ns] of namespaces.entries()) assertSameTensors(await store.get(ns, 'k'), { y: fp32([i]) });
    await store.clear('a');
    assert.equal(await store.get('a', 'k'), undefined);
    for (const [i, ns] of namespaces.entries()) {
      if (ns !== 'a') assertSameTensors(await store.get(ns, 'k'), { y: fp32([i]) }, `namespace ${ns} must survive clear('a')`);
    }
  });

  it('clears every key of a large namespace', async ({ store }) => {
    for (let i = 0; i < 300; i++) await store.set('big', `k${i}`, { y: fp32([i]) });
    await store.set('other', 'k0', { y: fp32([-1]) });
    await store.clear('big');
    for (let i = 0; i < 300; i++) assert.equal(await store.get('big', `k${i}`), undefined, `big/k${i} must be gone`);
    assertSameTensors(await store.get('other', 'k0'), { y: fp32([-1]) });
    await store.clear('never-used');
  });

  it('takes keys with any characters', async ({ store }) => {
    const keys = ['', ':', '*', '[x]', 'a b', 'ü✓', '\\', 'a\u0000b', 'x'.repeat(500)];
    for (const [i, k] of keys.entries()) await store.set('ns', k, { y: fp32([i]) });
    for (const [i, k] of keys.entries()) assertSameTensors(await store.get('ns', k), { y: fp32([i]) }, `key ${JSON.stringify(k)}`);
  });

  it('keeps an entry until its TTL passes, and one without TTL indefinitely', async ({ store, advance }) => {
    await store.set('ns', 'short', { y: fp32([1]) }, 1000);
    await store.set('ns', 'forever', { y: fp32([2]) });
    assertSameTensors(await store.get('ns', 'short'), { y: fp32([1]) });
    if (!advance) return;
    await advance(999);
    assertSameTensors(await store.get('ns', 'short'), { y: fp32([1]) }, 'alive before its TTL');
    await advance(2);
    assert.equal(await store.get('ns', 'short'), undefined, 'gone after its TTL');
    await advance(1e9);
    assertSameTensors(await store.get('ns', 'forever'), { y: fp32([2]) });
  });
}

function fp32(values: number[]): Tensor {
  return { datatype: 'FP32', shape: [values.length], data: Float32Array.from(values) };
}

/** One tensor per datatype, with the values that break careless encodings (NaN, -0, 2^63-1, astral code points). */
function everyDatatype(): TensorMap {
  return {
    bool: { datatype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    u8: { datatype: 'UINT8', shape: [2], data: Uint8Array.from([0, 255]) },
    u16: { datatype: 'UINT16', shape: [2], data: Uint16Array.from([0, 65535]) },
    u32: { datatype: 'UINT32', shape: [2], data: Uint32Array.from([0, 4294967295]) },
    u64: { datatype: 'UINT64', shape: [2], data: BigUint64Array.from([0n, 2n ** 64n - 1n]) },
    i8: { datatype: 'INT8', shape: [2], data: Int8Array.from([-128, 127]) },
    i16: { datatype: 'INT16', shape: [2], data: Int16Array.from([-32768, 32767]) },
    i32: { datatype: 'INT32', shape: [2], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1]) },
    i64: { datatype: 'INT64', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]) },
    f16: { datatype: 'FP16', shape: [2], data: Uint16Array.from([0x3c00, 0x7e00]) },
    f32: { datatype: 'FP32', shape: [2, 3], data: Float32Array.from([0, -0, NaN, Infinity, -1.5, 3.4e38]) },
    f64: { datatype: 'FP64', shape: [2], data: Float64Array.from([Math.PI, -Number.MIN_VALUE]) },
    text: { datatype: 'BYTES', shape: [2, 2], data: ['', 'héllo', '𝄞 music', 'a\u0000b'] },
    empty: { datatype: 'FP32', shape: [0, 4], data: new Float32Array(0) },
    scalar: { datatype: 'INT32', shape: [], data: Int32Array.from([7]) },
  };
}

function assertSameTensors(actual: TensorMap | undefined, expected: TensorMap, message?: string): void {
  assert.ok(actual !== undefined, message ?? 'expected a stored value, got undefined');
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), message);
  for (const [name, t] of Object.entries(expected)) {
    const a: Tensor = actual[name]!;
    assert.equal(a.datatype, t.datatype, `${name}: datatype`);
    assert.deepEqual([...a.shape], [...t.shape], `${name}: shape`);
    assert.equal(a.data.constructor, t.data.constructor, `${name}: storage type`);
    assert.deepStrictEqual(Array.from(a.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), `${name}: data`);
  }
}
