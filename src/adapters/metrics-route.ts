import { assertFunction, assertKnownKeys, assertObject } from '../core/index.js';
import { compressReply, HTTP_HANDLER_OPTIONS, type HttpHandlerOptions, type HttpRequest, type HttpResponse } from '../protocol/index.js';

/**
 * Answers `GET /metrics`. `metricsHandler(promRegistry)` from `servable/metrics` returns one; the
 * adapters take the function rather than a prom-client registry, so they do not depend on prom-client.
 */
export type MetricsRoute = () => Promise<HttpResponse>;

/** Options every adapter takes: the protocol handler's, and an optional metrics route. */
export interface AdapterOptions extends HttpHandlerOptions {
  /**
   * Serve `GET /metrics` (below the mount point, beside `/v2`) with this function's reply, e.g.
   * `metricsHandler(promRegistry)` from `servable/metrics`.
   * @default none: `/metrics` is left to the app
   */
  readonly metrics?: MetricsRoute | undefined;
}

/** The path of the metrics route, below the mount point. */
export const METRICS_PATH = '/metrics';

/** The `metrics` option, checked. */
export function metricsRoute(options: AdapterOptions): MetricsRoute | undefined {
  if (options.metrics !== undefined) assertFunction('metrics', options.metrics);
  return options.metrics;
}

/** True for a GET or HEAD of `/metrics` (query string ignored). */
export function isMetricsRequest(method: string | undefined, url: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path === METRICS_PATH;
}

/**
 * Runs the metrics route, its reply compressed as the protocol's are (Prometheus asks for gzip).
 * It never rejects: a route that throws gets a bare 500, and the error goes to the handler's
 * `onError` like every other 500.
 */
export async function scrape(route: MetricsRoute, options: AdapterOptions, request: HttpRequest): Promise<HttpResponse> {
  try {
    const reply = await route();
    return options.compressReplies === false ? reply : await compressReply(request.headers['accept-encoding'], reply);
  } catch (error) {
    options.onError?.(error, request);
    return { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Collecting metrics failed\n' };
  }
}

/**
 * The protocol handler's share of an adapter's options, once every key is checked to be the
 * handler's, `metrics`, or one of the adapter's own: a misspelt option is named, not ignored.
 */
export function handlerOptions(adapter: string, options: AdapterOptions, own: readonly string[]): HttpHandlerOptions {
  assertObject('options', options);
  assertKnownKeys(adapter, options, [...HTTP_HANDLER_OPTIONS, 'metrics', ...own]);
  const picked: Record<string, unknown> = {};
  for (const key of HTTP_HANDLER_OPTIONS) if (key in options) picked[key] = (options as unknown as Record<string, unknown>)[key];
  return picked as unknown as HttpHandlerOptions;
}
