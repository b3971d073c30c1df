import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { PassThrough, Transform, Writable, pipeline, type Readable } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import Fastify, { errorCodes, type FastifyError, type FastifyRequest } from 'fastify';
import { InferenceService, ModelRegistry } from 'servable';
import { servableFastify, type ServableFastifyOptions } from 'servable/fastify';
import { memoryBackend } from 'servable/testing';
import { continueAndServe, expectContinue, gatedService, httpContract, inferBody, linearBackend, linearMemory, request2, resetStreamLeavesQueue, until, type StartServer } from './http-contract.js';

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
  app.addHook('onRequest', async (request) => {
    if (request.headers['x-read-by-hook'] === undefined) return;
    request.raw.resume();
    await new Promise((resolve) => request.raw.once('end', resolve));
  });
  await app.register(servableFastify, { service: s.service, bodyLimit: 1000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const post = (body: string) => request2(session, { ':method': 'POST', ':path': '/v2/models/linear/infer', 'content-type': 'application/json' }, body);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  try {
    await resetStreamLeavesQueue(s, post);
    // The 413 goes without HTTP/1.1's `Connection: close`, which Node would drop with a process warning.
    const big = await post('x'.repeat(2000)).reply;
    assert.deepEqual([big.status, JSON.parse(big.body).error], [413, 'The request body is larger than the limit of 1000 bytes']);
    // Past 1 MiB, the most a limit of 1000 drains, the stream is reset once the 413 is sent; the session goes on.
    const huge = await post('x'.repeat(4 << 20)).reply;
    assert.deepEqual([huge.status, JSON.parse(huge.body).error], [413, 'The request body is larger than the limit of 1000 bytes']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings, []);
    // A body with neither Content-Type nor Content-Length, which Fastify's own routes would not read, is read as the other adapters read it.
    const bare = (body: string) => request2(session, { ':method': 'POST', ':path': '/v2/models/linear/infer' }, body).reply;
    const untyped = await bare(inferBody([[1, 2, 3]]));
    assert.deepEqual([untyped.status, JSON.parse(untyped.body).outputs[0].data], [200, [32, 48]]);
    const untypedBig = await bare('x'.repeat(2000));
    assert.deepEqual([untypedBig.status, JSON.parse(untypedBig.body).error], [413, 'The request body is larger than the limit of 1000 bytes']);
    // One an app's hook already read is not waited for.
    const readByHook = await request2(session, { ':method': 'POST', ':path': '/v2/models/linear/infer', 'x-read-by-hook': '1' }, inferBody([[1, 2, 3]])).reply;
    assert.deepEqual([readByHook.status, JSON.parse(readByHook.body).error], [400, 'The request has no body; expected a JSON inference request']);
  } finally {
    process.off('warning', onWarning);
    s.open();
    session.destroy();
    await app.close();
    await s.registry.close();
  }
});

test('fastify: a bad prefix is refused when the plugin is registered, quoting it, as servableNode refuses it; a prefix may hold parameters', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const service = new InferenceService({ registry });
  try {
    for (const prefix of ['api', '/api/', 123]) {
      const app = Fastify();
      await assert.rejects(async () => void (await app.register(servableFastify, { service, prefix } as unknown as ServableFastifyOptions)), {
        name: 'TypeError',
        code: 'ERR_SERVABLE_INVALID_OPTION',
        message: `Expected \`prefix\` to be '' or a path starting with '/' and not ending with one, got ${JSON.stringify(prefix)} (${typeof prefix})`,
      });
      await app.close();
    }
    const app = Fastify();
    await app.register(servableFastify, { service, prefix: '/api/:tenant', bodyLimit: 100 });
    try {
      const live = await app.inject({ url: '/api/acme/v2/health/live' });
      assert.deepEqual([live.statusCode, live.json()], [200, { live: true }]);
      const ready = await app.inject({ url: '/api/acme/v2/models/linear/ready?verbose=1' });
      assert.deepEqual([ready.statusCode, ready.json()], [200, { name: 'linear', ready: true }]);
      const big = await app.inject({ method: 'POST', url: '/api/acme/v2/models/linear/infer', payload: ' '.repeat(200), headers: { 'content-type': 'application/json' } });
      assert.deepEqual([big.statusCode, big.json()], [413, { error: 'The request body is larger than the limit of 100 bytes', code: 'ERR_SERVABLE_PAYLOAD_TOO_LARGE' }]);
    } finally {
      await app.close();
    }
  } finally {
    await registry.close();
  }
});

