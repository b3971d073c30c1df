/**
 * The Node adapter: a request listener for `node:http`, `node:https` and `node:http2` serving the
 * Open Inference Protocol v2 (`/v2`) and TF-Serving's REST API (`/v1/models`) over an
 * InferenceService, with no framework in between. It fits anything that hands out Node's request
 * and response: a bare server, Connect-style middleware, or a framework's raw escape hatch. It
 * reads request bodies itself (so malformed JSON gets the protocol's 400 and binary tensor bodies
 * pass through), enforces the body limit, and cancels a queued inference when its client
 * disconnects (over HTTP/2, when it resets the request's stream).
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { servableNode } from 'servable/node';
 *
 * http.createServer(servableNode({ service })).listen(8000);
 * // under a prefix, passing other paths on to your own code:
 * const serve = servableNode({ service, prefix: '/api', metrics: metricsHandler(promRegistry) });
 * http.createServer((req, res) => serve(req, res, () => myRoutes(req, res))).listen(8000);
 * ```
 * @module servable/node
 */
import { describe, optionError } from '../core/index.js';
import { reportError } from '../protocol/index.js';
import { adapterHandler, type AdapterOptions } from './adapter-options.js';
import { below, checkContinueListener, type CheckContinueListener } from './check-continue.js';
import { isMetricsPath, metricsRoute } from './metrics-route.js';
import { dropResponse, mountPrefix, originForm, serveMetrics, serveNode, writeResponse, type NodeRequest, type NodeResponse } from './node-http.js';

export type { HttpHandlerOptions } from '../protocol/index.js';
export type { AdapterOptions } from './adapter-options.js';
export type { CheckContinueListener } from './check-continue.js';
export type { MetricsRoute } from './metrics-route.js';
export type { NodeRequest, NodeResponse } from './node-http.js';

/** Options of {@link servableNode}. */
export interface ServableNodeOptions extends AdapterOptions {
  /** A path prefix for every route, e.g. `/api` for `/api/v2/health/ready`. @default '' */
  readonly prefix?: string;
}

/**
 * A request listener: pass it to `http.createServer`, `https.createServer`, or `http2`'s
 * `createServer` / `createSecureServer` (their compatibility API), or call it from your own.
 * `next` is called for requests outside servable's routes; without it they get the protocol's
 * JSON 404.
 */
export interface ServableRequestListener {
  (req: NodeRequest, res: NodeResponse, next?: () => void): void;
  /**
   * A listener for the server's `checkContinue` event (`server.on('checkContinue',
   * serve.checkContinue)`): a request with `Expect: 100-continue` to servable's routes whose
   * `Content-Length` is over `bodyLimit` gets the 413 at once (RFC 9110 §10.1.1), before the client
   * sends the body, where Node would tell it to send the body first. Every other request is told to
   * go on and emitted as `request`, as Node does without the listener. Call it as a listener of
   * the server, which it emits the request on.
   */
  readonly checkContinue: CheckContinueListener;
  /**
   * Ends the JSON workers (see `jsonWorkers`) once the bodies they hold are decoded, where they would
   * wait a minute for more. The close of a `node:http`, `node:https` or `node:http2` server the
   * listener served a request of calls it, the last of them to close where it served several (an
   * `http2` server closes once its sessions have: its `close()` waits for the open ones); call it
   * yourself to end them earlier.
   * A body decoded later still gets a worker, which ends once it is done.
   */
  close(): Promise<void>;
}

/**
 * A request listener answering `/v2/...` and `/v1/models/...` below `prefix`, and `GET /metrics`
 * when `metrics` is given (another method there is a 405). Every option is checked here, once.
 * @throws TypeError naming the option, for a bad option.
 */
export function servableNode(options: ServableNodeOptions): ServableRequestListener {
  const { http, close, closeWithServer } = adapterHandler('servableNode', options, ['prefix']);
  const metrics = metricsRoute(options);
  const prefix = targetPrefix(mountPrefix(options.prefix));
  // The protocol handler and the metrics route answer their own errors; what is left fails while
  // writing the reply, when the only answer left is to drop the connection.
  const report = reportError(options.onError);
  const fail = (req: NodeRequest, res: NodeResponse, error: unknown): void => {
    report(error, { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers });
    dropResponse(res);
  };
  const checkContinue = checkContinueListener(http, prefix);
  const listener = (req: NodeRequest, res: NodeResponse, next?: () => void): void => {
    closeWithServer(req.socket);
    const path = below(prefix, originForm(req.url ?? '/'));
    if (path !== undefined && metrics && isMetricsPath(path)) {
      serveMetrics(http, metrics, options, req, res).catch((error: unknown) => fail(req, res, error));
    } else if (path !== undefined && http.owns(path)) {
      serveNode(http, req, res, path).catch((error: unknown) => fail(req, res, error));
    } else if (next) {
      next();
    } else {
      writeResponse(res, http.notFound({ method: req.method ?? 'GET', path: req.url ?? '/' }));
    }
  };
  return Object.assign(listener, { checkContinue, close });
}

/** RFC 3986's path characters (pchar and `/`), each as a request target holds it unencoded, or a `%XX` escape. */
const TARGET_PATH = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;
const NOT_IN_TARGET = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]|%(?![0-9A-Fa-f]{2})/gu;

/**
 * The prefix, refused when a request target cannot hold it as written (a space, `é`, `?`, `#`, a
 * `%` that escapes nothing): the listener matches the target as the client sent it, encoded, so
 * such a prefix would match no request, and every one would go on to `next()`.
 */
function targetPrefix(prefix: string): string {
  if (TARGET_PATH.test(prefix)) return prefix;
  let encoded: string | undefined;
  try {
    encoded = prefix.replace(NOT_IN_TARGET, (c) => encodeURIComponent(c));
  } catch {
    // A lone surrogate has no UTF-8 to encode.
  }
  throw optionError(`Expected \`prefix\` to be a path as a request target holds it, percent-encoded, got ${describe(prefix)}${encoded === undefined ? '' : `: use '${encoded}'`}`);
}
