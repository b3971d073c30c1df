import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClosedError,
  InferenceService,
  ModelNotReadyError,
  ModelRegistry,
  OverloadedError,
  QueueFullError,
  UnavailableError,
  memoryBackend,
  type MemoryModel,
  type Tensor,
} from '../../src/index.js';
import { createHttpHandler, type HttpHandler, type HttpResponse } from '../../src/protocol/index.js';
import { until } from '../fixtures/until.js';

/** y = x, FP32 [n, 1]; `gate` holds every run until it resolves. */
function identity(gate?: () => Promise<void>): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
    async run({ x }) {
      await gate?.();
      return { y: x as Tensor };
    },
  };
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => opened, open };
}

const oip = (value: number) => JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [value] }] });
const tf = (value: number) => JSON.stringify({ instances: [[value]] });

/** A reply as [status, Retry-After, body]. */
function answer(reply: HttpResponse): [number, string | undefined, unknown] {
  return [reply.status, reply.headers['retry-after'], JSON.parse(reply.body as string)];
}

function post(http: HttpHandler, path: string, body: string): Promise<HttpResponse> {
  return http.handle({ method: 'POST', path, headers: {}, body });
}

test('backpressureStatus 429 answers a full queue and a request shed as overload with 429, Retry-After and the same body, on /infer and :predict; every other 503 stays a 503', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: identity(), warmup: [] });
  const service = new InferenceService({ registry });
  const by = {
    default: createHttpHandler({ service }),
    503: createHttpHandler({ service, backpressureStatus: 503 }),
    429: createHttpHandler({ service, backpressureStatus: 429 }),
  };
  const cases: [Error, string | undefined][] = [
    [new QueueFullError('full', 1_500), '2'],
    [new OverloadedError('shed', 1_200), '2'],
    [new ModelNotReadyError('draining'), '1'],
    [new ModelNotReadyError('failed', { retryAfterMs: null }), undefined],
    [new UnavailableError('short'), '1'],
    [new ClosedError('closed'), undefined],
  ];
  const seen: unknown[] = [];
  for (const [error, retryAfter] of cases) {
    // :predict hands the version it holds to infer(), which releases it.
    service.infer = (_model, _request, options) => (options?.hold?.release(), Promise.reject(error));
    for (const [setting, http] of Object.entries(by)) {
      for (const [path, body] of [['/v2/models/m/infer', oip(1)], ['/v1/models/m:predict', tf(1)]] as const) {
        const [status, header, reply] = answer(await post(http, path, body));
        seen.push([error.message, setting, path, status, header]);
        assert.deepEqual(reply, { error: error.message, code: (error as QueueFullError).code }, `${error.message} ${setting} ${path}: the body is unchanged`);
        assert.equal(header, retryAfter, `${error.message} ${setting} ${path}: Retry-After`);
      }
    }
  }
  const expected = cases.flatMap(([error, retryAfter]) =>
    ['default', '503', '429'].flatMap((setting) =>
      ['/v2/models/m/infer', '/v1/models/m:predict'].map((path) => {
        const backpressure = error instanceof QueueFullError || error instanceof OverloadedError;
        return [error.message, setting, path, backpressure && setting === '429' ? 429 : 503, retryAfter];
      }),
    ),
  );
  // Object.entries lists integer-like keys first, in ascending order.
  const order = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
  assert.deepEqual(order(seen), order(expected));
  await registry.close();
});

test('under backpressureStatus 429 a real full queue answers 429 with Retry-After, while a version loading and a closed registry still answer 503', async () => {
  const g = gate();
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: identity(g.wait), batching: { maxBatchSize: 1, maxQueueSize: 1 }, warmup: [] });
  const service = new InferenceService({ registry });
  const http = createHttpHandler({ service, backpressureStatus: 429 });
  const running = post(http, '/v2/models/m/infer', oip(1));
  const queue = () => registry.queues().find((q) => q.version === '1');
  await until(() => queue()?.inFlight === 1, 'the first run');
  const queued = post(http, '/v2/models/m/infer', oip(2));
  await until(() => queue()?.queued === 1, 'the second request to queue');
  const full = answer(await post(http, '/v2/models/m/infer', oip(3)));
  const fullTf = answer(await post(http, '/v1/models/m:predict', tf(3)));
  assert.deepEqual([full[0], (full[2] as { code: string }).code, fullTf[0], (fullTf[2] as { code: string }).code], [429, 'ERR_SERVABLE_QUEUE_FULL', 429, 'ERR_SERVABLE_QUEUE_FULL']);
  assert.match(full[1] ?? '', /^\d+$/, 'Retry-After in whole seconds');
  assert.match(fullTf[1] ?? '', /^\d+$/, 'Retry-After in whole seconds');
  assert.match((fullTf[2] as { error: string }).error, /^The queue is full/, 'TF-Serving keeps its {"error"} shape');

  // Version 2 loads (its warm-up run waits at a gate of its own): its metadata is a 503 with Retry-After, not a 429.
  const g2 = gate();
  const loading = registry.load({ name: 'm', version: '2', source: identity(g2.wait) });
  await until(() => registry.versions('m').some((v) => v.version === '2' && v.state === 'loading'), 'version 2 loading');
  const metadata = answer(await http.handle({ method: 'GET', path: '/v2/models/m/versions/2', headers: {} }));
  assert.deepEqual([metadata[0], metadata[1], (metadata[2] as { code: string }).code], [503, '1', 'ERR_SERVABLE_MODEL_NOT_READY'], 'a version loading');
  g2.open();
  await loading;

  g.open();
  assert.equal((await running).status, 200);
  assert.equal((await queued).status, 200);
  await registry.close();
  const closed = answer(await post(http, '/v2/models/m/infer', oip(5)));
  assert.deepEqual([closed[0], closed[1], (closed[2] as { code: string }).code], [503, undefined, 'ERR_SERVABLE_CLOSED'], 'a closed registry');
});

test('backpressureStatus is 503 or 429, and anything else is refused at construction, quoting it', () => {
  const service = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  for (const [bad, quoted] of [[430, '430 (number)'], ['429', '"429" (string)'], [500, '500 (number)'], ['Too Many Requests', '"Too Many Requests" (string)']] as const) {
    assert.throws(() => createHttpHandler({ service, backpressureStatus: bad as never }), {
      name: 'TypeError',
      message: `Expected \`backpressureStatus\` to be one of 503, 429, got ${quoted}`,
    });
  }
  for (const good of [503, 429, undefined] as const) assert.doesNotThrow(() => createHttpHandler({ service, backpressureStatus: good }), String(good));
});

test('Retry-After is retryAfterMs in whole seconds rounded up: never 0 for a wait above 0, however small, never a fraction, on /infer and :predict', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: identity(), warmup: [] });
  const service = new InferenceService({ registry });
  const http = createHttpHandler({ service });
  const waits = [0, Number.MIN_VALUE, 1e-300, 1e-9, 0.5, 999.999, 1000, 1000.001, 2500];
  for (const [path, body] of [['/v2/models/m/infer', oip(1)], ['/v1/models/m:predict', tf(1)]] as const) {
    const headers: (string | undefined)[] = [];
    for (const retryAfterMs of waits) {
      service.infer = (_model, _request, options) => (options?.hold?.release(), Promise.reject(new ModelNotReadyError('soon', { retryAfterMs })));
      headers.push(answer(await post(http, path, body))[1]);
    }
    assert.deepEqual(headers, ['0', '1', '1', '1', '1', '1', '1', '2', '3'], path);
  }
  await registry.close();
});
