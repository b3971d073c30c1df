import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import {
  ClosedError,
  InferenceService,
  ModelNotReadyError,
  ModelRegistry,
  QueueFullError,
  UnavailableError,
  memoryBackend,
  type MemoryModel,
  type Tensor,
} from '../../src/index.js';
import { createHttpHandler, decodeInferJson, decodePredictJson, SERVABLE_VERSION, type HttpRequest, type HttpResponse, type JsonDecoder } from '../../src/protocol/index.js';
import { acceptedFormat } from '../../src/protocol/content-encoding.js';
import { Registry } from 'prom-client';
import { ServingMetrics } from '../../src/metrics/index.js';
import { FakeClock } from '../../src/testing/index.js';
import { until } from '../fixtures/until.js';
import { sample } from '../metrics/exposition.js';

function echo(): MemoryModel {
  return {
    inputs: [
      { name: 'a', datatype: 'INT64', shape: [-1, 2] },
      { name: 'flag', datatype: 'BOOL', shape: [-1] },
    ],
    outputs: [
      { name: 'a', datatype: 'INT64', shape: [-1, 2] },
      { name: 'half', datatype: 'FP16', shape: [-1] },
      { name: 'flag', datatype: 'BOOL', shape: [-1] },
    ],
    run: ({ a, flag }) => ({
      a: a as Tensor,
      half: { datatype: 'FP16', shape: flag!.shape, data: new Uint16Array(flag!.shape[0]!).fill(0x3800) },
      flag: { datatype: 'BOOL', shape: flag!.shape, data: (flag!.data as Uint8Array).map((b) => 1 - b) },
    }),
  };
}

async function setup(options: { requiredModels?: string[] } = {}) {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'echo', source: echo(), warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }), ...options });
  return { registry, http };
}

function get(path: string, method = 'GET'): HttpRequest {
  return { method, path, headers: {} };
}

function json(reply: HttpResponse): unknown {
  return JSON.parse(reply.body as string);
}

test('INT64 and BOOL inputs round-trip; FP16 outputs come back as numbers; bytes and strings bodies both work', async () => {
  const { registry, http } = await setup();
  const body = JSON.stringify({
    inputs: [
      { name: 'a', datatype: 'INT64', shape: [2, 2], data: [[1, '9223372036854775807'], [-3, 4]] },
      { name: 'flag', datatype: 'BOOL', shape: [2], data: [true, false] },
    ],
  });
  for (const b of [body, new TextEncoder().encode(body)]) {
    const reply = await http.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: {}, body: b });
    assert.equal(reply.status, 200, String(reply.body));
    assert.deepEqual(json(reply), {
      model_name: 'echo',
      model_version: '1',
      outputs: [
        { name: 'a', datatype: 'INT64', shape: [2, 2], data: [1, '9223372036854775807', -3, 4] },
        { name: 'half', datatype: 'FP16', shape: [2], data: [0.5, 0.5] },
        { name: 'flag', datatype: 'BOOL', shape: [2], data: [false, true] },
      ],
    });
  }
  await registry.close();
});

test('a byte-order mark before a JSON body is ignored whether the body comes as bytes or as a string (RFC 8259 §8.1)', async () => {
  const { registry, http } = await setup();
  const oip = JSON.stringify({ inputs: [{ name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] }, { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] }], outputs: [{ name: 'a' }] });
  const tf = '{"instances": [{"a": [1, 2], "flag": true}]}';
  const replies = async (path: string, text: string) => {
    const answers = [];
    for (const body of [text, new TextEncoder().encode(text)]) {
      const reply = await http.handle({ method: 'POST', path, headers: {}, body });
      answers.push(reply.status === 200 ? json(reply) : reply.status);
    }
    return answers;
  };
  const oipAnswer = { model_name: 'echo', model_version: '1', outputs: [{ name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] }] };
  const tfAnswer = { predictions: [{ a: [1, 2], half: 0.5, flag: false }] };
  assert.deepEqual(await replies('/v2/models/echo/infer', `\ufeff${oip}`), [oipAnswer, oipAnswer]);
  assert.deepEqual(await replies('/v1/models/echo:predict', `\ufeff${tf}`), [tfAnswer, tfAnswer]);
  // Only a leading one: anywhere else it is a character JSON does not allow, however the body comes.
  assert.deepEqual(await replies('/v2/models/echo/infer', ` \ufeff${oip}`), [400, 400]);
  assert.deepEqual(await replies('/v1/models/echo:predict', `\ufeff\ufeff${tf}`), [400, 400]);
  await registry.close();
});

