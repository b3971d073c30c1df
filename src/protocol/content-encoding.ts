/**
 * Compressed request bodies, as Triton's HTTP clients send them (`request_compression_algorithm`):
 * `Content-Encoding: gzip` or `deflate`, decoded with the web platform's DecompressionStream so the
 * protocol stays transport-agnostic. The decoded body is held to the same limit as a plain one,
 * counted as it is inflated, so a small body that inflates without end is refused early.
 */
import { InvalidInputError } from '../core/index.js';

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
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
