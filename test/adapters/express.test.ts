import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { gzipSync } from 'node:zlib';
import net, { type AddressInfo } from 'node:net';
import express from 'express';
import { InferenceService, ModelRegistry } from 'servable';
import { servableExpress } from 'servable/express';
import { memoryBackend } from 'servable/testing';
import { gatedService, httpContract, inferBody, linearBackend, linearMemory, runs, until, type StartServer } from './http-contract.js';

const start: StartServer = async (options, prefix = '') => {
  const app = express();
  app.get('/app/hello', (_req, res) => void res.send('app'));
  app.use(prefix || '/', servableExpress(options));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
};

httpContract('express', start, linearBackend);

test('express: a body an earlier express.json() parsed is used as it left it, inflated when it came gzip', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const app = express();
  app.use(express.json());
  app.use(servableExpress({ service: new InferenceService({ registry }) }));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v2/models/linear/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, [32, 48]);
    // body-parser inflates a gzip body and leaves its Content-Encoding header behind.
    const gzipped = await fetch(`http://127.0.0.1:${port}/v2/models/linear/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] })),
    });
    assert.equal(gzipped.status, 200);
    assert.deepEqual(((await gzipped.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, [32, 48]);
  } finally {
    server.close();
    server.closeAllConnections();
    await registry.close();
  }
});

test('express: a compressed reply adds Accept-Encoding to the Vary an earlier middleware set', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const app = express();
  app.use((_req, res, next) => {
    res.setHeader('vary', 'Origin'); // as the cors middleware does
    next();
  });
  app.use(servableExpress({ service: new InferenceService({ registry }) }));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v2/models/linear/infer`, { method: 'POST', headers: { 'accept-encoding': 'gzip' }, body: JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [400, 3], data: new Array(1200).fill(1) }] }) });
    assert.deepEqual([res.status, res.headers.get('content-encoding'), res.headers.get('vary')], [200, 'gzip', 'Origin, accept-encoding']);
    assert.equal(((await res.json()) as { outputs: { shape: number[] }[] }).outputs[0]!.shape[0], 400);
  } finally {
    server.close();
    server.closeAllConnections();
    await registry.close();
  }
});

test('express: a request whose client left while an earlier middleware awaited (its body parsed) is never run', async () => {
  const s = await gatedService({ maxBatchSize: 4 });
  let handOn!: () => void;
  const handedOn = new Promise<void>((resolve) => (handOn = resolve));
  let waiting: express.Request | undefined;
  const app = express();
  app.use(express.json());
  // An auth check that awaits: the second request waits here until the test hands it on.
  app.use((req, _res, next) => {
    if (req.body?.id !== 'b') return next();
    waiting = req;
    void handedOn.then(() => next());
  });
  app.use(servableExpress({ service: s.service }));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const running = fetch(`http://127.0.0.1:${port}/v2/models/linear/infer`, { method: 'POST', body: inferBody([[1, 0, 0]], { id: 'a' }) });
    await until(() => s.backend.calls.length === 1, 'the first run');
    const socket = net.connect(port, '127.0.0.1');
    const body = inferBody([[0, 1, 0]], { id: 'b' });
    socket.write(`POST /v2/models/linear/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await until(() => waiting !== undefined, 'the second request to reach the middleware');
    // In Node 20 the request's own close came when its body was read; its connection's is the one that tells.
    const left = once(waiting!.socket, 'close');
    socket.destroy();
    await left;
    handOn();
    await new Promise((resolve) => setTimeout(resolve, 50));
    s.open();
    assert.equal((await running).status, 200);
    const after = await fetch(`http://127.0.0.1:${port}/v2/models/linear/infer`, { method: 'POST', body: inferBody([[0, 0, 1]]) });
    assert.equal(after.status, 200);
    assert.deepEqual(runs(s.backend), [[1, 0, 0], [0, 0, 1]]);
  } finally {
    s.open();
    server.close();
    server.closeAllConnections();
    await s.registry.close();
  }
});