test('server readiness follows the registry, or the required models', async () => {
  const { registry, http } = await setup({ requiredModels: ['echo', 'later'] });
  assert.deepEqual([(await http.handle(get('/v2/health/ready'))).status, json(await http.handle(get('/v2/health/ready')))], [503, { ready: false }]);
  await registry.load({ name: 'later', source: echo(), warmup: [] });
  assert.equal((await http.handle(get('/v2/health/ready'))).status, 200);
  const all = createHttpHandler({ service: new InferenceService({ registry }) });
  assert.equal((await all.handle(get('/v2/health/ready'))).status, 200);
  await registry.unload('later');
  assert.equal((await http.handle(get('/v2/health/ready'))).status, 503);
  assert.equal((await all.handle(get('/v2/health/ready'))).status, 200);
  await registry.close();
});

test('server readiness is 503 while registry.load() loads a model with no version ready; a reload, a failed load and a load a request starts hold none back', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 1 });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  const ready = async () => {
    const reply = await http.handle(get('/v2/health/ready'));
    return [reply.status, json(reply)];
  };
  const gated = () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const model: MemoryModel = { ...echo(), run: async (feeds) => (await gate, echo().run(feeds)) };
    return { model, open };
  };
  assert.deepEqual(await ready(), [200, { ready: true }], 'no model to wait for');
  // The warm-up runs the model, which waits at the gate: the load is in progress until it opens.
  const first = gated();
  const loading = registry.load({ name: 'echo', source: first.model });
  assert.deepEqual(registry.versions('echo'), [{ version: '1', state: 'loading' }]);
  assert.deepEqual(await ready(), [503, { ready: false }]);
  first.open();
  await loading;
  assert.deepEqual(await ready(), [200, { ready: true }]);
  // A second version loading while the first serves.
  const second = gated();
  const reloading = registry.load({ name: 'echo', version: '2', source: second.model });
  assert.deepEqual(await ready(), [200, { ready: true }]);
  second.open();
  await reloading;
  // A load that fails leaves nothing loading.
  await assert.rejects(registry.load({ name: 'broken', source: { ...echo(), run: () => Promise.reject(new Error('no')) } }));
  assert.deepEqual(await ready(), [200, { ready: true }]);
  // A registered model a request loads, evicting echo to make room.
  const lazy = gated();
  registry.register({ name: 'lazy', source: lazy.model });
  const body = JSON.stringify({ inputs: [{ name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] }, { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] }] });
  const infer = http.handle({ method: 'POST', path: '/v2/models/lazy/infer', headers: {}, body });
  await until(() => registry.versions('lazy')[0]?.state === 'loading', 'the on-demand load');
  assert.deepEqual(await ready(), [200, { ready: true }]);
  lazy.open();
  assert.equal((await infer).status, 200);
  assert.deepEqual(await ready(), [200, { ready: true }]);
  await registry.close();
});

test('a model draining after an unload holds no readiness back unless it is required', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let arrived!: () => void;
  const inRun = new Promise<void>((resolve) => (arrived = resolve));
  const held: MemoryModel = { ...echo(), run: async (feeds) => (arrived(), await gate, echo().run(feeds)) };
  await registry.load({ name: 'echo', source: held, warmup: [] });
  const service = new InferenceService({ registry });
  const all = createHttpHandler({ service });
  const required = createHttpHandler({ service, requiredModels: ['echo'] });
  const running = all.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: {}, body: JSON.stringify({ inputs: [{ name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] }, { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] }] }) });
  await inRun;
  const unloading = registry.unload('echo');
  assert.deepEqual(registry.versions('echo'), [{ version: '1', state: 'draining' }]);
  const ready = async (http: typeof all) => {
    const reply = await http.handle(get('/v2/health/ready'));
    return [reply.status, json(reply)];
  };
  assert.deepEqual(await ready(all), [200, { ready: true }]);
  assert.deepEqual(await ready(required), [503, { ready: false }]);
  open();
  assert.equal((await running).status, 200);
  await unloading;
  assert.deepEqual(await ready(all), [200, { ready: true }]);
  await registry.close();
});

