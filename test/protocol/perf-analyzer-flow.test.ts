/**
 * Replays perf_analyzer's HTTP flow against a servable/node server with the statistics extension,
 * serving an ONNX model with batching on onnx-node, and checks the server-side breakdown it would
 * print from two stats reads.
 *
 * The flow: server metadata (GET /v2), model metadata, model config, GET /v2/models/{m}/stats
 * (no version: perf_analyzer's default), concurrent binary requests (`binary_data_output`), the
 * stats again. perf_analyzer (inference_profiler.cc) picks the version whose queue count grew,
 * subtracts the two reads field by field, and averages each duration over its own count in whole
 * microseconds (0 for a count of 0). It refuses compute_input/infer/output counts that differ;
 * its overhead is the average request time less the average queue and compute times, printed as 0
 * when that is negative. With a response cache the compute average is taken over the compute
 * count plus the cache hits, with the hit and miss times added in.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensemble, InferenceService, LruStore, ModelRegistry, ResultCache } from 'servable';
import { InferenceStatistics } from 'servable/metrics';
import { onnxNode } from 'servable/onnx-node';
import { linearModel } from '../fixtures/onnx-models.js';
import { send, servers, type Reply } from './client-servers.js';

async function getJson(base: string, path: string): Promise<{ status: number; json: unknown }> {
  const reply = await send(base, 'GET', path);
  return { status: reply.status, json: JSON.parse(reply.body.toString()) as unknown };
}

/** A binary request of `rows` rows as perf_analyzer's HTTP client builds it; the values of row r are seed + r. */
function inferBody(rows: number, seed: number): { body: Buffer; headers: Record<string, string> } {
  const x = Buffer.from(new Float32Array(Array.from({ length: rows * 3 }, (_, i) => seed + Math.floor(i / 3))).buffer);
  const json = `{"inputs":[{"name":"X","shape":[${rows},3],"datatype":"FP32","parameters":{"binary_data_size":${x.length}}}],"parameters":{"binary_data_output":true}}`;
  return { body: Buffer.concat([Buffer.from(json), x]), headers: { 'Inference-Header-Content-Length': String(json.length) } };
}

/** Y of the binary reply, checked against the model's formula for the request's rows. */
function checkReply(reply: Reply, rows: number, seed: number): void {
  assert.equal(reply.status, 200, reply.body.toString());
  const length = Number(reply.headers['inference-header-content-length']);
  const y = new Float32Array(reply.body.buffer.slice(reply.body.byteOffset + length, reply.body.byteOffset + reply.body.length));
  const v = (r: number) => seed + r;
  assert.deepEqual([...y], Array.from({ length: rows }, (_, r) => [9 * v(r) + 10, 12 * v(r) + 20]).flat());
}

type Stat = { count: number; ns: number };
type ModelStat = {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<'success' | 'fail' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output' | 'cache_hit' | 'cache_miss', Stat>;
  batch_stats: { batch_size: number; compute_input: Stat; compute_infer: Stat; compute_output: Stat }[];
};

async function stats(base: string, path: string): Promise<ModelStat[]> {
  const { status, json } = await getJson(base, path);
  assert.equal(status, 200, path);
  return (json as { model_stats: ModelStat[] }).model_stats;
}

/** DetermineStatsModelVersion without a version: the highest version whose queue count grew. */
function versionServed(start: readonly ModelStat[], end: readonly ModelStat[]): string | undefined {
  const grew = end.filter((e) => e.inference_stats.queue.count > (start.find((s) => s.version === e.version)?.inference_stats.queue.count ?? 0));
  return grew.map((e) => e.version).sort((a, b) => Number(b) - Number(a))[0];
}

