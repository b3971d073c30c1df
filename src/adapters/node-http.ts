import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { describe, optionError, recycleBuffer, takeBuffer } from '../core/index.js';
import { TENANT_HEADER, type HttpHandler, type HttpRequest, type HttpResponse } from '../protocol/index.js';
import type { AdapterOptions } from './adapter-options.js';
import { discardCap, discardRest, resetAfterReply } from './discard-body.js';
import { METRICS_PATH, scrape, type MetricsRoute } from './metrics-route.js';

/** The request body went past the adapter's limit. */
export class BodyTooLargeError extends Error {
  /** For Fastify's error handling. */
  readonly statusCode = 413;
  /**
   * Whether the rest of the body was read and discarded, so that the connection goes on to the
   * next request; when not, the 413 closes it (over HTTP/2, only the stream is reset).
   */
  readonly drained: boolean;

  constructor(limit: number, drained = false) {
    super(`The request body is larger than the limit of ${limit} bytes`);
    this.name = 'BodyTooLargeError';
    this.drained = drained;
  }
}

const connectionSignals = new WeakMap<Socket, AbortSignal>();

/**
 * Aborted when the client goes away before its response is written. Over HTTP/1.1: one signal per
 * connection, aborted when the connection closes, since an AbortController costs several
 * microseconds to make and keep-alive connections carry many requests. A request that was answered
 * has stopped listening to it by then. (In Node 20 a request's own `close` fires as soon as its
 * body has been read, so it cannot tell a disconnect apart from a finished exchange.) A pipelined
 * request's response gets its connection only once those before it are written, while the request
 * is handled at once: its request's connection is the one. Over HTTP/2, where a client cancels one
 * request by resetting its stream and keeps the connection: one signal per stream.
 */
export function disconnectSignal(res: NodeResponse): AbortSignal {
  if ('stream' in res) return streamSignal(res.stream);
  const socket = res.socket ?? res.req.socket;
  if (!socket) return responseSignal(res);
  let signal = connectionSignals.get(socket);
  if (!signal) {
    const controller = new AbortController();
    signal = controller.signal;
    connectionSignals.set(socket, signal);
    // A request the app hands on after an await (an auth hook) may come after its client left.
    if (socket.destroyed) controller.abort();
    else socket.once('close', () => controller.abort());
  }
  return signal;
}

/** Aborted when the HTTP/2 stream is reset or its session closes before the response has been sent. */
function streamSignal(stream: Http2Stream): AbortSignal {
  const controller = new AbortController();
  if (stream.destroyed) controller.abort();
  else stream.once('aborted', () => controller.abort());
  return controller.signal;
}

/** Aborted when a response without a socket (an injected one, say) closes unfinished. */
function responseSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  if (res.closed) {
    if (!res.writableFinished) controller.abort();
    return controller.signal;
  }
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * Reads a request body (`req`, or the stream a framework made of it from the request `source`)
 * up to `limit` bytes; refuses a larger `Content-Length` without keeping a byte, and stops
 * collecting as soon as the count passes the limit. The rest of `source` is read and discarded
 * before the refusal (see {@link discardRest}), so that the client reads the 413 and the
 * connection goes on; a body declared longer than {@link discardCap} is refused at once, its
 * connection to be closed after the 413.
 *
 * A binary tensor body (with `Inference-Header-Content-Length`) is laid out so that its binary
 * part starts 8-byte aligned: tensors are then views of the body, not copies. A body that came in
 * several chunks is joined into a buffer that {@link releaseBodyWhenDone} hands back for reuse once
 * the request is answered.
 * @throws BodyTooLargeError, or the stream's error when the client goes away mid-body.
 */