test('paths: query strings and a trailing slash are ignored, names are percent-decoded, a malformed one is a 400 naming its segment', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'a b/c', source: echo(), warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  assert.equal((await http.handle(get('/v2/models/a%20b%2Fc/ready?x=1'))).status, 200);
  assert.equal((await http.handle(get('/v2/health/live/'))).status, 200);
  const malformed = await http.handle(get('/v2/models/%E0%A4%A/ready'));
  assert.deepEqual([malformed.status, malformed.body], [400, JSON.stringify({ error: "Malformed percent-encoding in the path segment '%E0%A4%A'", code: 'ERR_SERVABLE_INVALID_INPUT' })]);
  assert.equal((await http.handle(get('/v2//health/live'))).status, 404);
  assert.equal((await http.handle(get('/v2/models/a%20b%2Fc/versions/1/ready', 'HEAD'))).status, 200);
  assert.equal(http.owns('/v2'), true);
  assert.equal(http.owns('/v2/anything?x'), true);
  assert.equal(http.owns('/v20'), false);
  assert.equal(http.owns('/metrics'), false);
  await registry.close();
});

test('a body over bodyLimit is 413 whether it arrives as bytes or as a string', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const http = createHttpHandler({ service: new InferenceService({ registry }), bodyLimit: 10 });
  for (const body of ['x'.repeat(11), 'é'.repeat(6), new Uint8Array(11)]) {
    const reply = await http.handle({ method: 'POST', path: '/v2/models/m/infer', headers: {}, body });
    assert.equal(reply.status, 413);
  }
  assert.equal((await http.handle({ method: 'POST', path: '/v2/models/m/infer', headers: {}, body: 'é'.repeat(5) })).status, 404);
});

test('bodies of hostile sizes are each answered alone: 20,000 inputs or outputs, a shape of 100,000 dimensions or past 2^53 elements, 100,000 parameter keys', async () => {
  const { registry, http } = await setup();
  const flag = { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] };
  const a = { name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] };
  const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
  const cases: [unknown, number, RegExp][] = [
    [{ inputs: Array.from({ length: 20_000 }, (_, i) => ({ name: `x${i}`, datatype: 'FP32', shape: [1], data: [1] })) }, 400, /^Unknown input 'x0'/],
    [{ inputs: [a, flag], outputs: Array.from({ length: 20_000 }, (_, i) => ({ name: `y${i}` })) }, 400, /^Unknown output 'y0'/],
    [{ inputs: [{ ...a, shape: Array(100_000).fill(1) }, flag] }, 400, /expected `shape` to be an array of at most 32 integers/],
    [{ inputs: [{ ...a, shape: [2 ** 30, 2 ** 30, 2 ** 30] }, flag] }, 400, /claims 1\.2379400392853803e\+27 elements, more than the limit/],
    [{ inputs: [{ ...a, shape: [2 ** 53, 2 ** 53, 0] }, flag] }, 400, /expected `shape` to be an array of at most 32 integers >= 0/],
    [{ inputs: [a, flag], parameters: keys(100_000) }, 200, /^$/],
    [{ inputs: [{ ...a, parameters: keys(100_000) }, flag] }, 200, /^$/],
  ];
  for (const [body, status, error] of cases) {
    const reply = await http.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: {}, body: JSON.stringify(body) });
    const answer = json(reply) as { error?: string };
    assert.equal(reply.status, status, answer.error);
    assert.match(answer.error ?? '', error);
    // The error quotes what was sent in short, whatever its size.
    assert.ok((reply.body as string).length < 400, `${reply.body.length} bytes`);
  }
  await registry.close();
});

test('an Inference-Header-Content-Length handed over as more than one field line is a 400 naming it, as Node joined into one it is; one line is read', async () => {
  const { registry, http } = await setup();
  const header = JSON.stringify({ inputs: [{ name: 'a', datatype: 'INT64', shape: [1, 2], parameters: { binary_data_size: 16 } }, { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] }] });
  const body = new Uint8Array([...new TextEncoder().encode(header), ...new Uint8Array(new BigInt64Array([1n, 2n]).buffer)]);
  const send = (length: string | string[]) => http.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: { 'inference-header-content-length': length }, body });
  for (const lines of [[String(header.length), String(header.length)], [String(header.length), '0'], `${header.length}, ${header.length}`]) {
    const reply = await send(lines);
    assert.equal(reply.status, 400);
    assert.match((json(reply) as { error: string }).error, /Inference-Header-Content-Length/);
  }
  assert.equal((await send([String(header.length)])).status, 200);
  assert.equal((await send(String(header.length))).status, 200);
  await registry.close();
});

