/**
 * Cache benchmarks: the LRU and Redis hit paths, semantic lookup over 100,000 vectors of 384
 * dimensions, and the false-hit sweep of the semantic cache on a labelled set.
 * Run: npm run bench -- cache  (starts its own redis-server when one is installed)
 */
import { Redis } from 'ioredis';
import { FlatIndex, LruStore, ngramEmbedder, ResultCache, SemanticCache } from 'servable';
import type { TensorMap } from 'servable';
import { RedisStore } from 'servable/redis';
import { ANCHORS, census, sweep } from '../test/cache/fixtures/semantic-pairs.js';
import { redisMissing, startRedis } from '../test/cache/redis-server.js';
import { servedWithCache } from './cache-served.js';

/** Percentiles of per-operation times in microseconds. */
function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Times `op` `n` times after `warmup` runs; each sample is one call, in microseconds. */
async function timeEach(n: number, warmup: number, op: (i: number) => unknown): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < warmup; i++) await op(i);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await op(i);
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  return percentiles(samples);
}

const fmt = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(2)} µs`);
const line = (label: string, t: { p50: number; p99: number }): void => console.log(`  ${label.padEnd(58)} p50 ${fmt(t.p50).padStart(10)}   p99 ${fmt(t.p99).padStart(10)}`);

function seeded(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
}

const fp32 = (n: number, fill: (i: number) => number, shape: number[]) => ({ datatype: 'FP32' as const, shape, data: Float32Array.from({ length: n }, (_, i) => fill(i)) });
const clsInput = (seed: number): TensorMap => ({ x: fp32(3 * 48 * 192, (i) => ((i * 7 + seed) % 255) / 255, [1, 3, 48, 192]) });
const smallInput = (seed: number): TensorMap => ({ x: fp32(16, (i) => i + seed, [1, 16]) });
const clsOutput: TensorMap = { 'softmax_0.tmp_0': fp32(2, (i) => (i ? 0.9 : 0.1), [1, 2]) };

async function exactCaches(): Promise<void> {
  console.log('\nExact result cache, hit path (in process)');
  const lru = new LruStore({ maxBytes: 256 << 20 });
  lru.set('result/cls', 'k', clsOutput);
  line('LruStore.get (a hit)', await timeEach(200_000, 20_000, () => lru.get('result/cls', 'k')));
  const cache = new ResultCache({ store: lru });
  const compute = async () => clsOutput;
  for (const [label, input] of [['ResultCache.run hit, 16-float input', smallInput(1)], ['ResultCache.run hit, cls input 1x3x48x192 (110 KB hashed)', clsInput(1)]] as const) {
    const request = { model: 'cls', version: 1, inputs: input };
    await cache.run(request, compute);
    line(label, await timeEach(label.includes('cls') ? 5_000 : 100_000, 2_000, () => cache.run(request, compute)));
  }

  if (redisMissing) {
    console.log(`  Redis: skipped (${redisMissing})`);
    return;
  }
  const server = await startRedis();
  const client = new Redis({ port: server.ports[0]!, host: '127.0.0.1' });
  try {
    const store = new RedisStore({ client, prefix: 'bench:' });
    await store.set('result/cls', 'k', clsOutput);
    line('RedisStore.get on loopback (GET + binary decode)', await timeEach(5_000, 500, () => store.get('result/cls', 'k')));
    const redisCache = new ResultCache({ store, timeoutMs: 1000 });
    const request = { model: 'cls', version: 1, inputs: smallInput(2) };
    await redisCache.run(request, compute);
    await redisCache.idle();
    line('ResultCache.run hit over Redis, 16-float input', await timeEach(5_000, 500, () => redisCache.run(request, compute)));
  } finally {
    client.disconnect();
    await server.stop();
  }
}

function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const k = 1 / Math.sqrt(s);
  return v.map((x) => x * k);
}

async function semanticLookup(): Promise<void> {
  const n = 100_000;
  const d = 384;
  console.log(`\nSemantic lookup over ${n.toLocaleString('en')} entries of ${d} dimensions (best match >= threshold)`);
  const rnd = seeded(7);
  const common = unit(Float32Array.from({ length: d }, rnd));
  for (const [name, shared] of [['isotropic vectors (unrelated cosine ~0)', 0], ['anisotropic vectors (unrelated cosine ~0.36, like sentence models)', 0.6]] as const) {
    const rows: Float32Array[] = [];
    const index = new FlatIndex(d);
    for (let i = 0; i < n; i++) {
      const v = unit(Float32Array.from({ length: d }, (_, k) => shared * common[k]! + rnd() / Math.sqrt(d / 12)));
      rows.push(v);
      index.add(v);
    }
    const queries = Array.from({ length: 200 }, (_, i) =>
      i % 2 ? unit(Float32Array.from(rows[(i * 7919) % n]!, (x) => x + rnd() * 0.02)) : unit(Float32Array.from({ length: d }, (_, k) => shared * common[k]! + rnd() / Math.sqrt(d / 12))),
    );
    console.log(`  ${name}:`);
    for (const threshold of [0.9, 0.8]) {
      line(`FlatIndex.search, threshold ${threshold} (int8 SIMD + exact)`, await timeEach(queries.length, 20, (i) => index.search(queries[i % queries.length]!, threshold)));
    }
    if (shared === 0) {
      const plain = new FlatIndex(d, { accelerate: false });
      for (const row of rows) plain.add(row);
      line('FlatIndex.search 0.9, plain float32 JS scan (reference)', await timeEach(20, 3, (i) => plain.search(queries[i]!, 0.9)));
    }
  }
  const embed = ngramEmbedder();
  const texts = ANCHORS.map((a) => a.text);
  line('ngramEmbedder, one short sentence', await timeEach(20_000, 2_000, (i) => embed(texts[i % texts.length]!)));
  const cache = new SemanticCache({ embed, dimensions: 384, threshold: 0.925, maxEntries: 1000 });
  for (const t of texts) await cache.store(t, clsOutput);
  line('SemanticCache.lookup, 40 entries (embedding included)', await timeEach(5_000, 500, (i) => cache.lookup(`${texts[i % texts.length]!} please`)));
}

function falseHitSweep(): void {
  const { anchors, same, different } = census();
  console.log(`\nFalse hits on the labelled set: ${anchors} cached queries, ${same} same-meaning and ${different} different-meaning probes (ngramEmbedder, 384 dims)`);
  const embed = ngramEmbedder();
  const index = new FlatIndex(384);
  for (const a of ANCHORS) index.add(embed(a.text));
  const nearest = (text: string) => {
    const m = index.search(embed(text), -1)!;
    return { anchor: m.slot, similarity: m.score };
  };
  const thresholds = [0.6, 0.7, 0.75, 0.8, 0.85, 0.875, 0.9, 0.925, 0.95, 0.975, 1];
  console.log('  threshold   hit rate   false hits   false-hit rate   precision   false hits by kind');
  for (const row of sweep(nearest, thresholds)) {
    const kinds = Object.entries(row.falseByDifference).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(
      `  ${row.threshold.toFixed(3).padStart(9)}   ${(row.hitRate * 100).toFixed(1).padStart(7)}%   ${String(row.falseHits).padStart(10)}   ${(row.falseHitRate * 100).toFixed(1).padStart(13)}%   ${(row.precision * 100).toFixed(1).padStart(8)}%   ${kinds}`,
    );
  }
}

export async function run(): Promise<void> {
  console.log(`# cache (node ${process.version}, ${process.arch})`);
  await exactCaches();
  await semanticLookup();
  falseHitSweep();
  await servedWithCache();
}
