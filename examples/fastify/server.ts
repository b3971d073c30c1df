/**
 * Fastify serving the PaddleOCR text-direction classifier over the Open Inference Protocol v2
 * (`/v2`) and TF-Serving's REST API (`/v1/models`), batched, in two worker threads, with
 * Prometheus metrics on `/metrics`.
 *
 * Run (PORT and HOST override 127.0.0.1:8000):
 *   node --initial-old-space-size=64 --conditions=servable-source --import tsx examples/fastify/server.ts
 * The first option is the heap setting docs/http.md recommends for serving. In your own project,
 * import from `servable` and run it as usual.
 */
import Fastify from 'fastify';
import { servableFastify } from 'servable/fastify';
import { runIfMain, textdirService, type Started, type StartOptions } from '../shared/textdir.js';

/** Loads the model and starts the server. */
export async function start({ port = 0, host = '127.0.0.1' }: StartOptions = {}): Promise<Started> {
  const { registry, service, metrics } = await textdirService();

  const app = Fastify();
  await app.register(servableFastify, { service, metrics });
  const url = await app.listen({ port, host });
  return {
    url,
    async close() {
      await app.close();
      await registry.close();
    },
  };
}

await runIfMain(import.meta.url, start, (url) => `curl -s ${url}/v2/models/textdir\ncurl -s ${url}/metrics`);