test('a model known but not loaded is not ready (503) until a request loads it', async () => {
  const { registry, http } = await setup();
  registry.register({ name: 'lazy', source: echo(), warmup: [] });
  const before = await http.handle(get('/v2/models/lazy/ready'));
  assert.deepEqual([before.status, json(before)], [503, { name: 'lazy', ready: false }]);
  assert.equal((await http.handle(get('/v2/models/lazy'))).status, 503);
  const body = JSON.stringify({
    inputs: [
      { name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] },
      { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] },
    ],
    outputs: [{ name: 'flag' }],
  });
  const infer = await http.handle({ method: 'POST', path: '/v2/models/lazy/infer', headers: {}, body });
  assert.deepEqual([infer.status, json(infer)], [200, { model_name: 'lazy', model_version: '1', outputs: [{ name: 'flag', datatype: 'BOOL', shape: [1], data: [false] }] }]);
  assert.equal((await http.handle(get('/v2/models/lazy/ready'))).status, 200);
  assert.equal((await http.handle(get('/v2/models/lazy/versions/2/ready'))).status, 404);
  await registry.close();
});

test('a QueueFullError becomes 503 with Retry-After rounded up to whole seconds', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  const http = createHttpHandler({ service });
  for (const [ms, header] of [[1, '1'], [1000, '1'], [1001, '2'], [0, '0'], [Number.NaN, '1']] as const) {
    service.infer = () => Promise.reject(new QueueFullError('full', ms));
    await registry.load({ name: `m${header}${ms}`, source: echo(), warmup: [] });
    const reply = await http.handle({ method: 'POST', path: `/v2/models/m${header}${ms}/infer`, headers: {}, body: '{"inputs": []}' });
    assert.deepEqual([reply.status, reply.headers['retry-after']], [503, header], `${ms} ms`);
  }
  await registry.close();
});

test('a request adaptive batching sheds as overload answers 503 ERR_SERVABLE_OVERLOADED with Retry-After, counted as rejected, not as a timeout', async () => {
  const clock = new FakeClock();
  let stalled = false;
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'echo', source: { ...echo(), latencyMs: (n: number) => (stalled ? 2_500 : n + 20) }, batching: { maxBatchSize: 8, maxLatencyMs: 50 }, warmup: [] });
  const service = new InferenceService({ registry, clock });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const http = createHttpHandler({ service });
  const infer = (n: number) => {
    const inputs = [
      { name: 'a', datatype: 'INT64', shape: [n, 2], data: new Array(2 * n).fill(1) },
      { name: 'flag', datatype: 'BOOL', shape: [n], data: new Array(n).fill(true) },
    ];
    return http.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: {}, body: JSON.stringify({ inputs }) });
  };
  // Batches of 1 and 2 items (21 and 22 ms) give the line the planner sheds by.
  for (let i = 0; i < 6; i++) {
    const reply = infer(1 + (i % 2));
    await clock.advanceAsync(60);
    assert.equal((await reply).status, 200);
  }
  stalled = true;
  const running = infer(1);
  await clock.advanceAsync(1);
  const queued = infer(1);
  await clock.advanceAsync(3_000);
  assert.equal((await running).status, 200);
  const reply = await queued;
  const body = json(reply) as { code: string; error: string };
  assert.deepEqual([reply.status, body.code], [503, 'ERR_SERVABLE_OVERLOADED'], body.error);
  assert.match(body.error, /Shed as overload: retry later/);
  // Retry once the stalled batch, which had run 30 ms when the request was shed, has run as long again: 30 ms, 1 s in whole seconds.
  assert.equal(reply.headers['retry-after'], '1');
  const text = await promRegistry.metrics();
  const m = { model: 'echo', version: '1' };
  assert.deepEqual(
    [sample(text, 'servable_requests_total', { ...m, outcome: 'rejected' }), sample(text, 'servable_requests_total', { ...m, outcome: 'timeout' })],
    [1, 0],
  );
  assert.equal(sample(text, 'servable_queue_drops_total', { ...m, reason: 'shed', stage: 'queued' }), 1);
  await registry.close();
});

test('a ModelNotReadyError or UnavailableError becomes 503 with Retry-After from its retryAfterMs (1 s by default, none for null); a ClosedError has none', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  const http = createHttpHandler({ service });
  await registry.load({ name: 'm', source: echo(), warmup: [] });
  const cases: [Error, string | undefined][] = [
    [new ModelNotReadyError('draining'), '1'],
    [new ModelNotReadyError('loading', { retryAfterMs: 1001 }), '2'],
    [new ModelNotReadyError('loading', { retryAfterMs: 0 }), '0'],
    [new ModelNotReadyError('failed', { retryAfterMs: null }), undefined],
    [new UnavailableError('short'), '1'],
    [new UnavailableError('short', { retryAfterMs: 2500 }), '3'],
    [new ClosedError('closed'), undefined],
  ];
  for (const [error, header] of cases) {
    service.infer = () => Promise.reject(error);
    const reply = await http.handle({ method: 'POST', path: '/v2/models/m/infer', headers: {}, body: '{"inputs": []}' });
    assert.deepEqual([reply.status, reply.headers['retry-after']], [503, header], error.message);
  }
  await registry.close();
});

