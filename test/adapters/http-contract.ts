import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import threads, { type Worker } from 'node:worker_threads';
import { gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { Registry } from 'prom-client';
import {
  ClosedError,
  InferenceService,
  LruStore,
  ModelNotReadyError,
  ModelRegistry,
  ModelTooLargeError,
  optionError,
  OverloadedError,
  QueueFullError,
  ResultCache,
  TensorHandler,
  type Backend,
  type InferenceRequest,
  type MemoryModel,
  UnavailableError,
  type Tensor,
} from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import type { ServableExpressOptions as HttpHandlerOptions } from 'servable/express';
import { InferenceStatistics, metricsHandler, ServingMetrics } from 'servable/metrics';
import { onnxNode } from 'servable/onnx-node';
import { linearModel, linearReference } from '../fixtures/onnx-models.js';
import { sample } from '../metrics/exposition.js';
import { until } from '../fixtures/until.js';
import { routingKeyContract } from './routing-key-contract.js';

/** A running server with the adapter mounted. */
export interface TestServer {
  /** The base URL, prefix included: `http://127.0.0.1:port/prefix`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the adapter on 127.0.0.1, port 0, with these options and an optional path prefix. */
export type StartServer = (options: HttpHandlerOptions, prefix?: string) => Promise<TestServer>;

export const W = [
  [1, 2],
  [3, 4],
  [5, 6],
];
export const B = [10, 20];

/** Y = X·W + B as a memory model: X FP32 [n, 3], Y FP32 [n, 2]; `gate` holds every run until it resolves. */
export function linearMemory(gate?: () => Promise<void>): MemoryModel {
  return {
    inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 3] }],
    outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 2] }],
    async run({ X }) {
      await gate?.();
      const x = X!.data as Float32Array;
      const rows = X!.shape[0]!;
      const y = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) y.set(linearReference(W, B, Array.from(x.subarray(r * 3, r * 3 + 3))), r * 2);
      return { Y: { datatype: 'FP32', shape: [rows, 2], data: y } as Tensor };
    },
  };
}

/** A TensorHandler that records the id of each request it validated: it is queued on the next tick. */
class RecordingHandler extends TensorHandler {
  readonly seen: string[] = [];
  override validate(request: InferenceRequest): void {
    super.validate(request);
    if (request.id) this.seen.push(request.id);
  }
}

/** A gate that holds model runs until opened. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => opened, open };
}

export { until };

export const tick = () => new Promise((r) => setImmediate(r));

/** The worker threads running in this process, JSON workers and the onnx-node backend's alike, as the diagnostic report lists them. */
function workerThreads(): number {
  return (process.report.getReport() as unknown as { workers: unknown[] }).workers.length;
}

const promtool = spawnSync('promtool', ['--version']).status === 0;
const skipPromtool = promtool ? false : 'promtool is not installed (Debian/Ubuntu: apt-get install prometheus; or put the binary from prometheus.io on PATH)';

export function inferBody(rows: number[][], extra: Record<string, unknown> = {}) {
  return JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [rows.length, 3], data: rows }], ...extra });
}

function expectedY(rows: number[][]): number[] {
  return rows.flatMap((r) => linearReference(W, B, r));
}

/**
 * POSTs `body` over a raw HTTP/1.1 connection, `piece` bytes per TCP segment (each written on its
 * own turn of the event loop, Nagle off), and reads the reply to the end of the connection.
 */
async function rawPost(url: string, headers: Record<string, string>, body: Buffer, piece: number): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const { hostname, port, pathname } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const head = Object.entries({ host: `${hostname}:${port}`, connection: 'close', 'content-length': String(body.byteLength), ...headers });
  socket.write(`POST ${pathname} HTTP/1.1\r\n${head.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  for (let at = 0; at < body.byteLength; at += piece) {
    socket.write(body.subarray(at, at + piece));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await ended;
  const reply = Buffer.concat(chunks);
  const split = reply.indexOf('\r\n\r\n');
  const [status, ...lines] = reply.subarray(0, split).toString('latin1').split('\r\n');
  const replyHeaders = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  assert.ok(replyHeaders['transfer-encoding'] === undefined, 'the reply is framed by Content-Length');
  return { status: Number(status!.split(' ')[1]), headers: replyHeaders, body: reply.subarray(split + 4) };
}

/**
 * POSTs `body` on a raw connection, as a client that blocks on its upload does: the whole request
 * is written (`Content-Length`, or chunked in 64 KiB chunks) before a byte of the reply is read.
 * Then reads the reply, and with `then`, sends that request on the same connection and reads its
 * reply too. The error code instead when the connection was reset.
 */
async function uploadWhole(url: string, body: Buffer, options: { chunked: boolean; close: boolean; then?: string }): Promise<readonly Reply[] | string> {
  const { hostname, port, pathname } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  socket.pause();
  const failed = new Promise<string>((resolve) => socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message)));
  const framing = options.chunked ? 'transfer-encoding: chunked' : `content-length: ${body.byteLength}`;
  const parts: Buffer[] = [Buffer.from(`POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\n${framing}\r\n${options.close ? 'connection: close\r\n' : ''}\r\n`)];
  for (let at = 0; at < body.byteLength && options.chunked; at += 64 << 10) {
    const piece = body.subarray(at, at + (64 << 10));
    parts.push(Buffer.from(`${piece.byteLength.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(options.chunked ? Buffer.from('0\r\n\r\n') : body);
  try {
    const written = new Promise<void>((resolve) => socket.write(Buffer.concat(parts), () => resolve()));
    const outcome = await Promise.race([written.then(() => readReply(socket)), failed]);
    if (typeof outcome === 'string' || options.then === undefined) return typeof outcome === 'string' ? outcome : [outcome];
    socket.write(options.then);
    const next = await Promise.race([readReply(socket), failed]);
    return typeof next === 'string' ? next : [outcome, next];
  } finally {
    socket.destroy();
  }
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Reads one reply framed by Content-Length off a paused socket, and pauses it again; `EOF` when the connection ends first. */
function readReply(socket: net.Socket): Promise<Reply | 'EOF'> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const onEnd = (): void => resolve('EOF');
    socket.once('end', onEnd);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      const split = got.indexOf('\r\n\r\n');
      if (split === -1) return;
      const [status, ...lines] = got.subarray(0, split).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const length = Number(headers['content-length']);
      if (got.byteLength < split + 4 + length) return;
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      resolve({ status: Number(status!.split(' ')[1]), headers, body: got.subarray(split + 4, split + 4 + length).toString() });
    };
    socket.on('data', onData);
    socket.resume();
  });
}

/** Reads `count` replies framed by Content-Length off a socket, as they come: several may arrive in one chunk. */
async function readReplies(socket: net.Socket, count: number): Promise<Reply[]> {
  let got = Buffer.alloc(0);
  const replies: Reply[] = [];
  socket.on('data', (chunk: Buffer) => (got = Buffer.concat([got, chunk])));
  socket.resume();
  const ended = once(socket, 'end').then(() => 'EOF');
  while (replies.length < count) {
    const split = got.indexOf('\r\n\r\n');
    const [status, ...lines] = split === -1 ? [] : got.subarray(0, split).toString('latin1').split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const end = split + 4 + Number(headers['content-length']);
    if (split !== -1 && got.byteLength >= end) {
      replies.push({ status: Number(status!.split(' ')[1]), headers, body: got.subarray(split + 4, end).toString() });
      got = got.subarray(end);
    } else if ((await Promise.race([once(socket, 'data'), ended])) === 'EOF') {
      assert.fail(`the connection ended after ${replies.length} of ${count} replies`);
    }
  }
  return replies;
}

async function post(url: string, body: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, ...init });
}

/** Sends a request on an HTTP/2 session; `stream` is the request's stream, `reply` its answer. */
export function request2(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string) {
  const stream = session.request(headers);
  stream.end(body);
  const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
    let status = 0;
    let text = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve({ status, body: text }));
    stream.on('error', reject);
  });
  return { stream, reply };
}

