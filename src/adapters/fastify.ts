/**
 * The Fastify adapter: a plugin serving the Open Inference Protocol v2 (`/v2`) and TF-Serving's
 * REST API (`/v1/models`) over an InferenceService, and `GET /metrics` when given a metrics route.
 * Its routes live in their own encapsulated context, where bodies are taken raw (so malformed JSON
 * gets the protocol's 400 and binary tensor bodies pass through) up to `bodyLimit`, and a client
 * that disconnects cancels its queued inference. Fastify 5, with `fastify-plugin` installed
 * beside it (`npm i fastify fastify-plugin`: both are optional peers, which npm leaves out).
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { servableFastify } from 'servable/fastify';
 *
 * const app = Fastify();
 * await app.register(servableFastify, { service, prefix: '/api' });
 * // with Prometheus metrics on GET /api/metrics:
 * // await app.register(servableFastify, { service, prefix: '/api', metrics: metricsHandler(promRegistry) });
 * await app.listen({ port: 8000 });
 * ```
 * @module servable/fastify
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, preParsingHookHandler, RegisterOptions } from 'fastify';
import { assertBoolean, describe, optionError } from '../core/index.js';
import { reportError, type HttpHandler, type ReplyErrorCode } from '../protocol/index.js';
import { adapterHandler, type AdapterOptions } from './adapter-options.js';
import { checkContinueListener } from './check-continue.js';
import { loadPeer } from './load-peer.js';
import { isMetricsPath, METRICS_PATH, metricsRoute, scrape } from './metrics-route.js';
import { BodyTooLargeError, disconnectSignal, mountOf, mountPrefix, originForm, readBody, releaseBodyWhenDone, replyHeaders, tooLargeReply, withTenantLines } from './node-http.js';

const FASTIFY_INSTALL = 'npm i fastify fastify-plugin';

// Both are CommonJS, loaded with require() so that a missing one is told with what to install;
// fastify before fastify-plugin, so that an app with neither is told about fastify first.
const { errorCodes } = loadPeer<typeof import('fastify')>('fastify', 'servable/fastify', FASTIFY_INSTALL);
// fastify is there (it loads first): installing it again would replace one that @nestjs/platform-fastify
// brought at the exact version it pins with the latest, whose types its instance no longer matches.
const fastifyPlugin = loadPeer<typeof import('fastify-plugin')>('fastify-plugin', 'servable/fastify', 'npm i fastify-plugin', 'fastify');

export type { HttpHandlerOptions } from '../protocol/index.js';
export type { AdapterOptions } from './adapter-options.js';
export type { MetricsRoute } from './metrics-route.js';

/** Options of {@link servableFastify}. */
export interface ServableFastifyOptions extends AdapterOptions {
  /**
   * A path prefix for every route, e.g. `/api` for `/api/v2/health/ready`; it may hold parameters
   * (`/api/:tenant`). @default ''
   */
  readonly prefix?: string;
  /**
   * Answer `Expect: 100-continue` with the 413 when the declared body is over `bodyLimit`, before
   * the client sends it (RFC 9110 §10.1.1), where Node tells it to send the body first: the plugin
   * installs a `checkContinue` listener on `fastify.server`. The server may have no other (each
   * would emit the request again), and the routes' prefix, the parents' included, no parameters.
   * Its 413 is answered before Fastify sees the request, so no hook runs for it.
   * @default false
   */
  readonly expectContinue?: boolean;
  /** The log level of the plugin's routes, as Fastify's own register option sets it. @default the app's */
  readonly logLevel?: RegisterOptions['logLevel'];
  /** Log serializers for the plugin's routes, as Fastify's own register option sets them. @default the app's */
  readonly logSerializers?: RegisterOptions['logSerializers'];
}

type RawRequest = FastifyRequest['raw'];

