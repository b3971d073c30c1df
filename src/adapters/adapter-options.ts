import { EventEmitter } from 'node:events';
import { assertInteger, assertOptionKeys, assertObject } from '../core/index.js';
import { createHttpHandler, HTTP_HANDLER_OPTIONS, type HttpHandler, type HttpHandlerOptions } from '../protocol/index.js';
import { JsonWorkerPool } from './json-workers.js';
import type { MetricsRoute } from './metrics-route.js';

/** Options every adapter takes: the protocol handler's, an optional metrics route, and where JSON bodies are decoded. */
export interface AdapterOptions extends Omit<HttpHandlerOptions, 'jsonDecoder'> {
  /**
   * Serve `GET /metrics` (below the mount point, beside `/v2`) with this function's reply, e.g.
   * `metricsHandler(promRegistry)` from `servable/metrics`.
   * @default none: `/metrics` is left to the app
   */
  readonly metrics?: MetricsRoute | undefined;
  /**
   * Worker threads that decode JSON bodies of at least `jsonWorkerMinBytes`, so that `JSON.parse`
   * (3-6 ms for one 534 KB image, seconds for the largest bodies) does not hold the event loop;
   * started when a body first needs one, ended after a minute without work or once the adapter is
   * closed (its server's or app's close). 0 decodes every body on the event loop.
   * @default 1
   */
  readonly jsonWorkers?: number | undefined;
  /**
   * The smallest JSON body, in bytes, handed to a JSON worker; smaller ones decode in place, where
   * handing over would cost more than it saves.
   * @default 131072 (128 KiB)
   */
  readonly jsonWorkerMinBytes?: number | undefined;
  /**
   * The heap, in MB, of each JSON worker. A body that needs more to decode is answered 413 and ends
   * only that worker: 64 MiB of JSON numbers decodes within 192 MB, 64 MiB of nested empty arrays
   * needs about 1 GB. Raise it with `bodyLimit` where clients send large JSON bodies.
   * @default 512
   */
  readonly jsonWorkerHeapMb?: number | undefined;
}

const JSON_WORKER_OPTIONS = ['jsonWorkers', 'jsonWorkerMinBytes', 'jsonWorkerHeapMb'];
const DEFAULT_MIN_BYTES = 128 * 1024;
const DEFAULT_HEAP_MB = 512;

/** An adapter's protocol handler, and the end of its JSON workers. */
export interface AdapterHandler {
  readonly http: HttpHandler;
  /** Ends the JSON workers once the bodies they hold are decoded (see {@link JsonWorkerPool.close}). */
  close(): Promise<void>;
  /**
   * Has the close of the server that accepted `socket` (a `node:net` server's, which `node:http`'s
   * and `node:https`'s are) call {@link AdapterHandler.close} once no other server hooked here is
   * still open (an app on http and https at once): for adapters that have no close of their own.
   * Each server is hooked once.
   */
  closeWithServer(socket: unknown): void;
}

/** The protocol handler of an adapter's options, checked (see {@link handlerOptions}). */
export function adapterHandler(adapter: string, options: AdapterOptions, own: readonly string[]): AdapterHandler {
  const picked = handlerOptions(adapter, options, own);
  const http = createHttpHandler(picked);
  const pool = picked.jsonDecoder as JsonWorkerPool | undefined;
  const close = (): Promise<void> => pool?.close() ?? Promise.resolve();
  const hooked = new WeakSet<EventEmitter>();
  let open = 0;
  const closeWithServer = (socket: unknown): void => {
    if (pool === undefined) return;
    const server = (socket as { server?: unknown } | null | undefined)?.server;
    if (!(server instanceof EventEmitter) || hooked.has(server)) return;
    hooked.add(server);
    open++;
    server.once('close', () => {
      if (--open === 0) void close();
    });
  };
  return { http, close, closeWithServer };
}

/**
 * The protocol handler's share of an adapter's options, once every key is checked to be the
 * handler's, `metrics`, a JSON worker option, or one of the adapter's own: a misspelt option is
 * named, not ignored.
 */
function handlerOptions(adapter: string, options: AdapterOptions, own: readonly string[]): HttpHandlerOptions {
  assertObject('options', options);
  const shared = HTTP_HANDLER_OPTIONS.filter((key) => key !== 'jsonDecoder');
  assertOptionKeys(adapter, options, [...shared, 'metrics', ...JSON_WORKER_OPTIONS, ...own]);
  const picked: Record<string, unknown> = {};
  for (const key of shared) if (key in options) picked[key] = (options as unknown as Record<string, unknown>)[key];
  const { jsonWorkers = 1, jsonWorkerMinBytes = DEFAULT_MIN_BYTES, jsonWorkerHeapMb = DEFAULT_HEAP_MB } = options;
  assertInteger('jsonWorkers', jsonWorkers, 0, 64);
  assertInteger('jsonWorkerMinBytes', jsonWorkerMinBytes, 0);
  assertInteger('jsonWorkerHeapMb', jsonWorkerHeapMb, 16, 1 << 20);
  if (jsonWorkers > 0) picked.jsonDecoder = new JsonWorkerPool(jsonWorkers, jsonWorkerMinBytes, jsonWorkerHeapMb);
  return picked as unknown as HttpHandlerOptions;
}
