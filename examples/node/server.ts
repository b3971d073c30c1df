/**
 * A bare `node:http` server, no framework, serving the PaddleOCR text-direction classifier over
 * the Open Inference Protocol v2 (`/v2`) and TF-Serving's REST API (`/v1/models`), batched, in two
 * worker threads, with Prometheus metrics on `/metrics`, beside a route of the app's own.
 *
 * Run (PORT and HOST override 127.0.0.1:8000):
 *   node --initial-old-space-size=64 --conditions=servable-source --import tsx examples/node/server.ts
 * The first option is the heap setting docs/http.md recommends for serving. In your own project,
 * import from `servable` and run it as usual.
 */
import http from 'node:http';
import { servableNode } from 'servable/node';
import { runIfMain, started, textdirService, type Started, type StartOptions } from '../shared/textdir.js';

/** Loads the model and starts the server. */
export async function start({ port = 0, host = '127.0.0.1' }: StartOptions = {}): Promise<Started> {
  const { registry, service, metrics } = await textdirService();

  const serve = servableNode({ service, metrics });
  const server = http.createServer((req, res) =>
    serve(req, res, () => {
      // Everything outside servable's routes comes here.
      const hello = req.method === 'GET' && req.url === '/hello';
      res.writeHead(hello ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(hello ? { hello: 'from the app' } : { error: 'Not found' }));
    }),
  );
  // An upload over the body limit announced with Expect: 100-continue gets its 413 before it is sent.
  server.on('checkContinue', serve.checkContinue);
  server.listen(port, host);
  return started(server, host, registry);
}

await runIfMain(import.meta.url, start, (url) => `curl -s ${url}/v2/models/textdir\ncurl -s ${url}/metrics`);
