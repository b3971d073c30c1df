import { assertFunction } from '../core/index.js';
import { compressReply, methodNotAllowed, reportError, type HttpRequest, type HttpResponse } from '../protocol/index.js';
import type { AdapterOptions } from './adapter-options.js';

/**
 * Answers `GET /metrics`. `metricsHandler(promRegistry)` from `servable/metrics` returns one; the
 * adapters take the function rather than a prom-client registry, so they do not depend on prom-client.
 */
export type MetricsRoute = () => Promise<HttpResponse>;

/** The path of the metrics route, below the mount point. */
export const METRICS_PATH = '/metrics';

/** The `metrics` option, checked. */
export function metricsRoute(options: AdapterOptions): MetricsRoute | undefined {
  if (options.metrics !== undefined) assertFunction('metrics', options.metrics);
  return options.metrics;
}

/** The methods the metrics route answers. */
const METRICS_METHODS = ['GET', 'HEAD'];

/** True for `/metrics`; the query string and one trailing slash are ignored, as on the protocol's routes. */
export function isMetricsPath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path === METRICS_PATH || path === `${METRICS_PATH}/`;
}

/**
 * Runs the metrics route for a GET or HEAD, its reply compressed as the protocol's are (Prometheus
 * asks for gzip); another method is the protocol's 405, as on its own routes. A route that throws
 * gets a bare 500, and the error goes to the handler's `onError` like every other 500 (one that
 * throws or rejects is a process warning, see `reportError`); it never rejects.
 */
export async function scrape(route: MetricsRoute, options: AdapterOptions, request: HttpRequest): Promise<HttpResponse> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed(request.method, METRICS_METHODS);
  try {
    const reply = await route();
    return options.compressReplies === false ? reply : await compressReply(request.headers['accept-encoding'], reply);
  } catch (error) {
    reportError(options.onError)(error, request);
    return { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Collecting metrics failed\n' };
  }
}
