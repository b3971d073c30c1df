import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { InferenceService, ModelRegistry } from 'servable';
import { servableNode, type ServableNodeOptions } from 'servable/node';
import { memoryBackend } from 'servable/testing';
import { JsonWorkerPool } from '../../src/adapters/json-workers.js';
import { continueAndServe, expectContinue, gatedService, httpContract, inferBody, linearBackend, linearMemory, request2, resetStreamLeavesQueue, tick, until, type StartServer } from './http-contract.js';

async function listen(listener: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}

const start: StartServer = async (options, prefix = '') => {
  const serve = servableNode({ ...options, prefix });
  const server = await listen((req, res) =>
    serve(req, res, () => {
      if (req.url === '/app/hello') res.end('app');
      else res.writeHead(404).end();
    }),
  );
  return { url: `http://127.0.0.1:${server.port}${prefix}`, close: server.close };
};

httpContract('node', start, linearBackend);

async function linearService(): Promise<{ service: InferenceService; registry: ModelRegistry }> {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  return { service: new InferenceService({ registry }), registry };
}

test('node: as the whole server, paths outside the routes and the prefix get the JSON 404', async () => {
  const { service, registry } = await linearService();
  const server = await listen(servableNode({ service, prefix: '/api' }));
  const base = `http://127.0.0.1:${server.port}`;
  try {
    const res = await fetch(`${base}/api/v2/models/linear/infer`, { method: 'POST', body: inferBody([[1, 2, 3]]) });
    assert.deepEqual(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, [32, 48]);
    for (const path of ['/elsewhere?x=1', '/apiv2/health/live', '/v2/health/live', '/api/metrics']) {
      const other = await fetch(`${base}${path}`, { method: 'POST', body: 'ignored' });
      assert.equal(other.status, 404, path);
      assert.deepEqual(await other.json(), { error: `No route for POST ${path.split('?')[0]}`, code: 'ERR_SERVABLE_NO_ROUTE' });
    }
    // The connection is still good after an unread body.
    assert.deepEqual(await (await fetch(`${base}/api/v2/health/live`)).json(), { live: true });
  } finally {
    await server.close();
    await registry.close();
  }
});

test('node: an absolute-form request target, as proxies send it, is served like its path', async () => {
  const { service, registry } = await linearService();
  const server = await listen(servableNode({ service, prefix: '/api' }));
  try {
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: `http://example.test/api/v2/models/linear/infer?x=1` });
      req.once('error', reject);
      req.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).once('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.end(inferBody([[1, 2, 3]]));
    });
    assert.equal(reply.status, 200);
    assert.deepEqual((JSON.parse(reply.body) as { outputs: { data: number[] }[] }).outputs[0]!.data, [32, 48]);
  } finally {
    await server.close();
    await registry.close();
  }
});

test('node: a prefix a request target cannot hold as written is refused with its percent-encoded form, which serves', async () => {
  const { service, registry } = await linearService();
  try {
    // servableNode matches the target as the client sent it, and clients send these encoded: the
    // prefix as written would never match, and every request would go on to next().
    for (const [prefix, encoded] of [['/a b', '/a%20b'], ['/modèles', '/mod%C3%A8les'], ['/v?x', '/v%3Fx'], ['/t#1', '/t%231'], ['/50%', '/50%25']]) {
      assert.throws(() => servableNode({ service, prefix }), {
        name: 'TypeError',
        code: 'ERR_SERVABLE_INVALID_OPTION',
        message: `Expected \`prefix\` to be a path as a request target holds it, percent-encoded, got ${JSON.stringify(prefix)} (string): use '${encoded}'`,
      });
    }
    const serve = servableNode({ service, prefix: '/mod%C3%A8les' });
    const server = await listen((req, res) => serve(req, res, () => res.writeHead(418).end('app')));
    try {
      const reply = await fetch(`http://127.0.0.1:${server.port}/mod%C3%A8les/v2/models/linear/ready`);
      assert.deepEqual({ status: reply.status, body: await reply.json() }, { status: 200, body: { name: 'linear', ready: true } });
      const elsewhere = await fetch(`http://127.0.0.1:${server.port}/other/v2/models/linear/ready`);
      assert.equal(elsewhere.status, 418);
    } finally {
      await server.close();
    }
  } finally {
    await registry.close();
  }
});

test('node: a bad prefix is refused when the listener is made, quoting it', async () => {
  const { service, registry } = await linearService();
  try {
    for (const prefix of ['api', '/api/', 7]) {
      assert.throws(() => servableNode({ service, prefix } as unknown as ServableNodeOptions), {
        name: 'TypeError',
        code: 'ERR_SERVABLE_INVALID_OPTION',
        message: `Expected \`prefix\` to be '' or a path starting with '/' and not ending with one, got ${JSON.stringify(prefix)} (${typeof prefix})`,
      });
    }
    assert.throws(() => servableNode({ service: {} } as unknown as ServableNodeOptions), /Expected `service` to be an InferenceService, got \{\} \(object\)/);
  } finally {
    await registry.close();
  }
});