test('retryAfterMs is a finite number >= 0 or null, quoted when it is not', () => {
  assert.equal(new ModelNotReadyError('m').retryAfterMs, 1000);
  assert.equal(new UnavailableError('m', { retryAfterMs: null }).retryAfterMs, undefined);
  assert.equal(new ClosedError('m').retryAfterMs, undefined);
  for (const [bad, quoted] of [[-1, '-1 (number)'], [Number.NaN, 'NaN (number)'], [Infinity, 'Infinity (number)'], ['5', '"5" (string)']] as const) {
    assert.throws(() => new UnavailableError('m', { retryAfterMs: bad as number }), { name: 'RangeError', code: 'ERR_SERVABLE_INVALID_OPTION', message: `Expected \`retryAfterMs\` to be a finite number >= 0 or null, got ${quoted}` });
  }
});

test('options are checked at construction, quoting the bad value', () => {
  const service = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  assert.throws(() => createHttpHandler({ service: {} as InferenceService }), /Expected `service` to be an InferenceService, got \{\}/);
  assert.throws(() => createHttpHandler({ service, bodyLimit: 0 }), /`bodyLimit` to be an integer >= 1, got 0/);
  assert.throws(() => createHttpHandler({ service, prefix: '/api' } as never), /^TypeError: Unknown option `prefix`; createHttpHandler takes service, bodyLimit/);
  assert.throws(() => createHttpHandler({ service, maxElements: 1.5 }), /`maxElements` to be an integer, got 1.5/);
  assert.throws(() => createHttpHandler({ service, serverName: '' }), /`serverName` to be a non-empty string/);
  assert.throws(() => createHttpHandler({ service, requiredModels: 'm' as unknown as string[] }), /`requiredModels` to be an array of model names, got "m"/);
  assert.throws(() => createHttpHandler({ service, onError: 1 as unknown as () => void }), /`onError` to be a function, got 1/);
  assert.throws(() => createHttpHandler({ service, jsonDecoder: { minBytes: 1 } as never }), /`jsonDecoder` to be a JsonDecoder \(\{minBytes, infer, predict, inferBinary\?\}\), got \{"minBytes":1\}/);
  const decoder = { minBytes: 1, infer: decodeInferJson, predict: decodePredictJson };
  assert.throws(() => createHttpHandler({ service, jsonDecoder: { ...decoder, inferBinary: true } as never }), /`jsonDecoder` to be a JsonDecoder \(\{minBytes, infer, predict, inferBinary\?\}\)/);
});

test('a jsonDecoder gets the JSON bodies of its minBytes or more, with the request\'s signal; smaller ones are decoded in place', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'echo', source: echo(), warmup: [] });
  const handed: string[] = [];
  const signal = new AbortController().signal;
  const jsonDecoder: JsonDecoder = {
    minBytes: 200,
    infer: async (body, maxElements, s) => {
      handed.push(`infer ${typeof body === 'string' ? body.length : body.byteLength} ${maxElements} ${s === signal}`);
      return decodeInferJson(body, maxElements);
    },
    predict: async (body, inputs, maxElements) => {
      handed.push(`predict ${inputs.map((i) => i.name).join()}`);
      return decodePredictJson(body, inputs, maxElements);
    },
  };
  const http = createHttpHandler({ service: new InferenceService({ registry }), jsonDecoder, maxElements: 1000 });
  const small = JSON.stringify({ inputs: [{ name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] }, { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] }] });
  const large = JSON.stringify({ id: 'x'.repeat(200), inputs: JSON.parse(small).inputs });
  const infer = (body: string) => http.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: {}, body, signal });
  for (const body of [small, large]) {
    const reply = await infer(body);
    assert.equal(reply.status, 200);
    assert.deepEqual((json(reply) as { outputs: { name: string; data: unknown }[] }).outputs[0], { name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] });
  }
  const predict = await http.handle({ method: 'POST', path: '/v1/models/echo:predict', headers: {}, body: JSON.stringify({ instances: [{ a: [3, 4], flag: false }], pad: 'x'.repeat(200) }) });
  assert.equal(predict.status, 200);
  assert.deepEqual((json(predict) as { predictions: { a: number[] }[] }).predictions[0]!.a, [3, 4]);
  assert.deepEqual(handed, [`infer ${large.length} 1000 true`, 'predict a,flag']);
});

test('SERVABLE_VERSION is the package version', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(SERVABLE_VERSION, pkg.version);
});