/** SummarizeServerStatsHelper: each field of `end` less `start` (0 where the version was not in `start`). */
function difference(start: ModelStat | undefined, end: ModelStat): ModelStat {
  const minus = (a: Stat, b: Stat | undefined): Stat => ({ count: a.count - (b?.count ?? 0), ns: a.ns - (b?.ns ?? 0) });
  const fields = Object.keys(end.inference_stats) as (keyof ModelStat['inference_stats'])[];
  return {
    ...end,
    inference_count: end.inference_count - (start?.inference_count ?? 0),
    execution_count: end.execution_count - (start?.execution_count ?? 0),
    inference_stats: Object.fromEntries(fields.map((f) => [f, minus(end.inference_stats[f], start?.inference_stats[f])])) as ModelStat['inference_stats'],
    batch_stats: end.batch_stats.map((b) => {
      const was = start?.batch_stats.find((s) => s.batch_size === b.batch_size);
      return { batch_size: b.batch_size, compute_input: minus(b.compute_input, was?.compute_input), compute_infer: minus(b.compute_infer, was?.compute_infer), compute_output: minus(b.compute_output, was?.compute_output) };
    }),
  };
}

/** AverageDurationInUs: whole microseconds, 0 for no count. */
const averageUs = (ns: number, count: number): number => (count === 0 ? 0 : Math.floor(ns / (count * 1000)));

/** ReportServerSideStats' numbers for a model that is not an ensemble, overhead before its clamp at 0. */
function breakdown(d: ModelStat, cacheEnabled: boolean) {
  const s = d.inference_stats;
  assert.ok(s.compute_input.count === s.compute_infer.count && s.compute_infer.count === s.compute_output.count, 'Server side statistics compute counts must be the same.');
  const computeNs = s.compute_input.ns + s.compute_infer.ns + s.compute_output.ns;
  const request = averageUs(s.success.ns, s.success.count);
  const queue = averageUs(s.queue.ns, s.queue.count);
  const compute = averageUs(computeNs, s.compute_input.count);
  const combined = averageUs(s.cache_hit.ns + s.cache_miss.ns + computeNs, s.compute_input.count + s.cache_hit.count);
  return {
    request,
    queue,
    computeInput: averageUs(s.compute_input.ns, s.compute_input.count),
    computeInfer: averageUs(s.compute_infer.ns, s.compute_infer.count),
    computeOutput: averageUs(s.compute_output.ns, s.compute_output.count),
    cacheHit: averageUs(s.cache_hit.ns, s.cache_hit.count),
    cacheMiss: averageUs(s.cache_miss.ns, s.cache_miss.count),
    overhead: request - queue - (cacheEnabled ? combined : compute),
  };
}

interface Executed {
  readonly version: string;
  readonly size: number;
  readonly requests: number;
  readonly runMs: number;
  readonly failed: boolean;
}

