/**
 * The batcher's rules as an HTTP client sees them: a Triton client's `parameters.priority` and
 * `parameters.timeout`, a full queue and a shed as 503 (or 429) with `Retry-After`, a request larger
 * than `maxBatchSize`, a client that hangs up while queued and a bad item among good ones, each
 * through real HTTP on servable/node, Fastify and Express, with `/metrics` counting exactly what
 * happened. Order is made certain by gates (a run waits until the test opens it) and timing by a
 * FakeClock: nothing waits on the wall clock for an outcome.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import * as ort from 'onnxruntime-node';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { InferenceService, ModelRegistry, type MemoryModel, type Tensor } from 'servable';
import type { ServableExpressOptions } from 'servable/express';
import { servableExpress } from 'servable/express';
import { servableFastify } from 'servable/fastify';
import { metricsHandler, ServingMetrics } from 'servable/metrics';
import { servableNode } from 'servable/node';
import { onnxNode } from 'servable/onnx-node';
import { FakeClock, memoryBackend } from 'servable/testing';
import { parse } from '../metrics/exposition.js';
import { until } from '../fixtures/until.js';
import { clsModelPath, pseudoRandom } from '../fixtures/ocr-models.js';

type Start = (options: ServableExpressOptions) => Promise<{ url: string; close(): Promise<void> }>;

async function listen(server: http.Server): Promise<{ url: string; close(): Promise<void> }> {
  if (!server.listening) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const adapters: [string, Start][] = [
  ['node', async (options) => {
    const serve = servableNode(options);
    return listen(http.createServer((req, res) => serve(req, res)));
  }],
  ['fastify', async (options) => {
    const app = Fastify();
    await app.register(servableFastify, options);
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  }],
  ['express', async (options) => {
    const app = express();
    app.use(servableExpress(options));
    return listen(app.listen(0, '127.0.0.1'));
  }],
];

const tick = () => new Promise((r) => setImmediate(r));

/** y = x0 + 10·x1 + 100·x2 per row, FP32 [n, 3] → [n, 1]; a batch holding a negative value fails whole. Each run first waits at the next gate `hold()` added. */
function model(gates: (() => Promise<void>)[], latencyMs?: number): MemoryModel {
  return {
    inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 3] }],
    outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 1] }],
    ...(latencyMs === undefined ? {} : { latencyMs }),
    async run({ X }) {
      await gates.shift()?.();
      const x = X!.data as Float32Array;
      if (x.some((v) => v < 0)) throw new Error('a negative value');
      const rows = X!.shape[0]!;
      const y = new Float32Array(rows);
      for (let r = 0; r < rows; r++) y[r] = x[r * 3]! + 10 * x[r * 3 + 1]! + 100 * x[r * 3 + 2]!;
      return { Y: { datatype: 'FP32', shape: [rows, 1], data: y } as Tensor };
    },
  };
}

interface Setup {
  readonly clock?: FakeClock;
  readonly latencyMs?: number;
  readonly backpressureStatus?: 503 | 429;
}

/** Model `m` with this batching behind the adapter, with `/metrics`. */
async function serve(start: Start, batching: Record<string, unknown>, setup: Setup = {}) {
  const { clock } = setup;
  const gates: (() => Promise<void>)[] = [];
  const opens: (() => void)[] = [];
  const backend = memoryBackend(clock ? { clock } : {});
  const registry = new ModelRegistry({ backends: [backend], ...(clock ? { clock } : {}) });
  await registry.load({ name: 'm', source: model(gates, setup.latencyMs), batching: batching as never, warmup: [] });
  const drops: string[] = [];
  registry.on('drop', (e) => drops.push(`${e.reason}:${e.stage}`));
  const service = new InferenceService({ registry });
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const server = await start({ service, metrics: metricsHandler(promRegistry), ...(setup.backpressureStatus ? { backpressureStatus: setup.backpressureStatus } : {}) });
  const queue = () => registry.queues().find((q) => q.name === 'm') ?? { queued: 0, queuedItems: 0, inFlight: 0 };
  return {
    url: server.url,
    backend,
    drops,
    queue,
    /** The next run waits until `openAll()`. */
    hold() {
      const opened = new Promise<void>((resolve) => opens.push(resolve));
      gates.push(() => opened);
    },
    openAll: () => opens.forEach((open) => open()),
    /** The first value of each row of each batch the backend ran, in order. */
    batches: () => backend.calls.map((c) => Array.from(c.feeds.X!.data as Float32Array).filter((_, i) => i % 3 === 0)),
    /** The nonzero `servable_requests_total` outcomes and `servable_queue_drops_total` reasons of `m`. */
    async metrics() {
      const counts: Record<string, number> = {};
      for (const s of parse(await (await fetch(`${server.url}/metrics`)).text())) {
        if (s.value === 0 || s.labels.model !== 'm') continue;
        if (s.name === 'servable_requests_total') counts[s.labels.outcome!] = s.value;
        if (s.name === 'servable_queue_drops_total') counts[`drop ${s.labels.reason}:${s.labels.stage}`] = s.value;
      }
      return counts;
    },
    async close() {
      opens.forEach((open) => open());
      await server.close();
      await registry.close();
    },
  };
}

