/**
 * Step 3 of the batching benchmark: latency at concurrency 1 on an idle queue, batch 1, on three
 * paths: raw ONNX Runtime on the main thread with one intra-op thread (the workers' setting), one
 * onnx-node worker run (`session.run`), and the served path (`service.infer`: registry, handler,
 * batcher, worker). This machine's speed drifts by 20-40% over seconds, far more than the
 * differences measured here, so the paths are compared close together in time, two ways:
 * - rotation: one call on each path in rotating order, the median of differences within each
 *   rotation. Each call follows another path's run, about 1 ms, so it measures a path whose thread
 *   has just waited that long, and the last path's run still in the caches;
 * - blocks: 20 calls in a row on each path (a closed loop, as one client calling again at once
 *   would), paths taking turns block by block, the median of the differences between neighbouring
 *   blocks' medians. Each path runs in its steady state, and ONNX Runtime's time inside the worker
 *   (`session.run(feeds, { timings })`) splits the worker run into the model and the thread hop.
 * Raw with default threads is left out: its intra-op threads keep spinning after a run and would
 * slow whatever ran next.
 */
import * as ort from 'onnxruntime-node';
import type { InferenceService, ModelVersion, RunTimings } from 'servable';
import { describeNoise, type Noise } from './machine-noise.js';
import { median, quantile, table, verdict } from './stats.js';

const BLOCK = 20;
/** The first calls of a block, not kept: they pay for the switch from the other paths. */
const BLOCK_WARMUP = 2;
/**
 * The rotation's first rotations, not kept. The raw session has run for seconds in step 1, while
 * the served version was loaded just before: its workers' ONNX Runtime sessions and the served
 * path's code are still warming up. In three processes, a 2 s rotation kept from 0.2 s after the
 * load measured served − raw at 93-146 µs, the next one 54-78 µs, and one kept from 2 s 52-62 µs.
 */
const ROTATION_WARMUP_MS = 2000;

type PathName = 'raw' | 'worker' | 'served';

/** Raw ONNX Runtime with one intra-op thread, and the service whose model step 3 calls. */
export interface IdleBench {
  readonly oneThread: ort.InferenceSession;
  readonly service: InferenceService;
}

/** The three paths on one image; `inferMs` collects ONNX Runtime's time of each worker call. */
function paths({ oneThread, service }: IdleBench, model: string, worker: ModelVersion, image: Float32Array, inferMs: number[]) {
  const request = { inputs: { x: { datatype: 'FP32', shape: [1, 3, 48, 192], data: image } } } as const;
  const tensor = new ort.Tensor('float32', image, [1, 3, 48, 192]);
  return {
    raw: () => oneThread.run({ x: tensor }),
    // onnx-node moves feed buffers to the worker, so each run gets its own copy, as the handler's concatenation does.
    worker: async () => {
      const timings: RunTimings = {};
      await worker.session.run({ x: { datatype: 'FP32', shape: [1, 3, 48, 192], data: image.slice() } }, { timings });
      inferMs.push(timings.inferMs!);
    },
    served: () => service.infer(model, request),
  } satisfies Record<PathName, () => Promise<unknown>>;
}

/** One call on each path in rotating order for `seconds`; medians of differences within each rotation, in µs. */
export async function rotation(b: IdleBench, model: string, worker: ModelVersion, image: Float32Array, seconds: number) {
  const inferMs: number[] = [];
  const calls = paths(b, model, worker, image, inferMs);
  const names = Object.keys(calls) as PathName[];
  const runs: Record<PathName, number[]> = { raw: [], worker: [], served: [] };
  const warmup = performance.now() + ROTATION_WARMUP_MS;
  const end = warmup + seconds * 1000;
  for (let turn = 0; performance.now() < end; turn++) {
    const kept = performance.now() >= warmup;
    for (let k = 0; k < names.length; k++) {
      const name = names[(turn + k) % names.length]!;
      const t = performance.now();
      await calls[name]();
      if (kept) runs[name].push(performance.now() - t);
    }
  }
  const over = (a: PathName, z: PathName) => median(runs[a].map((ms, i) => ms - runs[z][i]!)) * 1000;
  // The worker calls recorded are the last ones made; ONNX Runtime's time in the worker pairs with each.
  const inWorker = inferMs.slice(-runs.worker.length);
  const hopUs = median(runs.worker.map((ms, i) => ms - inWorker[i]!)) * 1000;
  return { runs, addedUs: over('served', 'raw'), workerUs: over('worker', 'raw'), ownUs: over('served', 'worker'), hopUs };
}

