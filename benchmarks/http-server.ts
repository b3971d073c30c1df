/**
 * The server side of the HTTP benchmark (benchmarks/http.ts forks it once per V8 heap setting):
 * the PaddleOCR text-direction classifier served by one service (2 worker instances, batches of up
 * to 8, 2 ms delay), measured on up to nine paths in alternating rounds, in the order of
 * `measures` below: N concurrent single-image callers in-process through service.infer, each
 * passing the same image array every time; the same over loopback HTTP with binary tensor data
 * through the Fastify adapter and through the Node adapter (servable/node, no framework), driven
 * by the Node client (http-client.ts) and, with BENCH_WRK=1, by wrk (http-wrk.ts); in-process with
 * a new array per request; binary through Fastify with 4 images per request (N/4 callers, so as
 * many images are in flight); and JSON bodies through Fastify, decoded on a JSON worker thread (the
 * default) and on the event loop (`jsonWorkers: 0`). The HTTP clients run in child
 * processes on keep-alive connections (one request in flight on each) and send bodies encoded
 * once up front; they share the machine's cores with this process and its inference workers, so
 * the CPU each side spends per image is reported too, the images per batch the model ran, which
 * sets the inference cost per image, and V8's mark-compacts per second in this process (see
 * docs/http.md on heap settings). Last, the HTTP floor: the Node client against a bare node:http
 * server that reads each body and answers at once, no model, no framework. The results go to the
 * parent over IPC. Arguments: the node options to start the Node clients with.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import Fastify from 'fastify';
import { InferenceService, ModelRegistry, type Tensor } from 'servable';
import { servableFastify } from 'servable/fastify';
import { servableNode } from 'servable/node';
import { onnxNode } from 'servable/onnx-node';
import { clsModelPath, pseudoRandom } from '../test/fixtures/ocr-models.js';
import type { ClientResult } from './http-client.js';
import { runWrk, wrkInstalled } from './http-wrk.js';
import { closedLoop, quantile } from './stats.js';

const IMAGE = 3 * 48 * 192;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CALLERS = Number(process.env.BENCH_CALLERS ?? 32);
const PIPELINE_DEPTH = Number(process.env.BENCH_PIPELINE_DEPTH ?? 1);
/** The backend's `spinWaitMs`, when BENCH_SPIN_WAIT_MS sets it. */
const SPIN_WAIT_MS = process.env.BENCH_SPIN_WAIT_MS === undefined ? undefined : Number(process.env.BENCH_SPIN_WAIT_MS);
/** The backend's `workerNice`, when BENCH_WORKER_NICE sets it. */
const WORKER_NICE = process.env.BENCH_WORKER_NICE === undefined ? undefined : Number(process.env.BENCH_WORKER_NICE);
/** Whether to measure the binary paths with wrk as well (BENCH_WRK=1). */
const WRK = process.env.BENCH_WRK === '1';
/** The clients run with the parent's node options (this process's argv), without this process's heap settings. */
const CLIENT_EXEC_ARGV = process.argv.slice(2);

/** What this process reports to its parent: each path's results by round, in the order measured, and the HTTP floor. */
export interface Measured {
  readonly paths: readonly { readonly name: PathName; readonly rounds: readonly Result[] }[];
  readonly floor: Result;
}

export type PathName =
  | 'in-process service.infer'
  | 'in-process, a new input array per request'
  | 'HTTP binary, Fastify'
  | 'HTTP binary, servable/node'
  | 'HTTP binary, Fastify, wrk'
  | 'HTTP binary, servable/node, wrk'
  | 'HTTP JSON, Fastify'
  | 'HTTP JSON, Fastify, decoded on the event loop'
  | 'HTTP binary, Fastify, 4 images a request';

export interface Result {
  itemsPerSec: number;
  p50: number;
  p99: number;
  /** CPU the server process used per image (every thread: the event loop and the inference workers), in milliseconds. */
  serverMs: number;
  /** CPU the server's event-loop thread used per image, in milliseconds; NaN where Linux's schedstat is not available. */
  eventLoopMs: number;
  /** Client process CPU per image, in milliseconds. */
  clientMs: number;
  /** Images per batch the model ran, on average: inference costs less per image in fuller batches. */
  batch: number;
  /** V8's full collections (mark-compacts) in this process per second while measuring. */
  markCompactsPerSec: number;
}

