import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { InferenceService, ModelRegistry } from 'servable';
import { servableFastify } from 'servable/fastify';
import { memoryBackend } from 'servable/testing';
import { httpContract, linearBackend, linearMemory, type StartServer } from './http-contract.js';

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
