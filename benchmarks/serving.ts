/**
 * Issue 2's benchmark on the PaddleOCR text-direction classifier, in one run:
 * (a) raw onnxruntime-node on the main thread at its best batch size,
 * (b) a naive loop running each request alone,
 * (c) the served path (registry + batcher + 2 worker instances) with 64 concurrent in-process callers,
 * with items/s, latency p50/p99, served ÷ raw, and the event-loop lag p99 while saturated.
 * Rounds alternate raw and served so both see the same machine; medians are reported.
 */
import * as ort from 'onnxruntime-node';
import { InferenceService, ModelRegistry, type Tensor } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { clsModelPath, pseudoRandom } from '../test/fixtures/ocr-models.js';
import { closedLoop, median, quantile, table, watchEventLoop } from './stats.js';

const IMAGE = 3 * 48 * 192;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CALLERS = 64;

interface Result {
  itemsPerSec: number;
  p50: number;
  p99: number;
  lagP99: number;
}

async function rawAt(session: ort.InferenceSession, batch: number, seconds: number): Promise<Result> {
  const x = new ort.Tensor('float32', pseudoRandom(batch * IMAGE, batch), [batch, 3, 48, 192]);
  await session.run({ x });
  const latencies: number[] = [];
  const lag = watchEventLoop();
  const end = performance.now() + seconds * 1000;
  let items = 0;
  const start = performance.now();
  while (performance.now() < end) {
    const t = performance.now();
    await session.run({ x });
    latencies.push(performance.now() - t);
    items += batch;
  }
  const elapsed = (performance.now() - start) / 1000;
  return { itemsPerSec: items / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), lagP99: lag() };
}

async function served(service: InferenceService, seconds: number): Promise<Result> {
  const images = Array.from({ length: CALLERS }, (_, caller): Tensor => ({ datatype: 'FP32', shape: [1, 3, 48, 192], data: pseudoRandom(IMAGE, caller + 1) }));
  const lag = watchEventLoop();
  const loop = await closedLoop(CALLERS, seconds, async (caller) => {
    await service.infer('textdir', { inputs: { x: images[caller]! } });
    return 1;
  });
  return { itemsPerSec: loop.items / loop.seconds, p50: quantile(loop.latencies, 0.5), p99: quantile(loop.latencies, 0.99), lagP99: lag() };
}

export async function run(): Promise<void> {
  console.log(`# serving: cls model, ${ROUNDS} rounds of ${SECONDS} s each, ${CALLERS} callers on the served path\n`);
  const session = await ort.InferenceSession.create(clsModelPath);

  const sweep: (readonly (string | number)[])[] = [];
  let best = { batch: 1, itemsPerSec: 0 };
  for (const batch of [1, 2, 4, 8, 16, 32]) {
    const r = await rawAt(session, batch, 1);
    sweep.push([batch, r.itemsPerSec, r.p50]);
    if (r.itemsPerSec > best.itemsPerSec) best = { batch, itemsPerSec: r.itemsPerSec };
  }
  console.log('raw onnxruntime-node, main thread, default threads: batch-size sweep');
  console.log(table(['batch', 'items/s', 'run p50 ms'], sweep), '\n');

  // The served path gets its own best setting, as raw does: a short probe of a few batch caps.
  const registry = new ModelRegistry({ backends: [onnxNode({ devices: ['cpu'], instances: 2 })] });
  const service = new InferenceService({ registry });
  const probes: (readonly (string | number)[])[] = [];
  let chosen = { maxBatchSize: 0, itemsPerSec: 0 };
  for (const maxBatchSize of [8, 16, 32]) {
    await registry.load({
      name: 'textdir',
      version: String(maxBatchSize),
      source: clsModelPath,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
      batching: { maxBatchSize, maxQueueDelayMs: 0, maxQueueSize: 1024 },
    });
    await served(service, 1);
    const r = await served(service, 1.5);
    probes.push([maxBatchSize, r.itemsPerSec, r.p99]);
    if (r.itemsPerSec > chosen.itemsPerSec) chosen = { maxBatchSize, itemsPerSec: r.itemsPerSec };
    await registry.unload('textdir', String(maxBatchSize));
  }
  console.log('served, 2 workers x 1 thread, delay 0: maxBatchSize probe');
  console.log(table(['maxBatchSize', 'items/s', 'p99 ms'], probes), '\n');
  await registry.load({
    name: 'textdir',
    source: clsModelPath,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
    batching: { maxBatchSize: chosen.maxBatchSize, maxQueueDelayMs: 0, maxQueueSize: 1024 },
  });
  await served(service, 1);

  const raws: Result[] = [];
  const naives: Result[] = [];
  const serveds: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    raws.push(await rawAt(session, best.batch, SECONDS));
    naives.push(await rawAt(session, 1, SECONDS / 2));
    serveds.push(await served(service, SECONDS));
  }
  const row = (name: string, rs: Result[]) =>
    [name, median(rs.map((r) => r.itemsPerSec)), median(rs.map((r) => r.p50)), median(rs.map((r) => r.p99)), median(rs.map((r) => r.lagP99))];
  console.log(table(
    ['path', 'items/s', 'p50 ms', 'p99 ms', 'loop lag p99 ms'],
    [row(`raw, batch ${best.batch}`, raws), row('naive, batch 1', naives), row(`served, 2 workers, max batch ${chosen.maxBatchSize}`, serveds)],
  ));
  const ratios = serveds.map((s, i) => s.itemsPerSec / raws[i]!.itemsPerSec);
  console.log(`\nserved ÷ raw (median of per-round ratios): ${median(ratios).toFixed(3)}   [target >= 0.95]`);
  console.log(`served ÷ naive: ${(median(serveds.map((s) => s.itemsPerSec)) / median(naives.map((n) => n.itemsPerSec))).toFixed(2)}`);
  console.log(`event-loop lag p99 while serving: ${median(serveds.map((s) => s.lagP99)).toFixed(2)} ms   [target < 5 ms]`);
  await registry.close();
  await session.release();
}