export function readBody(req: Readable, headers: IncomingHttpHeaders, limit: number, source: Readable = req): Promise<Uint8Array> {
  const declared = Number(headers['content-length']);
  const refuse = async (): Promise<never> => {
    // A decoded stream is left paused and cut off from the request, so that a body that inflates
    // past the limit is not inflated to its end; the request's own bytes are drained.
    if (source !== req) {
      req.pause();
      source.unpipe();
    }
    const cap = discardCap(limit);
    if (declared > cap) {
      source.resume();
      resetAfterReply(source);
      throw new BodyTooLargeError(limit);
    }
    throw new BodyTooLargeError(limit, await discardRest(source, cap));
  };
  if (Number.isFinite(declared) && declared > limit) return refuse();
  // A request the app hands on after its client left emits no more events.
  if (req.destroyed && !req.readableEnded) return Promise.reject(new Error(CLIENT_GONE));
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
      refuse().catch(reject);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(join(chunks, size, binaryOffset(headers)));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => onError(new Error(CLIENT_GONE));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
    // A stream a framework hook made of the body (@fastify/compress's inflater) may come paused, which a listener does not undo.
    req.resume();
  });
}

const CLIENT_GONE = 'The client closed the connection before sending the whole body';

/** Where the binary part of a binary tensor body starts, when the request says. */
function binaryOffset(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['inference-header-content-length'];
  const offset = typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined;
}

const ALIGN = 8;

/**
 * Bodies are joined into buffers rounded up to this, so that bodies of nearly the same size (the
 * same tensors under JSON headers of different lengths) reuse each other's buffers.
 */
const POOL_GRAIN = 16 * 1024;

/** Buffers of bodies joined by {@link join}, until {@link releaseBodyWhenDone} gives them back. */
const pooled = new WeakSet<ArrayBufferLike>();

/**
 * The chunks as one body: as they are when they already are, else copied once into a reused
 * buffer, `alignAt` bytes in (when given) falling on an 8-byte boundary.
 */
function join(chunks: readonly Buffer[], size: number, alignAt: number | undefined): Uint8Array {
  const only = chunks.length === 1 ? chunks[0]! : undefined;
  const aligned = alignAt === undefined || alignAt >= size;
  if (only && (aligned || (only.byteOffset + alignAt) % ALIGN === 0)) return only;
  if (chunks.length === 0) return new Uint8Array(0);
  const pad = aligned ? 0 : (ALIGN - (alignAt % ALIGN)) % ALIGN;
  const buffer = takeBuffer(Math.ceil((pad + size) / POOL_GRAIN) * POOL_GRAIN);
  pooled.add(buffer);
  const body = new Uint8Array(buffer, pad, size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}

/**
 * Hands the buffer of a body read by {@link readBody} back for the next request's body once its
 * response is done (`close`, after the framework's own `finish` listeners such as response hooks):
 * requests then reuse buffers instead of leaving the collector 100 KB or more each to free, which
 * it does with full collections when they lived through the queue. Nothing servable runs keeps a
 * request's tensors after its answer (a shadow copy is made before the primary runs); a custom
 * Handler or response hook must not either. Bodies readBody did not join are left alone, and so
 * are those answered 499, 503, 429 (a 503 under `backpressureStatus: 429`) or 504 (`status`): their inference may still run on them, in a batch
 * already running (a split request shed as overload once its first parts ran, a drain given up)
 * or for the identical requests that joined it through a model's cache, and a body reused under
 * it changed their answers, and the answer cached for them.
 */
export function releaseBodyWhenDone(res: NodeResponse, body: unknown, status: number): void {
  if (!(body instanceof Uint8Array) || !pooled.has(body.buffer)) return;
  const buffer = body.buffer;
  pooled.delete(buffer);
  if (status === 499 || status === 503 || status === 429 || status === 504) return;
  if ('stream' in res ? res.stream.closed : res.closed) recycleBuffer(buffer as ArrayBuffer);
  else res.once('close', () => recycleBuffer(buffer as ArrayBuffer));
}

/**
 * The path and query of a request target. An absolute-form target (`http://host/path`, which
 * proxies send and RFC 9112 requires servers to accept) loses its scheme and host.
 */
export function originForm(url: string): string {
  if (url.startsWith('/')) return url;
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  if (!origin) return url;
  const rest = url.slice(origin[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * The part of the request target before `path` (the URL below the mount point): the mount point as
 * the client sent it (`/api`), for messages that name the path; `''` when `path` is not its end.
 */
export function mountOf(target: string, path: string): string {
  const url = originForm(target);
  return url.length > path.length && url.endsWith(path) ? url.slice(0, url.length - path.length) : '';
}

/** The `prefix` option of the Node and Fastify adapters, checked: `''` when not given. */
export function mountPrefix(prefix: unknown): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string' || (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/')))) {
    throw optionError(`Expected \`prefix\` to be '' or a path starting with '/' and not ending with one, got ${describe(prefix)}`);
  }
  return prefix;
}

