import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  InferenceService,
  LruStore,
  ModelRegistry,
  ResultCache,
  memoryBackend,
  type InferenceRequest,
  type MemoryModel,
  type ServiceInferOptions,
  type Tensor,
} from '../../src/index.js';
import { createHttpHandler, headerDirectives, type HttpHeaders, type HttpResponse } from '../../src/protocol/index.js';

/** y = 2x, FP32 [n, 2]. */
function double(): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    run: ({ x }) => ({ y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => 2 * v) } as Tensor }),
  };
}

/** An InferenceService that records the options of each call before serving it. */
class RecordingService extends InferenceService {
  readonly calls: ServiceInferOptions[] = [];
  override infer<Req = InferenceRequest, Res = unknown>(model: string, request: Req, options: ServiceInferOptions = {}): Promise<Res> {
    this.calls.push(options);
    return super.infer(model, request, options);
  }
}

function body(x: number[], parameters?: Record<string, unknown>): string {
  return JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: x }], ...(parameters ? { parameters } : {}) });
}

function json(reply: HttpResponse): Record<string, unknown> {
  return JSON.parse(reply.body as string) as Record<string, unknown>;
}

test('headerDirectives reads no-cache and no-store among other directives, and a trimmed X-Tenant', () => {
  const read = (headers: HttpHeaders) => headerDirectives(headers);
  assert.deepEqual(read({}), {});
  assert.deepEqual(read({ 'cache-control': 'no-cache' }), { noCache: true });
  assert.deepEqual(read({ 'cache-control': 'max-age=0, No-Store' }), { noStore: true });
  assert.deepEqual(read({ 'cache-control': ' no-store ,NO-CACHE' }), { noCache: true, noStore: true });
  assert.deepEqual(read({ 'cache-control': ['max-age=60', 'no-cache'] }), { noCache: true });
  assert.deepEqual(read({ 'cache-control': 'no-cachet, xno-store' }), {});
  assert.deepEqual(read({ 'x-tenant': '  acme  ' }), { tenant: 'acme' });
  // A quoted-string's commas, quotes and escapes are its value's (RFC 9110 §5.6.4), not directive separators.
  assert.deepEqual(read({ 'cache-control': 'foo="x,no-store"' }), {});
  assert.deepEqual(read({ 'cache-control': 'foo="a\\",no-cache" , no-store' }), { noStore: true });
  assert.deepEqual(read({ 'cache-control': ['foo="x,', 'no-store"', 'no-cache'] }), { noCache: true });
  assert.deepEqual(read({ 'cache-control': 'private="a, b", no-cache=x' }), { noCache: true });
  assert.deepEqual(read({ 'cache-control': 'foo="unterminated, no-store' }), {});
  assert.deepEqual(read({ 'x-tenant': '   ' }), {});
  assert.deepEqual(read({ 'x-tenant': ['acme'] }), { tenant: 'acme' });
  assert.throws(() => read({ 'x-tenant': ['acme', 'acme'] }), { name: 'InvalidInputError', message: 'The X-Tenant header was sent 2 times; send it once' });
});

test('OIP and TF-Serving requests pass the cache directives, the tenant and the OIP priority to the service', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'double', source: double(), batching: { maxBatchSize: 4, priorityLevels: 3 }, warmup: [] });
  const service = new RecordingService({ registry });
  const http = createHttpHandler({ service });
  try {
    const headers = { 'cache-control': 'no-cache, no-store', 'x-tenant': 'acme' };
    const oip = await http.handle({ method: 'POST', path: '/v2/models/double/infer', headers, body: body([1, 2], { priority: 1 }) });
    assert.equal(oip.status, 200, String(oip.body));
    const tf = await http.handle({ method: 'POST', path: '/v1/models/double:predict', headers: { 'x-tenant': 'beta' }, body: '{"instances": [[3, 4]]}' });
    assert.deepEqual(json(tf), { predictions: [[6, 8]] });
    const [o, t] = service.calls;
    assert.deepEqual(
      { noCache: o!.noCache, noStore: o!.noStore, tenant: o!.tenant, priority: o!.priority },
      { noCache: true, noStore: true, tenant: 'acme', priority: 1 },
    );
    assert.deepEqual({ noCache: t!.noCache, noStore: t!.noStore, tenant: t!.tenant }, { noCache: undefined, noStore: undefined, tenant: 'beta' });

    const outOfRange = await http.handle({ method: 'POST', path: '/v2/models/double/infer', headers: {}, body: body([1, 2], { priority: 4 }) });
    assert.equal(outOfRange.status, 400);
    // Named as the client wrote it; service.infer's own option is `priority`.
    assert.equal(json(outOfRange).error, 'Expected `parameters.priority` to be an integer between 1 and 3, got 4 (number)');
    await assert.rejects(service.infer('double', { inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) } } }, { priority: 4 }), { message: 'Expected `priority` to be an integer between 1 and 3, got 4 (number)' });
  } finally {
    await registry.close();
  }
});

