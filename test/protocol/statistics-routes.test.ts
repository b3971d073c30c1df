import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry, type MemoryModel, type Tensor } from '../../src/index.js';
import { FakeClock, memoryBackend } from '../../src/testing/index.js';
import { InferenceStatistics } from '../../src/metrics/index.js';
import { createHttpHandler, type HttpHandlerOptions } from '../../src/protocol/index.js';

const identity: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  latencyMs: 2,
  run: ({ x }) => ({ x: x as Tensor }),
};

const EPOCH = 1_700_000_000_000;

async function stack(withStatistics: boolean, extra: Partial<HttpHandlerOptions> = {}) {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  const batching = { maxBatchSize: 4, maxQueueDelayMs: 0 };
  await registry.load({ name: 'm', source: identity, batching, warmup: [] });
  await registry.load({ name: 'm', version: '2', source: identity, batching, warmup: [] });
  await registry.load({ name: 'a', source: identity, batching, warmup: [] });
  const statistics = withStatistics ? new InferenceStatistics({ service, now: () => EPOCH + clock.now() }) : undefined;
  const http = createHttpHandler({ service, ...(statistics ? { statistics } : {}), ...extra });
  const get = async (path: string, method = 'GET') => {
    const reply = await http.handle({ method, path, headers: {} });
    return { status: reply.status, json: reply.body === '' ? undefined : (JSON.parse(reply.body as string) as unknown) };
  };
  return { clock, registry, service, http, get };
}

const zero = { count: 0, ns: 0 };
const idle = (name: string, version: string) => ({
  name,
  version,
  last_inference: 0,
  inference_count: 0,
  execution_count: 0,
  inference_stats: { success: zero, fail: zero, queue: zero, compute_input: zero, compute_infer: zero, compute_output: zero, cache_hit: zero, cache_miss: zero },
  batch_stats: [],
});

test('without the statistics option the routes are as before: no route, and /v2/models/stats is a model named stats', async () => {
  const { registry, get } = await stack(false);
  assert.deepEqual(await get('/v2/models/m/stats'), { status: 404, json: { error: 'No route for GET /v2/models/m/stats', code: 'ERR_SERVABLE_NO_ROUTE' } });
  assert.deepEqual(await get('/v2/models/m/versions/1/stats'), { status: 404, json: { error: 'No route for GET /v2/models/m/versions/1/stats', code: 'ERR_SERVABLE_NO_ROUTE' } });
  assert.deepEqual(await get('/v2/models/stats'), { status: 404, json: { error: "Model 'stats' not found", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' } });
  assert.deepEqual((await get('/v2')).json, { name: 'servable', version: '0.1.0', extensions: ['binary_tensor_data', 'classification', 'schedule_policy'] });
  await registry.close();
});

test("with statistics: every ready version, one model's, one version's, in Triton's shape; GET /v2 lists the extension", async () => {
  const { clock, registry, http, get } = await stack(true);
  assert.deepEqual((await get('/v2')).json, { name: 'servable', version: '0.1.0', extensions: ['binary_tensor_data', 'classification', 'schedule_policy', 'statistics'] });
  const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] }] });
  const reply = http.handle({ method: 'POST', path: '/v2/models/m/versions/1/infer', headers: {}, body });
  await clock.advanceAsync(2);
  assert.equal((await reply).status, 200);

  const served = {
    ...idle('m', '1'),
    last_inference: EPOCH + 2,
    inference_count: 3,
    execution_count: 1,
    inference_stats: {
      ...idle('m', '1').inference_stats,
      success: { count: 1, ns: 2_000_000 },
      queue: { count: 1, ns: 0 },
      compute_input: { count: 1, ns: 0 },
      compute_infer: { count: 1, ns: 2_000_000 },
      compute_output: { count: 1, ns: 0 },
    },
    batch_stats: [{ batch_size: 3, compute_input: { count: 1, ns: 0 }, compute_infer: { count: 1, ns: 2_000_000 }, compute_output: { count: 1, ns: 0 } }],
  };
  // tritonclient's get_inference_statistics(), (model_name="m") and (model_name="m", model_version="1").
  assert.deepEqual(await get('/v2/models/stats'), { status: 200, json: { model_stats: [idle('m', '2'), served, idle('a', '1')] } });
  assert.deepEqual(await get('/v2/models/m/stats'), { status: 200, json: { model_stats: [idle('m', '2'), served] } });
  assert.deepEqual(await get('/v2/models/m/versions/1/stats'), { status: 200, json: { model_stats: [served] } });
  assert.deepEqual(await get('/v2/models/m/versions/1/stats/?x=1', 'HEAD'), { status: 200, json: { model_stats: [served] } });
  await registry.close();
});

test('with statistics: an unknown model or version is a JSON 404, another method a 405, a closed registry a 503', async () => {
  const { registry, get } = await stack(true);
  assert.deepEqual(await get('/v2/models/nope/stats'), { status: 404, json: { error: "Model 'nope' not found", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' } });
  assert.deepEqual(await get('/v2/models/m/versions/9/stats'), { status: 404, json: { error: "Model 'm' has no version '9'", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' } });
  assert.deepEqual(await get('/v2/models/stats', 'POST'), { status: 405, json: { error: 'POST is not allowed here; use GET or HEAD', code: 'ERR_SERVABLE_METHOD_NOT_ALLOWED' } });
  assert.deepEqual(await get('/v2/models/m/stats', 'POST'), { status: 405, json: { error: 'POST is not allowed here; use GET or HEAD', code: 'ERR_SERVABLE_METHOD_NOT_ALLOWED' } });
  // A model named stats keeps its other routes; only its metadata's path is taken, as in Triton.
  await registry.load({ name: 'stats', source: identity, warmup: [] });
  assert.equal((await get('/v2/models/stats/versions/1')).status, 200);
  assert.deepEqual((await get('/v2/models/stats/stats')).json, { model_stats: [idle('stats', '1')] });
  await registry.close();
  assert.equal((await get('/v2/models/m/stats')).status, 503);
  assert.deepEqual(await get('/v2/models/stats'), { status: 503, json: { error: 'The registry is closed', code: 'ERR_SERVABLE_CLOSED' } });
});

test('the statistics option is checked, quoting the bad value', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  assert.throws(() => createHttpHandler({ service, statistics: {} as never }), {
    name: 'TypeError',
    message: 'Expected `statistics` to be a StatisticsSource ({versionStatistics}), e.g. an InferenceStatistics, got {} (object)',
  });
});
