/**
 * End-to-end served throughput on the cls model with a 50% result-cache hit rate, against the
 * same request stream with no cache. Even requests repeat one of a few popular images (hits once
 * warm), odd requests carry an image never seen before (misses).
 */
import { InferenceService, LruStore, ModelRegistry, ResultCache, type Tensor } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { clsModelPath, pseudoRandom } from '../test/fixtures/ocr-models.js';
import { closedLoop, median, quantile, table } from './stats.js';

const IMAGE = 3 * 48 * 192;
const CALLERS = 64;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const image = (seed: number): Tensor => ({ datatype: 'FP32', shape: [1, 3, 48, 192], data: pseudoRandom(IMAGE, seed) });

interface Round {
  itemsPerSec: number;
  p50: number;
  p99: number;
  hitRate: number;
}

async function round(service: InferenceService, model: string, popular: readonly Tensor[], seedBase: number): Promise<Round> {
  let unique = seedBase;
  let n = 0;
  const loop = await closedLoop(CALLERS, SECONDS, async () => {
    const x = n++ % 2 === 0 ? popular[n % popular.length]! : image(unique++);
    await service.infer(model, { inputs: { x } });
    return 1;
  });
  return { itemsPerSec: loop.items / loop.seconds, p50: quantile(loop.latencies, 0.5), p99: quantile(loop.latencies, 0.99), hitRate: 0 };
}

/** Prints served items/s with and without a result cache at a 50% hit rate. */
export async function servedWithCache(): Promise<void> {
  console.log(`\nServed cls model, ${CALLERS} callers, half the requests repeat one of 16 images: ResultCache (LruStore) vs none`);
  const registry = new ModelRegistry({ backends: [onnxNode({ devices: ['cpu'], instances: 2 })] });
  const config = {
    source: clsModelPath,
    inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 3, 48, 192] }],
    batching: { maxBatchSize: 8, maxQueueDelayMs: 2, maxQueueSize: 1024 },
  };
  await registry.load({ name: 'plain', ...config });
  await registry.load({ name: 'cached', ...config });
  const result = new ResultCache({ store: new LruStore({ maxBytes: 64 << 20 }) });
  let hits = 0;
  let lookups = 0;
  result.on('hit', () => (hits++, lookups++));
  result.on('miss', () => lookups++);
  result.on('coalesce', () => (hits++, lookups++));
  const service = new InferenceService({ registry, caches: { cached: { result } } });
  const popular = Array.from({ length: 16 }, (_, i) => image(1_000_000 + i));

  const plain: Round[] = [];
  const cached: Round[] = [];
  let seed = 1;
  for (let r = 0; r < ROUNDS; r++) {
    plain.push(await round(service, 'plain', popular, (seed += 100_000)));
    hits = lookups = 0;
    const c = await round(service, 'cached', popular, (seed += 100_000));
    cached.push({ ...c, hitRate: hits / lookups });
  }
  const row = (name: string, rs: Round[]) => [name, median(rs.map((r) => r.itemsPerSec)), median(rs.map((r) => r.p50)), median(rs.map((r) => r.p99))];
  console.log(table(['path', 'items/s', 'p50 ms', 'p99 ms'], [row('no cache', plain), row('ResultCache', cached)]));
  const ratios = cached.map((c, i) => c.itemsPerSec / plain[i]!.itemsPerSec);
  console.log(`hit rate (hits + coalesced): ${(median(cached.map((c) => c.hitRate)) * 100).toFixed(1)}%; cached ÷ plain items/s (median of per-round ratios): ${median(ratios).toFixed(2)}`);
  await registry.close();
}