test('fastify: an error Fastify raises itself is answered as JSON with the type the other adapters send, no charset added; its 415 names the Content-Type', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const app = Fastify();
  // Fastify keeps this first reading of the Content-Type, and answers 415 by it before any parser runs.
  app.addHook('onRequest', async (request) => void request.mediaType);
  await app.register(servableFastify, { service: new InferenceService({ registry }) });
  try {
    const res = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', headers: { 'content-type': ';;;' }, payload: '{}' });
    assert.deepEqual([res.statusCode, res.headers['content-type'], res.json()], [415, 'application/json', { error: 'Content-Type ";;;" is not a media type (type/subtype)', code: 'ERR_SERVABLE_UNSUPPORTED_MEDIA_TYPE' }]);
  } finally {
    await app.close();
    await registry.close();
  }
});

test('fastify: a body whose Content-Type is no media type is read inside the plugin only, and every hook and handler sees the type as sent', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const app = Fastify();
  const seen: string[] = [];
  for (const hook of ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'onResponse'] as const) {
    app.addHook(hook, async (request: FastifyRequest) => void seen.push(`${hook} ${request.headers['content-type']}`));
  }
  // A route's own preParsing hook, as plugins add them from onRoute (fastify-raw-body does): it runs after the app's.
  app.addHook('onRoute', (route) => {
    route.preParsing = [route.preParsing ?? []].flat().concat(async (request: FastifyRequest) => void seen.push(`route preParsing ${request.headers['content-type']}`));
  });
  app.post('/app/echo', async (request) => request.body);
  await app.register(servableFastify, { service: new InferenceService({ registry }) });
  try {
    const res = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', headers: { 'content-type': 'json' }, payload: inferBody([[1, 2, 3]]) });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(seen, ['onRequest json', 'preParsing json', 'route preParsing json', 'preValidation json', 'preHandler json', 'onResponse json']);
    const other = await app.inject({ method: 'POST', url: '/app/echo', headers: { 'content-type': 'json' }, payload: '{}' });
    assert.deepEqual([other.statusCode, other.json().code], [415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE'], "the app's own routes keep Fastify's answer");
  } finally {
    await app.close();
    await registry.close();
  }
});

test('fastify: on a method Fastify reads no body of (TRACE, or one the app made bodyless), the handler and later hooks see the Content-Type as sent', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const app = Fastify();
  app.addHttpMethod('DELETE', { hasBody: false });
  const seen: string[] = [];
  app.addHook('preValidation', async () => {});
  for (const hook of ['preHandler', 'onSend', 'onResponse'] as const) {
    app.addHook(hook, async (request: FastifyRequest) => void seen.push(`${hook} ${request.headers['content-type']}`));
  }
  await app.register(servableFastify, { service: new InferenceService({ registry }) });
  try {
    for (const method of ['DELETE', 'TRACE'] as const) {
      seen.length = 0;
      const res = await app.inject({ method, url: '/v2/models/linear', headers: { 'content-type': 'json' } });
      assert.deepEqual([res.statusCode, res.headers.allow], [405, 'GET, HEAD']);
      assert.deepEqual(seen, ['preHandler json', 'onSend json', 'onResponse json'], method);
    }
  } finally {
    await app.close();
    await registry.close();
  }
});

