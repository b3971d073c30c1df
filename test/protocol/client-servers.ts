/** The two servers the client-replay tests (tritonclient, TF-Serving clients) send their requests to. */
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
