import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { HttpHandler, HttpResponse } from '../protocol/index.js';
import { METRICS_PATH, scrape, type AdapterOptions, type MetricsRoute } from './metrics-route.js';

/** The request body went past the adapter's limit. */
export class BodyTooLargeError extends Error {
  readonly status = 413;
  /** For Fastify's error handling. */
  readonly statusCode = 413;

  constructor(limit: number) {
    super(`The request body is larger than the limit of ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Aborted when the client goes away before its response is written. In Node 20 a request's own
 * `close` fires as soon as its body has been read, so only the response's `close` tells a
 * disconnect apart from a finished exchange.
 */
export function disconnectSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  return controller.signal;
}

/**
 * Reads a request body (`req`, or the stream a framework made of it) up to `limit` bytes; refuses
 * a larger `Content-Length` before reading a byte, and stops collecting as soon as the count
 * passes the limit (the rest is drained unread, so the client can still read the 413).
 *
 * A binary tensor body (with `Inference-Header-Content-Length`) is laid out so that its binary
 * part starts 8-byte aligned: tensors are then views of the body, not copies.
 * @throws BodyTooLargeError, or the stream's error when the client goes away mid-body.
 */
export function readBody(req: Readable, headers: IncomingHttpHeaders, limit: number): Promise<Uint8Array> {
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new BodyTooLargeError(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      req.resume();
      reject(new BodyTooLargeError(limit));
    };
    const onEnd = (): void => {
      cleanup();
      resolve(join(chunks, size, binaryOffset(headers)));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => onError(new Error('The client closed the connection before sending the whole body'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

/** Where the binary part of a binary tensor body starts, when the request says. */
function binaryOffset(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['inference-header-content-length'];
  const offset = typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined;
}

const ALIGN = 8;

/** The chunks as one body: as they are when they already are, else copied once, `alignAt` bytes in falling on an 8-byte boundary. */
function join(chunks: readonly Buffer[], size: number, alignAt: number | undefined): Uint8Array {
  const only = chunks.length === 1 ? chunks[0]! : undefined;
  if (alignAt === undefined || alignAt >= size) return only ?? Buffer.concat(chunks, size);
  if (only && (only.byteOffset + alignAt) % ALIGN === 0) return only;
  // A buffer of its own (allocUnsafeSlow never hands out a slice of the shared pool), so its offset is 0.
  const pad = (ALIGN - (alignAt % ALIGN)) % ALIGN;
  const body = Buffer.allocUnsafeSlow(pad + size);
  let at = pad;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body.subarray(pad);
}

/** Writes a protocol reply, unless the client is already gone. */
export function writeResponse(res: ServerResponse, reply: HttpResponse): void {
  if (res.destroyed || res.writableEnded) return;
  const body = typeof reply.body === 'string' ? reply.body : Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength);
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/**
 * Answers a Node request with the protocol handler: reads the body (or takes what a body parser
 * left), cancels on disconnect, writes the reply. `path` is the URL below the mount point.
 */
export async function serveNode(http: HttpHandler, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const signal = disconnectSignal(res);
  let body: Uint8Array | string | undefined;
  try {
    body = await requestBody(req, http.bodyLimit);
  } catch (error) {
    if (error instanceof BodyTooLargeError) writeResponse(res, tooLarge(error));
    else res.destroy();
    return;
  }
  const reply = await http.handle({ method: req.method ?? 'GET', path, headers: req.headers, body, signal });
  writeResponse(res, reply);
}

/** Answers `GET /metrics` on a Node request with the metrics route's reply. */
export async function serveMetrics(route: MetricsRoute, options: AdapterOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  writeResponse(res, await scrape(route, options, { method: req.method ?? 'GET', path: METRICS_PATH, headers: req.headers }));
}

/** What an earlier body parser left on a request: express's `body` and Nest's `rawBody`. */
interface ParsedRequest extends IncomingMessage {
  readonly body?: unknown;
  readonly rawBody?: Uint8Array;
  readonly _body?: boolean;
}

/** The raw body: read here, or as an earlier body parser left it (raw bytes when it kept them). */
async function requestBody(req: ParsedRequest, limit: number): Promise<Uint8Array | string | undefined> {
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (req.readableEnded || req._body === true) {
    if (req.rawBody instanceof Uint8Array) return req.rawBody;
    const parsed = req.body;
    if (parsed === undefined || typeof parsed === 'string' || parsed instanceof Uint8Array) return parsed;
    return JSON.stringify(parsed);
  }
  return readBody(req, req.headers, limit);
}

function tooLarge(error: BodyTooLargeError): HttpResponse {
  return {
    status: error.status,
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ error: error.message }),
  };
}