test('node: a reply that fails to write is reported to onError and its connection dropped, not the process', async () => {
  const { service, registry } = await linearService();
  const seen: unknown[] = [];
  const serve = servableNode({
    service,
    metrics: async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok\n' }),
    onError: (error) => seen.push(error),
  });
  // A response whose writeHead throws stands in for any failure past the protocol handler.
  const server = await listen((req, res) => {
    res.writeHead = () => {
      throw new Error('socket exploded');
    };
    serve(req, res);
  });
  try {
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/metrics`));
    assert.deepEqual(seen.map((e) => (e as Error).message), ['socket exploded']);
  } finally {
    await server.close();
    await registry.close();
  }
});

test('node over HTTP/2: answers, 413s and 404s on one session; a reset stream takes its queued request out', async () => {
  const s = await gatedService({ maxBatchSize: 4 });
  const serve = servableNode({ service: s.service, bodyLimit: 1000 });
  // The bytes of each request's body the server took, counted when its stream closes.
  const received: number[] = [];
  const server = http2.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.byteLength));
    req.stream.once('close', () => received.push(bytes));
    serve(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const post = (body: string) => request2(session, { ':method': 'POST', ':path': '/v2/models/linear/infer', 'content-type': 'application/json' }, body);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  try {
    await resetStreamLeavesQueue(s, post);
    // The 413 goes without HTTP/1.1's `Connection: close`, which Node would drop with a process warning, and the session's other requests go on.
    const big = await post('x'.repeat(2000)).reply;
    assert.deepEqual([big.status, JSON.parse(big.body).error], [413, 'The request body is larger than the limit of 1000 bytes']);
    await tick();
    assert.deepEqual(warnings, []);
    // A body past 1 MiB, the most a limit of 1000 drains, has its stream reset once the 413 is sent; the session goes on.
    const closedBefore = received.length;
    const huge = await post('x'.repeat(4 << 20)).reply;
    assert.deepEqual([huge.status, JSON.parse(huge.body).error], [413, 'The request body is larger than the limit of 1000 bytes']);
    await until(() => received.length > closedBefore, 'the stream to close');
    assert.ok(received.at(-1)! < 2 << 20, `the server took ${received.at(-1)} bytes`);
    const missing = await request2(session, { ':method': 'GET', ':path': '/elsewhere' }).reply;
    assert.deepEqual([missing.status, JSON.parse(missing.body)], [404, { error: 'No route for GET /elsewhere', code: 'ERR_SERVABLE_NO_ROUTE' }]);
    // HTTP/2 joins a repeated X-Tenant too; the raw headers tell.
    const tenants = await request2(session, { ':method': 'POST', ':path': '/v2/models/linear/infer', 'x-tenant': ['acme', 'beta'] }, inferBody([[1, 2, 3]])).reply;
    assert.deepEqual([tenants.status, JSON.parse(tenants.body).error], [400, 'The X-Tenant header was sent 2 times; send it once']);
  } finally {
    process.off('warning', onWarning);
    s.open();
    session.destroy();
    server.close();
    await s.registry.close();
  }
});

test('node: checkContinue answers Expect: 100-continue with the 413 when the declared body is over bodyLimit, before the client sends it', async () => {
  const { service, registry } = await linearService();
  const serve = servableNode({ service, prefix: '/api', bodyLimit: 1000 });
  const server = http.createServer((req, res) => serve(req, res, () => req.resume().once('end', () => res.end('app'))));
  server.on('checkContinue', serve.checkContinue);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const refused = await expectContinue(port, '/api/v2/models/linear/infer', 2000);
    const [status, ...lines] = refused.head.split('\r\n\r\n')[0]!.split('\r\n');
    assert.equal(status, 'HTTP/1.1 413 Payload Too Large');
    assert.ok(lines.includes('connection: close'), refused.head);
    assert.equal(refused.head.split('\r\n\r\n')[1], '{"error":"The request body is larger than the limit of 1000 bytes","code":"ERR_SERVABLE_PAYLOAD_TOO_LARGE"}');
    refused.socket.destroy();
    // Within the limit, and on the app's own paths whatever the length, the client is told to go on and the request is served.
    for (const [path, body, answer] of [
      ['/api/v2/models/linear/infer', inferBody([[1, 2, 3]]), '{"model_name":"linear"'],
      ['/elsewhere', 'x'.repeat(2000), 'app'],
    ] as const) {
      await continueAndServe(port, path, body, answer);
    }
  } finally {
    server.close();
    server.closeAllConnections();
    await registry.close();
  }
});

test('node over HTTP/2: checkContinue answers an over-limit body with the 413 before it is sent, and tells a body within the limit to go on', async () => {
  const { service, registry } = await linearService();
  const serve = servableNode({ service, bodyLimit: 1000 });
  const server = http2.createServer(serve);
  server.on('checkContinue', serve.checkContinue);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  try {
    // The body is withheld, as a client waiting for 100 Continue does.
    const refused = session.request({ ':method': 'POST', ':path': '/v2/models/linear/infer', 'content-length': '2000', expect: '100-continue' });
    let told = false;
    refused.once('continue', () => (told = true));
    const [head] = (await once(refused, 'response')) as [http2.IncomingHttpHeaders];
    let text = '';
    refused.setEncoding('utf8').on('data', (c: string) => (text += c));
    await once(refused, 'close');
    assert.deepEqual([told, head[':status'], head.connection, JSON.parse(text).error], [false, 413, undefined, 'The request body is larger than the limit of 1000 bytes']);
    const body = inferBody([[1, 2, 3]]);
    const going = session.request({ ':method': 'POST', ':path': '/v2/models/linear/infer', 'content-length': String(body.length), expect: '100-continue' });
    await once(going, 'continue');
    going.end(body);
    const [answered] = (await once(going, 'response')) as [http2.IncomingHttpHeaders];
    let reply = '';
    going.setEncoding('utf8').on('data', (c: string) => (reply += c));
    await once(going, 'end');
    assert.deepEqual([answered[':status'], JSON.parse(reply).outputs[0].data], [200, [32, 48]]);
    await tick();
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
    session.destroy();
    server.close();
    await registry.close();
  }
});

test('node: a body with binary tensor data whose JSON header is jsonWorkerMinBytes or more is decoded on a JSON worker, held to its heap as a JSON body is', async () => {
  const { service, registry } = await linearService();
  const server = await listen(servableNode({ service, jsonWorkerHeapMb: 16 }));
  const post = (header: string, data: Uint8Array) =>
    fetch(`http://127.0.0.1:${server.port}/v2/models/linear/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(Buffer.byteLength(header)) },
      body: Buffer.concat([Buffer.from(header), data]),
    });
  try {
    // A large header is served as a small one is.
    const x = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const large = JSON.stringify({ parameters: { note: 'x'.repeat(200_000) }, inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } }] });
    const served = await post(large, x);
    assert.deepEqual([served.status, ((await served.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data], [200, [32, 48]]);
    // Parsed on the event loop, a header of a few hundred thousand empty arrays took about 15 MB of heap; 64 MiB of them, a gigabyte and seconds.
    const bomb = `{"inputs":[{"name":"X","datatype":"FP32","shape":[1,3],"data":[${'[],'.repeat(300_000)}1,2,3]}]}`;
    const refused = await post(bomb, new Uint8Array(0));
    assert.equal(refused.status, 413);
    assert.match(((await refused.json()) as { error: string }).error, /^Decoding this JSON body could take \d+ MB of memory, more than the 8 MB a JSON worker takes/);
  } finally {
    await server.close();
    await registry.close();
  }
});

