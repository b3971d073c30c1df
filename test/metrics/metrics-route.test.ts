import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Counter, Gauge, Registry } from 'prom-client';
import { InferenceService, InvalidInputError, ModelRegistry, type MemoryModel, type Tensor } from '../../src/index.js';
import { FakeClock, memoryBackend } from '../../src/testing/index.js';
import { ServingMetrics, metricsHandler } from '../../src/metrics/index.js';
import { sample } from './exposition.js';

const promtool = spawnSync('promtool', ['--version']).status === 0;
const skipPromtool = promtool ? false : 'promtool is not installed (Debian/Ubuntu: apt-get install prometheus; or put the binary from prometheus.io on PATH)';

/** Lints an exposition with `promtool check metrics`: its exit code and what it printed. */
function check(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

const identity: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
  latencyMs: 2,
  run: ({ x }) => ({ y: x! }),
};

function rows(n: number) {
  return { inputs: { x: { datatype: 'FP32', shape: [n, 2], data: new Float32Array(2 * n) } as Tensor } };
}

test('GET /metrics serves real serving metrics that promtool accepts', { skip: skipPromtool }, async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  await registry.load({ name: 'cls', version: '2', source: identity, batching: { maxBatchSize: 2, maxQueueDelayMs: 1 }, warmup: [] });

  const answers = [service.infer('cls', rows(1)), service.infer('cls', rows(1)), service.infer('cls', rows(1))];
  const wrongShape = { inputs: { x: { datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) } as Tensor } };
  await assert.rejects(service.infer('cls', wrongShape), InvalidInputError);
  await clock.advanceAsync(2); // the first two run as a full batch
  await clock.advanceAsync(3); // the third waited 1 ms, then ran alone
  await Promise.all(answers);

  const response = await metricsHandler(promRegistry)();
  assert.equal(response.status, 200);
  assert.deepEqual(response.headers, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  const v = { model: 'cls', version: '2' };
  assert.equal(sample(response.body, 'servable_requests_total', { ...v, outcome: 'success' }), 3);
  assert.equal(sample(response.body, 'servable_requests_total', { ...v, outcome: 'invalid' }), 1);
  assert.equal(sample(response.body, 'servable_batch_size_items_count', v), 2);
  assert.equal(sample(response.body, 'servable_batch_size_items_sum', v), 3);
  assert.equal(sample(response.body, 'servable_inference_executions_total', { ...v, reason: 'full' }), 1);
  assert.equal(sample(response.body, 'servable_inference_executions_total', { ...v, reason: 'delay' }), 1);

  assert.deepEqual(check(response.body), { status: 0, output: '' });
  assert.equal(check('# TYPE broken counter\nbroken 1\n').status, 3, 'promtool does flag a bad exposition');
  await registry.close();
});

test('several registries are merged into one page; a failing collector gives a 500', { skip: skipPromtool }, async () => {
  const serving = new Registry();
  const app = new Registry();
  new Counter({ name: 'app_logins_total', help: 'Logins.', registers: [app] }).inc(7);
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  new ServingMetrics({ promRegistry: serving, registry });
  await registry.load({ name: 'cls', source: identity, warmup: [] });

  const merged = await metricsHandler([serving, app])();
  assert.equal(merged.status, 200);
  assert.equal(sample(merged.body, 'app_logins_total'), 7);
  assert.equal(sample(merged.body, 'servable_model_version_info', { model: 'cls', version: '1', backend: 'memory', device: 'cpu', state: 'ready' }), 1);
  assert.deepEqual(check(merged.body), { status: 0, output: '' });

  new Gauge({
    name: 'app_broken',
    help: 'Throws when collected.',
    registers: [app],
    collect() {
      throw new Error('sensor offline');
    },
  });
  assert.deepEqual(await metricsHandler(app)(), {
    status: 500,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: 'Collecting metrics failed: sensor offline\n',
  });
  await registry.close();
});

test('an OpenMetrics registry is taken, typed as prom-client types it, and served as OpenMetrics', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const promRegistry = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
  const app = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
  for (const r of [promRegistry, app]) r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  new Counter({ name: 'app_logins', help: 'Logins.', registers: [app] }).inc(2);
  new ServingMetrics({ promRegistry, registry });
  for (const scrape of [metricsHandler(promRegistry), metricsHandler([promRegistry, app])]) {
    const { status, headers, body } = await scrape();
    assert.equal(status, 200);
    assert.equal(headers['content-type'], Registry.OPENMETRICS_CONTENT_TYPE);
    assert.match(body, /# EOF\n$/);
  }
  await registry.close();
});

test('promtool lints the Prometheus text format only: the same metrics as OpenMetrics fail it, as metrics.md says', { skip: skipPromtool }, async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const text = new Registry();
  const openMetrics = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const promRegistry of [text, openMetrics]) new ServingMetrics({ promRegistry, registry });
  // Before any counter has a sample, the OpenMetrics page passes: only a counter's samples fail it.
  assert.deepEqual(check((await metricsHandler(openMetrics)()).body), { status: 0, output: '' });
  await registry.load({ name: 'cls', source: identity, warmup: [] });
  assert.deepEqual(check((await metricsHandler(text)()).body), { status: 0, output: '' });
  const linted = check((await metricsHandler(openMetrics)()).body);
  assert.equal(linted.status, 3, 'promtool refuses the OpenMetrics page');
  assert.match(linted.output, /^servable_model_loads_total no help text$/m);
  await registry.close();
});

test('metricsHandler checks its argument', () => {
  assert.throws(() => metricsHandler([]), { message: 'Expected `registries` to hold at least one prom-client Registry, got [] (array)' });
  assert.throws(() => metricsHandler([new Registry(), {} as Registry]), {
    message: 'Expected `registries[1]` to be a prom-client Registry (pass `register` from prom-client for its global one), got {} (object)',
  });
  // prom-client merges only registries of one format: the handler would answer every scrape with a 500.
  const openMetrics = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  assert.throws(() => metricsHandler([new Registry(), new Registry(), openMetrics]), {
    message: `Expected \`registries\` to share one content type, got '${Registry.PROMETHEUS_CONTENT_TYPE}' (registries[0]) and '${Registry.OPENMETRICS_CONTENT_TYPE}' (registries[2])`,
  });
});