async function servable(app: FastifyInstance, options: ServableFastifyOptions): Promise<void> {
  // Fastify hands its own register options (prefix, logLevel, logSerializers) to the plugin too.
  const { http, close } = adapterHandler('servableFastify', options, ['prefix', 'expectContinue', 'logLevel', 'logSerializers']);
  const report = reportError(options.onError);
  // The JSON workers end with the app, once the bodies they hold are decoded.
  app.addHook('onClose', () => close());
  const metrics = metricsRoute(options);
  const prefix = mountPrefix(options.prefix);
  const { expectContinue = false } = options;
  assertBoolean('expectContinue', expectContinue);
  if (expectContinue) listenForContinue(app, http, `${app.prefix.replace(/\/$/, '')}${prefix}`);
  await app.register(
    async (scope) => {
      scope.removeAllContentTypeParsers();
      // Each route's last preParsing hook, after those the app's onRoute hooks gave it, since Fastify checks the type right after.
      scope.addHook('onRoute', (route) => {
        route.preParsing = [route.preParsing ?? []].flat().concat(standInHook);
      });
      // Read here rather than with parseAs: 'buffer', to lay binary tensor data out aligned (no copy per tensor).
      scope.addContentTypeParser('*', (request, payload, done) => {
        putBack(request.raw);
        rawBody(payload, request.headers, http.bodyLimit, request.raw).then(
          (body) => {
            if (decodedByHook(request, payload)) decoded.add(request);
            done(null, body);
          },
          (error: Error) => done(error, undefined),
        );
      });
      // Errors raised while reading the body (too large, client gone) or by Fastify itself, in the protocol's own words.
      scope.setErrorHandler((error: FastifyError, request, reply) => {
        putBack(request.raw);
        // Those of the app's hooks (an auth hook's 401, a rate limit's 429) are the app's: thrown on, Fastify hands them to its error handler.
        if (!isOwnError(error) && !routeErrors.has(error)) throw error;
        if (routeErrors.has(error)) {
          // Let out by the route's handler (a bug in it): a bare 500, as the protocol answers what it does not expect.
          report(error, { method: request.method, path: pathBelow(scope.prefix, request.url), headers: request.headers });
          return reply.code(500).type('application/json').send(bytes(JSON.stringify({ error: 'Internal server error', code: 'ERR_SERVABLE_INTERNAL' })));
        }
        // Fastify closes the connection after a body parser's error, but HTTP/2 has no such header.
        if ('stream' in reply.raw) reply.removeHeader('connection');
        const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
        if (status === 413) {
          const drained = error instanceof BodyTooLargeError && error.drained;
          // Fastify closes the connection after a body parser's error; once the rest of the body is read, it may serve the next request (unless the client asked to close it),
          // and says so as Node does on the other adapters (a removed header would leave Node to say nothing). Not on the last request
          // maxRequestsPerSocket allows: Node closes after it, and a keep-alive said there would make it keep the connection and 503 the next.
          if (drained && 'shouldKeepAlive' in reply.raw && reply.raw.shouldKeepAlive && !lastOnConnection(reply.raw)) reply.headers(keepAlive(request.server.server));
          const { headers, body } = tooLargeReply(http, { method: request.method, path: pathBelow(scope.prefix, request.url) }, drained);
          return reply.code(413).headers(replyHeaders(reply.raw, headers, reply.getHeader('vary'))).send(bytes(body));
        }
        // A 5xx of Fastify's is answered bare, as the protocol answers what it does not expect: its error goes to onError, the only place it is told.
        if (status >= 500) report(error, { method: request.method, path: pathBelow(scope.prefix, request.url), headers: request.headers });
        const message = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? notMediaType(request) : error.message;
        // The codes the other adapters give: a 415 here is Fastify's alone (a Content-Type that is no media type), its other 4xx malformed requests.
        const code: ReplyErrorCode = status >= 500 ? 'ERR_SERVABLE_INTERNAL' : status === 415 ? 'ERR_SERVABLE_UNSUPPORTED_MEDIA_TYPE' : 'ERR_SERVABLE_INVALID_INPUT';
        return reply.code(status).type('application/json').send(bytes(JSON.stringify({ error: status < 500 ? message : 'Internal server error', code })));
      });
      const handler = (request: FastifyRequest, reply: FastifyReply) => serve(http, scope.prefix, request, reply).catch((error: unknown) => Promise.reject(markRouteError(error)));
      // Every method Fastify routes (TRACE, QUERY, those the app added), so that the wrong ones get the protocol's 405 as elsewhere;
      // OPTIONS is left to the app and @fastify/cors.
      const methods = scope.supportedMethods.filter((method) => method !== 'OPTIONS');
      for (const url of http.prefixes.flatMap((p) => [p, `${p}/*`])) {
        scope.route({ method: methods, url, exposeHeadRoute: false, handler });
      }
      if (metrics) {
        // HEAD declared here, as for the protocol's routes: the app's exposeHeadRoutes may be off.
        const serveMetrics = async (request: FastifyRequest, reply: FastifyReply) => {
          if (!isMetricsPath(pathBelow(scope.prefix, request.url))) {
            reply.callNotFound();
            return reply;
          }
          const { status, headers, body } = await scrape(metrics, options, { method: request.method, path: METRICS_PATH, headers: request.headers });
          return reply.code(status).headers(replyHeaders(reply.raw, headers, reply.getHeader('vary'))).send(bytes(body));
        };
        // Declared as '/' below a prefix, Fastify serves it with and without a trailing slash, as the router's ignoreTrailingSlash allows.
        // Under every method the protocol's routes take, so that the wrong ones get the same 405.
        await scope.register(
          async (below) => {
            below.route({ method: methods, url: '/', exposeHeadRoute: false, handler: (request, reply) => serveMetrics(request, reply).catch((error: unknown) => Promise.reject(markRouteError(error))) });
          },
          { prefix: METRICS_PATH },
        );
      }
    },
    // A fastify-plugin does not get Fastify's register options applied: the inner scope takes them.
    { prefix, logLevel: options.logLevel, logSerializers: options.logSerializers },
  );
}

