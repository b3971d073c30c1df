import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { start } from '../../examples/image-handler/server.js';
import type { Started } from '../../examples/shared/textdir.js';
import { drawLine, fontPath } from '../../examples/ocr/render-line.js';

const skip = existsSync(fontPath) ? false : `${fontPath} is missing (Debian/Ubuntu: apt-get install fonts-dejavu-core)`;

/** One line of 30 px black DejaVu Sans on a white line 48 px high, as a PNG; turned by 180° when `upsideDown`. */
function renderPng(text: string, upsideDown = false): Buffer {
  return drawLine(text, upsideDown).toBuffer('image/png');
}

/** The CRC-32 (ISO-HDLC, as PNG chunks use) of `bytes`; node:zlib gained crc32 only after Node 20. */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** `png` with its first IDAT chunk's data replaced by `data`, the chunk's length and CRC made right for it. */
function withIdat(png: Buffer, data: Buffer): Buffer {
  for (let at = 8; at + 8 <= png.length; ) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') {
      const chunk = Buffer.alloc(12 + data.length);
      chunk.writeUInt32BE(data.length, 0);
      chunk.write('IDAT', 4, 'latin1');
      data.copy(chunk, 8);
      chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
      return Buffer.concat([png.subarray(0, at), chunk, png.subarray(at + 12 + length)]);
    }
    at += 12 + length;
  }
  throw new Error('no IDAT chunk');
}

let server: Started;

before(async () => {
  if (skip) return;
  server = await start({ port: 0 });
});

after(() => server?.close());

async function predict(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/predictions/textdir`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('examples/image-handler: an upright line is 0, the same line turned over is 180, both with probability > 0.9', { skip }, async () => {
  const upright = renderPng('Hello World 123').toString('base64');
  const turned = renderPng('Hello World 123', true).toString('base64');
  // Sent together, so they may share a batch.
  const [a, b] = await Promise.all([predict({ image: upright }), predict({ image: turned })]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.equal(a.body.label, '0');
  assert.equal(b.body.label, '180');
  assert.ok((a.body.probability as number) > 0.9, `upright: ${a.body.probability}`);
  assert.ok((b.body.probability as number) > 0.9, `turned: ${b.body.probability}`);
  assert.deepEqual(Object.keys(a.body).sort(), ['label', 'probability']);
});

test('examples/image-handler: bad images get a 400 naming what was wrong, without disturbing good ones', { skip }, async () => {
  const tooWide = Buffer.from(renderPng('x'));
  tooWide.writeUInt32BE(100_000, 16); // the IHDR width
  const cases: [unknown, RegExp][] = [
    [{}, /Input 'image': expected a base64-encoded PNG string/],
    [{ image: 42 }, /expected a base64-encoded PNG string/],
    [{ image: 'not base64!' }, /not valid base64/],
    [{ image: Buffer.from('GIF89a, not a PNG at all, really').toString('base64') }, /not a PNG/],
    [{ image: tooWide.toString('base64') }, /expected a PNG of 1 to 4096 pixels each side, got 100000x48/],
    [{ image: renderPng('x').subarray(0, 40).toString('base64') }, /the PNG could not be decoded/],
    // Header and CRCs valid, image data not a zlib stream: the decoder would draw a blank line from it.
    [{ image: withIdat(renderPng('x'), Buffer.from('these bytes do not inflate')).toString('base64') }, /the PNG could not be decoded/],
    // A zlib stream that inflates to more than the pixels the header gives hold (a zip bomb's shape).
    [{ image: withIdat(renderPng('x'), deflateSync(Buffer.alloc(1 << 20))).toString('base64') }, /the PNG could not be decoded/],
  ];
  const good = predict({ image: renderPng('Good line').toString('base64') });
  const replies = await Promise.all(cases.map(([body]) => predict(body)));
  for (const [i, reply] of replies.entries()) {
    assert.equal(reply.status, 400, String(reply.body.error));
    assert.match(String(reply.body.error), cases[i]![1]);
    assert.equal(reply.body.code, 'ERR_SERVABLE_INVALID_INPUT');
  }
  assert.equal((await good).body.label, '0');
});