test('a deeply nested value that an error message quotes is a 400, not a stack overflow', async () => {
  const { registry, http } = await setup();
  const deep = '['.repeat(20_000) + ']'.repeat(20_000);
  const bodies: [string, string][] = [
    ['/v2/models/echo/infer', `{"id":${deep},"inputs":[]}`],
    ['/v2/models/echo/infer', `{"inputs":[{"name":"a","datatype":"INT64","shape":${deep},"data":[]}]}`],
    ['/v1/models/echo:predict', `{"signature_name":${deep},"instances":[]}`],
  ];
  for (const [path, body] of bodies) {
    const reply = await http.handle({ method: 'POST', path, headers: {}, body });
    assert.equal(reply.status, 400, body.slice(0, 60));
    assert.match((json(reply) as { error: string }).error, /\[\[\[\[\[\[\[\[\[\.\.\.\]\]\]\]\]\]\]\]\] \(array\)/);
  }
  await registry.close();
});

test('gzip and deflate bodies are decoded as Triton decodes them, held to bodyLimit once inflated', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'echo', source: echo(), warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }), bodyLimit: 4096 });
  const header = JSON.stringify({
    inputs: [
      { name: 'a', datatype: 'INT64', shape: [1, 2], parameters: { binary_data_size: 16 } },
      { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] },
    ],
  });
  const plain = new Uint8Array([...new TextEncoder().encode(header), ...new Uint8Array(new BigInt64Array([7n, -8n]).buffer)]);
  const infer = (encoding: string, body: Uint8Array) =>
    http.handle({
      method: 'POST',
      path: '/v2/models/echo/infer',
      headers: { 'content-encoding': encoding, 'inference-header-content-length': String(header.length) },
      body,
    });
  for (const [encoding, body] of [['gzip', gzipSync(plain)], ['deflate', deflateSync(plain)], ['identity', plain], ['GZIP, identity', gzipSync(plain)]] as const) {
    const reply = await infer(encoding, body);
    assert.equal(reply.status, 200, `${encoding}: ${String(reply.body)}`);
    assert.deepEqual((json(reply) as { outputs: { data: unknown }[] }).outputs[0]!.data, [7, -8]);
  }

  const refused = async (encoding: string, body: Uint8Array) => {
    const reply = await infer(encoding, body);
    const { error, code } = json(reply) as { error: string; code: string };
    return [reply.status, error, code];
  };
  assert.deepEqual(await refused('br', plain), [415, "Content-Encoding 'br' is not supported; send gzip, deflate or identity", 'ERR_SERVABLE_UNSUPPORTED_CONTENT_ENCODING']);
  assert.deepEqual(await refused('gzip, gzip', gzipSync(gzipSync(plain))), [415, "Content-Encoding 'gzip, gzip' is not supported; send gzip, deflate or identity", 'ERR_SERVABLE_UNSUPPORTED_CONTENT_ENCODING']);
  assert.deepEqual(await refused('gzip', plain), [400, 'The request body is not valid gzip data (Content-Encoding: gzip)', 'ERR_SERVABLE_INVALID_INPUT']);
  assert.equal((json(await infer('deflate', plain)) as { code: string }).code, 'ERR_SERVABLE_INVALID_INPUT');
  // 10 MB of zeros compress to about 10 KB: refused once 4096 bytes have been inflated.
  const bomb = gzipSync(new Uint8Array(10 * 1024 * 1024));
  assert.deepEqual(await refused('gzip', bomb.subarray(0, 4000)), [413, 'The request body is larger than the limit of 4096 bytes', 'ERR_SERVABLE_PAYLOAD_TOO_LARGE']);
  await registry.close();
});

test('binary BOOL bytes other than 0 and 1 are true, and reach the model as 1', async () => {
  const { registry, http } = await setup();
  const header = JSON.stringify({
    inputs: [
      { name: 'a', datatype: 'INT64', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] },
      { name: 'flag', datatype: 'BOOL', shape: [3], parameters: { binary_data_size: 3 } },
    ],
  });
  const body = new Uint8Array([...new TextEncoder().encode(header), 0xff, 0, 2]);
  const reply = await http.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: { 'inference-header-content-length': String(header.length) }, body });
  assert.equal(reply.status, 200, String(reply.body));
  // The model answers 1 - flag: false for every true input.
  assert.deepEqual((json(reply) as { outputs: { name: string; data: unknown }[] }).outputs.find((o) => o.name === 'flag')!.data, [false, true, false]);
  await registry.close();
});

