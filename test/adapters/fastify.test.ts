import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import Fastify from 'fastify';
import { InferenceService, ModelRegistry } from 'servable';
import { servableFastify } from 'servable/fastify';
import { memoryBackend } from 'servable/testing';
import { gatedService, httpContract, linearBackend, linearMemory, request2, resetStreamLeavesQueue, type StartServer } from './http-contract.js';

const start: StartServer = async (options, prefix = '') => {
  const app = Fastify();
  app.get('/app/hello', async () => 'app');
  await app.register(servableFastify, { ...options, prefix });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}${prefix}`, close: () => app.close() };
};

httpContract('fastify', start, linearBackend);

test('fastify: the raw-body parser stays inside the plugin; two services can be mounted side by side', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const service = new InferenceService({ registry });
  const app = Fastify();
  app.post('/app/echo', async (request) => request.body);
  await app.register(servableFastify, { service, prefix: '/a' });
  await app.register(servableFastify, { service, prefix: '/b', serverName: 'b' });
  try {
    const echo = await app.inject({ method: 'POST', url: '/app/echo', payload: { x: 1 } });
    assert.deepEqual(echo.json(), { x: 1 });
    assert.equal((await app.inject({ url: '/a/v2' })).json().name, 'servable');
    assert.equal((await app.inject({ url: '/b/v2' })).json().name, 'b');
  } finally {
    await app.close();
    await registry.close();
  }
});

test('fastify over HTTP/2: a client that resets its stream takes its queued request out; the session and its other requests go on', async () => {
  const s = await gatedService({ maxBatchSize: 4 });
  const app = Fastify({ http2: true });
  await app.register(servableFastify, { service: s.service });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const post = (body: string) => request2(session, { ':method': 'POST', ':path': '/v2/models/linear/infer', 'content-type': 'application/json' }, body);
  try {
    await resetStreamLeavesQueue(s, post);
  } finally {
    s.open();
    session.destroy();
    await app.close();
    await s.registry.close();
  }
});