describe('perf_analyzer over HTTP against servable/node with the statistics extension', () => {
  let registry: ModelRegistry;
  let results: ResultCache;
  let server: { url: string; close(): Promise<void> };
  const executions: Executed[] = [];

  before(async () => {
    registry = new ModelRegistry({ backends: [onnxNode({ instances: 1, intraOpNumThreads: 1 })] });
    const batching = { maxBatchSize: 8, maxQueueDelayMs: 5 };
    await registry.load({ name: 'linear', source: linearModel([[1, 2], [3, 4], [5, 6]], [10, 20]), batching });
    await registry.load({ name: 'cached', source: linearModel([[1, 2], [3, 4], [5, 6]], [10, 20]), batching });
    // An ensemble of two composing models: linear's formula, then the identity, so its replies are linear's.
    await registry.load({ name: 'stage1', source: linearModel([[1, 2], [3, 4], [5, 6]], [10, 20]), batching });
    await registry.load({ name: 'stage2', source: linearModel([[1, 0], [0, 1]], [0, 0]), batching });
    await registry.load({
      name: 'pipe',
      source: ensemble({
        inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 3] }],
        outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 2] }],
        steps: [
          { model: 'stage1', inputMap: { X: 'X' }, outputMap: { Y: 'H' } },
          { model: 'stage2', inputMap: { X: 'H' }, outputMap: { Y: 'Y' } },
        ],
      }),
    });
    registry.on('batch', (e) => {
      executions.push({ version: `${e.name}/${e.version}`, size: e.size, requests: e.requests, runMs: e.runMs, failed: e.error !== undefined });
    });
    results = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
    const service = new InferenceService({ registry, caches: { cached: { result: results } } });
    server = await servers.node!(service, new InferenceStatistics({ service, caches: [results] }));
  });
  after(async () => {
    await server.close();
    await registry.close();
  });

  test('metadata, config, stats before, N concurrent binary requests, stats after: the breakdown adds up', async () => {
    const root = await getJson(server.url, '/v2');
    assert.ok((root.json as { extensions: string[] }).extensions.includes('statistics'));
    assert.equal((await getJson(server.url, '/v2/models/linear')).status, 200);
    const config = (await getJson(server.url, '/v2/models/linear/config')).json as { max_batch_size: number; dynamic_batching?: unknown };
    assert.equal(config.max_batch_size, 8);
    assert.ok(config.dynamic_batching !== undefined);

    const start = await stats(server.url, '/v2/models/linear/stats');
    const executedBefore = executions.length;
    const sizes = Array.from({ length: 48 }, (_, i) => 1 + (i % 3));
    const replies = await Promise.all(sizes.map((rows, i) => send(server.url, 'POST', '/v2/models/linear/infer', inferBody(rows, i).headers, inferBody(rows, i).body)));
    replies.forEach((reply, i) => checkReply(reply, sizes[i]!, i));
    const end = await stats(server.url, '/v2/models/linear/stats');

    const version = versionServed(start, end);
    assert.equal(version, '1');
    const d = difference(start.find((s) => s.version === version), end.find((s) => s.version === version)!);
    const s = d.inference_stats;
    const ran = executions.slice(executedBefore).filter((e) => e.version === 'linear/1' && !e.failed);
    const items = sizes.reduce((a, b) => a + b, 0);

    // Counts: every request once, every item once, one execution per batch the registry reported.
    assert.deepEqual([s.success.count, s.fail.count, s.queue.count, s.compute_infer.count], [48, 0, 48, 48]);
    assert.equal(d.inference_count, items);
    assert.equal(d.execution_count, ran.length);
    assert.ok(d.execution_count <= 48 && d.execution_count >= Math.ceil(items / 8), `${d.execution_count} executions`);
    assert.equal(ran.reduce((n, e) => n + e.size, 0), items);
    assert.deepEqual([s.cache_hit, s.cache_miss], [{ count: 0, ns: 0 }, { count: 0, ns: 0 }]);

    // batch_stats: per size, the executions of that size and their time; all sizes sum to the totals.
    const bySize = new Map<number, number>();
    for (const e of ran) bySize.set(e.size, (bySize.get(e.size) ?? 0) + 1);
    assert.deepEqual(d.batch_stats.filter((b) => b.compute_infer.count > 0).map((b) => [b.batch_size, b.compute_infer.count]), [...bySize].sort(([a], [b]) => a - b));
    for (const b of d.batch_stats) assert.ok(b.compute_input.count === b.compute_infer.count && b.compute_output.count === b.compute_infer.count);
    assert.equal(d.batch_stats.reduce((n, b) => n + b.compute_infer.count, 0), d.execution_count);
    assert.equal(d.batch_stats.reduce((n, b) => n + b.batch_size * b.compute_infer.count, 0), d.inference_count);
    const executionNs = d.batch_stats.reduce((n, b) => n + b.compute_infer.ns, 0);
    // Each request carries its execution's whole time: the per-request sum weighs each execution by its requests.
    assert.equal(s.compute_infer.ns, ran.reduce((n, e) => n + e.requests * Math.round(e.runMs * 1e6), 0));
    assert.ok(s.compute_infer.ns >= executionNs);

    // Every request's queue wait and execution lie within its end-to-end time: perf_analyzer's overhead is >= 0.
    assert.ok(s.success.ns >= s.queue.ns + s.compute_infer.ns, `success ${s.success.ns} ns < queue ${s.queue.ns} + compute ${s.compute_infer.ns}`);
    const b = breakdown(d, false);
    for (const [name, value] of Object.entries(b)) assert.ok(Number.isFinite(value) && value >= 0, `${name} ${value}`);
    assert.ok(b.request > 0 && b.computeInfer > 0, JSON.stringify(b));
    assert.deepEqual([b.computeInput, b.computeOutput, b.cacheHit, b.cacheMiss], [0, 0, 0, 0]);

    // last_inference moves forward with the requests.
    const [was, now] = [start.find((x) => x.version === '1')!.last_inference, end.find((x) => x.version === '1')!.last_inference];
    assert.ok(now > was && now <= Date.now(), `${was} -> ${now}`);
  });

  test('with a result cache: every request a hit or a miss, misses computed, the cache hit/miss breakdown finite and >= 0', async () => {
    const start = await stats(server.url, '/v2/models/cached/stats');
    // First round: 16 distinct requests, all misses; second round: the same 16 again, all hits.
    const round = () => Promise.all(Array.from({ length: 16 }, (_, i) => send(server.url, 'POST', '/v2/models/cached/infer', inferBody(2, 100 + i).headers, inferBody(2, 100 + i).body)));
    (await round()).forEach((reply, i) => checkReply(reply, 2, 100 + i));
    await results.idle();
    (await round()).forEach((reply, i) => checkReply(reply, 2, 100 + i));
    const end = await stats(server.url, '/v2/models/cached/stats');
    const d = difference(start.find((x) => x.version === '1'), end.find((x) => x.version === '1')!);
    const s = d.inference_stats;
    // The queue's count is the successes', hits included, as Triton reports it (TRITONSERVER_ServerModelStatistics).
    assert.deepEqual([s.success.count, s.cache_hit.count, s.cache_miss.count, s.queue.count, s.compute_infer.count, d.inference_count], [32, 16, 16, 32, 16, 32]);
    // perf_analyzer: cache_miss count equals the compute count; hits plus misses are the successes.
    assert.equal(s.cache_hit.count + s.cache_miss.count, s.success.count);
    // perf_analyzer averages the request time and the queue over every success, and the compute with the
    // cache times over the misses and hits: every success, so the overhead is at least 0, as against Triton.
    const b = breakdown(d, true);
    for (const [name, value] of Object.entries(b)) assert.ok(Number.isFinite(value) && value >= 0, `${name} ${value}`);
    assert.ok(s.success.ns >= s.queue.ns + s.compute_infer.ns + s.cache_hit.ns + s.cache_miss.ns);
  });

  test("with a result cache and perf_analyzer's default data (one request body, sent concurrently): every success a hit or a miss, the joiners of the one in flight hits", async () => {
    const start = await stats(server.url, '/v2/models/cached/stats');
    const body = inferBody(1, 500);
    (await Promise.all(Array.from({ length: 16 }, () => send(server.url, 'POST', '/v2/models/cached/infer', body.headers, body.body)))).forEach((reply) => checkReply(reply, 1, 500));
    await results.idle();
    const end = await stats(server.url, '/v2/models/cached/stats');
    const d = difference(start.find((x) => x.version === '1'), end.find((x) => x.version === '1')!);
    const s = d.inference_stats;
    // The first misses and runs; the others join it in flight or read what it stored: hits, none queued or computed.
    assert.deepEqual({ success: s.success.count, hit: s.cache_hit.count, miss: s.cache_miss.count, queue: s.queue.count, computed: s.compute_infer.count }, { success: 16, hit: 15, miss: 1, queue: 16, computed: 1 });
    const b = breakdown(d, true);
    for (const [name, value] of Object.entries(b)) assert.ok(Number.isFinite(value) && value >= 0, `${name} ${value}`);
  });

  test("an ensemble: its config's ensemble_scheduling names the composing models, each composing model's queue count grows with its steps, and the breakdown per composing model adds up", async () => {
    // ModelParser::AddEnsembleComposingModels: the ensemble's steps, each model's config read in turn (model_version -1: no version).
    const config = (await getJson(server.url, '/v2/models/pipe/config')).json as { platform: string; ensemble_scheduling: { step: { model_name: string; model_version: number }[] } };
    assert.equal(config.platform, 'ensemble');
    const composing = config.ensemble_scheduling.step.map((step) => {
      assert.equal(step.model_version, -1);
      return step.model_name;
    });
    assert.deepEqual(composing, ['stage1', 'stage2']);
    for (const name of composing) {
      const { status, json } = await getJson(server.url, `/v2/models/${name}/config`);
      assert.equal(status, 200);
      // GetComposingSchedulerType: no sequence_batching, so the ensemble is ENSEMBLE, not ENSEMBLE_SEQUENCE.
      assert.equal('sequence_batching' in (json as object), false);
      assert.equal('ensemble_scheduling' in (json as object), false);
    }

    // GetServerSideStatus for an ensemble: every model's statistics.
    const start = await stats(server.url, '/v2/models/stats');
    const sizes = Array.from({ length: 24 }, (_, i) => 1 + (i % 3));
    const replies = await Promise.all(sizes.map((rows, i) => send(server.url, 'POST', '/v2/models/pipe/infer', inferBody(rows, i).headers, inferBody(rows, i).body)));
    replies.forEach((reply, i) => checkReply(reply, sizes[i]!, i));
    const end = await stats(server.url, '/v2/models/stats');
    const of = (list: readonly ModelStat[], name: string) => list.filter((x) => x.name === name);
    const summary = (name: string) => {
      // DetermineStatsModelVersion fails ("failed to find the requested model version") unless a version's queue count grew.
      const version = versionServed(of(start, name), of(end, name));
      assert.equal(version, '1', `${name}: no version whose queue count grew`);
      return difference(of(start, name).find((x) => x.version === version), of(end, name).find((x) => x.version === version)!);
    };
    const ensembleStats = summary('pipe');
    assert.equal(ensembleStats.inference_stats.success.count, 24);
    const items = sizes.reduce((a, b) => a + b, 0);
    // GetTotalEnsembleDurations: each composing model's queue and compute averaged over its own counts, then summed.
    let queueUs = 0;
    let computeUs = 0;
    for (const name of composing) {
      const d = summary(name);
      const s = d.inference_stats;
      assert.deepEqual({ success: s.success.count, fail: s.fail.count, queue: s.queue.count, computed: s.compute_infer.count }, { success: 24, fail: 0, queue: 24, computed: 24 }, name);
      assert.equal(d.inference_count, items, name);
      // Each step's queue wait and execution lie within the step's time: the overhead is >= 0 too.
      const b = breakdown(d, false);
      for (const [field, value] of Object.entries(b)) assert.ok(Number.isFinite(value) && value >= 0, `${name} ${field} ${value}`);
      assert.ok(b.request > 0 && b.computeInfer > 0, `${name}: ${JSON.stringify(b)}`);
      queueUs += b.queue;
      computeUs += b.computeInput + b.computeInfer + b.computeOutput;
    }
    // ReportServerSideStats for the ensemble: its own request time, the composing models' queue and compute summed.
    const requestUs = averageUs(ensembleStats.inference_stats.success.ns, ensembleStats.inference_stats.success.count);
    assert.ok(requestUs > 0 && queueUs >= 0 && computeUs > 0, `request ${requestUs} us, queue ${queueUs}, compute ${computeUs}`);
  });

  test('a version unloaded mid-run: its requests are answered, then it leaves the stats (404 by version), and a new load starts from 0', async () => {
    // A queue delay longer than the arrivals: the 8 requests are all accepted, and none answered, when the unload starts.
    const v2 = { name: 'linear', version: '2', source: linearModel([[1, 2], [3, 4], [5, 6]], [10, 20]), batching: { maxBatchSize: 32, maxQueueDelayMs: 300 } };
    await registry.load(v2);
    const body = inferBody(2, 7);
    const served = Promise.all(Array.from({ length: 8 }, () => send(server.url, 'POST', '/v2/models/linear/versions/2/infer', body.headers, body.body)));
    while (registry.get('linear', '2').inFlight < 8) await new Promise(setImmediate);
    const unloading = registry.unload('linear', '2');
    (await served).forEach((reply) => checkReply(reply, 2, 7));
    await unloading;
    const listed = await stats(server.url, '/v2/models/linear/stats');
    assert.deepEqual(listed.map((x) => x.version), ['1']);
    const byVersion = await getJson(server.url, '/v2/models/linear/versions/2/stats');
    assert.equal(byVersion.status, 404);
    await registry.load(v2);
    const [again] = await stats(server.url, '/v2/models/linear/versions/2/stats');
    assert.deepEqual([again!.inference_stats.success.count, again!.inference_count, again!.execution_count, again!.last_inference], [0, 0, 0, 0]);
    await registry.unload('linear', '2');
  });
});
