/**
 * The Express adapter: an Express router serving the Open Inference Protocol v2 (`/v2`) and
 * TF-Serving's REST API (`/v1/models`) over an InferenceService. It reads request bodies itself (so malformed JSON gets the protocol's 400 and
 * binary tensor bodies pass through), enforces the body limit, and cancels a queued inference
 * when its client disconnects. Express 4.18+ and 5.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { servableExpress } from 'servable/express';
 *
 * const app = express();
 * app.use(servableExpress({ service }));          // or app.use('/api', servableExpress({ service }))
 * // with Prometheus metrics on GET /metrics:
 * // app.use(servableExpress({ service, metrics: metricsHandler(promRegistry) }));
 * app.listen(8000);
 * ```
 * @module servable/express
 */
import type { NextFunction, Request, Response, Router } from 'express';
import { adapterHandler, type AdapterOptions } from './adapter-options.js';
import { loadPeer } from './load-peer.js';
import { isMetricsPath, metricsRoute } from './metrics-route.js';
import { originForm, serveMetrics, serveNode } from './node-http.js';

// Loaded with require() (express is CommonJS), so that a missing express is told with what to install.
const express = loadPeer<typeof import('express')>('express', 'servable/express', 'npm i express');

export type { HttpHandlerOptions } from '../protocol/index.js';
export type { AdapterOptions } from './adapter-options.js';
export type { MetricsRoute } from './metrics-route.js';

/** Options of {@link servableExpress}: those of the protocol handler, and `metrics`. */
export type ServableExpressOptions = AdapterOptions;

/** The router {@link servableExpress} returns. */
export interface ServableRouter extends Router {
  /**
   * Ends the JSON workers (see `jsonWorkers`) once the bodies they hold are decoded, where they would
   * wait a minute for more. Express has no close of its own: the close of the server (`app.listen`'s)
   * that the router served a request of calls it; call it yourself to end them earlier.
   */
  close(): Promise<void>;
}

/**
 * An Express router answering `/v2/...` and `/v1/models/...` (relative to where it is mounted),
 * and `GET /metrics` when `metrics` is given (another method there is a 405), passing every other
 * path on to the next handler. Mount it before any body parser, or on a path none covers: a body
 * another parser already consumed is used as that parser left it.
 */
export function servableExpress(options: ServableExpressOptions): ServableRouter {
  const { http, close, closeWithServer } = adapterHandler('servableExpress', options, []);
  const metrics = metricsRoute(options);
  const router = express.Router();
  router.use((req: Request, res: Response, next: NextFunction) => {
    closeWithServer(req.socket);
    // Express routes an absolute-form target (http://host/path) here with its scheme and host kept in req.url.
    const path = originForm(req.url);
    if (metrics && isMetricsPath(path)) {
      serveMetrics(http, metrics, options, req, res).catch(next);
      return;
    }
    if (!http.owns(path)) {
      next();
      return;
    }
    serveNode(http, req, res, path).catch(next);
  });
  return Object.assign(router, { close });
}