async function serve(http: HttpHandler, prefix: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  // Fastify's request.signal listens to the request's `close`, which Node 20 fires once the body is read.
  const signal = disconnectSignal(reply.raw);
  const path = pathBelow(prefix, request.url);
  const mount = mountOf(request.url, path);
  // A router told to ignore case or doubled slashes brings paths the protocol does not own: they are the app's.
  if (!http.owns(path)) {
    reply.callNotFound();
    return reply;
  }
  // Fastify leaves unread a body that comes with neither Content-Type nor Content-Length, as one may over HTTP/2.
  const unread = request.method === 'POST' && !request.raw.readableEnded;
  const body = (request.body as Uint8Array | undefined) ?? (unread ? await rawBody(request.raw, request.headers, http.bodyLimit) : undefined);
  const headers = withTenantLines(request.raw, decoded.has(request) ? withoutContentEncoding(request.headers) : request.headers);
  const response = await http.handle({ method: request.method, path, mount, headers, body, signal });
  releaseBodyWhenDone(reply.raw, body, response.status);
  if (reply.raw.destroyed) return reply.hijack();
  return reply.code(response.status).headers(replyHeaders(reply.raw, response.headers, reply.getHeader('vary'))).send(bytes(response.body));
}

/** Installs the early 413 for `Expect: 100-continue` (see `expectContinue`) on the app's server, for the routes below `mount`. */
function listenForContinue(app: FastifyInstance, http: HttpHandler, mount: string): void {
  if (/[:*]/.test(mount)) throw optionError(`Expected a prefix without parameters with \`expectContinue\`, got ${describe(mount)}`);
  if (app.server.listenerCount('checkContinue') > 0) {
    throw new Error("`expectContinue` needs the server's only checkContinue listener, and it has one already: each would emit the request again");
  }
  const listener = checkContinueListener(http, mount);
  app.server.on('checkContinue', listener);
  app.addHook('onClose', (_app, done) => {
    app.server.off('checkContinue', listener);
    done();
  });
}

/** Fastify's test of a Content-Type (`type/subtype`, then parameters or nothing), which it answers 415 when it fails. */
const MEDIA_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(?:;|$)/;

/** The Content-Types of requests being parsed that are no media type, stood in for. */
const standIns = new WeakMap<RawRequest, string>();

/**
 * Fastify answers a body sent with a Content-Type that is no media type (`json`, `;;;`) 415
 * before any parser runs, where the other adapters (and Triton) read it as any other. Its check
 * runs after the preParsing hooks and reads the raw headers, so the last of them shows it a
 * stand-in, which the body parser puts back before any later hook or the handler (only
 * `request.mediaType`, which Fastify reads once, then names the stand-in).
 */
const standInHook: preParsingHookHandler = (request, _reply, _payload, done) => {
  const { raw } = request;
  const type = raw.headers['content-type'];
  if (raw.method === 'GET' || raw.method === 'HEAD' || type === undefined || MEDIA_TYPE.test(type)) {
    done();
    return;
  }
  standIns.set(raw, type);
  raw.headers['content-type'] = 'application/octet-stream';
  done();
  // Fastify checks the type within done(). A method it reads no body of (TRACE, one the app made
  // bodyless) runs no parser to put it back: the stand-in goes once the hooks that done() ran before
  // anything awaited have run.
  putBack(raw);
};

function putBack(raw: RawRequest): void {
  const type = standIns.get(raw);
  if (type === undefined) return;
  standIns.delete(raw);
  raw.headers['content-type'] = type;
}