test('the OIP priority is checked against the instance that answers, not one a forced reload of its version put in its place meanwhile', async () => {
  /** A registry whose loaded-on-demand versions reach the request only once `arrive` is called. */
  let arrive = (): void => {};
  class SlowRegistry extends ModelRegistry {
    override async acquireHeld(...args: Parameters<ModelRegistry['acquireHeld']>): ReturnType<ModelRegistry['acquireHeld']> {
      const hold = await super.acquireHeld(...args);
      await new Promise<void>((resolve) => (arrive = resolve));
      return hold;
    }
  }
  const registry = new SlowRegistry({ backends: [memoryBackend()] });
  registry.register({ name: 'double', source: double(), batching: { maxBatchSize: 4, priorityLevels: 3 }, warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  try {
    const reply = http.handle({ method: 'POST', path: '/v2/models/double/infer', headers: {}, body: body([1, 2], { priority: 3 }) });
    await new Promise<void>((resolve) => registry.once('ready', () => setImmediate(resolve)));
    // Routed to the instance with 3 levels and on its way, the request sees its version reloaded with 2.
    await registry.load({ name: 'double', source: double(), batching: { maxBatchSize: 4, priorityLevels: 2 }, warmup: [] });
    arrive();
    const answer = await reply;
    assert.equal(answer.status, 200, String(answer.body));
    assert.deepEqual(json(answer).outputs, [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [2, 4] }]);
  } finally {
    await registry.close();
  }
});

test('tenantOf decides the tenant from what the server can verify; a client\'s own X-Tenant is then ignored', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'double', source: double(), warmup: [] });
  const service = new RecordingService({ registry });
  const keys: Record<string, string> = { 'key-a': 'acme', 'key-b': 'beta' };
  const errors: unknown[] = [];
  const http = createHttpHandler({
    service,
    tenantOf: async ({ headers }) => {
      const key = headers['x-api-key'];
      if (key === 'broken') return 42 as unknown as string;
      return typeof key === 'string' ? keys[key] : undefined;
    },
    onError: (error) => errors.push(error),
  });
  try {
    const ask = (headers: HttpHeaders, path = '/v2/models/double/infer', text = body([1, 2])) => http.handle({ method: 'POST', path, headers, body: text });
    assert.equal((await ask({ 'x-api-key': 'key-a', 'x-tenant': 'beta', 'cache-control': 'no-store' })).status, 200);
    assert.equal((await ask({ 'x-tenant': 'beta' })).status, 200);
    // Ignored, the header may come twice.
    assert.equal((await ask({ 'x-api-key': 'key-a', 'x-tenant': ['beta', 'gamma'] })).status, 200);
    assert.deepEqual(json(await ask({ 'x-api-key': 'key-b' }, '/v1/models/double:predict', '{"instances": [[3, 4]]}')), { predictions: [[6, 8]] });
    assert.deepEqual(service.calls.map((c) => [c.tenant, c.noStore]), [['acme', true], [undefined, undefined], ['acme', undefined], ['beta', undefined]]);
    // A hook answering another type is the server's bug: a bare 500 on both routes, its error given to onError.
    for (const [path, text] of [['/v2/models/double/infer', body([1, 2])], ['/v1/models/double:predict', '{"instances": [[3, 4]]}']] as const) {
      const broken = await ask({ 'x-api-key': 'broken' }, path, text);
      assert.deepEqual([broken.status, broken.headers, broken.body], [500, { 'content-type': 'application/json' }, '{"error":"Internal server error","code":"ERR_SERVABLE_INTERNAL"}'], path);
    }
    assert.deepEqual(errors.map(String), Array(2).fill('TypeError: Expected `tenantOf` to answer a string or undefined, got 42 (number)'));
    assert.throws(() => createHttpHandler({ service, tenantOf: 'x-tenant' as never }), /Expected `tenantOf` to be a function, got "x-tenant"/);
  } finally {
    await registry.close();
  }
});