/** Sends a request's head with `Expect: 100-continue` and reads what the server answers before the body: the raw bytes until a pause of 200 ms. */
export async function expectContinue(port: number, path: string, length: number): Promise<{ head: string; socket: net.Socket }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\nexpect: 100-continue\r\n\r\n`);
  let head = '';
  socket.setEncoding('latin1');
  const onData = (chunk: string) => (head += chunk);
  socket.on('data', onData);
  await until(() => head.includes('\r\n\r\n'), 'an answer to the head');
  await new Promise((r) => setTimeout(r, 200));
  socket.off('data', onData);
  return { head, socket };
}

/** Sends a request with `Expect: 100-continue`, checks that the server says to go on, sends the body and waits for a 200 holding `answer`. */
export async function continueAndServe(port: number, path: string, body: string, answer: string): Promise<void> {
  const { head, socket } = await expectContinue(port, path, body.length);
  assert.equal(head, 'HTTP/1.1 100 Continue\r\n\r\n', path);
  let reply = '';
  socket.on('data', (chunk: string) => (reply += chunk));
  socket.write(body);
  await until(() => reply.includes(answer), `the answer to ${path}: ${reply}`);
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  socket.destroy();
}

/** A gated memory model behind a fresh service: runs wait for `open()`. */
export async function gatedService(batching: NonNullable<Parameters<ModelRegistry['load']>[0]['batching']>, clock?: FakeClock) {
  const g = gate();
  const backend = memoryBackend(clock ? { clock } : {});
  const registry = new ModelRegistry({ backends: [backend], ...(clock ? { clock } : {}) });
  const handler = new RecordingHandler();
  await registry.load({ name: 'linear', source: linearMemory(g.wait), handler, batching, warmup: [] });
  return { service: new InferenceService({ registry }), registry, backend, handler, open: g.open };
}

/**
 * Over HTTP/2, on a gated service with a batch size above 1: posts request `a` (it runs and waits
 * at the gate) and `b` (it queues), resets `b`'s stream, and checks that `b` left the queue as
 * cancelled, that `a` is answered on the same session, and that a third request then runs.
 */
export async function resetStreamLeavesQueue(s: Awaited<ReturnType<typeof gatedService>>, post: (body: string) => ReturnType<typeof request2>): Promise<void> {
  const drops: string[] = [];
  s.registry.on('drop', (e) => drops.push(e.reason));
  const running = post(inferBody([[1, 0, 0]], { id: 'a' }));
  await until(() => s.backend.calls.length === 1, 'the first run');
  const leaving = post(inferBody([[0, 1, 0]], { id: 'b' }));
  leaving.reply.catch(() => {});
  await until(() => s.handler.seen.includes('b'), 'the second request to queue');
  await tick();
  leaving.stream.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => drops.length === 1, 'the drop');
  assert.deepEqual(drops, ['cancelled']);
  s.open();
  const answered = await running.reply;
  assert.deepEqual([answered.status, JSON.parse(answered.body).id, JSON.parse(answered.body).outputs[0].data], [200, 'a', [11, 22]]);
  assert.equal((await post(inferBody([[0, 0, 1]])).reply).status, 200);
  assert.deepEqual(runs(s.backend), [[1, 0, 0], [0, 0, 1]]);
}

/** The rows each recorded run received. */
export function runs(backend: ReturnType<typeof memoryBackend>): number[][] {
  return backend.calls.map((c) => Array.from(c.feeds.X!.data as Float32Array));
}

/**
 * The shared table every adapter must pass, over real HTTP: routes, status codes and bodies.
 * `backend` serves the exact-answer model on the shared server; the queueing tests use gated memory models.
 */
export function httpContract(adapter: string, start: StartServer, backend: () => Promise<{ backend: Backend; source: unknown }>): void {
  describe(`${adapter}: one server, the exact-answer model`, () => {
    let registry: ModelRegistry;
    let server: TestServer;

    before(async () => {
      const { backend: b, source } = await backend();
      registry = new ModelRegistry({ backends: [b] });
      const service = new InferenceService({ registry });
      const promRegistry = new Registry();
      new ServingMetrics({ promRegistry, service });
      await registry.load({ name: 'linear', source: source as object, batching: { maxBatchSize: 16, maxQueueDelayMs: 2 } });
      server = await start({ service, maxElements: 1_000_000, bodyLimit: 1 << 20, metrics: metricsHandler(promRegistry) });
    });

    after(async () => {
      await server.close();
      await registry.close();
    });

    test(`health, server metadata and model metadata`, async () => {
      const live = await fetch(`${server.url}/v2/health/live`);
      assert.equal(live.status, 200);
      assert.equal(live.headers.get('content-type'), 'application/json');
      assert.deepEqual(await live.json(), { live: true });
      assert.deepEqual(await (await fetch(`${server.url}/v2/health/ready`)).json(), { ready: true });
      assert.deepEqual(await (await fetch(`${server.url}/v2`)).json(), { name: 'servable', version: '0.1.0', extensions: ['binary_tensor_data', 'classification', 'schedule_policy'] });
      const meta = await fetch(`${server.url}/v2/models/linear`);
      assert.equal(meta.status, 200);
      const body = (await meta.json()) as Record<string, unknown>;
      assert.deepEqual(
        body,
        {
          name: 'linear',
          versions: ['1'],
          platform: 'onnx-node',
          inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 3] }],
          outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 2] }],
        },
      );
      assert.deepEqual(await (await fetch(`${server.url}/v2/models/linear/versions/1`)).json(), body);
      const ready = await fetch(`${server.url}/v2/models/linear/ready`);
      assert.deepEqual([ready.status, await ready.json()], [200, { name: 'linear', ready: true }]);
      const versionReady = await fetch(`${server.url}/v2/models/linear/versions/1/ready?verbose=1`);
      assert.deepEqual([versionReady.status, await versionReady.json()], [200, { name: 'linear', version: '1', ready: true }]);
      const head = await fetch(`${server.url}/v2/health/ready`, { method: 'HEAD' });
      assert.deepEqual([head.status, await head.text()], [200, '']);
    });

    test(`server readiness is 503 while a model loads with no version ready, as in Triton, and 200 once it is`, async () => {
      const g = gate();
      const own = new ModelRegistry({ backends: [memoryBackend()] });
      const srv = await start({ service: new InferenceService({ registry: own }) });
      const ready = async () => {
        const res = await fetch(`${srv.url}/v2/health/ready`);
        return [res.status, await res.json()];
      };
      try {
        // Its warm-up runs the model, which waits at the gate.
        const loading = own.load({ name: 'linear', source: linearMemory(g.wait) });
        assert.deepEqual(await ready(), [503, { ready: false }]);
        const answer = post(`${srv.url}/v2/models/linear/infer`, inferBody([[1, 2, 3]]));
        g.open();
        await loading;
        assert.deepEqual(await ready(), [200, { ready: true }]);
        assert.equal((await answer).status, 200, 'a request sent meanwhile waits for the load');
      } finally {
        g.open();
        await srv.close();
        await own.close();
      }
    });

    test(`infer answers Y = X·W + B exactly, flat or nested, and echoes the id`, async () => {
      const rows = [
        [1, 2, 3],
        [-4, 0.5, 6],
      ];
      const res = await post(`${server.url}/v2/models/linear/infer`, inferBody(rows, { id: 'req-7', outputs: [{ name: 'Y' }] }));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        model_name: 'linear',
        model_version: '1',
        id: 'req-7',
        outputs: [{ name: 'Y', datatype: 'FP32', shape: [2, 2], data: expectedY(rows) }],
      });
      const flat = await post(
        `${server.url}/v2/models/linear/versions/1/infer`,
        JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [7, 8, 9] }] }),
        { headers: {} },
      );
      assert.deepEqual(await flat.json(), {
        model_name: 'linear',
        model_version: '1',
        outputs: [{ name: 'Y', datatype: 'FP32', shape: [1, 2], data: expectedY([[7, 8, 9]]) }],
      });
    });

    test(`a JSON body is read whatever media type it is sent as, with a Content-Type that is no media type, or with none, as Triton reads it`, async () => {
      const body = new TextEncoder().encode(inferBody([[1, 2, 3]]));
      const types = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'json', ';;;', 'text', 'a/b/c', '', undefined];
      const answers = await Promise.all(types.map(async (type) => {
        // A Uint8Array body gets no Content-Type from fetch.
        const res = await fetch(`${server.url}/v2/models/linear/infer`, { method: 'POST', headers: type === undefined ? {} : { 'content-type': type }, body });
        return [res.status, ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data];
      }));
      assert.deepEqual(answers, types.map(() => [200, expectedY([[1, 2, 3]])]));
    });

    test(`binary tensor data: raw FP32 in, raw FP32 out, sizes checked against the JSON header`, async () => {
      const rows = [
        [1, 2, 3],
        [0.25, -8, 100],
      ];
      const x = new Float32Array(rows.flat());
      const header = new TextEncoder().encode(
        JSON.stringify({
          inputs: [{ name: 'X', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: x.byteLength } }],
          outputs: [{ name: 'Y', parameters: { binary_data: true } }],
        }),
      );
      const body = new Uint8Array(header.byteLength + x.byteLength);
      body.set(header);
      body.set(new Uint8Array(x.buffer), header.byteLength);
      const send = (b: Uint8Array, headerLength: number) =>
        fetch(`${server.url}/v2/models/linear/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) },
          body: b,
        });
      const res = await send(body, header.byteLength);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      const jsonLength = Number(res.headers.get('inference-header-content-length'));
      const reply = new Uint8Array(await res.arrayBuffer());
      assert.deepEqual(JSON.parse(new TextDecoder().decode(reply.subarray(0, jsonLength))), {
        model_name: 'linear',
        model_version: '1',
        outputs: [{ name: 'Y', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } }],
      });
      assert.deepEqual(new Float32Array(reply.slice(jsonLength).buffer), new Float32Array(expectedY(rows)));

      const short = await send(body.subarray(0, body.byteLength - 4), header.byteLength);
      assert.equal(short.status, 400);
      assert.match(((await short.json()) as { error: string }).error, /Input 'X': binary_data_size 24 runs past the end of the binary data \(20 bytes left\)/);
      const badHeader = await send(body, body.byteLength + 1);
      assert.equal(badHeader.status, 400);
      assert.match(((await badHeader.json()) as { error: string }).error, /Inference-Header-Content-Length/);
    });

    test(`classification: an output's parameters.classification answers its top classes per row as BYTES "<value>:<index>", in JSON or as binary data`, async () => {
      // Y = [[32, 48], [37.5, 50]]; the model batches, so each row is classified alone.
      const rows = [
        [1, 2, 3],
        [-4, 0.5, 6],
      ];
      const asJson = await post(`${server.url}/v2/models/linear/infer`, inferBody(rows, { outputs: [{ name: 'Y', parameters: { classification: 1 } }] }));
      assert.deepEqual(await asJson.json(), {
        model_name: 'linear',
        model_version: '1',
        outputs: [{ name: 'Y', datatype: 'BYTES', shape: [2, 1], data: ['48.000000:1', '50.000000:1'] }],
      });
      const res = await post(`${server.url}/v2/models/linear/infer`, inferBody(rows, { outputs: [{ name: 'Y', parameters: { classification: 5, binary_data: true } }] }));
      const jsonLength = Number(res.headers.get('inference-header-content-length'));
      const reply = Buffer.from(await res.arrayBuffer());
      assert.deepEqual(JSON.parse(reply.subarray(0, jsonLength).toString()).outputs, [{ name: 'Y', datatype: 'BYTES', shape: [2, 2], parameters: { binary_data_size: 4 * 4 + 11 + 11 + 11 + 11 } }]);
      const strings: string[] = [];
      for (let at = jsonLength; at < reply.length; at += 4 + reply.readUInt32LE(at)) strings.push(reply.subarray(at + 4, at + 4 + reply.readUInt32LE(at)).toString());
      assert.deepEqual(strings, ['48.000000:1', '32.000000:0', '50.000000:1', '37.500000:0']);
      const bad = await post(`${server.url}/v2/models/linear/infer`, inferBody(rows, { outputs: [{ name: 'Y', parameters: { classification: -2 } }] }));
      assert.deepEqual([bad.status, await bad.json()], [400, { error: "Output 'Y': expected `parameters.classification` to be an integer >= 0 (a number of classes), got -2 (number)", code: 'ERR_SERVABLE_INVALID_INPUT' }]);
    });

    test(`binary tensor data arriving in many small TCP segments, the binary part at an odd offset`, async () => {
      const rows = [
        [1.5, -2, 3],
        [7, 0.125, -100],
      ];
      const x = new Float32Array(rows.flat());
      // A trailing space makes the JSON header an odd number of bytes long, so the FP32 data cannot stay where it lands.
      let json = JSON.stringify({
        inputs: [{ name: 'X', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: x.byteLength } }],
        outputs: [{ name: 'Y', parameters: { binary_data: true } }],
      });
      if (json.length % 2 === 0) json += ' ';
      const header = Buffer.from(json);
      const body = Buffer.concat([header, Buffer.from(x.buffer)]);
      const reply = await rawPost(`${server.url}/v2/models/linear/infer`, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) }, body, 5);
      assert.equal(reply.status, 200);
      const jsonLength = Number(reply.headers['inference-header-content-length']);
      assert.deepEqual(new Float32Array(new Uint8Array(reply.body.subarray(jsonLength)).buffer), new Float32Array(expectedY(rows)));

      // Bytes after the last input's binary_data_size are refused, not ignored.
      const longer = Buffer.concat([body, Buffer.alloc(4)]);
      const refused = await rawPost(`${server.url}/v2/models/linear/infer`, { 'inference-header-content-length': String(header.byteLength) }, longer, 5);
      assert.equal(refused.status, 400);
      assert.match(JSON.parse(refused.body.toString()).error, /holds 4 bytes of binary data after the last input's binary_data_size/);
    });

    test(`TF-Serving REST: row and columnar :predict, status, metadata, errors as {"error"}`, async () => {
      const rows = [
        [1, 2, 3],
        [4, -5, 0.5],
      ];
      const y = expectedY(rows);
      const predict = async (path: string, body: unknown) => {
        const res = await post(`${server.url}/v1/models/${path}`, JSON.stringify(body));
        return [res.status, await res.json()];
      };
      assert.deepEqual(await predict('linear:predict', { instances: rows }), [200, { predictions: [y.slice(0, 2), y.slice(2)] }]);
      assert.deepEqual(await predict('linear/versions/1:predict', { inputs: rows }), [200, { outputs: [y.slice(0, 2), y.slice(2)] }]);
      assert.deepEqual(await predict('linear:predict', { instances: [{ X: rows[0] }] }), [200, { predictions: [y.slice(0, 2)] }]);
      const [status, ragged] = await predict('linear:predict', { instances: [[1, 2, 3], [1, 2]] });
      assert.equal(status, 400);
      assert.match((ragged as { error: string }).error, /Input 'X': instance 1 has shape \[2\], instance 0 has \[3\]/);
      assert.equal((await predict('nope:predict', { instances: rows }))[0], 404);
      const versions = await fetch(`${server.url}/v1/models/linear`);
      assert.deepEqual(await versions.json(), {
        model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
      });
      const meta = (await (await fetch(`${server.url}/v1/models/linear/metadata`)).json()) as { model_spec: unknown };
      assert.deepEqual(meta.model_spec, { name: 'linear', signature_name: '', version: '1' });
      // The handler owns /v1/models itself, which names no model: the protocol's 404 on every adapter.
      for (const path of ['/v1/models', '/v1/models/']) {
        const bare = await fetch(`${server.url}${path}`);
        assert.deepEqual([bare.status, await bare.json()], [404, { error: `No route for GET ${path}`, code: 'ERR_SERVABLE_NO_ROUTE' }]);
      }
    });

    test(`concurrent requests each get exactly their own rows`, async () => {
      const sizes: number[] = [];
      const onBatch = (e: { size: number }) => sizes.push(e.size);
      registry.on('batch', onBatch);
      const requests = Array.from({ length: 24 }, (_, i) => Array.from({ length: 1 + (i % 3) }, (_, r) => [i, r, i * r - 5]));
      const replies = await Promise.all(requests.map((rows) => post(`${server.url}/v2/models/linear/infer`, inferBody(rows))));
      registry.off('batch', onBatch);
      for (const [i, res] of replies.entries()) {
        const body = (await res.json()) as { outputs: { data: number[]; shape: number[] }[] };
        assert.deepEqual(body.outputs[0]!.shape, [requests[i]!.length, 2]);
        assert.deepEqual(body.outputs[0]!.data, expectedY(requests[i]!), `request ${i}`);
      }
      assert.equal(sizes.reduce((a, b) => a + b, 0), requests.reduce((a, r) => a + r.length, 0));
    });

    test(`every malformed request gets a 400 naming what was wrong, and others are unaffected`, async () => {
      const X = (extra: Record<string, unknown>) => JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3], ...extra }] });
      const cases: [string, string, RegExp][] = [
        ['wrong datatype', X({ datatype: 'INT32' }), /Input 'X': expected datatype FP32, got INT32/],
        ['unknown datatype', X({ datatype: 'FLOAT' }), /Input 'X': unknown datatype "FLOAT"/],
        ['wrong shape', X({ shape: [1, 4], data: [1, 2, 3, 4] }), /Input 'X': expected shape \[-1, 3\], got \[1, 4\]/],
        ['data length', X({ data: [1, 2] }), /Input 'X': shape \[1, 3\] holds 3 elements, but `data` has 2/],
        ['bad value', X({ data: [1, 'two', 3] }), /Input 'X': expected a number .* got "two" \(string\) at element 1/],
        ['huge shape', X({ shape: [1000000000, 3, 48, 192] }), /Input 'X': shape \[1000000000, 3, 48, 192\] claims 27648000000000 elements, more than the limit of 1000000/],
        ['claims more than sent', X({ shape: [300000, 3] }), /Input 'X': shape \[300000, 3\] holds 900000 elements, but `data` has 3/],
        ['unknown input', JSON.stringify({ inputs: [{ name: 'Z', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }), /Unknown input 'Z'/],
        ['missing input', JSON.stringify({ inputs: [] }), /Missing input 'X'/],
        ['input named __proto__', JSON.stringify({ inputs: [{ name: '__proto__', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }), /Unknown input '__proto__'/],
        ['unknown output', JSON.stringify({ ...JSON.parse(X({})), outputs: [{ name: 'Q' }] }), /Unknown output 'Q'/],
        ['not JSON', '{"inputs": [', /not valid JSON/],
        ['empty body', '', /empty/],
        ['not an object', '[1, 2]', /must be a JSON object, got \[1,2\]/],
        ['inputs not an array', '{"inputs": {"X": [1, 2, 3]}}', /Expected `inputs` to be an array/],
        ['bad timeout', JSON.stringify({ ...JSON.parse(X({})), parameters: { timeout: 'soon' } }), /parameters.timeout/],
      ];
      const good = post(`${server.url}/v2/models/linear/infer`, inferBody([[1, 1, 1]]));
      const replies = await Promise.all(cases.map(([, body]) => post(`${server.url}/v2/models/linear/infer`, body)));
      for (const [i, res] of replies.entries()) {
        const [what, , message] = cases[i]!;
        const body = (await res.json()) as { error: string; code: string };
        assert.equal(res.status, 400, `${what}: ${body.error}`);
        assert.match(body.error, message, what);
        assert.equal(body.code, 'ERR_SERVABLE_INVALID_INPUT', what);
      }
      assert.deepEqual(((await (await good).json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, expectedY([[1, 1, 1]]));
    });

    test(`GET /metrics serves the Prometheus exposition, counting the requests served over HTTP`, async () => {
      const scrape = async () => {
        const res = await fetch(`${server.url}/metrics`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
        return res.text();
      };
      const labels = { model: 'linear', version: '1' };
      const before = await scrape();
      const served = (text: string) => sample(text, 'servable_requests_total', { ...labels, outcome: 'success' }) ?? 0;
      const invalid = (text: string) => sample(text, 'servable_requests_total', { ...labels, outcome: 'invalid' }) ?? 0;
      const replies = await Promise.all([
        post(`${server.url}/v2/models/linear/infer`, inferBody([[1, 2, 3]])),
        post(`${server.url}/v2/models/linear/infer`, inferBody([[4, 5, 6], [7, 8, 9]])),
        post(`${server.url}/v1/models/linear:predict`, JSON.stringify({ instances: [[1, 1, 1]] })),
        post(`${server.url}/v2/models/linear/infer`, JSON.stringify({ inputs: [{ name: 'Z', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] })),
        // Bodies the protocol cannot decode never reach a version, and are counted without one.
        post(`${server.url}/v2/models/linear/infer`, '{"inputs": ['),
        post(`${server.url}/v1/models/linear:predict`, '[1, 2]'),
        // So are bodies refused for their size while being read; a model that does not exist gets no series.
        post(`${server.url}/v2/models/linear/infer`, inferBody([[1, 2, 3]]) + ' '.repeat(1 << 20)),
        post(`${server.url}/v2/models/nope/infer`, inferBody([[1, 2, 3]]) + ' '.repeat(1 << 20)),
      ]);
      assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 400, 400, 400, 413, 413]);
      const after = await scrape();
      assert.equal(served(after) - served(before), 3);
      assert.equal(invalid(after) - invalid(before), 1);
      const undecoded = (text: string) => sample(text, 'servable_requests_total', { model: 'linear', version: '', outcome: 'invalid' }) ?? 0;
      assert.equal(undecoded(after) - undecoded(before), 3);
      assert.doesNotMatch(after, /model="nope"/);
      assert.ok((sample(after, 'servable_batch_size_items_sum', labels) ?? 0) >= 4);
      // Prometheus asks for gzip.
      const gzipped = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
        http.get(`${server.url}/metrics`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
        }).on('error', reject);
      });
      assert.equal(gzipped.encoding, 'gzip');
      assert.ok(served(gunzipSync(gzipped.body).toString()) >= served(after));
      const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
      assert.deepEqual([head.status, await head.text()], [200, '']);
      // Another method is the protocol's 405, as on its own routes, not the framework's 404.
      for (const [method, path] of [['POST', '/metrics'], ['PUT', '/metrics/'], ['DELETE', '/metrics?x=1'], ['PATCH', '/metrics/?x=1']]) {
        const wrong = await fetch(`${server.url}${path}`, { method, body: method === 'DELETE' ? undefined : '{}' });
        const expected = [405, 'GET, HEAD', 'application/json', { error: `${method} is not allowed here; use GET or HEAD`, code: 'ERR_SERVABLE_METHOD_NOT_ALLOWED' }];
        assert.deepEqual([wrong.status, wrong.headers.get('allow'), wrong.headers.get('content-type'), await wrong.json()], expected, `${method} ${path}`);
      }
      // A body over bodyLimit is a 413 before the 405 there, as on the protocol's routes that take no body, sent with a length or chunked.
      const over = ' '.repeat((1 << 20) + 1);
      for (const path of ['/metrics', '/v2/health/live']) {
        for (const chunked of [false, true]) {
          const body = chunked ? new Blob([over]).stream() : over;
          const big = await fetch(`${server.url}${path}`, { method: 'POST', body, duplex: 'half' } as RequestInit);
          const expected = [413, { error: 'The request body is larger than the limit of 1048576 bytes', code: 'ERR_SERVABLE_PAYLOAD_TOO_LARGE' }];
          assert.deepEqual([big.status, await big.json()], expected, `${path}${chunked ? ', chunked' : ''}`);
        }
      }
      // One trailing slash is ignored, as on the protocol's routes.
      for (const method of ['GET', 'HEAD']) {
        for (const path of ['/metrics/', '/metrics/?x=1']) {
          const res = await fetch(`${server.url}${path}`, { method });
          assert.equal(res.status, 200, `${method} ${path}`);
          assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8', `${method} ${path}`);
          if (method === 'GET') assert.match(await res.text(), /^servable_requests_total\{/m, path);
        }
      }
      // Otherwise matched exactly as sent, as the protocol's paths are: Nest's router alone would take these.
      for (const path of ['/METRICS', '/metrics//', '/metrics/x']) assert.equal((await fetch(`${server.url}${path}`)).status, 404, path);
    });

    test(`the /metrics exposition passes promtool check metrics`, { skip: skipPromtool }, async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(text, /^servable_requests_total\{/m);
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.deepEqual({ status: lint.status, output: `${lint.stdout}${lint.stderr}`.trim() }, { status: 0, output: '' });
    });

    test(`unknown models, versions and routes are 404; wrong methods 405; big bodies 413`, async () => {
      const notFound = [
        fetch(`${server.url}/v2/models/nope`),
        fetch(`${server.url}/v2/models/nope/ready`),
        fetch(`${server.url}/v2/models/linear/versions/9`),
        fetch(`${server.url}/v2/models/linear/versions/9/ready`),
        post(`${server.url}/v2/models/nope/infer`, inferBody([[1, 2, 3]])),
        post(`${server.url}/v2/models/linear/versions/9/infer`, inferBody([[1, 2, 3]])),
        fetch(`${server.url}/v2/models/linear/explain`),
        fetch(`${server.url}/v2/health/sick`),
      ];
      for (const res of await Promise.all(notFound)) {
        assert.equal(res.status, 404, res.url);
        assert.equal(typeof ((await res.json()) as { error: unknown }).error, 'string');
      }
      const unknown = (await (await post(`${server.url}/v2/models/nope/infer`, '{')).json()) as { error: string };
      assert.equal(unknown.error, "Model 'nope' not found");
      const get = await fetch(`${server.url}/v2/models/linear/infer`);
      assert.equal(get.status, 405);
      assert.equal(get.headers.get('allow'), 'POST');
      const put = await fetch(`${server.url}/v2/health/live`, { method: 'PUT', body: '{}' });
      assert.deepEqual([put.status, put.headers.get('allow')], [405, 'GET, HEAD']);
      // fetch refuses to send TRACE.
      const trace = await new Promise<unknown[]>((resolve, reject) => {
        http.request(`${server.url}/v2/models/linear/infer`, { method: 'TRACE' }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c)).on('end', () => resolve([res.statusCode, res.headers.allow, text]));
        }).on('error', reject).end();
      });
      assert.deepEqual(trace, [405, 'POST', '{"error":"TRACE is not allowed here; use POST","code":"ERR_SERVABLE_METHOD_NOT_ALLOWED"}']);
      const big = await post(`${server.url}/v2/models/linear/infer`, inferBody([[1, 2, 3]]) + ' '.repeat(1 << 20));
      assert.deepEqual([big.status, big.headers.get('content-type')], [413, 'application/json']);
      assert.match(((await big.json()) as { error: string }).error, /larger than the limit of 1048576 bytes/);
    });

    test(`a body past bodyLimit gets its 413 though the client writes all of it before reading; the connection then serves the next request`, async () => {
      const url = `${server.url}/v2/models/linear/infer`;
      const next = `GET ${new URL(server.url).pathname.replace(/\/$/, '')}/v2/health/live HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`;
      const outcomes: Record<string, number> = {};
      for (let i = 0; i < 50; i++) {
        for (const chunked of [false, true]) {
          // From just past the limit to twice it; every other client asks for the connection to be closed.
          const body = Buffer.alloc((1 << 20) + 1 + ((i * 40_503) % (1 << 20)), 0x20);
          const close = i % 2 === 1;
          const replies = await uploadWhole(url, body, close ? { chunked, close } : { chunked, close, then: next });
          // An open connection is said so, as Node says it of every reply it keeps the connection of: `Connection: keep-alive` with its `Keep-Alive` timeout.
          const framing = (r: Reply): string => (r.headers.connection === 'close' ? 'close' : r.headers.connection === 'keep-alive' && /^timeout=\d+$/.test(r.headers['keep-alive'] ?? '') ? 'open' : `unsaid (${r.headers.connection}, ${r.headers['keep-alive']})`);
          const outcome = typeof replies === 'string' ? replies : replies.map((r) => `${r.status} ${framing(r)} ${r.body}`).join(', then ');
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        }
      }
      const refused = '413 {"error":"The request body is larger than the limit of 1048576 bytes","code":"ERR_SERVABLE_PAYLOAD_TOO_LARGE"}';
      assert.deepEqual(outcomes, {
        [`${refused.replace(' ', ' open ')}, then 200 open {"live":true}`]: 50,
        [refused.replace(' ', ' close ')]: 50,
      });
    });

    test(`a gzip body read whole that inflates past bodyLimit gets its 413 on a connection that serves the next request`, async () => {
      const { hostname, port, pathname } = new URL(server.url);
      const base = pathname.replace(/\/$/, '');
      // 8 MiB of zeros compress to about 8 KB: well under the limit as sent, far past it inflated.
      const bomb = gzipSync(Buffer.alloc(8 << 20));
      const socket = net.connect({ host: hostname, port: Number(port) });
      socket.pause();
      try {
        socket.write(`POST ${base}/v2/models/linear/infer HTTP/1.1\r\nhost: ${hostname}\r\ncontent-encoding: gzip\r\ncontent-length: ${bomb.byteLength}\r\n\r\n`);
        socket.write(bomb);
        const refused = await readReply(socket);
        assert.deepEqual(refused !== 'EOF' && [refused.status, refused.headers.connection, refused.body], [413, 'keep-alive', '{"error":"The request body is larger than the limit of 1048576 bytes","code":"ERR_SERVABLE_PAYLOAD_TOO_LARGE"}']);
        socket.write(`GET ${base}/v2/health/live HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
        const next = await readReply(socket);
        assert.deepEqual(next !== 'EOF' && [next.status, next.body], [200, '{"live":true}']);
      } finally {
        socket.destroy();
      }
    });

    test(`requests pipelined in one write are answered in order, each on its own: a malformed one, one past bodyLimit and a bad binary header between good ones`, async () => {
      const { hostname, port, pathname } = new URL(`${server.url}/v2/models/linear/infer`);
      const request = (body: Buffer | string, headers = '') =>
        Buffer.concat([Buffer.from(`POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${headers}\r\n`), Buffer.from(body)]);
      const header = JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } }] });
      const binary = Buffer.concat([Buffer.from(header), Buffer.from(new Float32Array([1, 1, 1]).buffer)]);
      const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
      socket.pause();
      try {
        socket.write(
          Buffer.concat([
            request('{"inputs": ['),
            request(inferBody([[1, 2, 3]], { id: 'one' })),
            request(' '.repeat((1 << 20) + 1)),
            request(binary, `inference-header-content-length: +${header.length}\r\n`),
            request(binary, `inference-header-content-length: ${header.length}\r\n`),
          ]),
        );
        const replies = (await readReplies(socket, 5)).map((r) => `${r.status} ${r.status === 200 ? JSON.stringify((JSON.parse(r.body) as { outputs: { data: number[] }[] }).outputs[0]!.data) : ''}`);
        assert.deepEqual(replies, ['400 ', `200 ${JSON.stringify(expectedY([[1, 2, 3]]))}`, '413 ', '400 ', `200 ${JSON.stringify(expectedY([[1, 1, 1]]))}`]);
      } finally {
        socket.destroy();
      }
    });

    test(`a body far past bodyLimit is cut off: declared longer than 4 × the limit, refused at once; sent without end, its connection closed`, async () => {
      const { hostname, port, pathname } = new URL(`${server.url}/v2/models/linear/infer`);
      const head = (framing: string) => `POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\n${framing}\r\n\r\n`;
      const declared = net.connect({ host: hostname, port: Number(port) });
      declared.write(head(`content-length: ${64 << 20}`));
      const ended = once(declared, 'end');
      const reply = await readReply(declared);
      assert.deepEqual(reply !== 'EOF' && [reply.status, reply.headers.connection], [413, 'close']);
      await ended;
      declared.destroy();
      // Chunked, 64 KiB a chunk, until the server closes the connection.
      const endless = net.connect({ host: hostname, port: Number(port) });
      endless.on('error', () => {});
      const closed = new Promise<void>((resolve) => endless.once('close', resolve));
      let open = true;
      void closed.then(() => (open = false));
      endless.write(head('transfer-encoding: chunked'));
      const chunk = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(64 << 10, 0x20), Buffer.from('\r\n')]);
      let sent = 0;
      while (open && sent < 256 << 20) {
        sent += chunk.byteLength;
        // A reset ends the wait for 'drain' with an error, and then the connection closes.
        if (!endless.write(chunk)) await Promise.race([once(endless, 'drain').catch(() => undefined), closed]);
      }
      // The server reads at most 4 MiB past the limit; the rest is what the sockets' buffers took.
      assert.ok(!open && sent < 64 << 20, `the connection closed after ${sent} bytes`);
    });

    test(`paths are matched exactly as sent: case matters, a TF-Serving verb keeps its colon`, async () => {
      const upper = await fetch(`${server.url}/V2/models/linear`);
      assert.equal(upper.status, 404);
      const verb = await post(`${server.url}/v1/models/linear:classify`, '{}');
      assert.deepEqual([verb.status, await verb.json()], [404, { error: ':classify is not served; servable models answer :predict', code: 'ERR_SERVABLE_NO_ROUTE' }]);
    });

    test(`a malformed percent-escape in the path is a 400 naming the segment on both protocols, not a 404; a well-formed one is decoded`, async () => {
      // Fastify's router and Nest's (Express 5's) refuse the path before the protocol sees it, each in its own words.
      const framework = adapter === 'fastify' || adapter === 'nest';
      for (const [method, path] of [
        ['POST', '/v2/models/%E0%A4%A/infer'],
        ['GET', '/v2/models/linear/versions/%ZZ'],
        ['POST', '/v1/models/li%near:predict'],
      ] as const) {
        const res = await fetch(`${server.url}${path}`, { method, ...(method === 'POST' && { body: inferBody([[1, 2, 3]]) }) });
        const segment = path.split('/').find((s) => s.includes('%'))!;
        const body = await res.text();
        if (framework) assert.deepEqual([res.status, body.includes(segment)], [400, true], `${path}: ${body}`);
        else assert.deepEqual([res.status, JSON.parse(body)], [400, { error: `Malformed percent-encoding in the path segment '${segment}'`, code: 'ERR_SERVABLE_INVALID_INPUT' }], path);
      }
      assert.equal((await fetch(`${server.url}/v2/models/%6Cinear`)).status, 200);
    });

    test(`X-Tenant sent twice is a 400 naming it on both protocols, where Node would join the two into one tenant; sent once, a comma in it is the tenant's`, async () => {
      const send = (path: string, tenant: string | string[], body: string) =>
        new Promise<[number, string]>((resolve, reject) => {
          const req = http.request(`${server.url}${path}`, { method: 'POST', headers: { 'x-tenant': tenant, 'content-type': 'application/json' } });
          req.once('error', reject);
          req.once('response', (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (c: string) => (text += c)).once('end', () => resolve([res.statusCode!, text]));
          });
          req.end(body);
        });
      const twice = '{"error":"The X-Tenant header was sent 2 times; send it once","code":"ERR_SERVABLE_INVALID_INPUT"}';
      assert.deepEqual(await send('/v2/models/linear/infer', ['acme', 'beta'], inferBody([[1, 2, 3]])), [400, twice]);
      assert.deepEqual(await send('/v1/models/linear:predict', ['acme', ''], '{"instances": [[1, 2, 3]]}'), [400, twice]);
      const [status, body] = await send('/v2/models/linear/infer', 'acme, beta', inferBody([[1, 2, 3]]));
      assert.deepEqual([status, (JSON.parse(body) as { outputs: { data: number[] }[] }).outputs[0]!.data], [200, expectedY([[1, 2, 3]])]);
      assert.deepEqual(await send('/v1/models/linear:predict', ['acme'], '{"instances": [[1, 2, 3]]}'), [200, `{"predictions":[[${expectedY([[1, 2, 3]]).map((y) => `${y}.0`).join(',')}]]}`]);
    });

    test(`an absolute-form request target, as proxies send it (RFC 9112 §3.2.2), is served like its path`, async () => {
      const { host, pathname } = new URL(server.url);
      const absolute = (method: string, path: string, body?: string) =>
        new Promise<[number, string]>((resolve, reject) => {
          const req = http.request(server.url, { method, path: `http://${host}${pathname.replace(/\/$/, '')}${path}` });
          req.once('error', reject);
          req.once('response', (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (c: string) => (text += c)).once('end', () => resolve([res.statusCode!, text]));
          });
          req.end(body);
        });
      const [status, body] = await absolute('POST', '/v2/models/linear/infer?x=1', inferBody([[1, 2, 3]]));
      assert.deepEqual([status, (JSON.parse(body) as { outputs: { data: number[] }[] }).outputs[0]!.data], [200, expectedY([[1, 2, 3]])]);
      assert.deepEqual(await absolute('GET', '/v2/health/live'), [200, '{"live":true}']);
      const [metrics, text] = await absolute('GET', '/metrics');
      assert.deepEqual([metrics, /^servable_requests_total\{/m.test(text)], [200, true]);
    });

    test(`a gzip request body is decoded; an encoding it cannot decode is 415`, async () => {
      const body = gzipSync(inferBody([[1, 2, 3]]));
      const gzipped = await fetch(`${server.url}/v2/models/linear/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body,
      });
      assert.equal(gzipped.status, 200);
      assert.deepEqual(((await gzipped.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, expectedY([[1, 2, 3]]));
      const br = await fetch(`${server.url}/v2/models/linear/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'br' },
        body,
      });
      assert.deepEqual([br.status, await br.json()], [415, { error: "Content-Encoding 'br' is not supported; send gzip, deflate or identity", code: 'ERR_SERVABLE_UNSUPPORTED_CONTENT_ENCODING' }]);
    });

    test(`a transfer coding other than chunked is 501 naming it (RFC 9112 §6.1), on a connection that serves the next request`, async () => {
      const { hostname, port, pathname } = new URL(server.url);
      const base = pathname.replace(/\/$/, '');
      const gzipped = gzipSync(inferBody([[1, 2, 3]]));
      const socket = net.connect({ host: hostname, port: Number(port) });
      socket.pause();
      try {
        const head = `POST ${base}/v2/models/linear/infer HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ntransfer-encoding: gzip, chunked\r\n\r\n`;
        socket.write(Buffer.concat([Buffer.from(`${head}${gzipped.byteLength.toString(16)}\r\n`), gzipped, Buffer.from('\r\n0\r\n\r\n')]));
        const refused = await readReply(socket);
        assert.deepEqual(refused !== 'EOF' && [refused.status, refused.body], [
          501,
          `{"error":"Transfer-Encoding 'gzip' is not supported; send the body chunked or with Content-Length, compressed with Content-Encoding","code":"ERR_SERVABLE_UNSUPPORTED_TRANSFER_ENCODING"}`,
        ]);
        socket.write(`GET ${base}/v2/health/live HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
        const next = await readReply(socket);
        assert.deepEqual(next !== 'EOF' && [next.status, next.body], [200, '{"live":true}']);
      } finally {
        socket.destroy();
      }
    });

    test(`a reply of 1 KiB or more is compressed as Accept-Encoding prefers`, async () => {
      const rows = Array.from({ length: 100 }, (_, i) => [i, -i, i / 4]);
      const body = Buffer.from(inferBody(rows));
      const expected = { model_name: 'linear', model_version: '1', outputs: [{ name: 'Y', datatype: 'FP32', shape: [100, 2], data: expectedY(rows) }] };
      const infer = (acceptEncoding?: string) =>
        rawPost(`${server.url}/v2/models/linear/infer`, { 'content-type': 'application/json', ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}) }, body, body.byteLength);
      const plain = await infer();
      assert.deepEqual([plain.status, plain.headers['content-encoding'], JSON.parse(plain.body.toString())], [200, undefined, expected]);
      assert.ok(plain.body.byteLength >= 1024);
      const gzip = await infer('gzip, deflate');
      assert.deepEqual([gzip.status, gzip.headers['content-encoding'], gzip.headers.vary, JSON.parse(gunzipSync(gzip.body).toString())], [200, 'gzip', 'accept-encoding', expected]);
      assert.equal(Number(gzip.headers['content-length']), gzip.body.byteLength);
      assert.ok(gzip.body.byteLength < plain.body.byteLength / 2, `${gzip.body.byteLength} bytes compressed`);
      const deflate = await infer('gzip;q=0.5, deflate');
      assert.deepEqual([deflate.headers['content-encoding'], JSON.parse(inflateSync(deflate.body).toString())], ['deflate', expected]);
      const refused = await infer('gzip;q=0, br');
      assert.deepEqual([refused.headers['content-encoding'], JSON.parse(refused.body.toString())], [undefined, expected]);
      const small = await rawPost(`${server.url}/v2/models/linear/infer`, { 'content-type': 'application/json', 'accept-encoding': 'gzip' }, Buffer.from(inferBody([[1, 2, 3]])), 1 << 20);
      assert.deepEqual([small.headers['content-encoding'], JSON.parse(small.body.toString()).outputs[0].data], [undefined, expectedY([[1, 2, 3]])]);
    });
  });

  describe(`${adapter}: queueing, cancellation, timeouts and failures`, () => {
    test(`requests that queue while a batch runs go together in the next batch, each answered with its own rows`, async () => {
      const s = await gatedService({ maxBatchSize: 16 });
      const srv = await start({ service: s.service });
      try {
        const url = `${srv.url}/v2/models/linear/infer`;
        const first = post(url, inferBody([[1, 0, 0]], { id: 'first' }));
        await until(() => s.backend.calls.length === 1, 'the first run');
        const requests = Array.from({ length: 7 }, (_, i) => Array.from({ length: 1 + (i % 2) }, (_, r) => [i, r, -i]));
        const replies = requests.map((rows, i) => post(url, inferBody(rows, { id: `r${i}` })));
        await until(() => s.handler.seen.length === 8, 'every request to queue');
        await tick();
        s.open();
        assert.equal((await first).status, 200);
        for (const [i, res] of (await Promise.all(replies)).entries()) {
          const body = (await res.json()) as { id: string; outputs: { data: number[] }[] };
          assert.equal(body.id, `r${i}`);
          assert.deepEqual(body.outputs[0]!.data, expectedY(requests[i]!));
        }
        assert.deepEqual(s.backend.calls.map((c) => c.batchSize), [1, 10]);
      } finally {
        await srv.close();
        await s.registry.close();
      }
    });

    test(`a binary body whose client went away is not reused while the inference it leads runs on for identical requests`, async () => {
      const g = gate();
      const width = 32768;
      const model: MemoryModel = {
        inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, width] }],
        outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 1] }],
        async run({ X }) {
          await g.wait();
          const rows = X!.shape[0]!;
          const y = new Float32Array(rows);
          for (let r = 0; r < rows; r++) y[r] = (X!.data as Float32Array)[r * width]!;
          return { Y: { datatype: 'FP32', shape: [rows, 1], data: y } as Tensor };
        },
      };
      const own = new ModelRegistry({ backends: [memoryBackend()] });
      await own.load({ name: 'first', source: model, warmup: [], batching: { maxBatchSize: 1 } });
      const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
      const service = new InferenceService({ registry: own, caches: { first: { result } } });
      const outcomes: string[] = [];
      service.on('request', (e) => outcomes.push(e.outcome));
      let coalesced = 0;
      result.on('coalesce', () => coalesced++);
      const srv = await start({ service });
      const { hostname, port, pathname } = new URL(`${srv.url}/v2/models/first/infer`);
      // 128 KiB of one value, sent in 16 KiB writes: the server joins the chunks into a buffer it reuses.
      const send = (value: number) => {
        const data = Buffer.from(new Float32Array(width).fill(value).buffer);
        const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, width], parameters: { binary_data_size: data.length } }] }));
        const body = Buffer.concat([header, data]);
        const req = http.request({ host: hostname, port: Number(port), path: pathname, method: 'POST', headers: { 'content-length': String(body.length), 'inference-header-content-length': String(header.length) } });
        const reply = new Promise<unknown>((resolve, reject) => {
          req.on('response', (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString()) as { outputs: { data: number[] }[] }).outputs[0]!.data : res.statusCode));
          });
          req.on('error', reject);
        });
        const write = (at: number): void => {
          if (at >= body.length) req.end();
          else req.write(body.subarray(at, at + 16384), () => setImmediate(() => write(at + 16384)));
        };
        write(0);
        return { req, reply };
      };
      try {
        const running = send(7);
        await until(() => own.queues()[0]!.inFlight === 1, 'the first run');
        const leader = send(1);
        leader.reply.catch(() => {});
        await until(() => own.queues()[0]!.queued === 1, 'the leader to queue');
        const follower = send(1);
        await until(() => coalesced === 1, 'the identical request to join the leader');
        leader.req.destroy();
        await until(() => outcomes.includes('cancelled'), 'the leader to be answered 499');
        await tick();
        const other = send(5);
        await until(() => own.queues()[0]!.queued === 2, 'the other request to queue');
        g.open();
        assert.deepEqual(await running.reply, [7]);
        assert.deepEqual(await follower.reply, [1], 'answered from its own values, not those of the body sent after');
        assert.deepEqual(await other.reply, [5]);
        assert.deepEqual(await send(1).reply, [1], 'and so is the cached answer');
      } finally {
        g.open();
        await srv.close();
        await own.close();
      }
    });

    for (const [backpressureStatus, status] of [[undefined, 503], [503, 503], [429, 429]] as const) {
      test(`a full queue answers ${status} with Retry-After under backpressureStatus ${backpressureStatus ?? '(default)'}, on /infer and :predict, and the queued request still runs`, async () => {
        const s = await gatedService({ maxBatchSize: 1, maxQueueSize: 1 });
        const srv = await start(backpressureStatus === undefined ? { service: s.service } : { service: s.service, backpressureStatus });
        try {
          const url = `${srv.url}/v2/models/linear/infer`;
          const running = post(url, inferBody([[1, 0, 0]], { id: 'a' }));
          await until(() => s.backend.calls.length === 1, 'the first run');
          const queued = post(url, inferBody([[0, 1, 0]], { id: 'b' }));
          await until(() => s.handler.seen.includes('b'), 'the second request to queue');
          await tick();
          const refused = async (res: Response) => {
            const body = (await res.json()) as { code: string; error: string };
            return [res.status, /^\d+$/.test(res.headers.get('retry-after') ?? ''), body.code, body.error.startsWith('The queue is full')];
          };
          assert.deepEqual(
            [await refused(await post(url, inferBody([[0, 0, 1]], { id: 'c' }))), await refused(await post(`${srv.url}/v1/models/linear:predict`, '{"instances": [[0, 0, 1]]}'))],
            [
              [status, true, 'ERR_SERVABLE_QUEUE_FULL', true],
              [status, true, 'ERR_SERVABLE_QUEUE_FULL', true],
            ],
          );
          s.open();
          assert.equal((await running).status, 200);
          assert.equal((await queued).status, 200);
          assert.deepEqual(runs(s.backend), [[1, 0, 0], [0, 1, 0]]);
        } finally {
          await srv.close();
          await s.registry.close();
        }
      });
    }

    test(`a body sent slowly holds no queue slot while it arrives, and is served once it ends: servable sets no timeout of its own on it`, async () => {
      const s = await gatedService({ maxBatchSize: 1, maxQueueSize: 1 });
      const srv = await start({ service: s.service });
      const { hostname, port, pathname } = new URL(`${srv.url}/v2/models/linear/infer`);
      const slow = net.connect({ host: hostname, port: Number(port), noDelay: true });
      slow.pause();
      try {
        const body = inferBody([[0, 0, 2]], { id: 'slow' });
        slow.write(`POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-length: ${body.length}\r\n\r\n`);
        // One byte a turn, as a slowloris client trickles its body, until half of it is sent.
        for (const byte of body.slice(0, body.length >> 1)) {
          slow.write(byte);
          await tick();
        }
        const url = `${srv.url}/v2/models/linear/infer`;
        const running = post(url, inferBody([[1, 0, 0]], { id: 'a' }));
        await until(() => s.backend.calls.length === 1, 'the first run');
        // With maxQueueSize 1, this one would be refused 503 had the slow body taken the slot.
        const queued = post(url, inferBody([[0, 1, 0]], { id: 'b' }));
        await until(() => s.handler.seen.includes('b'), 'the second request to queue');
        s.open();
        assert.deepEqual([(await running).status, (await queued).status], [200, 200]);
        slow.write(body.slice(body.length >> 1));
        const reply = await readReply(slow);
        assert.deepEqual(reply !== 'EOF' && [reply.status, (JSON.parse(reply.body) as { outputs: { data: number[] }[] }).outputs[0]!.data], [200, expectedY([[0, 0, 2]])]);
        assert.deepEqual(runs(s.backend), [[1, 0, 0], [0, 1, 0], [0, 0, 2]]);
      } finally {
        slow.destroy();
        await srv.close();
        await s.registry.close();
      }
    });

    test(`a client that disconnects takes its queued request out; the model never runs it`, async () => {
      const s = await gatedService({ maxBatchSize: 4 });
      const drops: string[] = [];
      s.registry.on('drop', (e) => drops.push(e.reason));
      const srv = await start({ service: s.service });
      try {
        const url = `${srv.url}/v2/models/linear/infer`;
        const running = post(url, inferBody([[1, 0, 0]], { id: 'a' }));
        await until(() => s.backend.calls.length === 1, 'the first run');
        const controller = new AbortController();
        const leaving = post(url, inferBody([[0, 1, 0]], { id: 'b' }), { signal: controller.signal });
        await until(() => s.handler.seen.includes('b'), 'the second request to queue');
        await tick();
        controller.abort();
        await assert.rejects(leaving, { name: 'AbortError' });
        await until(() => drops.length === 1, 'the drop');
        assert.deepEqual(drops, ['cancelled']);
        s.open();
        assert.equal((await running).status, 200);
        const after = await post(url, inferBody([[0, 0, 1]]));
        assert.equal(after.status, 200);
        assert.deepEqual(runs(s.backend), [[1, 0, 0], [0, 0, 1]]);
      } finally {
        await srv.close();
        await s.registry.close();
      }
    });

    test(`a client that disconnects takes out every request it pipelined on the connection; the model never runs them`, async () => {
      const s = await gatedService({ maxBatchSize: 8 });
      const drops: string[] = [];
      s.registry.on('drop', (e) => drops.push(e.reason));
      const srv = await start({ service: s.service });
      try {
        const url = `${srv.url}/v2/models/linear/infer`;
        const running = post(url, inferBody([[1, 0, 0]], { id: 'a' }));
        await until(() => s.backend.calls.length === 1, 'the first run');
        // Node begins pipelined requests at once, though their responses wait for the connection until those before are written.
        const { hostname, port, pathname } = new URL(url);
        const socket = net.connect({ host: hostname, port: Number(port) });
        socket.on('error', () => {});
        const ids = ['b', 'c', 'd'];
        socket.write(ids.map((id, i) => {
          const body = inferBody([[0, i + 1, 0]], { id });
          return `POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        }).join(''));
        await until(() => ids.every((id) => s.handler.seen.includes(id)), 'the pipelined requests to queue');
        await tick();
        socket.destroy();
        await until(() => drops.length > 0, 'a drop');
        await tick();
        assert.deepEqual(drops, ['cancelled', 'cancelled', 'cancelled']);
        s.open();
        assert.equal((await running).status, 200);
        assert.equal((await post(url, inferBody([[0, 0, 1]]))).status, 200);
        assert.deepEqual(runs(s.backend), [[1, 0, 0], [0, 0, 1]]);
      } finally {
        s.open();
        await srv.close();
        await s.registry.close();
      }
    });

    test(`keep-alive requests share their connection's abort signal and leave no listener on it; large bodies reuse their buffers`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'linear', source: linearMemory(), batching: { maxBatchSize: 8192 }, warmup: [] });
      const service = new InferenceService({ registry });
      const signals: (AbortSignal | undefined)[] = [];
      const buffers: ArrayBufferLike[] = [];
      const infer = service.infer.bind(service);
      service.infer = ((model: string, request: InferenceRequest, options?: { signal?: AbortSignal }) => {
        signals.push(options?.signal);
        buffers.push((request.inputs['X']!.data as Float32Array).buffer);
        return infer(model, request, options);
      }) as typeof service.infer;
      const srv = await start({ service, bodyLimit: 1 << 20 });
      try {
        // 6,000 rows of X are 72 KB: the body comes in several chunks and is joined into a reused buffer.
        const rows = Array.from({ length: 6000 }, (_, i) => [i % 7, -(i % 5), 0.5]);
        const x = new Float32Array(rows.flat());
        const header = new TextEncoder().encode(JSON.stringify({
          inputs: [{ name: 'X', datatype: 'FP32', shape: [rows.length, 3], parameters: { binary_data_size: x.byteLength } }],
          outputs: [{ name: 'Y', parameters: { binary_data: true } }],
        }));
        const body = Buffer.concat([header, Buffer.from(x.buffer)]);
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const sockets = new Set<unknown>();
        for (let i = 0; i < 3; i++) {
          const { status, headers, reply } = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; reply: Buffer }>((resolve, reject) => {
            const req = http.request(`${srv.url}/v2/models/linear/infer`, {
              method: 'POST',
              agent,
              headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) },
            }, (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, reply: Buffer.concat(chunks) }));
            });
            req.on('socket', (socket) => sockets.add(socket));
            req.on('error', reject);
            req.end(body);
          });
          assert.equal(status, 200);
          const jsonLength = Number(headers['inference-header-content-length']);
          assert.deepEqual(new Float32Array(reply.subarray(jsonLength).buffer.slice(reply.byteOffset + jsonLength, reply.byteOffset + reply.byteLength)), new Float32Array(expectedY(rows)), `request ${i}`);
        }
        assert.equal(sockets.size, 1, 'the client kept one connection');
        assert.equal(signals.length, 3);
        assert.ok(signals[0] instanceof AbortSignal);
        assert.ok(signals.every((s) => s === signals[0]), 'one signal for the connection');
        assert.equal(signals[0]!.aborted, false);
        assert.equal(getEventListeners(signals[0]!, 'abort').length, 0, 'answered requests stopped listening');
        assert.ok(buffers.slice(1).includes(buffers[0]!), 'a later body reused the first one\'s buffer');
        agent.destroy();
      } finally {
        await srv.close();
        await registry.close();
      }
    });

    test(`a JSON body past jsonWorkerMinBytes is decoded on a worker thread with the same answers and errors; one needing more heap than jsonWorkerHeapMb is a 413`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'linear', source: linearMemory(), batching: { maxBatchSize: 8192 }, warmup: [] });
      const service = new InferenceService({ registry });
      await assert.rejects(start({ service, jsonWorkers: 1.5 }), { name: 'TypeError', message: 'Expected `jsonWorkers` to be an integer, got 1.5 (number)' });
      await assert.rejects(start({ service, jsonWorkerHeapMb: 8 }), { name: 'RangeError', message: 'Expected `jsonWorkerHeapMb` to be an integer between 16 and 1048576, got 8 (number)' });
      const srv = await start({ service, bodyLimit: 16 << 20, jsonWorkerMinBytes: 1024, jsonWorkerHeapMb: 16 });
      const url = `${srv.url}/v2/models/linear/infer`;
      try {
        const rows = Array.from({ length: 2000 }, (_, i) => [i % 7, -(i % 5), 0.25]);
        const y = expectedY(rows);
        const res = await post(url, inferBody(rows, { id: 'big' }));
        assert.deepEqual([res.status, await res.json()], [200, { model_name: 'linear', model_version: '1', id: 'big', outputs: [{ name: 'Y', datatype: 'FP32', shape: [2000, 2], data: y }] }]);
        const binary = await post(url, inferBody(rows, { outputs: [{ name: 'Y', parameters: { binary_data: true } }] }));
        const reply = Buffer.from(await binary.arrayBuffer());
        const jsonLength = Number(binary.headers.get('inference-header-content-length'));
        assert.deepEqual(JSON.parse(reply.subarray(0, jsonLength).toString()).outputs, [{ name: 'Y', datatype: 'FP32', shape: [2000, 2], parameters: { binary_data_size: 16000 } }]);
        assert.deepEqual(new Float32Array(reply.buffer.slice(reply.byteOffset + jsonLength, reply.byteOffset + reply.byteLength)), new Float32Array(y));
        const tf = await post(`${srv.url}/v1/models/linear:predict`, JSON.stringify({ instances: rows }));
        assert.deepEqual([tf.status, ((await tf.json()) as { predictions: number[][] }).predictions.flat()], [200, y]);
        const short = await post(url, JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [2000, 3], data: rows.slice(1) }] }));
        assert.deepEqual([short.status, await short.json()], [400, { error: "Input 'X': shape [2000, 3] holds 6000 elements, but `data` has 5997", code: 'ERR_SERVABLE_INVALID_INPUT' }]);
        // 1.5 million empty arrays: 4.5 MB of JSON that takes about 45 MB of heap to parse, refused unparsed.
        const bomb = await post(url, JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: Array.from({ length: 1_500_000 }, () => []) }] }));
        assert.equal(bomb.status, 413);
        assert.deepEqual(await bomb.json(), {
          error: 'Decoding this JSON body could take 201 MB of memory, more than the 8 MB a JSON worker takes for one body (half of jsonWorkerHeapMb); send large tensors as binary data',
          code: 'ERR_SERVABLE_PAYLOAD_TOO_LARGE',
        });
        const next = await post(url, inferBody(rows));
        assert.equal(next.status, 200, 'the worker decodes the next body');
      } finally {
        await srv.close();
        await registry.close();
      }
    });

    test(`a :predict body read for its version's inputs and refused counts against that version, in place or on a JSON worker, as /infer counts the model's refusals; one refused before, or that is no JSON object, counts without`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
      registry.setLabel('linear', 'stable', '1');
      const service = new InferenceService({ registry });
      const events: string[] = [];
      service.on('request', (e) => events.push(`${e.model}@${e.version}:${e.outcome}`));
      const cases: (readonly [path: string, body: string, status: number, event: string, init?: RequestInit])[] = [
        // Not loaded: the body is parsed before the request loads the version, then read for its inputs.
        ['lazy:predict', '{bad', 400, 'lazy@:invalid'],
        ['lazy:predict', '{"inputs": {"Z": [[1, 2, 3]]}}', 400, 'lazy@3:invalid'],
        ['linear:predict', '{"inputs": {"Z": [[1, 2, 3]]}}', 400, 'linear@1:invalid'],
        ['linear:predict', '{"instances": [{"X": [1, 2, 3], "Z": 1}]}', 400, 'linear@1:invalid'],
        ['linear:predict', '{"instances": [[1, 2, 3], [1, 2]]}', 400, 'linear@1:invalid'],
        ['linear:predict', '{"instances": [["a", "b", "c"]]}', 400, 'linear@1:invalid'],
        ['linear:predict', '{"instances": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}', 400, 'linear@1:invalid'],
        ['linear/versions/1:predict', '{"inputs": {"Z": [[1, 2, 3]]}}', 400, 'linear@1:invalid'],
        ['linear/labels/stable:predict', '{"inputs": {"Z": [[1, 2, 3]]}}', 400, 'linear@1:invalid'],
        // On /infer the model's own refusal carries the version too.
        ['/v2/models/linear/infer', '{"inputs": [{"name": "Z", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}', 400, 'linear@1:invalid'],
        // A body that is no JSON object is read for no version, loaded or not, as on /infer.
        ['linear:predict', '{bad', 400, 'linear@:invalid'],
        ['linear:predict', '[1, 2]', 400, 'linear@:invalid'],
        ['/v2/models/linear/infer', '{bad', 400, 'linear@:invalid'],
        // Refused before a version is chosen: no version.
        ['linear/versions/9:predict', '{"inputs": {"Z": [[1, 2, 3]]}}', 404, 'linear@:not-found'],
        ['linear/labels/nope:predict', '{"inputs": {"Z": [[1, 2, 3]]}}', 404, 'linear@:not-found'],
        ['linear:predict', '{"inputs": {"Z": [[1, 2, 3]]}}', 400, 'linear@:invalid', { headers: { 'x-key': 'k'.repeat(300) } }],
        ['linear:predict', '{"instances": [[1, 2, 3]]}', 200, 'linear@1:success'],
      ];
      for (const options of [{ jsonWorkers: 0 }, { jsonWorkers: 1, jsonWorkerMinBytes: 0 }]) {
        // A version registered, not loaded: the request loads it, and its body is read for it.
        registry.register({ name: 'lazy', version: '3', source: linearMemory(), warmup: [] });
        const srv = await start({ service, maxElements: 6, routingKeyHeader: 'x-key', ...options });
        try {
          for (const [path, body, status, event, init] of cases) {
            events.length = 0;
            const res = await post(path.startsWith('/') ? `${srv.url}${path}` : `${srv.url}/v1/models/${path}`, body, init);
            await res.arrayBuffer();
            await until(() => events.length > 0, 'the request event');
            assert.deepEqual([res.status, events], [status, [event]], `${path} ${body} (jsonWorkers ${options.jsonWorkers})`);
          }
        } finally {
          await srv.close();
          await registry.unload('lazy');
        }
      }
      await registry.close();
    });

    test(`closing the server or app ends its JSON workers, where they waited a minute for more bodies`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
      const before = workerThreads();
      const srv = await start({ service: new InferenceService({ registry }), jsonWorkers: 2, jsonWorkerMinBytes: 0 });
      try {
        const replies = await Promise.all([1, 2].map((x) => post(`${srv.url}/v2/models/linear/infer`, inferBody([[x, 0, 0]]))));
        assert.deepEqual(await Promise.all(replies.map(async (r) => ((await r.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data)), [expectedY([[1, 0, 0]]), expectedY([[2, 0, 0]])]);
        assert.ok(workerThreads() > before, 'the bodies were decoded on JSON workers');
      } finally {
        await srv.close();
      }
      await until(() => workerThreads() === before, 'the JSON workers to exit');
      await registry.close();
    });

    test(`a JSON worker that cannot be started, or ends at its start, answers 503 ERR_SERVABLE_UNAVAILABLE on /infer and :predict, reported to onError; the next body gets a worker`, async (t) => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
      const seen: unknown[] = [];
      const srv = await start({ service: new InferenceService({ registry }), jsonWorkerMinBytes: 0, onError: (e) => seen.push(e) });
      // `new Worker()` throws when the thread cannot be created (ERR_WORKER_INIT_FAILED: threads or
      // memory short); a worker whose code throws at its start ends before it decodes anything.
      const Real = threads.Worker;
      let failure: 'spawn' | 'start' | undefined;
      threads.Worker = function (this: unknown, ...args: ConstructorParameters<typeof Worker>) {
        if (failure === 'spawn') throw Object.assign(new Error('Worker initialization failure: 11 /secret/path'), { code: 'ERR_WORKER_INIT_FAILED' });
        if (failure === 'start') return new Real('throw new Error("/secret/path exploded")', { eval: true });
        return new Real(...args);
      } as unknown as typeof Worker;
      syncBuiltinESMExports();
      t.after(() => {
        threads.Worker = Real;
        syncBuiltinESMExports();
      });
      try {
        const answers = [];
        for (const way of ['spawn', 'start'] as const) {
          failure = way;
          for (const [path, body] of [['/v2/models/linear/infer', inferBody([[1, 2, 3]])], ['/v1/models/linear:predict', '{"instances": [[1, 2, 3]]}']]) {
            const res = await post(`${srv.url}${path!}`, body!);
            answers.push([way, path, res.status, res.headers.get('retry-after'), await res.json()]);
          }
        }
        const unavailable = (way: string) => ({
          error: `No JSON worker could decode this body: ${way === 'spawn' ? 'a worker thread could not be started' : 'its worker thread ended'}; try again`,
          code: 'ERR_SERVABLE_UNAVAILABLE',
        });
        assert.deepEqual(answers, ['spawn', 'start'].flatMap((way) => [[way, '/v2/models/linear/infer', 503, '1', unavailable(way)], [way, '/v1/models/linear:predict', 503, '1', unavailable(way)]]));
        assert.equal(seen.length, 4, 'each failure reaches onError, with what the client is not told');
        assert.match(String((seen[0] as Error).cause), /Worker initialization failure/);
        assert.match(String((seen[3] as Error).cause), /exploded/);
        failure = undefined;
        const next = await post(`${srv.url}/v2/models/linear/infer`, inferBody([[1, 2, 3]]));
        assert.deepEqual([next.status, ((await next.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data], [200, expectedY([[1, 2, 3]])]);
      } finally {
        await srv.close();
        await registry.close();
      }
    });

    // A full queue and a shed are backpressure: 429 under `backpressureStatus: 429`; every other 503 stays one.
    for (const backpressure of [undefined, 429] as const) {
      test(`under backpressureStatus ${backpressure ?? '(default)'}, each 503 carries Retry-After where a client should retry soon (whole seconds from the error's retryAfterMs: a full queue, a request shed as overload; 1 s for a version loading, draining or gone from service, a JSON worker short), and none where it should not (a failed load, a version not loaded, a closed registry, readiness probes)`, async () => {
        const g = gate();
        let thrown: Error | undefined;
        const registry = new ModelRegistry({ backends: [memoryBackend()] });
        await registry.load({ name: 'throws', source: { ...linearMemory(), run: () => Promise.reject(thrown) }, warmup: [] });
        registry.register({ name: 'broken', version: '1', source: { ...linearMemory(), run: () => Promise.reject(new Error('bad weights')) } });
        registry.register({ name: 'idle', version: '1', source: linearMemory() });
        const loading = registry.load({ name: 'slow', version: '1', source: linearMemory(g.wait) });
        const service = new InferenceService({ registry });
        const srv = await start(backpressure === undefined ? { service } : { service, backpressureStatus: backpressure });
        const answer = async (res: Response) => [res.status, res.headers.get('retry-after'), ((await res.json()) as { code?: string }).code];
        const thrownBy = async (error: Error) => {
          thrown = error;
          return answer(await post(`${srv.url}/v2/models/throws/infer`, inferBody([[1, 2, 3]])));
        };
        try {
          assert.deepEqual(
            [
              await thrownBy(new QueueFullError('full', 1_500)),
              await thrownBy(new OverloadedError('shed', 1_200)),
              await thrownBy(new ModelNotReadyError('draining')),
              await thrownBy(new ModelNotReadyError('loading', { retryAfterMs: 2_001 })),
              await thrownBy(new UnavailableError('short')),
              await thrownBy(new ClosedError('closed')),
            ],
            [
              [backpressure ?? 503, '2', 'ERR_SERVABLE_QUEUE_FULL'],
              [backpressure ?? 503, '2', 'ERR_SERVABLE_OVERLOADED'],
              [503, '1', 'ERR_SERVABLE_MODEL_NOT_READY'],
              [503, '3', 'ERR_SERVABLE_MODEL_NOT_READY'],
              [503, '1', 'ERR_SERVABLE_UNAVAILABLE'],
              [503, null, 'ERR_SERVABLE_CLOSED'],
            ],
          );
          assert.deepEqual(await answer(await fetch(`${srv.url}/v2/models/slow/versions/1`)), [503, '1', 'ERR_SERVABLE_MODEL_NOT_READY'], 'metadata of a version loading');
          assert.deepEqual(await answer(await fetch(`${srv.url}/v2/models/idle/versions/1`)), [503, null, 'ERR_SERVABLE_MODEL_NOT_READY'], 'metadata of a version not loaded');
          assert.deepEqual(await answer(await post(`${srv.url}/v2/models/broken/infer`, inferBody([[1, 2, 3]]))), [503, null, 'ERR_SERVABLE_MODEL_NOT_READY'], 'a load that failed');
          const probe = async (path: string) => {
            const res = await fetch(`${srv.url}${path}`);
            return [res.status, res.headers.get('retry-after')];
          };
          assert.deepEqual([await probe('/v2/health/ready'), await probe('/v2/models/slow/ready'), await probe('/v2/models/idle/versions/1/ready')], [[503, null], [503, null], [503, null]]);
          g.open();
          await loading;
          await registry.close();
          assert.deepEqual(await answer(await post(`${srv.url}/v2/models/throws/infer`, inferBody([[1, 2, 3]]))), [503, null, 'ERR_SERVABLE_CLOSED'], 'a closed registry');
          assert.deepEqual(await answer(await post(`${srv.url}/v1/models/throws:predict`, '{"instances": [[1, 2, 3]]}')), [503, null, 'ERR_SERVABLE_CLOSED']);
          assert.deepEqual(await probe('/v2/health/ready'), [503, null]);
        } finally {
          g.open();
          await srv.close();
          await registry.close();
        }
      });
    }

    test(`a request past its timeout (parameters.timeout, microseconds) gets 504`, async () => {
      const clock = new FakeClock();
      const s = await gatedService({ maxBatchSize: 4 }, clock);
      const srv = await start({ service: s.service });
      try {
        const url = `${srv.url}/v2/models/linear/infer`;
        const running = post(url, inferBody([[1, 0, 0]], { id: 'a' }));
        await until(() => s.backend.calls.length === 1, 'the first run');
        const late = post(url, inferBody([[0, 1, 0]], { id: 'b', parameters: { timeout: 50_000 } }));
        await until(() => s.handler.seen.includes('b'), 'the second request to queue');
        await tick();
        await clock.advanceAsync(50);
        const res = await late;
        assert.equal(res.status, 504);
        assert.equal(((await res.json()) as { code: string }).code, 'ERR_SERVABLE_DEADLINE_EXCEEDED');
        s.open();
        assert.equal((await running).status, 200);
        assert.deepEqual(runs(s.backend), [[1, 0, 0]]);
      } finally {
        await srv.close();
        await s.registry.close();
      }
    });

    test(`an internal failure is a bare 500 that leaks nothing, reported to onError`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({
        name: 'broken',
        source: { ...linearMemory(), run: () => Promise.reject(new Error('secret /etc/path exploded')) },
        warmup: [],
      });
      const seen: unknown[] = [];
      const srv = await start({ service: new InferenceService({ registry }), onError: (e) => seen.push(e) });
      try {
        const res = await post(`${srv.url}/v2/models/broken/infer`, inferBody([[1, 2, 3]]));
        assert.equal(res.status, 500);
        const text = await res.text();
        assert.doesNotMatch(text, /secret|etc/);
        // The model's plain Error reaches the protocol as a BackendError: a stable code, and no message of its own.
        assert.deepEqual(JSON.parse(text), { error: 'The model failed to answer this request', code: 'ERR_SERVABLE_BACKEND' });
        assert.equal(seen.length, 1);
      } finally {
        await srv.close();
        await registry.close();
      }
    });

    test(`a metrics route that throws is a bare 500 reported to onError; one that is no function is refused`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await assert.rejects(start({ service: new InferenceService({ registry }), metrics: 'nope' as never }), {
        name: 'TypeError',
        message: 'Expected `metrics` to be a function, got "nope" (string)',
      });
      // A misspelt option is named, whichever adapter it was given to.
      await assert.rejects(start({ service: new InferenceService({ registry }), bodylimit: 10 } as never), {
        name: 'TypeError',
        message: /^Unknown option `bodylimit`; \w+ takes service, bodyLimit, maxElements, compressReplies, backpressureStatus, tfServing, repository, authorizeRepository, tenantOf, routingKeyHeader, statistics, serverName, serverVersion, requiredModels, onError, metrics/,
      });
      const seen: unknown[] = [];
      const metrics = () => Promise.reject(new Error('collector exploded'));
      const srv = await start({ service: new InferenceService({ registry }), metrics, onError: (e) => seen.push(e) });
      try {
        const res = await fetch(`${srv.url}/metrics`);
        assert.deepEqual([res.status, await res.text()], [500, 'Collecting metrics failed\n']);
        assert.deepEqual(seen.map((e) => (e as Error).message), ['collector exploded']);
      } finally {
        await srv.close();
        await registry.close();
      }
    });

    test(`an onError that throws, or rejects, changes no reply, is no unhandled rejection and is a process warning; the next request is answered`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'broken', source: { ...linearMemory(), run: () => Promise.reject(new Error('model exploded')) }, warmup: [] });
      await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
      const metrics = () => Promise.reject(new Error('collector exploded'));
      const unhandled: unknown[] = [];
      const warnings: string[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      const onWarning = (warning: Error & { code?: string }): void => {
        if (warning.code === 'SERVABLE_ON_ERROR') warnings.push(warning.message);
      };
      process.on('unhandledRejection', onUnhandled);
      process.on('warning', onWarning);
      const onErrors = {
        throws: (error: unknown): void => {
          throw new Error(`logger down: ${(error as Error).message}`);
        },
        rejects: async (error: unknown): Promise<void> => {
          throw new Error(`logger down: ${(error as Error).message}`);
        },
      };
      try {
        for (const [kind, onError] of Object.entries(onErrors)) {
          warnings.length = 0;
          const srv = await start({ service: new InferenceService({ registry }), metrics, onError });
          try {
            const res = await post(`${srv.url}/v2/models/broken/infer`, inferBody([[1, 2, 3]]));
            assert.deepEqual([res.status, await res.json()], [500, { error: 'The model failed to answer this request', code: 'ERR_SERVABLE_BACKEND' }], kind);
            const scraped = await fetch(`${srv.url}/metrics`);
            assert.deepEqual([scraped.status, await scraped.text()], [500, 'Collecting metrics failed\n'], kind);
            const next = await post(`${srv.url}/v2/models/linear/infer`, inferBody([[1, 2, 3]]));
            assert.deepEqual(((await next.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, expectedY([[1, 2, 3]]), kind);
            await until(() => warnings.length === 2, 'two warnings');
            assert.deepEqual(
              warnings,
              [
                'onError failed (logger down: model exploded) while reporting: model exploded',
                'onError failed (logger down: collector exploded) while reporting: collector exploded',
              ],
              kind,
            );
            await tick();
            assert.deepEqual(unhandled, [], kind);
          } finally {
            await srv.close();
          }
        }
      } finally {
        process.off('unhandledRejection', onUnhandled);
        process.off('warning', onWarning);
        await registry.close();
      }
    });

    test(`mounted under a prefix; other paths are left to the app`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
      const srv = await start({ service: new InferenceService({ registry }) }, '/api');
      try {
        assert.equal((await fetch(`${srv.url}/metrics`)).status, 404, 'no metrics route unless asked for');
        assert.equal((await fetch(`${srv.url}/metrics`, { method: 'POST', body: '' })).status, 404, 'nor a 405');
        assert.deepEqual(await (await fetch(`${srv.url}/v2/health/live`)).json(), { live: true });
        assert.deepEqual(await (await fetch(`${srv.url}/v2/models/linear/ready/`)).json(), { name: 'linear', ready: true }, 'a trailing slash under the prefix');
        const res = await post(`${srv.url}/v2/models/linear/infer`, inferBody([[1, 2, 3]]));
        assert.deepEqual(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, expectedY([[1, 2, 3]]));
        const other = await fetch(`${srv.url.replace(/\/api$/, '')}/app/hello`);
        assert.deepEqual([other.status, await other.text()], [200, 'app']);
      } finally {
        await srv.close();
        await registry.close();
      }
    });

    test(`every error reply carries a stable code on every adapter; a 404 names the path as the client sent it, the mount point included`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      const repository = {
        index: async () => [],
        // A load failure with no servable code; an option mistake in a config.json, as parseConfig throws it; a model no room can be made for.
        load: async (name: string) =>
          Promise.reject(
            name === 'bad'
              ? optionError(`/models/bad/config.json: Expected \`batching.maxBatchSize\` to be an integer >= 1, got 0 (number)`, RangeError)
              : name === 'huge'
                ? new ModelTooLargeError("Model 'huge' version '1' is estimated at 1500 bytes, more than `maxLoadedBytes` (1000) by 500 bytes", 1500, 1000)
                : new Error(`cannot read /models/${name}/1/model.onnx`),
          ),
        unload: async () => {},
      };
      const authorizeRepository = ({ headers }: { headers: Record<string, unknown> }) =>
        headers.authorization === 'Bearer broken' ? Promise.reject(new Error('token store down')) : headers.authorization === 'Bearer operator';
      const errors: string[] = [];
      const onError = (error: unknown) => void errors.push((error as Error).message);
      const srv = await start({ service: new InferenceService({ registry }), repository, authorizeRepository, onError }, '/api');
      try {
        const reply = async (method: string, path: string, headers: Record<string, string> = {}) => {
          const res = await fetch(`${srv.url}${path}`, { method, headers, ...(method !== 'GET' && { body: '{}' }) });
          return [res.status, await res.json()];
        };
        const load = '/v2/repository/models/m/load';
        assert.deepEqual(
          [
            await reply('GET', '/v2/models/m/explain?x=1'),
            await reply('POST', '/v1/models/m:classify'),
            await reply('PUT', '/v2/health/live'),
            await reply('POST', '/v2/models/m/infer', { 'content-encoding': 'br' }),
            await reply('POST', load),
            await reply('POST', load, { authorization: 'Bearer operator' }),
            await reply('POST', '/v2/repository/models/bad/load', { authorization: 'Bearer operator' }),
            await reply('POST', '/v2/repository/models/huge/load', { authorization: 'Bearer operator' }),
            await reply('POST', load, { authorization: 'Bearer broken' }),
          ],
          [
            [404, { error: 'No route for GET /api/v2/models/m/explain', code: 'ERR_SERVABLE_NO_ROUTE' }],
            [404, { error: ':classify is not served; servable models answer :predict', code: 'ERR_SERVABLE_NO_ROUTE' }],
            [405, { error: 'PUT is not allowed here; use GET or HEAD', code: 'ERR_SERVABLE_METHOD_NOT_ALLOWED' }],
            [415, { error: "Content-Encoding 'br' is not supported; send gzip, deflate or identity", code: 'ERR_SERVABLE_UNSUPPORTED_CONTENT_ENCODING' }],
            [403, { error: 'Not authorized to use the model repository', code: 'ERR_SERVABLE_NOT_AUTHORIZED' }],
            [400, { error: "Model 'm' failed to load: cannot read /models/m/1/model.onnx", code: 'ERR_SERVABLE_LOAD_FAILED' }],
            [400, { error: "Model 'bad' failed to load: /models/bad/config.json: Expected `batching.maxBatchSize` to be an integer >= 1, got 0 (number)", code: 'ERR_SERVABLE_INVALID_OPTION' }],
            [507, { error: "Model 'huge' version '1' is estimated at 1500 bytes, more than `maxLoadedBytes` (1000) by 500 bytes", code: 'ERR_SERVABLE_MODEL_TOO_LARGE' }],
            [500, { error: 'Internal server error', code: 'ERR_SERVABLE_INTERNAL' }],
          ],
        );
        assert.deepEqual(errors, ['token store down']);
      } finally {
        await srv.close();
        await registry.close();
      }
    });

    test(`with statistics, the statistics extension's routes are served under a prefix; without, they are not`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'linear', source: linearMemory(), batching: { maxBatchSize: 8, maxQueueDelayMs: 0 }, warmup: [] });
      const service = new InferenceService({ registry });
      const statistics = new InferenceStatistics({ service });
      const srv = await start({ service, statistics }, '/api');
      const plain = await start({ service });
      try {
        assert.deepEqual(((await (await fetch(`${srv.url}/v2`)).json()) as { extensions: string[] }).extensions, ['binary_tensor_data', 'classification', 'schedule_policy', 'statistics']);
        assert.equal((await post(`${srv.url}/v2/models/linear/infer`, inferBody([[1, 2, 3], [4, 5, 6]]))).status, 200);
        type Stats = { model_stats: { name: string; version: string; inference_count: number; execution_count: number; inference_stats: Record<string, { count: number }>; batch_stats: { batch_size: number }[] }[] };
        for (const path of ['/v2/models/stats', '/v2/models/linear/stats', '/v2/models/linear/versions/1/stats/']) {
          const res = await fetch(`${srv.url}${path}`);
          assert.deepEqual([res.status, res.headers.get('content-type')], [200, 'application/json'], path);
          const [stat] = ((await res.json()) as Stats).model_stats;
          assert.deepEqual(
            [stat!.name, stat!.version, stat!.inference_count, stat!.execution_count, stat!.inference_stats.success!.count, stat!.inference_stats.fail!.count, stat!.batch_stats.map((b) => b.batch_size)],
            ['linear', '1', 2, 1, 1, 0, [2]],
            path,
          );
        }
        const unknown = await fetch(`${srv.url}/v2/models/nope/stats`);
        assert.deepEqual([unknown.status, await unknown.json()], [404, { error: "Model 'nope' not found", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }]);
        const version = await fetch(`${srv.url}/v2/models/linear/versions/7/stats`);
        assert.deepEqual([version.status, await version.json()], [404, { error: "Model 'linear' has no version '7'", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }]);
        const off = await fetch(`${plain.url}/v2/models/linear/stats`);
        assert.deepEqual([off.status, await off.json()], [404, { error: 'No route for GET /v2/models/linear/stats', code: 'ERR_SERVABLE_NO_ROUTE' }]);
        const all = await fetch(`${plain.url}/v2/models/stats`);
        assert.deepEqual([all.status, await all.json()], [404, { error: "Model 'stats' not found", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }]);
      } finally {
        statistics.close();
        await plain.close();
        await srv.close();
        await registry.close();
      }
    });

    test(`under a prefix, GET and HEAD /metrics are served with or without one trailing slash`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      const metrics = async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'app_up 1\n' });
      const srv = await start({ service: new InferenceService({ registry }), metrics }, '/api');
      try {
        for (const path of ['/metrics', '/metrics/', '/metrics/?x=1']) {
          const get = await fetch(`${srv.url}${path}`);
          assert.deepEqual([get.status, await get.text()], [200, 'app_up 1\n'], path);
          const head = await fetch(`${srv.url}${path}`, { method: 'HEAD' });
          assert.deepEqual([head.status, await head.text()], [200, ''], `HEAD ${path}`);
        }
        assert.equal((await fetch(`${srv.url}/metrics//`)).status, 404);
        assert.equal((await fetch(`${srv.url.replace(/\/api$/, '')}/metrics/`)).status, 404, 'not above the prefix');
      } finally {
        await srv.close();
        await registry.close();
      }
    });
  });

  routingKeyContract(adapter, start);
}

/** The exact-answer model, Y = X·W + B built with onnx-proto, on the real onnx-node backend (two worker instances). */
export async function linearBackend(): Promise<{ backend: Backend; source: unknown }> {
  return { backend: onnxNode({ instances: 2, intraOpNumThreads: 1 }), source: linearModel(W, B) };
}