test('the JSON workers end with the last of the servers the listener served, where the first to close ended them for the others', async (t) => {
  const { service, registry } = await linearService();
  const closes = t.mock.method(JsonWorkerPool.prototype, 'close');
  const serve = servableNode({ service, jsonWorkers: 1 });
  // An app on http and https at once: the listener sees requests from both servers.
  const [plain, tls] = [new EventEmitter(), new EventEmitter()];
  for (const server of [plain, tls, plain]) serve({ url: '/app/hello', method: 'GET', socket: { server } } as never, {} as never, () => {});
  plain.emit('close');
  assert.equal(closes.mock.callCount(), 0, 'the https server still serves');
  tls.emit('close');
  assert.equal(closes.mock.callCount(), 1);
  await registry.close();
});

test('node over HTTP/2: the JSON workers end when the http2 server the listener served closes, with no close() of its own', async (t) => {
  const { service, registry } = await linearService();
  const closes = t.mock.method(JsonWorkerPool.prototype, 'close');
  const serve = servableNode({ service, jsonWorkers: 1 });
  const server = http2.createServer(serve);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const reply = await request2(session, { ':method': 'POST', ':path': '/v2/models/linear/infer' }, inferBody([[1, 2, 3]])).reply;
    assert.equal(reply.status, 200);
  } finally {
    session.close();
    server.close();
    await once(server, 'close');
    await registry.close();
  }
  // req.socket is the compatibility API's proxy of the session's socket, whose server is the http2 server.
  assert.equal(closes.mock.callCount(), 1);
});
