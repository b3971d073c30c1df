import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpHandler, HttpResponse } from '../protocol/index.js';

/** The request body went past the adapter's limit. */
export class BodyTooLargeError extends Error {
  readonly status = 413;

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
 * Reads a request body up to `limit` bytes; refuses a larger `Content-Length` before reading a
 * byte, and stops collecting as soon as the count passes the limit (the rest is drained unread,
 * so the client can still read the 413).
 * @throws BodyTooLargeError, or the stream's error when the client goes away mid-body.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
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
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
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
  return readBody(req, limit);
}

function tooLarge(error: BodyTooLargeError): HttpResponse {
  return {
    status: error.status,
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ error: error.message }),
  };
}