test('fastify: a compressed reply adds Accept-Encoding to the Vary an earlier hook set', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const app = Fastify();
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('vary', 'Origin'); // as @fastify/cors does
  });
  await app.register(servableFastify, { service: new InferenceService({ registry }) });
  try {
    const res = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', headers: { 'accept-encoding': 'gzip' }, payload: JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [400, 3], data: new Array(1200).fill(1) }] }) });
    assert.deepEqual([res.statusCode, res.headers['content-encoding'], res.headers.vary], [200, 'gzip', 'Origin, accept-encoding']);
  } finally {
    await app.close();
    await registry.close();
  }
});

type PreParsing = (request: FastifyRequest, payload: Readable) => Readable;

/**
 * Serves the linear model over HTTP from an app whose preParsing hook hands over the stream
 * `hook` makes of each request's body, as @fastify/compress's request decompression does, and
 * POSTs gzip bodies to its infer route.
 */
async function withPreParsing(hook: PreParsing, options: Partial<ServableFastifyOptions>, run: (post: (body: Buffer, headers?: Record<string, string>) => Promise<Response>) => Promise<void>): Promise<void> {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const app = Fastify();
  app.addHook('preParsing', (request, _reply, payload, done) => done(null, hook(request, payload)));
  await app.register(servableFastify, { service: new InferenceService({ registry }), ...options });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const post = (body: Buffer, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${port}/v2/models/linear/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', ...headers },
      body,
      signal: AbortSignal.timeout(5000),
    });
  try {
    await run(post);
  } finally {
    await app.close();
    await registry.close();
  }
}

test('fastify: a body a preParsing hook handed over paused, inflated as @fastify/compress does, is read once and not inflated again', async () => {
  // @fastify/compress's request decompression: a paused gunzip stream counting the bytes it read, or a paused pass-through.
  const hook: PreParsing = (request, payload) => {
    let stream: Transform = new PassThrough();
    if (request.headers['x-hook'] === 'inflate') {
      const gunzip = Object.assign(createGunzip(), { receivedEncodedLength: 0 });
      payload.on('data', (chunk: Buffer) => void (gunzip.receivedEncodedLength += chunk.byteLength));
      stream = gunzip;
    }
    stream.pause();
    pipeline(payload, stream, () => {});
    return stream;
  };
  await withPreParsing(hook, {}, async (post) => {
    for (const kind of ['inflate', 'pass']) {
      const res = await post(gzipSync(inferBody([[1, 2, 3]])), { 'x-hook': kind });
      assert.deepEqual([res.status, ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data], [200, [32, 48]], kind);
    }
  });
});

test('fastify: a body a preParsing hook inflates past bodyLimit is a 413, and is not inflated to its end', async () => {
  let inflated = 0;
  const requests: IncomingMessage[] = [];
  // As @fastify/compress: the request piped into a gunzip stream, handed over paused; here with a counter after it.
  const hook: PreParsing = (request, payload) => {
    requests.push(request.raw);
    const counter = new Transform({ transform: (chunk: Buffer, _encoding, next) => next(null, ((inflated += chunk.byteLength), chunk)) });
    counter.pause();
    pipeline(payload, createGunzip(), counter, () => {});
    return Object.assign(counter, { receivedEncodedLength: 0 });
  };
  await withPreParsing(hook, { bodyLimit: 1 << 20 }, async (post) => {
    // 64 MiB of zeros in 65 KB.
    const res = await post(gzipSync(Buffer.alloc(64 << 20)));
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    if (!requests[0]!.destroyed) await once(requests[0]!, 'close');
    // Inflating the rest would take well under this on any machine that runs the suite.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(inflated < 8 << 20, `inflated ${inflated} bytes`);
  });
});

