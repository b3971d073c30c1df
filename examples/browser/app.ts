/**
 * The page's script, bundled by build.ts: the isomorphic core (`servable`) and the onnx-web
 * backend classify six text lines through a DynamicBatcher, first on WebAssembly, then on WebGPU,
 * and publish what happened on `globalThis.servable` (a test reads it; a person reads the page).
 */
import { concatBatch, dataOf, DynamicBatcher, sliceBatch, type AttemptFailure, type ModelSession, type Tensor } from 'servable';
import { onnxWeb, type WebDevice } from 'servable/onnx-web';
import { sampleImages } from './images.js';

/** What one device did. */
export interface DeviceResult {
  /** The device asked for. */
  readonly device: WebDevice;
  /** The device the session reported, when it loaded. */
  readonly ran?: string;
  /** Set when the device could not load or run the model. */
  readonly error?: string;
  readonly failures?: readonly AttemptFailure[];
  /** Per image: the probabilities of 0° and 180°. */
  readonly outputs?: number[][];
  /** The batch sizes the batcher formed, in order. */
  readonly batches?: number[];
  readonly loadMs?: number;
  readonly runMs?: number;
}

/** What the page publishes on `globalThis.servable`. */
export interface PageResults {
  readonly crossOriginIsolated: boolean;
  /** The WebGPU adapter the browser offers, or why there is none. */
  readonly gpu: string;
  readonly results: DeviceResult[];
  readonly done: true;
}

const page = globalThis as unknown as {
  servable?: PageResults;
  crossOriginIsolated?: boolean;
  navigator: { gpu?: { requestAdapter(): Promise<{ info?: { vendor: string; architecture: string } } | null> } };
  document?: { getElementById(id: string): { textContent: string | null } | null };
};

async function describeGpu(): Promise<string> {
  if (!page.navigator.gpu) return 'navigator.gpu is undefined';
  const adapter = await page.navigator.gpu.requestAdapter();
  return adapter ? `${adapter.info?.vendor ?? '?'} ${adapter.info?.architecture ?? '?'}` : 'requestAdapter() returned null';
}

async function classify(device: WebDevice, images: readonly Tensor[]): Promise<DeviceResult> {
  const started = performance.now();
  // strict: this page wants to know whether each device works, not to fall back silently.
  const backend = onnxWeb({ devices: [device], strict: true, wasmPaths: '/ort/', numThreads: 2 });
  let session: ModelSession;
  try {
    session = await backend.load('/models/cls.onnx', { label: `cls:${device}` });
  } catch (error) {
    return { device, error: String(error), failures: (error as { failures?: AttemptFailure[] }).failures ?? [] };
  }
  const loadMs = performance.now() - started;
  const batches: number[] = [];
  const batcher = new DynamicBatcher<Tensor, Tensor>({
    maxBatchSize: 3,
    maxQueueDelayMs: 20,
    concurrency: session.concurrency,
    execute: async (batch, { signal }) => {
      const { 'softmax_0.tmp_0': probabilities } = await session.run({ x: concatBatch(batch) }, { signal });
      return batch.map((_, row) => sliceBatch(probabilities!, row, row + 1));
    },
  });
  batcher.on('batch', (event) => batches.push(event.size));
  try {
    const runStarted = performance.now();
    const outputs = await Promise.all(images.map((image) => batcher.submit(image)));
    const runMs = performance.now() - runStarted;
    return { device, ran: session.device, outputs: outputs.map((t) => Array.from(dataOf(t, 'FP32'))), batches, loadMs, runMs };
  } catch (error) {
    return { device, error: String(error) };
  } finally {
    await batcher.close();
    await session.dispose();
  }
}

const images = sampleImages();
const results: DeviceResult[] = [];
for (const device of ['wasm', 'webgpu'] as const) results.push(await classify(device, images));
page.servable = { crossOriginIsolated: page.crossOriginIsolated === true, gpu: await describeGpu(), results, done: true };
const log = page.document?.getElementById('log');
if (log) log.textContent = JSON.stringify(page.servable, null, 2);
