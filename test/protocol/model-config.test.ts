import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensemble, InferenceService, ModelRegistry, type MemoryModel, type Tensor } from '../../src/index.js';
import { FakeClock, memoryBackend } from '../../src/testing/index.js';
import { createHttpHandler } from '../../src/protocol/index.js';
import { DEFAULT_MAX_QUEUE_SIZE } from '../../src/batching/index.js';

const image: MemoryModel = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] },
    { name: 's', datatype: 'BYTES', shape: [-1, 2] },
  ],
  outputs: [{ name: 'y', datatype: 'INT64', shape: [-1, 2] }],
  run: ({ x }) => ({ y: x as Tensor }),
};

async function stack() {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  const batching = {
    maxBatchSize: 8,
    preferredBatchSizes: [4, 8],
    maxQueueDelayMs: 2,
    priorityLevels: 2,
    defaultPriority: 2,
    timeoutAction: 'reject' as const,
    defaultTimeoutMs: 500,
    maxQueueSize: 256,
    queuePolicies: { 1: { timeoutAction: 'delay' as const, defaultTimeoutMs: 100, maxQueueSize: 64 } },
  };
  await registry.load({ name: 'm', source: image, batching, warmup: [], versionPolicy: { latest: 2 } });
  await registry.load({ name: 'm', version: '2', source: image, batching: { maxBatchSize: 4, maxQueueDelayMs: 0.0005, maxQueueSize: Infinity }, warmup: [] });
  await registry.load({ name: 'single', source: image, warmup: [] });
  const http = createHttpHandler({ service });
  const get = async (path: string, method = 'GET') => {
    const reply = await http.handle({ method, path, headers: {} });
    return { status: reply.status, json: reply.body === '' ? undefined : (JSON.parse(reply.body as string) as unknown) };
  };
  return { registry, get };
}

const tensors = (batched: boolean) => ({
  input: [
    { name: 'x', data_type: 'TYPE_FP32', dims: batched ? [3, 48, 192] : [-1, 3, 48, 192] },
    { name: 's', data_type: 'TYPE_STRING', dims: batched ? [2] : [-1, 2] },
  ],
  output: [{ name: 'y', data_type: 'TYPE_INT64', dims: batched ? [2] : [-1, 2] }],
});

test("GET /v2/models/{m}/versions/{v}/config: Triton's ModelConfig JSON, batching in microseconds, dims without the batch dimension", async () => {
  const { registry, get } = await stack();
  assert.deepEqual(await get('/v2/models/m/versions/1/config'), {
    status: 200,
    json: {
      name: 'm',
      platform: '',
      backend: 'memory',
      version_policy: { latest: { num_versions: 2 } },
      max_batch_size: 8,
      ...tensors(true),
      dynamic_batching: {
        preferred_batch_size: [4, 8],
        max_queue_delay_microseconds: 2000,
        preserve_ordering: false,
        priority_levels: 2,
        default_priority_level: 2,
        default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 500_000, allow_timeout_override: true, max_queue_size: 256 },
        priority_queue_policy: { 1: { timeout_action: 'DELAY', default_timeout_microseconds: 100_000, allow_timeout_override: true, max_queue_size: 64 } },
      },
      instance_group: [{ name: 'm_0', kind: 'KIND_CPU', count: 1 }],
    },
  });
  await registry.close();
});

test('the default version without a version in the URL; no priorities, an unbounded queue and a sub-microsecond delay; HEAD as GET', async () => {
  const { registry, get } = await stack();
  const expected = {
    status: 200,
    json: {
      name: 'm',
      platform: '',
      backend: 'memory',
      version_policy: { latest: { num_versions: 2 } },
      max_batch_size: 4,
      ...tensors(true),
      dynamic_batching: {
        preferred_batch_size: [],
        max_queue_delay_microseconds: 1,
        preserve_ordering: false,
        priority_levels: 0,
        default_priority_level: 0,
        default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: true, max_queue_size: 0 },
        priority_queue_policy: {},
      },
      instance_group: [{ name: 'm_0', kind: 'KIND_CPU', count: 1 }],
    },
  };
  assert.deepEqual(await get('/v2/models/m/config'), expected);
  assert.deepEqual(await get('/v2/models/m/versions/2/config/'), expected);
  assert.equal((await get('/v2/models/m/config', 'HEAD')).status, 200);
  await registry.close();
});