test('fastify: served inside a scope whose prefix ends in "/", and with Fastify\'s logLevel applied to its routes', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  try {
    for (const [outer, url] of [['/', '/v2/health/live'], ['/api/', '/api/v2/health/live'], ['/api/:tenant/', '/api/t/v2/health/live']] as const) {
      const app = Fastify();
      await app.register(async (scope) => scope.register(servableFastify, { service }), { prefix: outer });
      const res = await app.inject(url);
      await app.close();
      assert.deepEqual([outer, res.statusCode, res.json()], [outer, 200, { live: true }]);
    }
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk, _encoding, done) => done(void lines.push(String(chunk))) });
    const app = Fastify({ logger: { level: 'info', stream } });
    await app.register(servableFastify, { service, logLevel: 'silent' });
    await app.ready();
    lines.length = 0;
    assert.equal((await app.inject('/v2/health/live')).statusCode, 200);
    await app.close();
    assert.deepEqual(lines, [], 'no request was logged');
  } finally {
    await registry.close();
  }
});

test('fastify: HEAD /metrics is served in an app with exposeHeadRoutes off, as the protocol\'s routes are', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const app = Fastify({ exposeHeadRoutes: false });
  const metrics = async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'app_up 1\n' });
  await app.register(servableFastify, { service: new InferenceService({ registry }), metrics });
  try {
    const head = await app.inject({ method: 'HEAD', url: '/metrics' });
    assert.deepEqual([head.statusCode, head.headers['content-type'], head.body], [200, 'text/plain', '']);
    const live = await app.inject({ method: 'HEAD', url: '/v2/health/live' });
    assert.equal(live.statusCode, 200);
  } finally {
    await app.close();
    await registry.close();
  }
});

test('fastify: a router that ignores case or trailing slashes still leaves /METRICS and /V2 to the app, as the docs promise, and serves /metrics/', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const metrics = async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'app_up 1\n' });
  try {
    for (const routerOptions of [{ caseSensitive: false }, { ignoreTrailingSlash: true }]) {
      const app = Fastify({ routerOptions });
      app.setNotFoundHandler((request, reply) => reply.code(404).send(`app: ${request.url}`));
      await app.register(servableFastify, { service: new InferenceService({ registry }), metrics });
      try {
        for (const url of ['/METRICS', '/metrics//', '/V2/health/live']) {
          const res = await app.inject(url);
          assert.deepEqual([res.statusCode, res.body], [404, `app: ${url}`], `${JSON.stringify(routerOptions)} ${url}`);
        }
        for (const url of ['/metrics', '/metrics/']) assert.equal((await app.inject(url)).body, 'app_up 1\n', `${JSON.stringify(routerOptions)} ${url}`);
        assert.equal((await app.inject('/v2/health/live/')).statusCode, 200);
      } finally {
        await app.close();
      }
    }
  } finally {
    await registry.close();
  }
});