interface Reply {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly body: { outputs?: { data: number[] }[]; predictions?: number[][]; error?: string; code?: string } | null;
}

const infer = (rows: number[][], parameters?: Record<string, unknown>) =>
  JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [rows.length, 3], data: rows }], ...(parameters ? { parameters } : {}) });

async function reply(res: Response): Promise<Reply> {
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: text === '' ? null : JSON.parse(text) };
}

const post = (url: string, body: string, signal?: AbortSignal) =>
  fetch(`${url}/v2/models/m/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, ...(signal ? { signal } : {}) }).then(reply);
const predict = (url: string, rows: number[][]) =>
  fetch(`${url}/v1/models/m:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: rows }) }).then(reply);

/** Status and Y of a reply, or its status and error code. */
const seen = (r: Reply) => [r.status, r.body?.outputs?.[0]!.data ?? r.body?.predictions?.flat() ?? r.body?.code ?? null];

for (const [adapter, start] of adapters) {
  describe(`${adapter}: the batcher's rules over HTTP`, () => {
    test('parameters.priority: 1 overtakes the queued default level, 0 is the default level, a level the model lacks is a 400', async () => {
      const s = await serve(start, { maxBatchSize: 1, priorityLevels: 2 });
      try {
        s.hold();
        const running = post(s.url, infer([[1, 0, 0]]));
        await until(() => s.queue().inFlight === 1, 'the first run');
        const queued = [post(s.url, infer([[2, 0, 0]], { priority: 0 }))];
        await until(() => s.queue().queued === 1, 'priority 0 queued');
        queued.push(post(s.url, infer([[3, 0, 0]], { priority: 2 })));
        await until(() => s.queue().queued === 2, 'priority 2 queued');
        queued.push(post(s.url, infer([[4, 0, 0]], { priority: 1 })));
        await until(() => s.queue().queued === 3, 'priority 1 queued');
        const refused = await post(s.url, infer([[5, 0, 0]], { priority: 3 }));
        assert.deepEqual([refused.status, refused.body], [400, { error: 'Expected `parameters.priority` to be an integer between 1 and 2, got 3 (number)', code: 'ERR_SERVABLE_INVALID_INPUT' }]);
        s.openAll();
        assert.deepEqual((await Promise.all([running, ...queued])).map(seen), [[200, [1]], [200, [2]], [200, [3]], [200, [4]]]);
        assert.deepEqual(s.batches(), [[1], [4], [2], [3]], 'priority 1 ran first, then the default level (2) in arrival order');
        assert.deepEqual(await s.metrics(), { success: 4, invalid: 1 });
      } finally {
        await s.close();
      }
    });

    test('each level has its own maxQueueSize: a full level 2 answers 503 naming it while level 1 still queues; a priority-1 request larger than maxBatchSize goes ahead of the queued levels 2 and 3, answered whole', async () => {
      const clock = new FakeClock();
      const s = await serve(start, { maxBatchSize: 2, priorityLevels: 3, queuePolicies: { 2: { maxQueueSize: 2 } } }, { clock });
      try {
        s.hold();
        const running = post(s.url, infer([[1, 0, 0]]));
        await until(() => s.queue().inFlight === 1, 'the first run');
        const queued = [post(s.url, infer([[2, 0, 0]]))];
        await until(() => s.queue().queued === 1, 'level 2 queued');
        queued.push(post(s.url, infer([[3, 0, 0]], { priority: 3 })));
        await until(() => s.queue().queued === 2, 'level 3 queued');
        queued.push(post(s.url, infer([[4, 0, 0]])));
        await until(() => s.queue().queued === 3, 'level 2 full');
        const full = await post(s.url, infer([[5, 0, 0]], { priority: 2 }));
        // Before any batch has run one is taken to run 100 ms: the running one frees its slot then, and level 2 goes next.
        assert.deepEqual([full.status, full.retryAfter, full.body], [503, '1', { error: 'The queue is full: 2 requests wait at priority 2 (maxQueueSize 2); retry in about 100 ms', code: 'ERR_SERVABLE_QUEUE_FULL' }]);
        queued.push(post(s.url, infer([[6, 0, 0], [7, 0, 0], [8, 1, 0]], { priority: 1 })));
        await until(() => s.queue().queued === 4, 'the priority-1 request queued');
        s.openAll();
        assert.deepEqual((await Promise.all([running, ...queued])).map(seen), [[200, [1]], [200, [2]], [200, [3]], [200, [4]], [200, [6, 7, 18]]]);
        assert.deepEqual(s.batches(), [[1], [6, 7], [8, 2], [4, 3]]);
        assert.deepEqual(await s.metrics(), { success: 5, rejected: 1, 'drop queue-full:queued': 1 });
      } finally {
        await s.close();
      }
    });

    for (const allowTimeoutOverride of [false, true]) {
      test(`parameters.timeout (µs) under defaultTimeoutMs 100, allowTimeoutOverride ${allowTimeoutOverride}: a shorter one is honoured, a longer one ${allowTimeoutOverride ? 'too' : 'capped at the default'}, 0 takes the default (it is no timeout of its own, not none at all); 504 while queued or running`, async () => {
        const clock = new FakeClock();
        const s = await serve(start, { maxBatchSize: 1, defaultTimeoutMs: 100, allowTimeoutOverride }, { clock });
        try {
          s.hold();
          const running = post(s.url, infer([[1, 0, 0]], { timeout: 1_000_000 }));
          await until(() => s.queue().inFlight === 1, 'the first run');
          const at: Record<string, number> = {};
          const timed = (name: string, timeout: number) => post(s.url, infer([[2, 0, 0]], { timeout })).then((r) => ((at[name] = clock.now()), r));
          const longer = timed('longer', 500_000);
          const shorter = timed('shorter', 50_000);
          const zero = timed('zero', 0);
          await until(() => s.queue().queued === 3, 'all three queued');
          for (let t = 0; t < 600; t += 10) {
            await clock.advanceAsync(10);
            await tick();
          }
          // Each answered by 600 ms on the fake clock: a request left waiting fails here, not by hanging the test.
          await until(() => Object.keys(at).length === 3, `all three answered; answered: ${JSON.stringify(at)}`);
          const [l, sh, z] = await Promise.all([longer, shorter, zero]);
          assert.deepEqual([seen(l), seen(sh), seen(z)], [[504, 'ERR_SERVABLE_DEADLINE_EXCEEDED'], [504, 'ERR_SERVABLE_DEADLINE_EXCEEDED'], [504, 'ERR_SERVABLE_DEADLINE_EXCEEDED']]);
          assert.match(l.body!.error!, new RegExp(`^The request timed out after ${allowTimeoutOverride ? 500 : 100} ms while queued$`));
          assert.deepEqual(at, { shorter: 50, zero: 100, longer: allowTimeoutOverride ? 500 : 100 });
          s.openAll();
          // The running request's 1 s is capped at 100 ms without overrides: answered 504 while its batch runs.
          assert.deepEqual(seen(await running), allowTimeoutOverride ? [200, [1]] : [504, 'ERR_SERVABLE_DEADLINE_EXCEEDED']);
          assert.deepEqual(s.batches(), [[1]], 'neither timed-out request ran');
          assert.deepEqual(
            await s.metrics(),
            allowTimeoutOverride ? { success: 1, timeout: 3, 'drop timeout:queued': 3 } : { timeout: 4, 'drop timeout:queued': 3, 'drop timeout:running': 1 },
          );
        } finally {
          await s.close();
        }
      });
    }

    test(`timeoutAction 'delay': a request past its timeout is not refused but goes behind one queued after it that has not timed out`, async () => {
      const clock = new FakeClock();
      const s = await serve(start, { maxBatchSize: 1, defaultTimeoutMs: 50, timeoutAction: 'delay' }, { clock });
      try {
        s.hold();
        const running = post(s.url, infer([[1, 0, 0]]));
        await until(() => s.queue().inFlight === 1, 'the first run');
        const late = post(s.url, infer([[2, 0, 0]]));
        await until(() => s.queue().queued === 1, 'queued');
        await clock.advanceAsync(60);
        const fresh = post(s.url, infer([[3, 0, 0]]));
        await until(() => s.queue().queued === 2, 'the fresh one queued');
        s.openAll();
        assert.deepEqual((await Promise.all([running, late, fresh])).map(seen), [[200, [1]], [200, [2]], [200, [3]]]);
        assert.deepEqual(s.batches(), [[1], [3], [2]]);
        assert.deepEqual([await s.metrics(), s.drops], [{ success: 3 }, []]);
      } finally {
        await s.close();
      }
    });

    test(`timeoutAction 'delay' among levels: a level-2 request past its timeout goes behind a fresh level-2 one but still before level 3; a delayed request whose client hangs up leaves the queue`, async () => {
      const clock = new FakeClock();
      const s = await serve(start, { maxBatchSize: 1, priorityLevels: 3, defaultTimeoutMs: 50, timeoutAction: 'delay' }, { clock });
      try {
        s.hold();
        const running = post(s.url, infer([[1, 0, 0]]));
        await until(() => s.queue().inFlight === 1, 'the first run');
        const late = post(s.url, infer([[2, 0, 0]], { priority: 2 }));
        const hangUp = new AbortController();
        const gone = post(s.url, infer([[9, 0, 0]], { priority: 2 }), hangUp.signal).catch((e: Error) => e.name);
        await until(() => s.queue().queued === 2, 'both queued');
        await clock.advanceAsync(60);
        const low = post(s.url, infer([[3, 0, 0]], { priority: 3 }));
        await until(() => s.queue().queued === 3, 'level 3 queued');
        const fresh = post(s.url, infer([[4, 0, 0]], { priority: 2 }));
        await until(() => s.queue().queued === 4, 'the fresh one queued');
        hangUp.abort();
        await until(() => s.drops.length === 1, 'the hang-up to take its request out');
        s.openAll();
        assert.deepEqual((await Promise.all([running, late, low, fresh])).map(seen), [[200, [1]], [200, [2]], [200, [3]], [200, [4]]]);
        assert.equal(await gone, 'AbortError');
        assert.deepEqual(s.batches(), [[1], [4], [2], [3]]);
        assert.deepEqual([s.drops, await s.metrics()], [['cancelled:queued'], { success: 4, cancelled: 1, 'drop cancelled:queued': 1 }]);
      } finally {
        await s.close();
      }
    });

    for (const backpressureStatus of [503, 429] as const) {
      test(`a full queue under backpressureStatus ${backpressureStatus}: Retry-After in whole seconds rounded up, on /infer and on :predict in its {"error"} shape`, async () => {
        const clock = new FakeClock();
        const s = await serve(start, { maxBatchSize: 1, maxQueueSize: 1 }, { clock, latencyMs: 1500, backpressureStatus });
        try {
          // One run times a batch of 1 at 1500 ms.
          const first = post(s.url, infer([[1, 0, 0]]));
          await until(() => s.queue().inFlight === 1, 'the timing run');
          await clock.advanceAsync(1500);
          await first;
          const running = post(s.url, infer([[2, 0, 0]]));
          await until(() => s.queue().inFlight === 1, 'the second run');
          const queued = post(s.url, infer([[3, 0, 0]]));
          await until(() => s.queue().queued === 1, 'one queued');
          const refusals: [number, Reply, Reply][] = [];
          for (const step of [499, 1, 200]) {
            await clock.advanceAsync(step);
            refusals.push([clock.now() - 1500, await post(s.url, infer([[4, 0, 0]])), await predict(s.url, [[4, 0, 0]])]);
          }
          // A place frees when the running batch ends: 1001, 1000 and 800 ms after each refusal.
          assert.deepEqual(
            refusals.map(([ran, oip, tf]) => [ran, oip.status, oip.retryAfter, oip.body!.code, tf.status, tf.retryAfter, tf.body!.code, Object.keys(tf.body!)]),
            [
              [499, backpressureStatus, '2', 'ERR_SERVABLE_QUEUE_FULL', backpressureStatus, '2', 'ERR_SERVABLE_QUEUE_FULL', ['error', 'code']],
              [500, backpressureStatus, '1', 'ERR_SERVABLE_QUEUE_FULL', backpressureStatus, '1', 'ERR_SERVABLE_QUEUE_FULL', ['error', 'code']],
              [700, backpressureStatus, '1', 'ERR_SERVABLE_QUEUE_FULL', backpressureStatus, '1', 'ERR_SERVABLE_QUEUE_FULL', ['error', 'code']],
            ],
          );
          assert.match(refusals[0]![1].body!.error!, /^The queue is full: 1 request waits \(maxQueueSize 1\); retry in about 1001 ms$/);
          await clock.advanceAsync(800);
          await running;
          await clock.advanceAsync(1500);
          assert.deepEqual(seen(await queued), [200, [3]]);
          assert.deepEqual(s.batches(), [[1], [2], [3]]);
          assert.deepEqual(await s.metrics(), { success: 3, rejected: 6, 'drop queue-full:queued': 6 });
        } finally {
          await s.close();
        }
      });

      test(`adaptive mode under backpressureStatus ${backpressureStatus}: a request stuck behind a stalled batch is shed at its latest start with Retry-After and ERR_SERVABLE_OVERLOADED`, async () => {
        const clock = new FakeClock();
        const s = await serve(start, { maxBatchSize: 4, maxLatencyMs: 100 }, { clock, latencyMs: 30, backpressureStatus });
        try {
          for (let i = 0; i < 3; i++) {
            const warm = post(s.url, infer([[1, 0, 0]]));
            await until(() => s.queue().inFlight === 1, 'a timing run');
            await clock.advanceAsync(30);
            await warm;
          }
          s.hold();
          const stalled = post(s.url, infer([[2, 0, 0]]));
          await until(() => s.queue().inFlight === 1, 'the stalled run');
          const at: number[] = [];
          const shed = [post(s.url, infer([[3, 0, 0]])), predict(s.url, [[4, 0, 0]])].map((p) => p.then((r) => (at.push(clock.now()), r)));
          await until(() => s.queue().queued === 2, 'both queued');
          for (let t = 0; t < 100; t += 5) {
            await clock.advanceAsync(5);
            await tick();
          }
          const replies = await Promise.all(shed);
          // Each queued at 90 ms, with 100 - 30 ms to start: shed at 160, while the batch ahead still runs.
          assert.deepEqual(at, [160, 160]);
          assert.deepEqual(replies.map((r) => [r.status, r.retryAfter, r.body!.code]), [[backpressureStatus, '1', 'ERR_SERVABLE_OVERLOADED'], [backpressureStatus, '1', 'ERR_SERVABLE_OVERLOADED']]);
          assert.match(replies[1]!.body!.error!, /^The request cannot be answered within maxLatencyMs \(100 ms\)/);
          s.openAll();
          await clock.advanceAsync(30);
          assert.deepEqual(seen(await stalled), [200, [2]]);
          assert.deepEqual(s.batches(), [[1], [1], [1], [2]]);
          assert.deepEqual(await s.metrics(), { success: 4, rejected: 2, 'drop shed:queued': 2 });
        } finally {
          await s.close();
        }
      });
    }

    test('a request larger than maxBatchSize is answered whole and in order; one whose client hung up while queued never runs; a bad item fails alone', async () => {
      const s = await serve(start, { maxBatchSize: 2 });
      try {
        s.hold();
        const running = post(s.url, infer([[1, 0, 0]]));
        await until(() => s.queue().inFlight === 1, 'the first run');
        const large = post(s.url, infer([[11, 0, 0], [12, 0, 0], [13, 1, 0], [14, 0, 1], [15, 2, 2]]));
        await until(() => s.queue().queuedItems === 5, 'its five items queued');
        const hangUp = new AbortController();
        const gone = post(s.url, infer([[6, 0, 0]]), hangUp.signal).catch((e: Error) => e.name);
        await until(() => s.queue().queuedItems === 6, 'the leaving request queued');
        const bad = post(s.url, infer([[-1, 0, 0]]));
        await until(() => s.queue().queuedItems === 7, 'the bad one queued');
        const good = post(s.url, infer([[7, 0, 0]]));
        await until(() => s.queue().queuedItems === 8, 'the good one queued');
        hangUp.abort();
        await until(() => s.drops.length === 1, 'the hang-up to take its request out');
        s.openAll();
        assert.deepEqual((await Promise.all([running, large, bad, good])).map(seen), [
          [200, [1]],
          [200, [11, 12, 23, 114, 235]],
          [500, 'ERR_SERVABLE_BACKEND'],
          [200, [7]],
        ]);
        assert.equal(await gone, 'AbortError');
        // The large request's parts fill the room around it; the bad item's batch fails whole and each of its requests runs again alone.
        assert.deepEqual(s.batches(), [[1], [11, 12], [13, 14], [15, -1], [15], [-1], [7]]);
        assert.deepEqual(s.drops, ['cancelled:queued']);
        assert.deepEqual(await s.metrics(), { success: 3, cancelled: 1, backend: 1, 'drop cancelled:queued': 1 });
      } finally {
        await s.close();
      }
    });
  });
}

