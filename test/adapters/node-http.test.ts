import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { BodyTooLargeError, readBody } from '../../src/adapters/node-http.js';

/** A body of `size` bytes counting up from 0, streamed in chunks of `chunk` bytes, each a slice of a larger buffer at offset 1. */
function stream(size: number, chunk: number): Readable {
  const bytes = Buffer.alloc(size + 1);
  for (let i = 0; i < size; i++) bytes[i + 1] = i % 251;
  const chunks: Buffer[] = [];
  for (let at = 0; at < size; at += chunk) chunks.push(bytes.subarray(1 + at, 1 + Math.min(size, at + chunk)));
  return Readable.from(chunks);
}

function expected(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => i % 251);
}

test('readBody lays the binary part of a binary tensor body out 8-byte aligned, in one chunk or many', async () => {
  for (const headerLength of [0, 1, 3, 4, 7, 8, 13, 150]) {
    for (const chunk of [1000, 64, 7]) {
      const body = await readBody(stream(1000, chunk), { 'inference-header-content-length': String(headerLength) }, 1 << 20);
      assert.deepEqual(new Uint8Array(body), expected(1000), `header ${headerLength}, chunks of ${chunk}`);
      assert.equal((body.byteOffset + headerLength) % 8, 0, `header ${headerLength}, chunks of ${chunk}`);
      // So a FP32 tensor after the header is a view of the body, not a copy.
      assert.equal(new Float32Array(body.buffer, body.byteOffset + headerLength, 4).length, 4);
    }
  }
});

test('readBody leaves other bodies as they come; a bad header length is the protocol\'s to refuse', async () => {
  for (const headers of [{}, { 'inference-header-content-length': 'twelve' }, { 'inference-header-content-length': '5000' }]) {
    const body = await readBody(stream(1000, 64), headers, 1 << 20);
    assert.deepEqual(new Uint8Array(body), expected(1000));
  }
});

test('readBody refuses a declared or actual body over the limit', async () => {
  await assert.rejects(readBody(stream(100, 10), { 'content-length': '100' }, 99), BodyTooLargeError);
  await assert.rejects(readBody(stream(100, 10), {}, 99), { message: 'The request body is larger than the limit of 99 bytes' });
  assert.equal((await readBody(stream(99, 10), {}, 99)).byteLength, 99);
});

test('readBody copies a body of declared length once, in place and aligned, however it is chunked', async () => {
  for (const headerLength of [0, 1, 5, 8, 150]) {
    for (const chunk of [1, 7, 64, 999]) {
      const headers = { 'content-length': '1000', 'inference-header-content-length': String(headerLength) };
      const body = await readBody(stream(1000, chunk), headers, 1 << 20);
      assert.deepEqual(new Uint8Array(body), expected(1000), `header ${headerLength}, chunks of ${chunk}`);
      assert.equal((body.byteOffset + headerLength) % 8, 0, `header ${headerLength}, chunks of ${chunk}`);
    }
  }
});

test('readBody keeps a whole body that arrives in one aligned chunk, and copies an unaligned one', async () => {
  const bytes = Buffer.alloc(1000 + 16);
  const at = (offset: number) => Readable.from([bytes.subarray(offset, offset + 1000)]);
  const headers = { 'content-length': '1000', 'inference-header-content-length': '4' };
  // The offset into `bytes` at which a body's binary part (4 bytes in) is 8-byte aligned.
  const good = (8 - ((bytes.byteOffset + 4) % 8)) % 8;
  const kept = await readBody(at(good), headers, 1 << 20);
  assert.equal(kept.buffer, bytes.buffer, 'an aligned chunk is the body itself');
  const copied = await readBody(at(good + 1), headers, 1 << 20);
  assert.notEqual(copied.buffer, bytes.buffer, 'an unaligned chunk is copied');
  assert.equal((copied.byteOffset + 4) % 8, 0);
  assert.deepEqual(new Uint8Array(copied), new Uint8Array(bytes.subarray(good + 1, good + 1001)));
});

test('readBody takes a stream longer or shorter than its Content-Length whole, as a framework may hand it', async () => {
  for (const declared of [10, 500, 999, 1001, 4000]) {
    for (const chunk of [3, 64, 1000]) {
      const headers = { 'content-length': String(declared), 'inference-header-content-length': '13' };
      const body = await readBody(stream(1000, chunk), headers, 1 << 20);
      assert.deepEqual(new Uint8Array(body), expected(1000), `declared ${declared}, chunks of ${chunk}`);
      assert.equal((body.byteOffset + 13) % 8, 0, `declared ${declared}, chunks of ${chunk}`);
    }
  }
  await assert.rejects(readBody(stream(100, 10), { 'content-length': '50' }, 99), BodyTooLargeError);
});