/** A request from `node:http` or from `node:http2`'s compatibility API. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/** A response of `node:http` or of `node:http2`'s compatibility API. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** Drops the response's connection (over HTTP/2, its stream). */
export function dropResponse(res: NodeResponse): void {
  if ('stream' in res) res.stream.destroy();
  else res.destroy();
}

/** Writes a protocol reply, unless the client is already gone. */
export function writeResponse(res: NodeResponse, reply: HttpResponse): void {
  if (('stream' in res ? res.stream.destroyed : res.destroyed) || res.writableEnded) return;
  const body = typeof reply.body === 'string' ? reply.body : Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength);
  // Object.assign rather than a spread: Node 20 defines a member written after a spread through its runtime.
  res.writeHead(reply.status, Object.assign({}, replyHeaders(res, reply.headers), { 'content-length': String(Buffer.byteLength(body)) }));
  res.end(body);
}

/**
 * A reply's headers as `res` takes them: `Vary` added to the one set earlier (see {@link withVary}),
 * and, over HTTP/2, without `Connection`, which HTTP/2 forbids (RFC 9113 §8.2.2) and Node drops
 * with an `UnsupportedWarning` on the process.
 */
export function replyHeaders(
  res: NodeResponse,
  headers: Readonly<Record<string, string>>,
  earlierVary: number | string | readonly string[] | undefined = res.getHeader('vary'),
): Readonly<Record<string, string>> {
  const varied = withVary(headers, earlierVary);
  if (!('stream' in res) || varied.connection === undefined) return varied;
  const { connection: _http1Only, ...rest } = varied;
  return rest;
}

/**
 * A reply's headers with its `Vary` added to one set earlier on the response (CORS middleware sets
 * `Vary: Origin`) instead of replacing it: a cache must key on both.
 */
function withVary(headers: Readonly<Record<string, string>>, earlier: number | string | readonly string[] | undefined): Readonly<Record<string, string>> {
  if (headers.vary === undefined || earlier === undefined) return headers;
  const listed = (Array.isArray(earlier) ? earlier.join(',') : String(earlier)).split(',').map((v) => v.trim()).filter((v) => v !== '');
  if (listed.some((v) => v === '*' || v.toLowerCase() === headers.vary!.toLowerCase())) return { ...headers, vary: listed.join(', ') };
  return { ...headers, vary: [...listed, headers.vary].join(', ') };
}

/**
 * Answers a Node request with the protocol handler: reads the body (or takes what a body parser
 * left), cancels on disconnect, writes the reply. `path` is the URL below the mount point.
 */