test('node: the cls model on onnx-node answers 5 images sent as one binary request to maxBatchSize 2 whole, in order, with the values of its parts run directly', async () => {
  const IMAGE = 3 * 48 * 192;
  const OUTPUT = 'softmax_0.tmp_0';
  const backend = onnxNode({ instances: 1, intraOpNumThreads: 1 });
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'cls', source: clsModelPath, batching: { maxBatchSize: 2 }, warmup: [] });
  const batches: number[] = [];
  registry.on('batch', (e) => batches.push(e.size));
  const server = await adapters[0]![1]({ service: new InferenceService({ registry }), bodyLimit: 8 << 20 });
  const data = pseudoRandom(5 * IMAGE, 42);
  try {
    const bin = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [5, 3, 48, 192], parameters: { binary_data_size: bin.length } }], outputs: [{ name: OUTPUT, parameters: { binary_data: true } }] }));
    const res = await fetch(`${server.url}/v2/models/cls/infer`, { method: 'POST', body: Buffer.concat([header, bin]), headers: { 'inference-header-content-length': String(header.length) } });
    const body = Buffer.from(await res.arrayBuffer());
    const json = Number(res.headers.get('inference-header-content-length'));
    const { outputs } = JSON.parse(body.subarray(0, json).toString()) as { outputs: { shape: number[]; parameters: { binary_data_size: number } }[] };
    const got = Array.from(new Float32Array(body.buffer.slice(body.byteOffset + json, body.byteOffset + body.length)));
    const reference = await ort.InferenceSession.create(clsModelPath, { intraOpNumThreads: 1 });
    const want: number[] = [];
    for (const [from, n] of [[0, 2], [2, 2], [4, 1]] as const) {
      const out = await reference.run({ x: new ort.Tensor('float32', data.slice(from * IMAGE, (from + n) * IMAGE), [n, 3, 48, 192]) });
      want.push(...(out[OUTPUT]!.data as Float32Array));
    }
    await reference.release();
    assert.deepEqual([res.status, outputs[0]!.shape, outputs[0]!.parameters.binary_data_size], [200, [5, 2], 40]);
    assert.deepEqual(got, want, 'every value exact, rows in the order sent');
    assert.deepEqual(batches, [2, 2, 1]);
  } finally {
    await server.close();
    await registry.close();
  }
});
