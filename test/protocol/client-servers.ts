/** The two servers the client-replay tests (tritonclient, TF-Serving clients, perf_analyzer) send their requests to, and how they send one. */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import type { InferenceService } from 'servable';
import type { StatisticsSource } from 'servable/protocol';
import { servableFastify } from 'servable/fastify';
import { servableNode } from 'servable/node';

/** Starts a server over `service`, serving the statistics extension from `statistics` when given. */
export type Start = (service: InferenceService, statistics?: StatisticsSource) => Promise<{ url: string; close(): Promise<void> }>;

/** servable/node and Fastify, each on a loopback port of its own. */
export const servers: Record<string, Start> = {
  node: async (service, statistics) => {
    const server = http.createServer(servableNode({ service, statistics }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
    };
  },
  fastify: async (service, statistics) => {
    const app = Fastify();
    await app.register(servableFastify, { service, statistics });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
};

/** A reply as it came: status, headers and the body's bytes. */
export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request with exactly these headers (Node adds only Host and Connection), the body as given. */
export function send(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, method, path, headers: body === undefined ? headers : { ...headers, 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}