test('a model without batching: max_batch_size 0, dims with every dimension, no dynamic_batching; version policy all', async () => {
  const { registry, get } = await stack();
  assert.deepEqual(await get('/v2/models/single/config'), {
    status: 200,
    json: {
      name: 'single',
      platform: '',
      backend: 'memory',
      version_policy: { all: {} },
      max_batch_size: 0,
      ...tensors(false),
      instance_group: [{ name: 'single_0', kind: 'KIND_CPU', count: 1 }],
    },
  });
  await registry.close();
});

test('an unknown model or version is a 404, a version not ready a 503, a POST a 405', async () => {
  const { registry, get } = await stack();
  assert.deepEqual(await get('/v2/models/nope/config'), { status: 404, json: { error: "Model 'nope' not found", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' } });
  assert.equal((await get('/v2/models/m/versions/9/config')).status, 404);
  assert.equal((await get('/v2/models/m/config', 'POST')).status, 405);
  await registry.unload('single');
  assert.equal((await get('/v2/models/single/config')).status, 404);
  // Known but not loaded, as the model's metadata.
  registry.register({ name: 'later', source: image, warmup: [] });
  assert.deepEqual(await get('/v2/models/later/config'), await get('/v2/models/later'));
  assert.equal((await get('/v2/models/later/config')).status, 503);
  await registry.close();
});

test("version_policy follows the model's policy: specific versions as Triton's integers, a name that is not one as its string", async () => {
  const { registry, get } = await stack();
  const policy = async () => ((await get('/v2/models/m/config')).json as { version_policy: unknown }).version_policy;
  registry.setVersionPolicy('m', { specific: ['1', '2'] });
  assert.deepEqual(await policy(), { specific: { versions: [1, 2] } });
  registry.setVersionPolicy('m', 'all');
  assert.deepEqual(await policy(), { all: {} });
  registry.setVersionPolicy('m', { specific: ['2', 'exp'] });
  assert.deepEqual(await policy(), { specific: { versions: [2, 'exp'] } });
  await registry.close();
});

test("without priorityLevels a queuePolicies[1] is every request's policy: Triton's default_queue_policy, as Triton ignores priority_queue_policy at 0 levels", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const http = createHttpHandler({ service: new InferenceService({ registry, clock }) });
  await registry.load({ name: 'one', source: image, batching: { maxBatchSize: 4, defaultTimeoutMs: 5, queuePolicies: { 1: { timeoutAction: 'delay', maxQueueSize: 8 } } }, warmup: [] });
  const reply = await http.handle({ method: 'GET', path: '/v2/models/one/config', headers: {} });
  const { dynamic_batching: batching } = JSON.parse(reply.body as string) as { dynamic_batching: Record<string, unknown> };
  assert.deepEqual([batching.priority_levels, batching.default_queue_policy, batching.priority_queue_policy], [
    0,
    { timeout_action: 'DELAY', default_timeout_microseconds: 5000, allow_timeout_override: true, max_queue_size: 8 },
    {},
  ]);
  await registry.close();
});

test('a timeout under half a microsecond is 1 microsecond, not 0, which Triton reads as no timeout', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const http = createHttpHandler({ service: new InferenceService({ registry, clock }) });
  await registry.load({ name: 'short', source: image, batching: { maxBatchSize: 4, maxQueueDelayMs: 0.0001, defaultTimeoutMs: 0.0001 }, warmup: [] });
  const reply = await http.handle({ method: 'GET', path: '/v2/models/short/config', headers: {} });
  const { dynamic_batching: batching } = JSON.parse(reply.body as string) as { dynamic_batching: { max_queue_delay_microseconds: number; default_queue_policy: Record<string, unknown> } };
  assert.deepEqual([batching.max_queue_delay_microseconds, batching.default_queue_policy.default_timeout_microseconds], [0, 1]);
  await registry.close();
});

test("a maxQueueSize past Triton's uint32 max_queue_size is written as its largest, which a protobuf reader can parse", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const http = createHttpHandler({ service: new InferenceService({ registry, clock }) });
  await registry.load({ name: 'big', source: image, batching: { maxBatchSize: 4, maxQueueSize: 2 ** 40 }, warmup: [] });
  const reply = await http.handle({ method: 'GET', path: '/v2/models/big/config', headers: {} });
  const { dynamic_batching: batching } = JSON.parse(reply.body as string) as { dynamic_batching: { default_queue_policy: Record<string, unknown> } };
  assert.equal(batching.default_queue_policy.max_queue_size, 4_294_967_295);
  await registry.close();
});

