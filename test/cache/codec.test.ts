import assert from 'node:assert/strict';
import test from 'node:test';
import { tensorCodec } from '../../src/cache/codec.js';
import { decodeRecord, encodeRecord } from '../../src/cache/semantic/record.js';
import type { TensorMap } from '../../src/core/index.js';

const value: TensorMap = {
  y: { datatype: 'FP32', shape: [2, 2], data: Float32Array.from([1.5, -0, NaN, 3]) },
  ids: { datatype: 'INT64', shape: [2], data: BigInt64Array.from([-1n, 2n ** 62n]) },
  label: { datatype: 'BYTES', shape: [2], data: ['ok', 'ünïcode 🎉'] },
};

test('tensorCodec decodes from a Buffer at an odd offset into aligned tensors that own their memory', () => {
  const bytes = tensorCodec.encode(value);
  const pool = Buffer.alloc(bytes.byteLength + 7);
  pool.set(bytes, 3);
  const view = pool.subarray(3, 3 + bytes.byteLength);
  const decoded = tensorCodec.decode(view);
  assert.deepEqual(decoded, value);
  const y = decoded.y!.data as Float32Array;
  assert.equal(y.byteOffset % 4, 0);
  assert.notEqual(y.buffer, pool.buffer, 'a copy, not a view of the reply buffer');
  pool.fill(0);
  assert.equal(y[0], 1.5);
});

test('tensorCodec refuses bytes it did not write, with a CacheError saying why', () => {
  const bytes = tensorCodec.encode(value);
  const cases: [Uint8Array, RegExp][] = [
    [new TextEncoder().encode('{"y":[1]}'), /does not start with the servable tensor header/],
    [bytes.subarray(0, bytes.byteLength - 1), /it ends after/],
    [Uint8Array.from([...bytes, 0]), /1 bytes follow the last tensor/],
    [Uint8Array.from(bytes, (b, i) => (i === 4 ? 2 : b)), /written on a machine of the other byte order/],
  ];
  for (const [input, message] of cases) assert.throws(() => tensorCodec.decode(input), (e: Error & { code?: string }) => e.code === 'ERR_SERVABLE_CACHE' && message.test(e.message));
  const wrongType = tensorCodec.encode({ y: { datatype: 'FP32', shape: [1], data: Float32Array.from([1]) } });
  wrongType[12 + 4 + 1] = 99;
  assert.throws(() => tensorCodec.decode(wrongType), /tensor "y" has an unknown datatype/);
});

test('semantic-cache records survive the round trip, with a text or a tensor query', () => {
  const vector = Float32Array.from([0.6, 0.8]);
  for (const query of ['what is 2+2?', { x: { datatype: 'FP32', shape: [1], data: Float32Array.from([4]) } } as TensorMap]) {
    const record = { kind: 'add', partition: '["m",1,"t"]', exactKey: 's:q', query, vector, value, ttlMs: 1500 } as const;
    assert.deepEqual(decodeRecord(encodeRecord(record)), record);
  }
  const forever = decodeRecord(encodeRecord({ kind: 'add', partition: '', exactKey: 'k', query: 'q', vector, value: {}, ttlMs: undefined }));
  assert.equal(forever.kind === 'add' && forever.ttlMs, undefined);
  assert.deepEqual(decodeRecord(encodeRecord({ kind: 'clear', partition: undefined })), { kind: 'clear', partition: undefined });
  assert.deepEqual(decodeRecord(encodeRecord({ kind: 'clear', partition: 'p' })), { kind: 'clear', partition: 'p' });
  assert.deepEqual(decodeRecord(encodeRecord({ kind: 'clear', partition: '["m","2"]', prefix: true })), { kind: 'clear', partition: '["m","2"]', prefix: true });
  assert.throws(() => decodeRecord(tensorCodec.encode({})), /field #kind is missing/);
});

/** Asserts that a BYTES tensor named `name` holding `strings` comes back from the codec as it was, its name included. */
function roundTrips(name: string, strings: string[]): void {
  const decoded = tensorCodec.decode(tensorCodec.encode({ [name]: { datatype: 'BYTES', shape: [strings.length], data: strings } }));
  assert.deepEqual(Object.keys(decoded), [name]);
  assert.deepEqual(decoded[name]!.data, strings);
}

test('tensorCodec gives back strings and names holding lone surrogates as they were, not as U+FFFD', () => {
  roundTrips('name\udfff', ['a\ud800', '\udc00b', 'a\ufffd', 'pair \ud83d\ude00', '\ud83d', 'ok']);
});

test('tensorCodec still refuses string bytes that are neither UTF-8 nor a lone surrogate', () => {
  const bytes = tensorCodec.encode({ s: { datatype: 'BYTES', shape: [1], data: ['abc'] } });
  for (const bad of [[0xff, 0x62, 0x63], [0xed, 0xa0, 0x41], [0xed, 0xc0, 0x80], [0xed, 0xff, 0xbf]]) {
    const copy = Uint8Array.from(bytes);
    copy.set(bad, bytes.byteLength - 3);
    assert.throws(() => tensorCodec.decode(copy), (e: Error & { code?: string }) => e.code === 'ERR_SERVABLE_CACHE' && /are not UTF-8 \(nor WTF-8\)/.test(e.message));
  }
});

test('tensorCodec keeps a U+FEFF that starts a string or a name, or follows a lone surrogate, where a decoder would take it as a byte order mark', () => {
  roundTrips('\ufeffname', ['\ufeffa', '\ud800\ufeffb', '\ufeff', '\ufeff\ud800']);
});

test("tensorCodec refuses a surrogate pair written as two surrogates' bytes (CESU-8), which no string is written as", () => {
  const bytes = tensorCodec.encode({ s: { datatype: 'BYTES', shape: [1], data: ['abcdef'] } });
  const copy = Uint8Array.from(bytes);
  copy.set([0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], bytes.byteLength - 6); // U+D83D U+DE00, written apart
  assert.throws(() => tensorCodec.decode(copy), (e: Error & { code?: string }) => e.code === 'ERR_SERVABLE_CACHE' && /are not UTF-8 \(nor WTF-8\)/.test(e.message));
  // Apart, with a character between, each is a lone surrogate and comes back as written.
  const apart = { s: { datatype: 'BYTES' as const, shape: [1], data: ['\ud83dx\ude00'] } };
  assert.deepEqual(tensorCodec.decode(tensorCodec.encode(apart)).s!.data, ['\ud83dx\ude00']);
});
