/**
 * Compressed bodies both ways, as Triton's HTTP clients use them: request bodies sent with
 * `Content-Encoding: gzip` or `deflate` (`request_compression_algorithm`), and replies compressed
 * when `Accept-Encoding` asks for it (`response_compression_algorithm`). Both go through the web
 * platform's DecompressionStream and CompressionStream, so the protocol stays transport-agnostic.
 * A decoded body is held to the same limit as a plain one, counted as it is inflated, so a small
 * body that inflates without end is refused early.
 */
import { InvalidInputError } from '../core/index.js';
import type { HttpResponse } from './types.js';

/** A compression servable decodes. */
export type CompressionFormat = 'gzip' | 'deflate';

const FORMATS: Readonly<Record<string, CompressionFormat>> = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate' };

/** What a `Content-Encoding` header asks of the body. */
export type BodyEncoding = { readonly format: CompressionFormat | undefined } | { readonly unsupported: string };

/** A body sent as it is: the answer for nearly every request, made once. */
const IDENTITY: BodyEncoding = { format: undefined };

/** Reads `Content-Encoding`: no format for none or `identity`; one format; or what cannot be decoded. */
export function bodyEncoding(header: string | readonly string[] | undefined): BodyEncoding {
  if (header === undefined) return IDENTITY;
  const codings = (typeof header === 'string' ? [header] : header)
    .flatMap((h) => h.split(','))
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return IDENTITY;
  const format = codings.length === 1 ? FORMATS[codings[0]!] : undefined;
  return format ? { format } : { unsupported: codings.join(', ') };
}

/**
 * The transfer codings of a `Transfer-Encoding` header other than `chunked`, which the HTTP/1.1
 * parser undoes (Node's leaves the others, so a `gzip, chunked` body arrives gzipped); undefined
 * when there are none.
 */
export function unsupportedTransferCodings(header: string | readonly string[] | undefined): string | undefined {
  if (header === undefined || header === 'chunked') return undefined;
  const codings = (typeof header === 'string' ? [header] : header)
    .flatMap((h) => h.split(','))
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'chunked');
  return codings.length === 0 ? undefined : codings.join(', ');
}

/**
 * The decoded body, or `undefined` once it passes `limit` bytes.
 * @throws InvalidInputError when the body is not valid data of the format.
 */
export async function decompressBody(body: Uint8Array | string, format: CompressionFormat, limit: number): Promise<Uint8Array | undefined> {
  if (typeof body === 'string') throw new InvalidInputError(`A ${format} body must reach the protocol as bytes, not as text`);
  const reader = new Blob([body]).stream().pipeThrough(new DecompressionStream(format)).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: Awaited<ReturnType<typeof reader.read>>;
    try {
      next = await reader.read();
    } catch {
      throw new InvalidInputError(`The request body is not valid ${format} data (Content-Encoding: ${format})`);
    }
    if (next.done) break;
    size += next.value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(next.value);
  }
  return join(chunks, size);
}

/** Replies shorter than this go as they are: compressing them saves next to nothing. */
const MIN_COMPRESSED_BYTES = 1024;

/**
 * The reply compressed as `acceptEncoding` (the request's `Accept-Encoding`) prefers, when it is
 * 1 KiB or more; marked `Vary: Accept-Encoding` either way. The handler compresses its own replies
 * (`compressReplies`); an adapter uses this for the routes it serves itself, such as `/metrics`.
 */
export async function compressReply(acceptEncoding: string | readonly string[] | undefined, response: HttpResponse): Promise<HttpResponse> {
  const length = typeof response.body === 'string' ? response.body.length : response.body.byteLength;
  if (length < MIN_COMPRESSED_BYTES || response.headers['content-encoding'] !== undefined) return response;
  const headers = { ...response.headers, vary: 'accept-encoding' };
  const format = acceptedFormat(acceptEncoding);
  if (!format) return { ...response, headers };
  return { status: response.status, headers: { ...headers, 'content-encoding': format }, body: await compressBody(response.body, format) };
}

/**
 * The format an `Accept-Encoding` header prefers among those servable writes: the highest `q`,
 * gzip on a tie; none when it asks for neither or refuses both with `q=0`. `*` weighs only the
 * formats the header does not name (RFC 9110, 12.5.3).
 */
export function acceptedFormat(header: string | readonly string[] | undefined): CompressionFormat | undefined {
  if (header === undefined) return undefined;
  const weights = new Map<CompressionFormat, number>();
  let any: number | undefined;
  for (const item of (typeof header === 'string' ? [header] : header).flatMap((h) => h.split(','))) {
    const [name = '', ...params] = item.split(';');
    const coding = name.trim().toLowerCase();
    if (coding === '*') any = qValue(params);
    const format = FORMATS[coding];
    if (format && !weights.has(format)) weights.set(format, qValue(params));
  }
  const gzip = weights.get('gzip') ?? any ?? 0;
  const deflate = weights.get('deflate') ?? any ?? 0;
  if (gzip === 0 && deflate === 0) return undefined;
  return gzip >= deflate ? 'gzip' : 'deflate';
}

/** The `q` parameter of an Accept-Encoding item: 1 when absent, 0 when not a valid weight. */
function qValue(params: readonly string[]): number {
  for (const param of params) {
    const [key = '', value = ''] = param.split('=');
    if (key.trim().toLowerCase() !== 'q') continue;
    const weight = value.trim();
    return /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(weight) ? Number(weight) : 0;
  }
  return 1;
}

/** `body` compressed in `format`. */
async function compressBody(body: Uint8Array | string, format: CompressionFormat): Promise<Uint8Array> {
  const reader = new Blob([body]).stream().pipeThrough(new CompressionStream(format)).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    chunks.push(next.value);
    size += next.value.byteLength;
  }
  return join(chunks, size);
}

function join(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
