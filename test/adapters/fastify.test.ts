import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import Fastify from 'fastify';
import { InferenceService, ModelRegistry } from 'servable';
import { servableFastify } from 'servable/fastify';
import { memoryBackend } from 'servable/testing';
import { gatedService, httpContract, inferBody, linearBackend, linearMemory, runs, tick, until, type StartServer } from './http-contract.js';

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

/** POSTs a JSON body on an HTTP/2 session; `stream` is the request's stream, `reply` its answer. */
function post2(session: http2.ClientHttp2Session, path: string, body: string) {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
  stream.end(body);
  const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
    let status = 0;
    let text = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve({ status, body: text }));
    stream.on('error', reject);
  });
  return { stream, reply };
}

test('fastify over HTTP/2: a client that resets its stream takes its queued request out; the session and its other requests go on', async () => {
  const s = await gatedService({ maxBatchSize: 4 });
  const drops: string[] = [];
  s.registry.on('drop', (e) => drops.push(e.reason));
  const app = Fastify({ http2: true });
  await app.register(servableFastify, { service: s.service });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const path = '/v2/models/linear/infer';
    const running = post2(session, path, inferBody([[1, 0, 0]], { id: 'a' }));
    await until(() => s.backend.calls.length === 1, 'the first run');
    const leaving = post2(session, path, inferBody([[0, 1, 0]], { id: 'b' }));
    leaving.reply.catch(() => {});
    await until(() => s.handler.seen.includes('b'), 'the second request to queue');
    await tick();
    leaving.stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => drops.length === 1, 'the drop');
    assert.deepEqual(drops, ['cancelled']);
    s.open();
    const answered = await running.reply;
    assert.equal(answered.status, 200);
    assert.equal(JSON.parse(answered.body).id, 'a');
    const after = await post2(session, path, inferBody([[0, 0, 1]])).reply;
    assert.equal(after.status, 200);
    assert.deepEqual(runs(s.backend), [[1, 0, 0], [0, 0, 1]]);
  } finally {
    s.open();
    session.destroy();
    await app.close();
    await s.registry.close();
  }
});