export async function serveNode(http: HttpHandler, req: NodeRequest, res: NodeResponse, path: string): Promise<void> {
  const signal = disconnectSignal(res);
  // Asked before the body is read here, which ends the stream too.
  const headers = withTenantLines(req, bodyHeaders(req));
  const read = await readOrRefuse(http, req, res, path);
  if (read === undefined) return;
  const { body } = read;
  const reply = await http.handle({ method: req.method ?? 'GET', path, mount: mountOf((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/', path), headers, body, signal });
  releaseBodyWhenDone(res, body, reply.status);
  writeResponse(res, reply);
}

/**
 * The request's body, held to `bodyLimit`; undefined once the 413 refusing it is written, or the
 * response dropped for a client that went away.
 */
async function readOrRefuse(http: HttpHandler, req: NodeRequest, res: NodeResponse, path: string): Promise<{ readonly body: Uint8Array | string | undefined } | undefined> {
  try {
    return { body: await requestBody(req, http.bodyLimit) };
  } catch (error) {
    if (error instanceof BodyTooLargeError) writeResponse(res, tooLargeReply(http, { method: req.method ?? 'GET', path }, error.drained));
    else dropResponse(res);
    return undefined;
  }
}

/**
 * The protocol's 413 for a body {@link readBody} refused: without its `Connection: close` when the
 * rest of the body was drained, so that the connection serves the client's next request.
 */
export function tooLargeReply(http: HttpHandler, request: Pick<HttpRequest, 'method' | 'path'>, drained: boolean): HttpResponse {
  const reply = http.tooLarge(request);
  if (!drained) return reply;
  const { connection: _close, ...headers } = reply.headers;
  return { ...reply, headers };
}

/**
 * Answers `GET /metrics` on a Node request with the metrics route's reply. Another method's body is
 * read first, as on the protocol's routes, so that one over `bodyLimit` gets their 413 before the 405.
 */
export async function serveMetrics(http: HttpHandler, route: MetricsRoute, options: AdapterOptions, req: NodeRequest, res: NodeResponse): Promise<void> {
  if ((await readOrRefuse(http, req, res, METRICS_PATH)) === undefined) return;
  writeResponse(res, await scrape(route, options, { method: req.method ?? 'GET', path: METRICS_PATH, headers: req.headers }));
}

/**
 * `headers` with an `X-Tenant` sent more than once as its field lines, which the protocol refuses:
 * Node joins a repeated header it does not know into one value (`a, b`), a tenant nobody named.
 * The raw headers are looked at only when the value has a comma.
 */
export function withTenantLines(req: NodeRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const tenant = headers[TENANT_HEADER];
  if (typeof tenant !== 'string' || !tenant.includes(',')) return headers;
  const lines: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === TENANT_HEADER) lines.push(raw[i + 1]!);
  // A value Node did not join (one a framework hook set) is left as it is.
  return lines.length > 1 && lines.join(', ') === tenant ? { ...headers, [TENANT_HEADER]: lines } : headers;
}

/** What an earlier body parser left on a request: express's `body` and Nest's `rawBody`. */
type ParsedRequest = NodeRequest & {
  readonly body?: unknown;
  readonly rawBody?: Uint8Array;
  readonly _body?: boolean;
};

/**
 * The request's headers as they describe the body the protocol gets: an earlier body parser
 * (express.json, Nest's) has already inflated a compressed body, so its `Content-Encoding` no
 * longer applies.
 */
function bodyHeaders(req: ParsedRequest): IncomingHttpHeaders {
  if (req.headers['content-encoding'] === undefined || !parsedEarlier(req)) return req.headers;
  const { 'content-encoding': _inflated, ...headers } = req.headers;
  return headers;
}

function parsedEarlier(req: ParsedRequest): boolean {
  return req.readableEnded || req._body === true;
}

/** The raw body: read here, or as an earlier body parser left it (raw bytes when it kept them). */
async function requestBody(req: ParsedRequest, limit: number): Promise<Uint8Array | string | undefined> {
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (parsedEarlier(req)) {
    if (req.rawBody instanceof Uint8Array) return req.rawBody;
    const parsed = req.body;
    if (parsed === undefined || typeof parsed === 'string' || parsed instanceof Uint8Array) return parsed;
    return JSON.stringify(parsed);
  }
  return readBody(req, req.headers, limit);
}