test('Accept-Encoding picks the compression with the highest weight, gzip on a tie; * weighs only the codings not named', () => {
  const cases: [string | string[] | undefined, string | undefined][] = [
    [undefined, undefined],
    ['gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['*', 'gzip'],
    ['deflate, gzip', 'gzip'],
    ['deflate;q=0.9, gzip;q=0.8', 'deflate'],
    [['br', 'deflate ; Q=0.5'], 'deflate'],
    ['gzip;q=0, deflate;q=0', undefined],
    ['gzip;q=1.5', undefined],
    ['gzip;q=abc, deflate;q=0.001', 'deflate'],
    ['identity, br, zstd', undefined],
    ['gzip;q=0, *', 'deflate'],
    ['*, gzip;q=0', 'deflate'],
    ['gzip;q=0, deflate;q=0, *', undefined],
    ['gzip;q=0, deflate;q=0.5, *', 'deflate'],
    ['deflate;q=0.5, *;q=0.8', 'gzip'],
  ];
  for (const [header, format] of cases) assert.equal(acceptedFormat(header), format, String(header));
});

test('compressReplies: false sends replies as they are; a value that is no boolean is refused', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'echo', source: echo(), warmup: [] });
  const service = new InferenceService({ registry });
  const body = JSON.stringify({
    inputs: [
      { name: 'a', datatype: 'INT64', shape: [200, 2], data: Array.from({ length: 400 }, (_, i) => i) },
      { name: 'flag', datatype: 'BOOL', shape: [200], data: new Array(200).fill(true) },
    ],
  });
  const infer = (http: ReturnType<typeof createHttpHandler>) => http.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: { 'accept-encoding': 'gzip' }, body });
  const compressed = await infer(createHttpHandler({ service }));
  const plain = await infer(createHttpHandler({ service, compressReplies: false }));
  assert.deepEqual([compressed.headers['content-encoding'], plain.headers['content-encoding'], plain.headers.vary], ['gzip', undefined, undefined]);
  assert.equal(gunzipSync(compressed.body as Uint8Array).toString(), plain.body);
  // Binary outputs: the header length counts the JSON before compression; the client inflates, then splits.
  const binaryBody = body.replace('"inputs"', '"parameters":{"binary_data_output":true},"inputs"');
  const binary = await createHttpHandler({ service }).handle({ method: 'POST', path: '/v2/models/echo/infer', headers: { 'accept-encoding': 'gzip' }, body: binaryBody });
  const inflated = gunzipSync(binary.body as Uint8Array);
  const headerLength = Number(binary.headers['inference-header-content-length']);
  const header = JSON.parse(inflated.subarray(0, headerLength).toString()) as { outputs: { name: string; parameters: { binary_data_size: number } }[] };
  assert.deepEqual(header.outputs.map((o) => [o.name, o.parameters.binary_data_size]), [['a', 3200], ['half', 400], ['flag', 200]]);
  assert.deepEqual([...new BigInt64Array(inflated.buffer.slice(inflated.byteOffset + headerLength, inflated.byteOffset + headerLength + 32))], [0n, 1n, 2n, 3n]);
  assert.equal(inflated.byteLength, headerLength + 3800);
  assert.throws(() => createHttpHandler({ service, compressReplies: 'yes' as never }), {
    name: 'TypeError',
    message: 'Expected `compressReplies` to be a boolean, got "yes" (string)',
  });
  await registry.close();
});

