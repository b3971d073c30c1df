/**
 * Express serving the PaddleOCR text-direction classifier over the Open Inference Protocol v2
 * (`/v2`) and TF-Serving's REST API (`/v1/models`), batched, in two worker threads, with
 * Prometheus metrics on `/metrics`, beside a route of the app's own.
 *
 * Run (PORT and HOST override 127.0.0.1:8000):
 *   node --initial-old-space-size=64 --conditions=servable-source --import tsx examples/express/server.ts
 * The first option is the heap setting docs/http.md recommends for serving. In your own project,
 * import from `servable` and run it as usual.
 */
import express from 'express';
import { servableExpress } from 'servable/express';
import { runIfMain, started, textdirService, type Started, type StartOptions } from '../shared/textdir.js';

/** Loads the model and starts the server. */
export async function start({ port = 0, host = '127.0.0.1' }: StartOptions = {}): Promise<Started> {
  const { registry, service, metrics } = await textdirService();

  const app = express();
  // The router reads its own bodies: mount it before any body parser your app adds.
  app.use(servableExpress({ service, metrics }));
  app.use(express.json());
  app.get('/hello', (_req, res) => void res.json({ hello: 'from the app' }));

  const server = app.listen(port, host);
  return started(server, host, registry);
}

await runIfMain(import.meta.url, start, (url) => `curl -s ${url}/v2/models/textdir\ncurl -s ${url}/metrics`);