test('fastify: expectContinue answers Expect: 100-continue with the 413 before an over-limit body is sent; it must be the server\'s only checkContinue listener', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const service = new InferenceService({ registry });
  const app = Fastify();
  app.post('/elsewhere', async () => 'app');
  await app.register(
    async (outer) => {
      await outer.register(servableFastify, { service, prefix: '/api', bodyLimit: 1000, expectContinue: true });
    },
    { prefix: '/outer' },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  try {
    assert.equal(app.server.listenerCount('checkContinue'), 1);
    const refused = await expectContinue(port, '/outer/api/v2/models/linear/infer', 2000);
    const [status, ...lines] = refused.head.split('\r\n\r\n')[0]!.split('\r\n');
    assert.deepEqual([status, lines.includes('connection: close'), refused.head.split('\r\n\r\n')[1]], [
      'HTTP/1.1 413 Payload Too Large',
      true,
      '{"error":"The request body is larger than the limit of 1000 bytes","code":"ERR_SERVABLE_PAYLOAD_TOO_LARGE"}',
    ]);
    refused.socket.destroy();
    for (const [path, body, answer] of [
      ['/outer/api/v2/models/linear/infer', inferBody([[1, 2, 3]]), '{"model_name":"linear"'],
      ['/elsewhere', JSON.stringify('x'.repeat(1998)), 'app'],
    ] as const) {
      await continueAndServe(port, path, body, answer);
    }
    // A second listener would emit each request twice; a prefix with parameters cannot be matched before routing.
    const again = Fastify();
    again.server.on('checkContinue', () => {});
    await assert.rejects(async () => void (await again.register(servableFastify, { service, expectContinue: true })), /needs the server's only checkContinue listener/);
    const withParams = Fastify();
    await assert.rejects(async () => void (await withParams.register(servableFastify, { service, prefix: '/:tenant', expectContinue: true })), {
      code: 'ERR_SERVABLE_INVALID_OPTION',
      message: /Expected a prefix without parameters with `expectContinue`, got "\/:tenant"/,
    });
    await assert.rejects(async () => void (await Fastify().register(servableFastify, { service, expectContinue: 'yes' as never })), /Expected `expectContinue` to be a boolean/);
  } finally {
    await app.close();
    await registry.close();
  }
  assert.equal(app.server.listenerCount('checkContinue'), 0);
});

test("fastify: an error an app's hook throws on servable's routes goes to the app's error handler, as on its own routes; the body's errors stay the protocol's", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const app = Fastify();
  const handled: string[] = [];
  app.setErrorHandler((error: FastifyError, request, reply) => {
    handled.push(`${request.url} ${error.message}`);
    return reply.code(error.statusCode ?? 500).send({ app: error.message });
  });
  // An auth hook refusing with a 401, and a hook that fails.
  app.addHook('onRequest', async (request) => {
    if (request.headers['x-fail'] !== undefined) throw new Error('hook failed');
    if (request.headers.authorization !== 'Bearer t') throw Object.assign(new Error('Unauthorized'), { statusCode: 401 });
  });
  await app.register(servableFastify, { service: new InferenceService({ registry }), bodyLimit: 100 });
  try {
    const refused = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', payload: inferBody([[1, 2, 3]]) });
    assert.deepEqual([refused.statusCode, refused.json()], [401, { app: 'Unauthorized' }]);
    const failed = await app.inject({ url: '/v2/health/live', headers: { authorization: 'Bearer t', 'x-fail': '1' } });
    assert.deepEqual([failed.statusCode, failed.json()], [500, { app: 'hook failed' }]);
    assert.deepEqual(handled, ['/v2/models/linear/infer Unauthorized', '/v2/health/live hook failed']);
    const big = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', headers: { authorization: 'Bearer t' }, payload: ' '.repeat(200) });
    assert.deepEqual([big.statusCode, big.json().code], [413, 'ERR_SERVABLE_PAYLOAD_TOO_LARGE']);
    const served = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', headers: { authorization: 'Bearer t' }, payload: inferBody([[1, 2, 3]]) });
    assert.deepEqual([served.statusCode, served.json().outputs[0].data], [200, [32, 48]]);
    assert.equal(handled.length, 2);
  } finally {
    await app.close();
    await registry.close();
  }
});

test("fastify: a hook's 500 on servable's routes is logged by Fastify with the request id when the app has no error handler", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const lines: { level: number; reqId?: string; err?: { message: string } }[] = [];
  const stream = new Writable({ write: (chunk, _encoding, done) => done(void lines.push(JSON.parse(String(chunk)))) });
  const app = Fastify({ logger: { level: 'info', stream } });
  app.addHook('preHandler', async () => {
    throw new Error('hook failed');
  });
  await app.register(servableFastify, { service: new InferenceService({ registry }) });
  try {
    const res = await app.inject({ url: '/v2/health/live' });
    assert.deepEqual([res.statusCode, res.json().message], [500, 'hook failed']);
    const errors = lines.filter((line) => line.level === 50);
    assert.deepEqual(errors.map((line) => [line.reqId, line.err?.message]), [['req-1', 'hook failed']]);
  } finally {
    await app.close();
    await registry.close();
  }
});

