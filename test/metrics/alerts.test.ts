import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { InferenceService, ModelRegistry, type MemoryModel, type Tensor } from '../../src/index.js';
import { FakeClock, memoryBackend } from '../../src/testing/index.js';
import { ServingMetrics } from '../../src/metrics/index.js';
import { parse } from './exposition.js';

// The alert rules of docs/metrics.md run by `promtool test rules` over series scraped from a real
// ServingMetrics, one scrape a minute: a metric or label renamed in the code, or in the doc, stops an alert firing here.

const root = path.resolve(import.meta.dirname, '../..');
const promtool = spawnSync('promtool', ['--version']).status === 0;

interface Alert {
  readonly name: string;
  readonly expr: string;
  readonly for?: string;
}

/** The rows of docs/metrics.md's "What to alert on" table: a name in CamelCase, the PromQL, and its `for` when the row gives one. */
function alerts(doc: string): Alert[] {
  const section = doc.slice(doc.indexOf('## What to alert on'), doc.indexOf('## Mounting'));
  return [...section.matchAll(/^\| ([^|]+) \| `((?:[^`])+)`( for (\d+m))?/gm)].map((m) => ({
    name: m[1]!.trim().split(/[^a-zA-Z0-9]+/).map((w) => w[0]!.toUpperCase() + w.slice(1)).join(''),
    expr: m[2]!.replaceAll('\\|', '|'),
    ...(m[4] === undefined ? {} : { for: m[4] }),
  }));
}

const identity = (latencyMs: number, run: MemoryModel['run'] = ({ x }) => ({ y: x! })): MemoryModel => ({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
  latencyMs,
  run,
});

/** Settles with the call, whatever its answer: the answers are counted in the metrics, not read here. */
const settled = (call: Promise<unknown>): Promise<unknown> => call.catch((error: unknown) => error);

const row = () => ({ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) } as Tensor } });

/** Every series of `promRegistry` at each scrape, as promtool's input_series: a missing sample is `_`. */
class Scrapes {
  readonly #series = new Map<string, (number | undefined)[]>();
  #count = 0;

  async scrape(promRegistry: Registry): Promise<void> {
    for (const s of parse(await promRegistry.metrics())) {
      const key = `${s.name}{${Object.entries(s.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
      let values = this.#series.get(key);
      if (!values) this.#series.set(key, (values = []));
      values[this.#count] = s.value;
    }
    this.#count++;
  }

  yaml(): string {
    return [...this.#series].map(([series, values]) => {
      const all = Array.from({ length: this.#count }, (_, i) => (values[i] === undefined ? '_' : String(values[i])));
      return `      - series: ${JSON.stringify(series)}\n        values: ${JSON.stringify(all.join(' '))}`;
    }).join('\n');
  }
}

test('every alert of docs/metrics.md fires on what ServingMetrics exports, for the models it should and no others (promtool test rules)', { skip: promtool ? false : 'promtool is not installed' }, async () => {
  const doc = await readFile(path.join(root, 'docs/metrics.md'), 'utf8');
  const rules = alerts(doc);
  assert.equal(rules.length, 13);

  const clock = new FakeClock();
  const promRegistry = new Registry();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const service = new InferenceService({ registry, clock });
  const failingStore = new EventEmitter(); // a cache whose store fails: any emitter with the cache events is a source
  new ServingMetrics({ promRegistry, service, caches: { results: failingStore } });
  let open = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  const held = identity(0, async ({ x }) => (await gate, { y: x! }));
  const stable = ['stable'];
  const failing = identity(10, () => { throw new Error('the weights are corrupt'); });
  const load = (name: string, source: MemoryModel, batching: { maxBatchSize: number; maxQueueDelayMs?: number; maxQueueSize?: number }, labels = stable) => registry.load({ name, source, batching, labels, warmup: [] });
  await load('ok', identity(10), { maxBatchSize: 4, maxQueueDelayMs: 5 });
  await load('bad', failing, { maxBatchSize: 4 });
  await load('slow', identity(300), { maxBatchSize: 1 });
  await load('full', identity(10), { maxBatchSize: 1, maxQueueSize: 1 });
  await load('stuck', held, { maxBatchSize: 1 });
  await load('canary', identity(10), { maxBatchSize: 4, maxQueueDelayMs: 5 }, ['canary']);
  // A second registry on the same metrics, whose load of b waits for a to drain its request to make room.
  const room = new ModelRegistry({ backends: [memoryBackend({ clock })], clock, maxLoadedVersions: 1 });
  new ServingMetrics({ promRegistry, registry: room });
  await room.load({ name: 'a', source: held, labels: stable, warmup: [] });
  const roomService = new InferenceService({ registry: room, clock });
  const pending = [settled(roomService.infer('a', row()))];
  await clock.advanceAsync(0);
  pending.push(settled(room.load({ name: 'b', source: identity(0), labels: stable, warmup: [] })));
  // A load whose warm-up fails is a failed load; the first of a model, which the registry then forgets.
  const broken = assert.rejects(registry.load({ name: 'broken', source: failing, warmup: [row()] }));
  await clock.advanceAsync(10);
  await broken;
  for (let i = 0; i < 102; i++) pending.push(settled(service.infer('stuck', row())));

  const scrapes = new Scrapes();
  for (let minute = 0; minute <= 20; minute++) {
    const calls = ['ok', 'ok', 'ok', 'ok', 'canary', 'bad', 'slow', 'slow', 'full', 'full', 'full'].map((model) => settled(service.infer(model, row())));
    if (minute === 10) calls.push(settled(registry.load({ name: 'ok', version: '2', source: failing, warmup: [row()] })));
    failingStore.emit('error', { operation: 'get' });
    await clock.advanceAsync(0);
    await clock.advanceAsync(1000);
    await Promise.all(calls);
    await scrapes.scrape(promRegistry);
  }
  assert.equal(room.loadsWaitingForRoom, 1, 'b waits for room all along');

  const gc = new Registry();
  collectDefaultMetrics({ register: gc });
  assert.equal((await gc.getMetricsAsJSON()).find((m) => m.name === 'nodejs_gc_duration_seconds')?.type, 'histogram', 'prom-client names its GC histogram as the alert says');
  const gcSeries = '      - series: \'nodejs_gc_duration_seconds_count{kind="major"}\'\n        values: "0+120x20"';

  const expected: Record<string, Record<string, string>[]> = {
    Errors: [{ model: 'bad' }],
    Overload: [{ model: 'full' }],
    LatencyObjective: [{ model: 'slow' }],
    Queueing: [{ model: 'slow' }],
    Backlog: [{ model: 'stuck' }],
    NoReadyVersion: [{ model: 'a' }, { model: 'b' }], // a drains to make room for b, which waits to load
    FailedLoad: [{ model: 'ok', outcome: 'failure' }, { model: 'broken', outcome: 'failure' }],
    LoadsWaitingForRoom: [{}],
    LabelUnset: [{ model: 'canary' }],
    CPUFallback: ['ok', 'bad', 'slow', 'full', 'stuck', 'canary', 'a'].map((model) => ({ model })),
    CacheStoreDown: [{ cache: 'results', operation: 'get' }],
    FullCollectionsUnderLoad: [{ kind: 'major' }],
    BatchingNotHappening: ['bad', 'slow', 'full', 'canary'].map((model) => ({ model })), // one item a batch
  };
  assert.deepEqual(rules.map((r) => r.name).sort(), Object.keys(expected).sort());
  const yaml = (v: unknown) => JSON.stringify(v);
  const dir = await mkdtemp(path.join(tmpdir(), 'servable-alerts-'));
  try {
    await writeFile(path.join(dir, 'rules.yml'), `groups:\n  - name: servable\n    rules:\n${rules.map((r) => `      - alert: ${r.name}\n        expr: ${yaml(r.expr)}${r.for ? `\n        for: ${r.for}` : ''}`).join('\n')}\n`);
    const cases = Object.entries(expected).map(([alertname, labels]) => `      - eval_time: 12m\n        alertname: ${alertname}\n        exp_alerts:\n${labels.map((l) => `          - exp_labels: ${yaml(l)}`).join('\n')}`);
    await writeFile(path.join(dir, 'tests.yml'), `rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n${scrapes.yaml()}\n${gcSeries}\n    alert_rule_test:\n${cases.join('\n')}\n`);
    const r = spawnSync('promtool', ['test', 'rules', 'tests.yml'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  open();
  await Promise.all(pending);
  await room.close();
  await registry.close();
});
