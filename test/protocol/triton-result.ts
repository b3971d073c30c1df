/**
 * tritonclient's side of the binary tensor data extension, for the client-replay tests: how it
 * writes BYTES data (`serialize_byte_tensor`) and how its InferResult splits a reply.
 */
import assert from 'node:assert/strict';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Reply } from './client-servers.js';

/** `serialize_byte_tensor`: each element a 4-byte little-endian length, then its UTF-8 bytes. */
export function serializeBytes(strings: readonly string[]): Buffer {
  return Buffer.concat(strings.flatMap((s) => {
    const bytes = Buffer.from(s, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    return [length, bytes];
  }));
}

/** One output of a reply as the JSON header gives it. */
export interface ReplyOutput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: number[];
  readonly data?: unknown[];
  readonly parameters?: { readonly binary_data_size?: number };
}

/**
 * InferResult(response): inflate per Content-Encoding (`gzip`, or `deflate` as zlib); without
 * Inference-Header-Content-Length the body is all JSON; with it, the JSON is that many bytes and
 * each output with `binary_data_size` takes its bytes from the rest at the running offset, in the
 * order of `outputs`. Also checks that the reply is a 200, that its Content-Length is the body's
 * length as sent, and that the binary part holds exactly the outputs' sizes.
 */
export function splitReply(reply: Reply): { json: { outputs: ReplyOutput[] } & Record<string, unknown>; bytes: Map<string, Buffer> } {
  assert.equal(reply.status, 200, `${reply.status} ${reply.body.toString()}`);
  assert.equal(reply.headers['content-length'], String(reply.body.length), 'Content-Length is the length of the body as sent');
  const encoding = reply.headers['content-encoding'];
  const body = encoding === 'gzip' ? gunzipSync(reply.body) : encoding === 'deflate' ? inflateSync(reply.body) : reply.body;
  const header = reply.headers['inference-header-content-length'] as string | undefined;
  const length = header === undefined ? body.length : Number.parseInt(header, 10);
  const json = JSON.parse(body.subarray(0, length).toString('utf8')) as { outputs: ReplyOutput[] } & Record<string, unknown>;
  const buffer = body.subarray(length);
  const bytes = new Map<string, Buffer>();
  let offset = 0;
  for (const o of json.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    bytes.set(o.name, buffer.subarray(offset, offset + size));
    offset += size;
  }
  assert.equal(offset, buffer.length, "the binary part holds exactly the outputs' binary_data_size, in order");
  return { json, bytes };
}