test('fastify: the auth hook of docs/http.md lets the probes and /metrics through and guards the rest', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const metrics = async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'app_up 1\n' });
  const open = new Set(['/v2/health/live', '/v2/health/ready', '/metrics']);
  const app = Fastify();
  app.addHook('onRequest', async (request, reply) => {
    if (open.has(request.url.split('?')[0]!)) return;
    if (request.headers.authorization !== 'Bearer t') return reply.code(401).send({ error: 'Unauthorized' });
  });
  await app.register(servableFastify, { service: new InferenceService({ registry }), metrics });
  try {
    for (const url of ['/v2/health/live', '/v2/health/ready?x=1', '/metrics']) assert.equal((await app.inject(url)).statusCode, 200, url);
    for (const url of ['/v2/health/live/', '/v2', '/v2/models/linear', '/v1/models/linear']) assert.equal((await app.inject(url)).statusCode, 401, url);
    const refused = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', payload: inferBody([[1, 2, 3]]) });
    assert.deepEqual([refused.statusCode, refused.json()], [401, { error: 'Unauthorized' }]);
    const served = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', headers: { authorization: 'Bearer t' }, payload: inferBody([[1, 2, 3]]) });
    assert.deepEqual([served.statusCode, served.json().outputs[0].data], [200, [32, 48]]);
  } finally {
    await app.close();
    await registry.close();
  }
});

test("fastify: onError gets the header Fastify took the request id from, as docs/http.md's logging recipe reads it", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const failing = { ...linearMemory(), run: () => Promise.reject(new Error('model failed')) };
  await registry.load({ name: 'linear', source: failing, warmup: [] });
  const ids: unknown[] = [];
  const app = Fastify({ requestIdHeader: 'x-request-id' });
  app.addHook('onRequest', async (request) => void ids.push(request.id));
  await app.register(servableFastify, { service: new InferenceService({ registry }), onError: (_error, request) => void ids.push(request.headers['x-request-id']) });
  try {
    const res = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', headers: { 'x-request-id': 'abc' }, payload: inferBody([[1, 2, 3]]) });
    assert.deepEqual([res.statusCode, ids], [500, ['abc', 'abc']]);
  } finally {
    await app.close();
    await registry.close();
  }
});

test("fastify: a failure whose onError throws is answered in the protocol's bare 500, not handed to Fastify's handler with its message, and onError's throw is not reported to onError", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const reported: string[] = [];
  const onError = (error: unknown): void => {
    reported.push((error as Error).message);
    if (reported.length === 1) throw new Error('logger down: secret');
  };
  const tenantOf = (): string => {
    throw new Error('tenant lookup failed');
  };
  const app = Fastify();
  await app.register(servableFastify, { service: new InferenceService({ registry }), onError, tenantOf });
  try {
    const res = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', payload: inferBody([[1, 2, 3]]) });
    assert.deepEqual([res.statusCode, res.json()], [500, { error: 'Internal server error', code: 'ERR_SERVABLE_INTERNAL' }]);
    assert.deepEqual(reported, ['tenant lookup failed']);
  } finally {
    await app.close();
    await registry.close();
  }
});

test("fastify: the metrics route answers a failure whose onError throws with its own 500 too, not Fastify's reply with the message", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const reported: string[] = [];
  const onError = (error: unknown): void => {
    reported.push((error as Error).message);
    if (reported.length === 1) throw new Error('logger down: secret');
  };
  const metrics = (): Promise<never> => Promise.reject(new Error('collect failed'));
  const app = Fastify();
  await app.register(servableFastify, { service: new InferenceService({ registry }), onError, metrics });
  try {
    const res = await app.inject({ url: '/metrics' });
    assert.deepEqual([res.statusCode, res.body], [500, 'Collecting metrics failed\n']);
    assert.deepEqual(reported, ['collect failed']);
  } finally {
    await app.close();
    await registry.close();
  }
});