/** Fastify's own 415, when a hook read `request.mediaType` before the stand-in (Fastify keeps what it read then). */
function notMediaType(request: FastifyRequest): string {
  return `Content-Type ${JSON.stringify(request.headers['content-type'])} is not a media type (type/subtype)`;
}

/** Requests whose body a preParsing hook decoded, such as @fastify/compress's request decompression. */
const decoded = new WeakSet<FastifyRequest>();

/**
 * Whether a preParsing hook handed over the body decoded: Fastify asks a hook that changes the
 * body's bytes to count the bytes it read in `receivedEncodedLength`. Its Content-Encoding then no
 * longer describes the body, which the protocol would otherwise inflate a second time.
 */
function decodedByHook(request: FastifyRequest, payload: Readable): boolean {
  return payload !== request.raw && (payload as { receivedEncodedLength?: unknown }).receivedEncodedLength !== undefined;
}

function withoutContentEncoding(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { 'content-encoding': _decoded, ...rest } = headers;
  return rest;
}

/**
 * The headers Node writes itself on an HTTP/1.1 reply whose connection it keeps, where the app set
 * none: `Connection: keep-alive`, and the server's `Keep-Alive` timeout (and request cap) when it has one.
 */
function keepAlive(server: { keepAliveTimeout?: number; maxRequestsPerSocket?: number | null }): Record<string, string> {
  const timeout = server.keepAliveTimeout ?? 0;
  if (timeout <= 0) return { connection: 'keep-alive' };
  const max = (server.maxRequestsPerSocket ?? 0) > 0 ? `, max=${server.maxRequestsPerSocket}` : '';
  return { connection: 'keep-alive', 'keep-alive': `timeout=${Math.floor(timeout / 1000)}${max}` };
}

/** Whether Node closes the connection after this reply, its request being the last the server's `maxRequestsPerSocket` allows (a field Node sets, untyped). */
function lastOnConnection(res: object): boolean {
  return (res as { maxRequestsOnConnectionReached?: boolean }).maxRequestsOnConnectionReached === true;
}

/** The errors of reading a body that are not a {@link BodyTooLargeError} (the client went away mid-body). */
const readErrors = new WeakSet<Error>();

/** The body read raw; an error as the scope's error handler takes it: 413 past the limit, else 400 (the client went away mid-body). */
async function rawBody(stream: Readable, headers: IncomingHttpHeaders, limit: number, source: Readable = stream): Promise<Uint8Array> {
  try {
    return await readBody(stream, headers, limit, source);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw error;
    readErrors.add(error as Error);
    throw Object.assign(error as Error, { statusCode: 400 });
  }
}

/** Errors servable's route handler let out that are not the body's: the scope's error handler answers them with the protocol's bare 500. */
const routeErrors = new WeakSet<object>();

function markRouteError(error: unknown): unknown {
  if (typeof error === 'object' && error !== null && !isOwnError(error as FastifyError)) routeErrors.add(error);
  return error;
}

/**
 * Whether the scope's error handler answers an error itself: one of reading the body, or one Fastify
 * raised (a code of its `errorCodes`): plugins name theirs `FST_` too (`@fastify/rate-limit`'s
 * `FST_ERR_RATE_LIMIT`, `@fastify/jwt`'s `FST_JWT_...`), and those are the app's.
 */
function isOwnError(error: FastifyError): boolean {
  return error instanceof BodyTooLargeError || readErrors.has(error) || (typeof error.code === 'string' && Object.hasOwn(errorCodes, error.code));
}

/** A reply's body as bytes: Fastify adds `; charset=utf-8` to the type of a string it sends, which the other adapters do not. */
function bytes(body: string | Uint8Array): Buffer {
  return typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** The URL below the scope's prefix, which may hold parameters (`/api/:tenant`): as many segments as it has. */
function pathBelow(prefix: string, target: string): string {
  const url = originForm(target);
  let at = 0;
  // An outer scope's prefix may end in '/' ('/', '/api/'): only its named segments count.
  for (let segments = prefix.split('/').filter((s) => s !== '').length; segments > 0; segments--) at = url.indexOf('/', at + 1);
  return url.slice(at);
}

/**
 * The Fastify plugin. Register it with `{ service }` and any {@link HttpHandlerOptions}; `prefix`
 * mounts the routes under a path; `metrics` adds `GET /metrics`.
 */
export const servableFastify = fastifyPlugin(servable, { fastify: '5.x', name: 'servable' });