test("only inference replies are compressed: tritonclient's asyncio client asks for gzip on every request but inflates only those", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const names = Array.from({ length: 24 }, (_, i) => `past_key_values.${i}.key`);
  await registry.load({ name: 'gpt2', source: { ...echo(), inputs: names.map((name) => ({ name, datatype: 'FP32', shape: [-1, 12, -1, 64] })) }, warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  // aiohttp's default Accept-Encoding; the client json.loads these bodies as they come.
  const headers = { 'accept-encoding': 'gzip, deflate' };
  for (const path of ['/v2/models/gpt2', '/v2/models/gpt2/versions/1', '/v1/models/gpt2/metadata']) {
    const reply = await http.handle({ method: 'GET', path, headers });
    assert.deepEqual([reply.status, reply.headers['content-encoding'], reply.headers.vary], [200, undefined, undefined], path);
    assert.ok((reply.body as string).length >= 1024, path);
    assert.equal(typeof JSON.parse(reply.body as string), 'object');
  }
  await registry.close();
});

test('once the registry is closing, every model route is a 503, not a 404, and nothing reads as ready', async () => {
  const { registry, http } = await setup();
  const body = JSON.stringify({ inputs: [{ name: 'a', datatype: 'INT64', shape: [1, 2], data: [1, 2] }, { name: 'flag', datatype: 'BOOL', shape: [1], data: [true] }] });
  const requests: HttpRequest[] = [
    { method: 'POST', path: '/v2/models/echo/infer', headers: {}, body },
    { method: 'GET', path: '/v2/models/echo', headers: {} },
    { method: 'POST', path: '/v1/models/echo:predict', headers: {}, body: '{"instances": [{"a": [1, 2], "flag": true}]}' },
    { method: 'GET', path: '/v1/models/echo', headers: {} },
  ];
  const answers = async () => Promise.all(requests.map(async (r) => {
    const reply = await http.handle(r);
    return [reply.status, (json(reply) as { error: string }).error];
  }));
  const unready = async () => Promise.all(['/v2/health/ready', '/v2/models/echo/ready', '/v2/models/echo/versions/1/ready'].map(async (path) => {
    const reply = await http.handle(get(path));
    return [reply.status, json(reply)];
  }));
  const closedReadiness = [[503, { ready: false }], [503, { name: 'echo', ready: false }], [503, { name: 'echo', version: '1', ready: false }]];
  const closing = registry.close();
  const closed = [503, 'The registry is closed'];
  assert.deepEqual(await answers(), [closed, closed, closed, closed]);
  assert.deepEqual(await unready(), closedReadiness);
  await closing;
  assert.deepEqual(await answers(), [closed, closed, closed, closed]);
  assert.deepEqual(await unready(), closedReadiness);
});

test('a binary body sent without Inference-Header-Content-Length is told what it lacks', async () => {
  const { registry, http } = await setup();
  const reply = await http.handle({ method: 'POST', path: '/v2/models/echo/infer', headers: {}, body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
  assert.deepEqual([reply.status, json(reply)], [
    400,
    { error: 'The request body is not valid UTF-8; a body with binary tensor data needs the Inference-Header-Content-Length header, the byte length of its JSON part', code: 'ERR_SERVABLE_INVALID_INPUT' },
  ]);
  await registry.close();
});

test('an inference body may hold bare NaN and Infinity, as Triton and Python clients write them; replies keep the quoted strings', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const identity: MemoryModel = {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
    run: ({ x }) => ({ y: x! }),
  };
  await registry.load({ name: 'id', source: identity, warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  const infer = (body: string) => http.handle({ method: 'POST', path: '/v2/models/id/infer', headers: {}, body });
  const reply = await infer('{"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [NaN, -Infinity, 1.5]}]}');
  assert.equal(reply.status, 200);
  assert.deepEqual(JSON.parse(String(reply.body)).outputs[0].data, ['NaN', '-Infinity', 1.5]);
  const bad = await infer('{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [NaN}');
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(String(bad.body)).error, /^The request body is not valid JSON: /);
  await registry.close();
});

test('a version the model does not have is a 404 before a body that does not decode, as Triton looks the version up first, in place, handed over and with binary data', async () => {
  const { registry } = await setup();
  registry.register({ name: 'echo', version: '2', source: echo(), warmup: [] });
  const jsonDecoder: JsonDecoder = {
    minBytes: 1024,
    infer: async (body, maxElements) => decodeInferJson(body, maxElements),
    predict: async (body, inputs, maxElements) => decodePredictJson(body, inputs, maxElements),
  };
  const http = createHttpHandler({ service: new InferenceService({ registry }), jsonDecoder });
  const small = '{"inputs": [oops]}';
  const large = `{"inputs": [${'1, '.repeat(500)}oops]}`;
  const binary = { 'inference-header-content-length': String(small.length) };
  const answers = [];
  for (const [body, headers] of [[small, {}], [large, {}], [`${small}\u0000\u0000\u0000\u0000`, binary]] as const) {
    for (const version of ['7', '1']) {
      const reply = await http.handle({ method: 'POST', path: `/v2/models/echo/versions/${version}/infer`, headers, body });
      answers.push([version, reply.status, (json(reply) as { code: string }).code]);
    }
  }
  assert.deepEqual(answers, Array(3).fill([['7', 404, 'ERR_SERVABLE_MODEL_NOT_FOUND'], ['1', 400, 'ERR_SERVABLE_INVALID_INPUT']]).flat());
  // A version known but not loaded is not loaded for a body that does not decode.
  const known = await http.handle({ method: 'POST', path: '/v2/models/echo/versions/2/infer', headers: {}, body: small });
  assert.deepEqual([known.status, registry.isReady('echo', '2')], [400, false]);
  await registry.close();
});

test('createHttpHandler refuses a service that is not an InferenceService with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => createHttpHandler({ service: {} as never }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
