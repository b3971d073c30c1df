import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { setImmediate as turn } from 'node:timers/promises';
import { BodyTooLargeError, disconnectSignal, mountOf, readBody, releaseBodyWhenDone, type NodeRequest, type NodeResponse } from '../../src/adapters/node-http.js';
import { takeBuffer } from '../../src/core/index.js';
import { DISCARD_MS } from '../../src/adapters/discard-body.js';

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

test('readBody refuses a body once the rest of it is read and discarded, up to 4 × the limit (at least 1 MiB) and 10 s; one it does not read to its end is not drained', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const MiB = 1 << 20;
  /** readBody on a stream fed `sizes` bytes, one write each; ends it when `end`. How it settled, or 'pending'. */
  const refusal = async (headers: Record<string, string>, limit: number, sizes: number[], end: boolean) => {
    const source = new PassThrough();
    let outcome: unknown = 'pending';
    readBody(source, headers, limit).then(
      () => (outcome = 'read'),
      (error: BodyTooLargeError) => (outcome = { drained: error.drained, message: error.message }),
    );
    for (const size of sizes) source.write(Buffer.alloc(size));
    if (end) source.end();
    await turn();
    await turn();
    // Nothing waits unread.
    assert.equal(source.readableLength, 0);
    return {
      get outcome() {
        return outcome;
      },
      source,
    };
  };
  const message = (limit: number) => `The request body is larger than the limit of ${limit} bytes`;
  // Declared or not, a body that ends within the cap is drained: the connection goes on.
  assert.deepEqual((await refusal({ 'content-length': String(5 * MiB) }, 2 * MiB, [MiB, 2 * MiB, 2 * MiB], true)).outcome, { drained: true, message: message(2 * MiB) });
  assert.deepEqual((await refusal({}, MiB, [MiB, MiB, 4 * MiB], true)).outcome, { drained: true, message: message(MiB) });
  assert.deepEqual((await refusal({}, 1000, [MiB], true)).outcome, { drained: true, message: message(1000) });
  // Past the cap it is refused without waiting for the end; so is a body declared longer than the cap, at once.
  assert.deepEqual((await refusal({}, MiB, [MiB, MiB, 4 * MiB + 1], false)).outcome, { drained: false, message: message(MiB) });
  assert.deepEqual((await refusal({ 'content-length': String(4 * MiB + 1) }, MiB, [], false)).outcome, { drained: false, message: message(MiB) });
  // One that stops coming is refused after DISCARD_MS; one whose client goes away, at once.
  const stalled = await refusal({}, MiB, [MiB + 1], false);
  assert.equal(stalled.outcome, 'pending');
  t.mock.timers.tick(DISCARD_MS);
  await turn();
  assert.deepEqual(stalled.outcome, { drained: false, message: message(MiB) });
  const gone = await refusal({ 'content-length': String(2 * MiB) }, MiB, [MiB], false);
  gone.source.destroy();
  await turn();
  assert.deepEqual(gone.outcome, { drained: false, message: message(MiB) });
});

/** A request whose client sent it whole and went away before the app handed it on (after an auth hook's await, say). */
async function handedOnAfterDisconnect(version: 1 | 2): Promise<{ req: NodeRequest; res: NodeResponse; close: () => void }> {
  let handed!: (pair: { req: NodeRequest; res: NodeResponse }) => void;
  const arrived = new Promise<{ req: NodeRequest; res: NodeResponse }>((resolve) => (handed = resolve));
  const server = version === 1 ? http.createServer((req, res) => handed({ req, res })) : http2.createServer((req, res) => handed({ req, res }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const body = '{"inputs":[]}';
  let client: { destroy(): void };
  if (version === 1) {
    const socket = net.connect(port, '127.0.0.1');
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    client = socket;
  } else {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    const stream = session.request({ ':method': 'POST', ':path': '/' });
    stream.on('error', () => {});
    stream.end(body);
    client = session;
  }
  const { req, res } = await arrived;
  req.on('error', () => {});
  const closed = new Promise((resolve) => req.once('close', resolve));
  client.destroy();
  await closed;
  await turn();
  return { req, res, close: () => server.close() };
}

for (const version of [1, 2] as const) {
  test(`HTTP/${version}: a request handed on after its client went away has an aborted signal${version === 1 ? ' and a body read that fails at once' : ''}`, async () => {
    const { req, res, close } = await handedOnAfterDisconnect(version);
    try {
      assert.equal(disconnectSignal(res).aborted, true);
      // Over HTTP/2 Node ends the request's body when its stream closes.
      if (version === 2) return;
      const read = readBody(req, req.headers, 1000);
      const hung = new Promise((resolve) => setTimeout(() => resolve('hung'), 500));
      assert.equal(await Promise.race([read.then(() => 'read', (e: Error) => e.message), hung]), 'The client closed the connection before sending the whole body');
    } finally {
      close();
    }
  });
}

test('mountOf is the request target before the path below the mount point, as sent: query strings and absolute-form targets included; empty when the path is not its end', () => {
  const cases: [target: string, path: string, mount: string][] = [
    ['/v2/models/m/explain', '/v2/models/m/explain', ''],
    ['/api/v2/models/m/explain', '/v2/models/m/explain', '/api'],
    ['/API/v1/v2/x?y=/v2/x', '/v2/x?y=/v2/x', '/API/v1'],
    ['http://host:8000/api/v2/x?y=1', '/v2/x?y=1', '/api'],
    ['/api/v2/x?y=1', '/v2/x', ''], // a path without the target's query is not its end
    ['/legacy/infer', '/v2/models/m/infer', ''], // a path an app's middleware rewrote
  ];
  assert.deepEqual(cases.map(([target, path]) => mountOf(target, path)), cases.map(([, , mount]) => mount));
});

test('releaseBodyWhenDone hands a joined body\'s buffer back once answered, but not one answered 499, 503, 429 or 504, whose inference may still run on it', async () => {
  const closed = { closed: true } as unknown as NodeResponse;
  const handedBack: Record<number, boolean> = {};
  for (const status of [200, 400, 499, 503, 429, 504]) {
    // 100,000 bytes in chunks of 4,096: joined into a pooled buffer (of a length no other test takes).
    const body = await readBody(stream(100_000, 4096), {}, 1 << 20);
    const { buffer } = body;
    releaseBodyWhenDone(closed, body, status);
    handedBack[status] = takeBuffer(buffer.byteLength) === buffer;
  }
  assert.deepEqual(handedBack, { 200: true, 400: true, 499: false, 503: false, 429: false, 504: false });
});
