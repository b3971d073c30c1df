/**
 * Backends compared on the PaddleOCR text-direction classifier at a fixed batch, in one run:
 * onnx-node on the CPU with 1 and 2 worker instances (the session driven directly, with twice as
 * many runs in flight as instances), and onnx-web's WebAssembly runtime in Node with 1 and 2
 * threads. onnxruntime-web fixes its thread count once per process, so each onnx-web round runs
 * in a child process. Rounds alternate the four setups so all see the same machine; medians, and
 * ratios to onnx-node with 1 worker taken within each round.
 *
 * `npm run build && node --import tsx benchmarks/backends.ts`
 * (BENCH_SECONDS, BENCH_ROUNDS and BENCH_BATCH override 3, 3 and 8).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { ModelSession, Tensor } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { onnxWeb } from 'servable/onnx-web';
import { clsModelPath, pseudoRandom } from '../test/fixtures/ocr-models.js';
import { median, table, watchEventLoop } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCH = Number(process.env.BENCH_BATCH ?? 8);
const IMAGE = 3 * 48 * 192;
const CHILD = 'SERVABLE_BENCH_WEB_THREADS';

interface Result {
  itemsPerSec: number;
  lagP99: number;
}

/** Keeps `inFlight` runs going on `session` for `seconds`, each a fresh batch (onnx-node moves feed buffers to its workers). */
async function measure(session: ModelSession, inFlight: number, seconds: number): Promise<Result> {
  const images = pseudoRandom(BATCH * IMAGE, BATCH);
  const feeds = (): Record<string, Tensor> => ({ x: { datatype: 'FP32', shape: [BATCH, 3, 48, 192], data: images.slice() } });
  await Promise.all(Array.from({ length: inFlight }, () => session.run(feeds())));
  const lag = watchEventLoop();
  const start = performance.now();
  const end = start + seconds * 1000;
  let items = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await session.run(feeds());
        items += BATCH;
      }
    }),
  );
  return { itemsPerSec: items / ((performance.now() - start) / 1000), lagP99: lag() };
}

/** One onnx-web round in a child process with `threads` WebAssembly threads. */
async function webRound(threads: number): Promise<Result> {
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, [CHILD]: String(threads) },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Result;
}

async function child(threads: number): Promise<void> {
  const session = await onnxWeb({ devices: ['wasm'], numThreads: threads }).load(clsModelPath);
  console.log(JSON.stringify(await measure(session, 1, SECONDS)));
  await session.dispose();
}

export async function run(): Promise<void> {
  console.log(`# backends: cls model at batch ${BATCH}, ${ROUNDS} rounds of ${SECONDS} s each\n`);
  const node1 = await onnxNode({ devices: ['cpu'], instances: 1 }).load(clsModelPath, { label: 'cls:1x' });
  const node2 = await onnxNode({ devices: ['cpu'], instances: 2 }).load(clsModelPath, { label: 'cls:2x' });
  const setups = [
    { name: 'onnx-node cpu, 1 worker', round: () => measure(node1, 2, SECONDS) },
    { name: 'onnx-node cpu, 2 workers', round: () => measure(node2, 4, SECONDS) },
    { name: 'onnx-web wasm (Node), 1 thread', round: () => webRound(1) },
    { name: 'onnx-web wasm (Node), 2 threads', round: () => webRound(2) },
  ];
  const results: Result[][] = setups.map(() => []);
  await measure(node1, 2, 0.5);
  await measure(node2, 4, 0.5);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, setup] of setups.entries()) results[i]!.push(await setup.round());
  }
  const base = results[0]!.map((r) => r.itemsPerSec);
  console.log(table(
    ['backend', 'items/s', 'min', 'max', '÷ onnx-node x1 (per round)', 'loop lag p99 ms'],
    setups.map((s, i) => {
      const rate = results[i]!.map((r) => r.itemsPerSec);
      const ratio = median(rate.map((r, round) => r / base[round]!));
      return [s.name, median(rate), Math.min(...rate), Math.max(...rate), ratio, median(results[i]!.map((r) => r.lagP99))];
    }),
  ));
  console.log('\nonnx-node runs in worker threads; onnx-web runs on the calling thread, hence its event-loop lag.');
  await Promise.all([node1.dispose(), node2.dispose()]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const threads = process.env[CHILD];
  await (threads ? child(Number(threads)) : run());
}