/** Mark-compacts in this process so far. */
let markCompacts = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if ((entry.detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) markCompacts++;
  }
}).observe({ entryTypes: ['gc'] });

/** Images and batches the model has run so far. */
const batches = { images: 0, count: 0 };

function batchSince(before: { images: number; count: number }): number {
  return (batches.images - before.images) / (batches.count - before.count);
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

/**
 * CPU time of the calling thread (this process's event loop) so far, in milliseconds, from Linux's
 * `/proc/thread-self/schedstat` (nanoseconds on the CPU); NaN elsewhere. Node 20 has no per-thread
 * CPU clock, and a sampling profile counts the thread's time off the CPU too, which the workers'
 * competition for the cores makes large.
 */
function eventLoopCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** What the server spent from now on: call the result with the images answered and the seconds measured. */
function startMeasuring(): (items: number, seconds: number) => Pick<Result, 'serverMs' | 'eventLoopMs' | 'batch' | 'markCompactsPerSec'> {
  const cpu = process.cpuUsage();
  const eventLoop = eventLoopCpuMs();
  const before = { ...batches };
  const collections = markCompacts;
  return (items, seconds) => ({
    serverMs: cpuMs(process.cpuUsage(cpu)) / items,
    eventLoopMs: (eventLoopCpuMs() - eventLoop) / items,
    batch: batchSince(before),
    markCompactsPerSec: (markCompacts - collections) / seconds,
  });
}

/**
 * CALLERS callers calling service.infer, each with its own image: the same array every time, or
 * (`fresh`) a copy made for each request, as an application that decodes its inputs makes them.
 */
async function inProcess(service: InferenceService, seconds: number, fresh = false): Promise<Result> {
  const images = Array.from({ length: CALLERS }, (_, caller) => pseudoRandom(IMAGE, caller + 1));
  const input = (caller: number): Tensor => ({ datatype: 'FP32', shape: [1, 3, 48, 192], data: fresh ? images[caller]!.slice() : images[caller]! });
  const spent = startMeasuring();
  const loop = await closedLoop(CALLERS, seconds, async (caller) => {
    await service.infer('textdir', { inputs: { x: input(caller) } });
    return 1;
  });
  return {
    itemsPerSec: loop.items / loop.seconds,
    p50: quantile(loop.latencies, 0.5),
    p99: quantile(loop.latencies, 0.99),
    clientMs: 0,
    ...spent(loop.items, loop.seconds),
  };
}

async function overHttp(url: string, mode: 'json' | 'binary', seconds: number, images = 1): Promise<Result> {
  const script = fileURLToPath(new URL('./http-client.ts', import.meta.url));
  const child = fork(script, [url, mode, String(CALLERS / images), String(seconds), String(images)], { execArgv: CLIENT_EXEC_ARGV });
  // The child loads tsx and warms up first; the server's time counts from the child's first timed request.
  const { client, server } = await new Promise<{ client: ClientResult; server: ReturnType<ReturnType<typeof startMeasuring>> }>((resolve, reject) => {
    let spent = startMeasuring();
    child.on('message', (m: ClientResult | 'measuring') => {
      if (m === 'measuring') spent = startMeasuring();
      else resolve({ client: m, server: spent(m.items, m.seconds) });
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`The ${mode} client exited with code ${code} and no result`)));
  });
  if (client.errors > 0) throw new Error(`The ${mode} client got ${client.errors} non-200 replies`);
  return {
    itemsPerSec: client.items / client.seconds,
    p50: quantile(client.latencies, 0.5),
    p99: quantile(client.latencies, 0.99),
    clientMs: client.cpuMs / client.items,
    ...server,
  };
}