test("a model that sets no maxQueueSize reports the batcher's own default", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const http = createHttpHandler({ service: new InferenceService({ registry, clock }) });
  await registry.load({ name: 'plain', source: image, batching: { maxBatchSize: 4 }, warmup: [] });
  const reply = await http.handle({ method: 'GET', path: '/v2/models/plain/config', headers: {} });
  const { dynamic_batching: batching } = JSON.parse(reply.body as string) as { dynamic_batching: { default_queue_policy: Record<string, unknown> } };
  assert.equal(batching.default_queue_policy.max_queue_size, DEFAULT_MAX_QUEUE_SIZE);
  await registry.close();
});

test("a model's declared versionPolicy, which its loader applies itself, is the version_policy reported; declared is checked", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const http = createHttpHandler({ service: new InferenceService({ registry, clock }) });
  await registry.load({ name: 'kept', source: image, versionPolicy: 'all', declared: { versionPolicy: { latest: 1 } }, warmup: [] });
  await registry.load({ name: 'kept', version: '2', source: image, declared: { versionPolicy: { latest: 1 } }, warmup: [] });
  const reply = await http.handle({ method: 'GET', path: '/v2/models/kept/versions/1/config', headers: {} });
  assert.deepEqual((JSON.parse(reply.body as string) as { version_policy: unknown }).version_policy, { latest: { num_versions: 1 } });
  // Nothing the registry does changes: under its 'all' both versions still serve.
  assert.deepEqual(registry.versions('kept').map((v) => [v.version, v.state]), [['2', 'ready'], ['1', 'ready']]);
  const load = (declared: unknown) => registry.load({ name: 'bad', source: image, declared: declared as never, warmup: [] });
  await assert.rejects(load('all'), { name: 'TypeError', message: 'Expected `declared` to be an object, got "all" (string)' });
  await assert.rejects(load({ policy: 'all' }), { name: 'TypeError', message: 'Unknown option `declared.policy`; `declared` takes versionPolicy, labelFiles' });
  await assert.rejects(load({ versionPolicy: { latest: 0 } }), { name: 'RangeError', message: /^Expected `declared.versionPolicy.latest` to be/ });
  await assert.rejects(load({ labelFiles: ['labels.txt'] }), { name: 'TypeError', message: 'Expected `declared.labelFiles` to be an object, got ["labels.txt"] (array)' });
  await assert.rejects(load({ labelFiles: { y: 3 } }), { name: 'TypeError', message: /^Expected `declared.labelFiles.y` to be a non-empty string, got 3/ });
  await registry.close();
});

test("an output's declared label file is its label_filename; other outputs, and models without, have none", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const http = createHttpHandler({ service: new InferenceService({ registry, clock }) });
  const twoOutputs: MemoryModel = { ...image, outputs: [...image.outputs, { name: 'constructor', datatype: 'FP32', shape: [-1] }] };
  await registry.load({ name: 'named', source: twoOutputs, classLabels: { y: ['cat', 'dog'] }, declared: { labelFiles: { y: 'labels.txt' } }, warmup: [] });
  await registry.load({ name: 'held', source: twoOutputs, classLabels: { y: ['cat', 'dog'] }, warmup: [] });
  const outputs = async (model: string) => (JSON.parse((await http.handle({ method: 'GET', path: `/v2/models/${model}/config`, headers: {} })).body as string) as { output: unknown }).output;
  assert.deepEqual(await outputs('named'), [
    { name: 'y', data_type: 'TYPE_INT64', dims: [-1, 2], label_filename: 'labels.txt' },
    { name: 'constructor', data_type: 'TYPE_FP32', dims: [-1] },
  ]);
  assert.deepEqual(await outputs('held'), [
    { name: 'y', data_type: 'TYPE_INT64', dims: [-1, 2] },
    { name: 'constructor', data_type: 'TYPE_FP32', dims: [-1] },
  ]);
  await registry.close();
});