test("fastify: a plugin hook's error whose code starts FST_ but is not Fastify's own (@fastify/rate-limit's FST_ERR_RATE_LIMIT, @fastify/jwt's FST_JWT_...) goes to the app's error handler", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const app = Fastify();
  const handled: string[] = [];
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    handled.push(error.code);
    return reply.code(error.statusCode ?? 500).send({ app: error.code });
  });
  // As those plugins throw them from their onRequest hooks.
  app.addHook('onRequest', async (request) => {
    if (request.headers['x-limited'] !== undefined) throw Object.assign(new Error('Rate limit exceeded'), { statusCode: 429, code: 'FST_ERR_RATE_LIMIT' });
    if (request.headers.authorization === undefined) throw Object.assign(new Error('No Authorization was found in request.headers'), { statusCode: 401, code: 'FST_JWT_NO_AUTHORIZATION_IN_HEADER' });
  });
  await app.register(servableFastify, { service: new InferenceService({ registry }) });
  try {
    const limited = await app.inject({ url: '/v2/health/live', headers: { authorization: 'Bearer t', 'x-limited': '1' } });
    assert.deepEqual([limited.statusCode, limited.json()], [429, { app: 'FST_ERR_RATE_LIMIT' }]);
    const refused = await app.inject({ url: '/v2/health/live' });
    assert.deepEqual([refused.statusCode, refused.json()], [401, { app: 'FST_JWT_NO_AUTHORIZATION_IN_HEADER' }]);
    assert.deepEqual(handled, ['FST_ERR_RATE_LIMIT', 'FST_JWT_NO_AUTHORIZATION_IN_HEADER']);
  } finally {
    await app.close();
    await registry.close();
  }
});

test("fastify: an error Fastify raises on servable's routes carries the code the other adapters give (a 4xx ERR_SERVABLE_INVALID_INPUT), and a 5xx is the protocol's bare 500 with its error passed to onError", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const reported: string[] = [];
  const app = Fastify();
  // Fastify's own errors, raised by a hook of the app's on the plugin's routes (a code of Fastify's errorCodes).
  app.addHook('preHandler', async (request) => {
    if (request.headers['x-raise'] === '400') throw new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH();
    if (request.headers['x-raise'] === '500') throw new errorCodes.FST_ERR_HOOK_TIMEOUT('preHandler', 'hook');
  });
  await app.register(servableFastify, { service: new InferenceService({ registry }), onError: (error) => void reported.push((error as FastifyError).code) });
  try {
    const replies = [];
    for (const raise of ['400', '500']) {
      const res = await app.inject({ method: 'POST', url: '/v2/models/linear/infer', headers: { 'x-raise': raise }, payload: inferBody([[1, 2, 3]]) });
      replies.push([res.statusCode, res.json()]);
    }
    assert.deepEqual(replies, [
      [400, { error: 'Request body size did not match Content-Length', code: 'ERR_SERVABLE_INVALID_INPUT' }],
      [500, { error: 'Internal server error', code: 'ERR_SERVABLE_INTERNAL' }],
    ]);
    assert.deepEqual(reported, ['FST_ERR_HOOK_TIMEOUT'], 'the 500 is reported to onError, the 400 is not');
  } finally {
    await app.close();
    await registry.close();
  }
});

test("fastify: a drained 413 on a connection's last request under maxRequestsPerSocket says Connection: close, as Node says it, not keep-alive", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const service = new InferenceService({ registry });
  const app = Fastify({ maxRequestsPerSocket: 2 });
  await app.register(servableFastify, { service, bodyLimit: 100 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const socket = net.connect(port, '127.0.0.1');
  try {
    let received = '';
    const refused = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.includes('ERR_SERVABLE_PAYLOAD_TOO_LARGE')) resolve();
      });
    });
    // The second request is the connection's last: a keep-alive promised on it would be answered by Node's 503.
    socket.write('GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n');
    socket.write(`POST /v2/models/linear/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n${' '.repeat(200)}`);
    await refused;
    const head = received.slice(received.indexOf('HTTP/1.1 413')).split('\r\n\r\n')[0]!.toLowerCase().split('\r\n');
    assert.deepEqual([head[0], head.filter((line) => /^(connection|keep-alive):/.test(line))], ['http/1.1 413 payload too large', ['connection: close']]);
  } finally {
    socket.destroy();
    await app.close();
    await registry.close();
  }
});