/** Blocks of {@link BLOCK} calls per path, paths taking turns, for `seconds`; medians of neighbouring blocks' differences, in µs. */
export async function blocks(b: IdleBench, model: string, worker: ModelVersion, image: Float32Array, seconds: number) {
  const inferMs: number[] = [];
  const calls = paths(b, model, worker, image, inferMs);
  const names = Object.keys(calls) as PathName[];
  const medians: Record<PathName | 'model', number[]> = { raw: [], worker: [], served: [], model: [] };
  const end = performance.now() + seconds * 1000;
  // The first turn warms each path up; the last turn is finished, so that every path has as many blocks.
  for (let block = 0; block < names.length || performance.now() < end || block % names.length !== 0; block++) {
    const name = names[block % names.length]!;
    const ms: number[] = [];
    inferMs.length = 0;
    for (let i = 0; i < BLOCK; i++) {
      const t = performance.now();
      await calls[name]();
      ms.push(performance.now() - t);
    }
    if (block < names.length) continue;
    medians[name].push(median(ms.slice(BLOCK_WARMUP)) * 1000);
    if (name === 'worker') medians.model.push(median(inferMs.slice(BLOCK_WARMUP)) * 1000);
  }
  const n = Math.min(medians.raw.length, medians.worker.length, medians.served.length);
  const over = (a: PathName | 'model', z: PathName | 'model') => median(medians[a].slice(0, n).map((us, i) => us - medians[z][i]!));
  return {
    blocks: n,
    rawUs: median(medians.raw),
    servedUs: median(medians.served),
    addedUs: over('served', 'raw'),
    /** ONNX Runtime's own time in the worker over the same model on the main thread. */
    modelUs: over('model', 'raw'),
    /** A worker call over ONNX Runtime's time inside it: handing the job over and the reply back. */
    hopUs: over('worker', 'model'),
    /** The served path over a bare worker call: service, registry, handler, batcher. */
    ownUs: over('served', 'worker'),
  };
}

type Rotation = Awaited<ReturnType<typeof rotation>>;
type Blocks = Awaited<ReturnType<typeof blocks>>;

/** Prints step 3: the rotation with the defaults (the verdict), with `spinWaitMs` 4, and the blocks. */
export function printIdleLatency(idle: Rotation, spun: Rotation, steady: Blocks, batcherMs: number, noise: Noise | undefined): void {
  const { runs, addedUs, workerUs, ownUs, hopUs } = idle;
  console.log(`3. concurrency 1, idle queue, batch 1: one call on each path in rotating order, ${runs.raw.length} rotations`);
  console.log(table(['path', 'p50 ms', 'p99 ms', 'over raw µs (median of paired differences)'], [
    ['raw, main thread, 1 intra-op thread', quantile(runs.raw, 0.5), quantile(runs.raw, 0.99), 0],
    ['onnx-node session.run (worker, 1 thread)', quantile(runs.worker, 0.5), quantile(runs.worker, 0.99), workerUs],
    ['served: service.infer (registry, batcher, worker)', quantile(runs.served, 0.5), quantile(runs.served, 0.99), addedUs],
  ]));
  console.log(`added latency, served − raw (median of paired differences): ${addedUs.toFixed(0)} µs   [target <= 50 µs] ${verdict(Math.round(addedUs) <= 50)}`);
  console.log(`  during the rotation: ${describeNoise(noise)}`);
  console.log(`  worker thread hop (worker − raw): ${workerUs.toFixed(0)} µs`);
  console.log(`  registry + handler + batcher (served − worker): ${ownUs.toFixed(0)} µs`);
  console.log(`  the batcher alone: ${(batcherMs * 1000).toFixed(1)} µs`);
  // Both parts compare runs on the same worker thread, so they hold whichever vCPU it and the main thread are on.
  console.log(`servable's own time, measured on the worker's side: (served − worker) ${ownUs.toFixed(0)} µs + (worker call − ONNX Runtime's run() timed in the worker) ${hopUs.toFixed(0)} µs = ${(ownUs + hopUs).toFixed(0)} µs`);
  console.log(`with spinWaitMs 4 (the worker busy-waits through the rotation's raw run): served − raw ${spun.addedUs.toFixed(0)} µs, worker − raw ${spun.workerUs.toFixed(0)} µs, ${spun.runs.raw.length} rotations`);
  console.log(
    `in blocks of ${BLOCK} calls per path (each path in its steady state), ${steady.blocks} blocks each: raw ${steady.rawUs.toFixed(0)} µs, served ${steady.servedUs.toFixed(0)} µs; ` +
      `served − raw ${steady.addedUs.toFixed(0)} µs = ONNX Runtime slower in the worker ${steady.modelUs.toFixed(0)} + thread hop ${steady.hopUs.toFixed(0)} + service, registry, handler, batcher ${steady.ownUs.toFixed(0)} µs (medians of neighbouring blocks' differences; the parts need not add up)\n`,
  );
}