test("a declared label file names an output given classLabels: a misspelt one is refused, not silently reported for none", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const load = (config: object) => registry.load({ name: 'bad', source: image, warmup: [], ...config });
  await assert.rejects(load({ classLabels: { y: ['cat', 'dog'] }, declared: { labelFiles: { prob: 'labels.txt' } } }), {
    name: 'TypeError',
    message: 'Expected `declared.labelFiles` to name outputs given `classLabels` (\'y\'), got "prob" (string)',
  });
  await assert.rejects(load({ declared: { labelFiles: { y: 'labels.txt' } } }), {
    name: 'TypeError',
    message: 'Expected `declared.labelFiles` to name outputs given `classLabels` (none), got "y" (string)',
  });
  assert.equal(registry.has('bad'), false);
  await registry.close();
});

/** A step model for the ensembles below: `out` is its input `in`. */
const passThrough: MemoryModel = {
  inputs: [{ name: 'in', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'out', datatype: 'FP32', shape: [-1, 2] }],
  run: ({ in: x }) => ({ out: x as Tensor }),
};

test("an ensemble's config has Triton's ensemble_scheduling: its model steps, each with model_version (-1 for the default version, a pinned or labelled one as its integer) and the maps from the step model's tensors to the ensemble's", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'a', source: passThrough, warmup: [] });
  await registry.load({ name: 'a', version: '2', source: passThrough, warmup: [] });
  await registry.load({ name: 'b', version: '3', source: passThrough, warmup: [], labels: ['stable'] });
  await registry.load({
    name: 'pipe',
    source: ensemble({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
      outputs: [{ name: 'z', datatype: 'FP32', shape: [-1, 2] }],
      steps: [
        { model: 'a', inputMap: { in: 'x' }, outputMap: { out: 'y' } },
        { name: 'negate', transform: ({ v }) => ({ w: v! }), inputMap: { v: 'y' }, outputMap: { w: 'minus_y' } },
        { model: 'a', version: '2', inputMap: { in: 'minus_y' }, outputMap: { out: 'y2' } },
        { model: 'b', label: 'stable', inputMap: { in: 'y2' }, outputMap: { out: 'z' } },
      ],
    }),
  });
  const service = new InferenceService({ registry, clock });
  const http = createHttpHandler({ service });
  const reply = await http.handle({ method: 'GET', path: '/v2/models/pipe/config', headers: {} });
  assert.equal(reply.status, 200);
  const config = JSON.parse(reply.body as string) as Record<string, unknown>;
  assert.deepEqual([config.platform, config.backend, config.max_batch_size], ['ensemble', '', 0]);
  // The transform step has no Triton counterpart (a model perf_analyzer could read) and is left out.
  assert.deepEqual(config.ensemble_scheduling, {
    step: [
      { model_name: 'a', model_version: -1, input_map: { in: 'x' }, output_map: { out: 'y' } },
      { model_name: 'a', model_version: 2, input_map: { in: 'minus_y' }, output_map: { out: 'y2' } },
      { model_name: 'b', model_version: 3, input_map: { in: 'y2' }, output_map: { out: 'z' } },
    ],
  });
  // A model that is no ensemble has none.
  const plain = JSON.parse((await http.handle({ method: 'GET', path: '/v2/models/a/config', headers: {} })).body as string) as Record<string, unknown>;
  assert.equal('ensemble_scheduling' in plain, false);
  await registry.close();
});

test("a batching ensemble's config has ensemble_scheduling and no dynamic_batching: they are one choice in Triton's ModelConfig (its oneof scheduling_choice), which a protobuf parse of both refuses", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'a', source: passThrough, warmup: [] });
  await registry.load({
    name: 'pipe',
    batching: { maxBatchSize: 4, maxQueueDelayMs: 1 },
    source: ensemble({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
      steps: [{ model: 'a', inputMap: { in: 'x' }, outputMap: { out: 'y' } }],
    }),
  });
  const http = createHttpHandler({ service: new InferenceService({ registry, clock }) });
  const config = JSON.parse((await http.handle({ method: 'GET', path: '/v2/models/pipe/config', headers: {} })).body as string) as Record<string, unknown>;
  assert.equal(config.max_batch_size, 4);
  assert.deepEqual(
    ['dynamic_batching', 'sequence_batching', 'ensemble_scheduling'].filter((choice) => choice in config),
    ['ensemble_scheduling'],
  );
  await registry.close();
});