test('model_version names the version that served a request whose URL named none', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'double', version: '1', source: double(), warmup: [] });
  await registry.load({ name: 'double', version: '2', source: double(), warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  try {
    const infer = async (path: string) => json(await http.handle({ method: 'POST', path, headers: {}, body: body([1, 2]) })).model_version;
    assert.equal(await infer('/v2/models/double/infer'), '2');
    registry.setTraffic('double', { split: [{ version: '1', weight: 1 }] });
    assert.equal(await infer('/v2/models/double/infer'), '1');
    assert.equal(await infer('/v2/models/double/versions/2/infer'), '2');
  } finally {
    await registry.close();
  }
});

test('Cache-Control over HTTP: a repeat is answered from the ResultCache, no-cache runs the model, no-store keeps nothing', async () => {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'double', source: double(), warmup: [] });
  const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  const http = createHttpHandler({ service: new InferenceService({ registry, caches: { double: { result } } }) });
  const send = async (x: number[], cacheControl?: string) => {
    const reply = await http.handle({
      method: 'POST',
      path: '/v2/models/double/infer',
      headers: cacheControl ? { 'cache-control': cacheControl } : {},
      body: body(x),
    });
    assert.equal(reply.status, 200, String(reply.body));
    return (json(reply).outputs as { data: number[] }[])[0]!.data;
  };
  try {
    assert.deepEqual(await send([1, 2]), [2, 4]);
    assert.deepEqual(await send([1, 2]), [2, 4]);
    assert.equal(backend.calls.length, 1, 'the repeat came from the cache');
    assert.deepEqual(await send([1, 2], 'no-cache'), [2, 4]);
    assert.equal(backend.calls.length, 2, 'no-cache ran the model');
    assert.deepEqual(await send([5, 6], 'no-store'), [10, 12]);
    assert.deepEqual(await send([5, 6]), [10, 12]);
    assert.equal(backend.calls.length, 4, 'the no-store answer was not kept');
    assert.deepEqual(await send([5, 6]), [10, 12]);
    assert.equal(backend.calls.length, 4);
  } finally {
    await registry.close();
  }
});

test('routingKeyHeader is checked at construction, quoting a name that is no HTTP token', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'double', source: double(), warmup: [] });
  const service = new RecordingService({ registry });
  try {
    for (const [bad, shown] of [['', '""'], ['x user', '"x user"'], ['x-user:', '"x-user:"'], ['x-üser', '"x-üser"'], [42, '42']] as const) {
      assert.throws(() => createHttpHandler({ service, routingKeyHeader: bad as never }), {
        name: 'TypeError',
        message: `Expected \`routingKeyHeader\` to be a header name (an HTTP token), got ${shown} (${typeof bad})`,
      });
    }
    assert.throws(() => createHttpHandler({ service, routingKeyHeader: null as never }), { name: 'TypeError', message: 'Expected `routingKeyHeader` to be set, or left out where it is optional, got null (null)' });
    assert.doesNotThrow(() => createHttpHandler({ service, routingKeyHeader: "x!#$%&'*+-.^_`|~09Az" }));
    // Matched case-insensitively: request headers come in lower case.
    const http = createHttpHandler({ service, routingKeyHeader: 'X-User-Id' });
    const ask = (headers: HttpHeaders) => http.handle({ method: 'POST', path: '/v2/models/double/infer', headers, body: body([1, 2]) });
    for (const headers of [{ 'x-user-id': 'u1' }, { 'x-user-id': ['u1', 'u2'] }, { 'x-user-id': '' }, {}]) assert.equal((await ask(headers)).status, 200);
    assert.deepEqual(service.calls.map((c) => c.routingKey), ['u1', 'u1, u2', undefined, undefined]);
  } finally {
    await registry.close();
  }
});