/** The same as {@link overHttp} with wrk as the client: binary tensor data only. */
async function overWrk(url: string, seconds: number): Promise<Result> {
  const spent = startMeasuring();
  const client = await runWrk(url, CALLERS, seconds);
  if (client.errors > 0) throw new Error(`wrk got ${client.errors} replies other than a well-formed 200`);
  return { itemsPerSec: client.items / client.seconds, p50: client.p50, p99: client.p99, clientMs: client.cpuMs / client.items, ...spent(client.items, client.seconds) };
}

/** Listens on a free loopback port; the server's URL. */
async function listenLocally(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The binary client against a bare node:http server that reads each body and sends the same binary reply at once. */
async function bareHttp(seconds: number): Promise<Result> {
  const header = Buffer.from(JSON.stringify({ model_name: 'textdir', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } }] }));
  const reply = Buffer.concat([header, Buffer.alloc(8)]);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength), 'content-length': String(reply.byteLength) });
      res.end(reply);
    });
  });
  const url = await listenLocally(server);
  try {
    return await overHttp(url, 'binary', seconds);
  } finally {
    server.close();
  }
}

async function measure(): Promise<Measured> {
  if (WRK && !wrkInstalled) throw new Error('BENCH_WRK=1 needs wrk on the PATH (Debian: apt-get install wrk)');
  const registry = new ModelRegistry({ backends: [onnxNode({ devices: ['cpu'], instances: 2, pipelineDepth: PIPELINE_DEPTH, ...(SPIN_WAIT_MS !== undefined && { spinWaitMs: SPIN_WAIT_MS }), ...(WORKER_NICE !== undefined && { workerNice: WORKER_NICE }) })] });
  await registry.load({
    name: 'textdir',
    source: clsModelPath,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
    batching: { maxBatchSize: 8, maxQueueDelayMs: 2, maxQueueSize: 1024 },
  });
  registry.on('batch', (event) => {
    batches.images += event.size;
    batches.count += 1;
  });
  const service = new InferenceService({ registry });
  const app = Fastify();
  await app.register(servableFastify, { service });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const inPlace = Fastify();
  await inPlace.register(servableFastify, { service, jsonWorkers: 0 });
  const inPlaceUrl = await inPlace.listen({ host: '127.0.0.1', port: 0 });
  const nodeServer = http.createServer(servableNode({ service }));
  const nodeUrl = await listenLocally(nodeServer);

  // Each round measures the paths in this order, and ratios pair a path with in-process in the same
  // round; the binary HTTP paths, the target's, come right after in-process, since this machine drifts.
  const measures: Partial<Record<PathName, () => Promise<Result>>> = {
    'in-process service.infer': () => inProcess(service, SECONDS),
    ...(WRK && {
      'HTTP binary, Fastify, wrk': () => overWrk(url, SECONDS),
      'HTTP binary, servable/node, wrk': () => overWrk(nodeUrl, SECONDS),
    }),
    'HTTP binary, Fastify': () => overHttp(url, 'binary', SECONDS),
    'HTTP binary, servable/node': () => overHttp(nodeUrl, 'binary', SECONDS),
    'in-process, a new input array per request': () => inProcess(service, SECONDS, true),
    'HTTP binary, Fastify, 4 images a request': () => overHttp(url, 'binary', SECONDS, 4),
    'HTTP JSON, Fastify': () => overHttp(url, 'json', SECONDS),
    'HTTP JSON, Fastify, decoded on the event loop': () => overHttp(inPlaceUrl, 'json', SECONDS),
  };
  // One second of each path first, so that no path's first round also pays for compiling its code.
  await inProcess(service, 1);
  await overHttp(nodeUrl, 'binary', 1);
  if (WRK) await overWrk(url, 1);
  await overHttp(url, 'binary', 1);
  await overHttp(url, 'json', 1);
  await overHttp(inPlaceUrl, 'json', 1);
  await overHttp(url, 'binary', 1, 4);
  const paths = Object.keys(measures).map((name) => ({ name: name as PathName, rounds: [] as Result[] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const path of paths) path.rounds.push(await measures[path.name]!());
  }
  await app.close();
  await inPlace.close();
  await new Promise((resolve) => nodeServer.close(resolve));
  await registry.close();
  return { paths, floor: await bareHttp(SECONDS) };
}

if (process.send) process.send(await measure());
