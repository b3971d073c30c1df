import assert from 'node:assert/strict';
import test from 'node:test';
import { canonicalJson, canonicalParts, inputsKey } from '../../src/cache/key.js';
import { Hash128, hash128, lengthPrefixed } from '../../src/core/index.js';

const text = (s: string) => new TextEncoder().encode(s);

test('hash128 is MurmurHash3 x86_128 (published vectors) and gives the same digest however the bytes are split', () => {
  assert.equal(hash128([text('')], 2538058380), 'a1d5bef71c6a575b1c6a575b1c6a575b');
  assert.equal(hash128([text('The quick brown fox jumps over the lazy dog')], 2538058380), '5ed5d48a7161b84c9c3aa78e3e79b6cd');
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff);
  const whole = hash128([bytes]);
  for (const cuts of [[1], [15, 16, 17], [3, 500, 999], [16, 32, 48]]) {
    const h = new Hash128();
    let at = 0;
    for (const cut of [...cuts, bytes.length]) {
      h.update(bytes.subarray(at, cut));
      at = cut;
    }
    assert.equal(h.digest(), whole, `cut at ${cuts.join(', ')}`);
  }
  assert.notEqual(hash128([bytes.subarray(1)]), whole);
});

test('canonicalJson sorts keys at every level and drops undefined members; it refuses what JSON cannot hold', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, u: undefined }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  assert.throws(() => canonicalJson({ n: Number.NaN }), /finite number in parameters, got NaN/);
  assert.throws(() => canonicalJson({ f: () => 1 }), /JSON data in parameters, got \[function\]/);
  assert.throws(() => canonicalJson({ b: 1n }), /JSON data in parameters, got 1n \(bigint\)/);
});

test('canonicalParts frames names, datatypes, shapes and byte lengths before the data', () => {
  const parts = canonicalParts({ b: { datatype: 'UINT8', shape: [2], data: Uint8Array.from([1, 2]) }, a: { datatype: 'BYTES', shape: [1], data: ['hé'] } }, { k: 1 });
  assert.equal(new TextDecoder().decode(parts[0]), '[["a","BYTES",[1],7],["b","UINT8",[2],2]]|{"k":1}');
  assert.deepEqual([...parts[1]!], [3, 0, 0, 0, 0x68, 0xc3, 0xa9]);
  assert.deepEqual([...parts[2]!], [1, 2]);
  assert.throws(() => canonicalParts({ x: { datatype: 'FP99', shape: [1], data: [] } } as never), /Expected input "x" to be a tensor/);
});

test('inputsKey views typed arrays in place: a subarray keys by its own bytes', async () => {
  const backing = Float32Array.from([9, 1, 2, 9]);
  const view = { x: { datatype: 'FP32' as const, shape: [2], data: backing.subarray(1, 3) } };
  const copy = { x: { datatype: 'FP32' as const, shape: [2], data: Float32Array.from([1, 2]) } };
  assert.equal(await inputsKey(view), await inputsKey(copy));
});

test('a BYTES string with a lone surrogate keys apart from the same string with U+FFFD, which TextEncoder would write for it; well-formed strings key by their UTF-8', async () => {
  const bytes = (...data: string[]) => [...canonicalParts({ s: { datatype: 'BYTES', shape: [data.length], data } })[1]!];
  // onnxruntime-web and the memory backend see "a\ud800" as it is (an Identity model on onnxruntime-web answers it back), so they answer it differently.
  assert.deepEqual(bytes('a\ud800'), [4, 0, 0, 0, 0x61, 0xed, 0xa0, 0x80]);
  assert.deepEqual(bytes('a\ufffd'), [4, 0, 0, 0, 0x61, 0xef, 0xbf, 0xbd]);
  assert.deepEqual(bytes('\udc00\ud800', '\ud800\udc00'), [6, 0, 0, 0, 0xed, 0xb0, 0x80, 0xed, 0xa0, 0x80, 4, 0, 0, 0, 0xf0, 0x90, 0x80, 0x80]);
  assert.deepEqual(bytes('é😀\ud83d', 'hé'), [9, 0, 0, 0, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0xbd, 3, 0, 0, 0, 0x68, 0xc3, 0xa9]);
  const key = (s: string) => inputsKey({ s: { datatype: 'BYTES', shape: [1], data: [s] } });
  assert.notEqual(await key('a\ud800'), await key('a\ufffd'));
  assert.notEqual(await key('\ud800'), await key('\udbff'));
  assert.equal(await key('a\ud800'), await key(JSON.parse('"a\\ud800"') as string));
});

test('the binary protocol lays out BYTES as UTF-8 still: a lone surrogate there is U+FFFD, as TextEncoder writes it', () => {
  assert.deepEqual([...lengthPrefixed(['a\ud800', 'é'])], [4, 0, 0, 0, 0x61, 0xef, 0xbf, 0xbd, 2, 0, 0, 0, 0xc3, 0xa9]);
});

test('a long BYTES string with lone surrogates is encoded a stretch at a time, not a character at a time', (t) => {
  const s = `${'中'.repeat(10_000)}\ud800${'é'.repeat(10_000)}\udfff`;
  const expected = [...new TextEncoder().encode('中'.repeat(10_000)), 0xed, 0xa0, 0x80, ...new TextEncoder().encode('é'.repeat(10_000)), 0xed, 0xbf, 0xbf];
  const encode = t.mock.method(TextEncoder.prototype, 'encode');
  const encodeInto = t.mock.method(TextEncoder.prototype, 'encodeInto');
  const bytes = canonicalParts({ s: { datatype: 'BYTES', shape: [1], data: [s] } })[1]!;
  assert.deepEqual([...bytes.subarray(4)], expected);
  assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true), expected.length);
  // The header, then each of the three stretches around the lone surrogates once, where each character was encoded apart.
  assert.ok(encode.mock.callCount() + encodeInto.mock.callCount() <= 4, `${encode.mock.callCount()} + ${encodeInto.mock.callCount()} calls`);
});

test('canonicalParts refuses inputs that are not a map of tensors with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => canonicalParts(null as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => canonicalParts({ x: 1 } as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
