import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Test } from '@nestjs/testing';
import { Registry } from 'prom-client';
import { InferenceService, ModelRegistry } from 'servable';
import { servableExpress } from 'servable/express';
import { servableFastify } from 'servable/fastify';
import { ServableModule, type ServableModuleOptions } from 'servable/nest';
import { ServingMetrics } from 'servable/metrics';
import { servableNode } from 'servable/node';
import { memoryBackend } from 'servable/testing';
import { linearReference } from '../fixtures/onnx-models.js';
import { catchingUncaught } from '../fixtures/uncaught.js';
import { parse, sample } from '../metrics/exposition.js';
import { random } from '../batching/helpers.js';
import { B, linearMemory, runs, tick, until, W } from './http-contract.js';

// Seeded fuzzing of client disconnects over real HTTP/1.1, on every adapter. Each round holds a
// batch running (the model waits at a gate the test opens), then sends good requests and invalid
// ones beside requests whose connection is dropped mid-headers, mid-body (JSON and binary), while
// queued behind the held batch, while their own batch runs, or while their reply is being written.
// Every good request gets its exact answer and every invalid one its 400; a request dropped before
// its batch started is never run, one dropped after is run exactly once; the queue and in-flight
// counts (registry, model version and metrics) go back to 0 and the metrics count each request once;
// nothing reaches uncaughtException, unhandledRejection or onError; and the server serves on
// afterwards. Connections of answered requests are kept alive and reused by later ones, after the
// aborts beside them; good requests and those dropped while queued or running are pipelined too
// (HTTP/1.1 requests sent at once on one connection). FUZZ_SEED sets another seed.

const SEED = Number(process.env.FUZZ_SEED ?? 0xd15c0);
const ROUNDS = 6;
/** Rows of a request dropped while its reply is written. */
const REPLY_ROWS = 3000;

/** What happens to a request (`pipelined`: two or three good ones sent at once on one connection; those `queued` or `running` may be pipelined too). */
type Fate = 'good-json' | 'good-binary' | 'pipelined' | 'bad' | 'head' | 'body-json' | 'body-binary' | 'queued' | 'running' | 'reply';
const FATES: readonly Fate[] = ['good-json', 'good-binary', 'pipelined', 'bad', 'head', 'body-json', 'body-binary', 'queued', 'running', 'reply'];

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]!;

/** The items in a random order (Fisher-Yates). */
function shuffle<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = int(rng, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface Reply {
  readonly status: number;
  readonly body: string;
}

/** A raw keep-alive HTTP/1.1 connection that reads replies framed by Content-Length, one at a time. */
class Connection {
  readonly socket: net.Socket;
  #got = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => {
      this.#got = Buffer.concat([this.#got, chunk]);
      this.#wake?.();
    });
    this.socket.on('close', () => {
      this.#ended = true;
      this.#wake?.();
    });
    this.socket.on('error', () => {});
  }

  /** The next reply; `EOF` when the connection ends first. */
  async reply(): Promise<Reply | 'EOF'> {
    for (;;) {
      const split = this.#got.indexOf('\r\n\r\n');
      if (split !== -1) {
        const [status, ...lines] = this.#got.subarray(0, split).toString('latin1').split('\r\n');
        const length = Number(lines.find((l) => l.toLowerCase().startsWith('content-length:'))?.slice(15).trim());
        if (this.#got.byteLength >= split + 4 + length) {
          const body = this.#got.subarray(split + 4, split + 4 + length).toString();
          this.#got = this.#got.subarray(split + 4 + length);
          return { status: Number(status!.split(' ')[1]), body };
        }
      }
      if (this.#ended) return 'EOF';
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** A request of `rows` to the linear model, as its head and body: JSON, binary tensor data, or JSON whose data does not fit its shape. */
function request(id: number, rows: number[][], form: 'json' | 'binary' | 'bad', hold = false): { head: Buffer; body: Buffer } {
  let body: Buffer;
  let extra = hold ? 'x-fuzz-hold: 1\r\n' : '';
  if (form === 'binary') {
    const data = Buffer.from(new Float32Array(rows.flat()).buffer);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [rows.length, 3], parameters: { binary_data_size: data.byteLength } }] }));
    body = Buffer.concat([header, data]);
    extra += `inference-header-content-length: ${header.byteLength}\r\n`;
  } else {
    const data = form === 'bad' ? rows.flat().slice(1) : rows;
    body = Buffer.from(JSON.stringify({ id: String(id), inputs: [{ name: 'X', datatype: 'FP32', shape: [rows.length, 3], data }] }));
  }
  const type = form === 'binary' ? 'application/octet-stream' : 'application/json';
  const head = `POST /v2/models/linear/infer HTTP/1.1\r\nhost: 127.0.0.1\r\nx-fuzz-id: ${id}\r\ncontent-type: ${type}\r\ncontent-length: ${body.byteLength}\r\n${extra}\r\n`;
  return { head: Buffer.from(head), body };
}

/** What the model answers for `rows`, flattened as the reply's data. */
const expected = (rows: number[][]): number[] => rows.flatMap((r) => linearReference(W, B, r));

/**
 * A running server with servable mounted, and the `x-fuzz-id` of every request it began. What is
 * written on the connection of a request with an `x-fuzz-hold` header is held until released.
 */
interface Server {
  readonly port: number;
  readonly began: Set<string>;
  /** The server side of the connections whose writes are held, by `x-fuzz-id`. */
  readonly held: Map<string, HeldWrites>;
  close(): Promise<void>;
}

type Start = (service: InferenceService, onError: (error: unknown) => void) => Promise<Server>;

function observe(server: http.Server, close: () => Promise<void>): Server {
  const began = new Set<string>();
  const held = new Map<string, HeldWrites>();
  server.on('request', (req: http.IncomingMessage) => {
    const id = String(req.headers['x-fuzz-id']);
    began.add(id);
    if (req.headers['x-fuzz-hold'] !== undefined) held.set(id, holdWrites(req.socket));
  });
  return { port: (server.address() as AddressInfo).port, began, held, close };
}

/** The writes of a connection, held in its write buffer. */
interface HeldWrites {
  readonly socket: net.Socket;
  /** True once a write is held. */
  readonly holding: boolean;
  /** Hands the held writes, and those after, on to the system. */
  release(): void;
}

/**
 * Holds what is written on `socket` in its write buffer until released, as a slow network does
 * (past the kernel's buffers, megabytes on loopback): a Writable hands each write, or each run of
 * writes buffered meanwhile, to its `_write` or `_writev`, the stream implementer's methods that
 * net.Socket implements, and takes the next only once the last one's callback is called.
 * `cork()` would not do: a response's end() uncorks its connection fully.
 */
function holdWrites(socket: net.Socket): HeldWrites {
  const calls: (() => void)[] = [];
  socket._write = (chunk, encoding, callback) => void calls.push(() => net.Socket.prototype._write.call(socket, chunk, encoding, callback));
  socket._writev = (chunks, callback) => void calls.push(() => net.Socket.prototype._writev!.call(socket, chunks, callback));
  return {
    socket,
    get holding() {
      return calls.length > 0;
    },
    release() {
      // The prototype's own again.
      delete (socket as Partial<net.Socket>)._write;
      delete (socket as Partial<net.Socket>)._writev;
      for (const call of calls.splice(0)) call();
    },
  };
}

const closeServer = (server: http.Server) => () =>
  new Promise<void>((resolve, reject) => {
    server.close((e) => (e ? reject(e) : resolve()));
    server.closeAllConnections();
  });

/** JSON bodies are decoded in a worker thread on the fastify server (starting one costs about half a second here), in place on the others. */
const IN_WORKER = { jsonWorkers: 1, jsonWorkerMinBytes: 0 };
const IN_PLACE = { jsonWorkers: 0 };

const adapters: Record<string, Start> = {
  async node(service, onError) {
    const server = http.createServer(servableNode({ service, onError, ...IN_PLACE }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return observe(server, closeServer(server));
  },
  async express(service, onError) {
    const app = express();
    app.use(servableExpress({ service, onError, ...IN_PLACE }));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return observe(server, closeServer(server));
  },
  async fastify(service, onError) {
    const app = Fastify();
    await app.register(servableFastify, { service, onError, ...IN_WORKER });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return observe(app.server, () => app.close());
  },
  async nest(service, onError) {
    const moduleRef = await Test.createTestingModule({
      imports: [ServableModule.forRoot({ service, onError, ...IN_PLACE } as unknown as ServableModuleOptions)],
    }).compile();
    const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
    await app.listen(0, '127.0.0.1');
    return observe(app.getHttpServer() as http.Server, () => app.close());
  },
};

for (const [adapter, start] of Object.entries(adapters)) {
  test(`${adapter}: clients that disconnect at any point take out only their own work; every good request is answered exactly`, async () => {
    await catchingUncaught(async (uncaught) => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      // Every model run waits at its own hold until the test opens it (or all pass, once `free`).
      const holds: (() => void)[] = [];
      let free = false;
      const backend = memoryBackend();
      const registry = new ModelRegistry({ backends: [backend] });
      await registry.load({
        name: 'linear',
        source: linearMemory(() => (free ? Promise.resolve() : new Promise<void>((resolve) => holds.push(resolve)))),
        batching: { maxBatchSize: 1 << 20 },
        warmup: [],
      });
      const service = new InferenceService({ registry });
      const promRegistry = new Registry();
      new ServingMetrics({ promRegistry, service });
      const cancelled = { queued: 0, running: 0 };
      const otherDrops: string[] = [];
      registry.on('drop', (e) => (e.reason === 'cancelled' ? cancelled[e.stage]++ : otherDrops.push(e.reason)));
      const errors: unknown[] = [];
      const server = await start(service, (error) => errors.push(error));
      const rng = random(SEED);
      const idle: Connection[] = [];
      let reused = 0;
      const take = (): Connection => {
        if (idle.length === 0 || rng() >= 0.75) return new Connection(server.port);
        reused++;
        return idle.splice(int(rng, idle.length), 1)[0]!;
      };
      /** Rows each request sent that should run, by request id. */
      const shouldRun = new Map<number, number>();
      /** Drops of requests the test took out, by stage; ids of requests whose head was cut short. */
      const dropped = { queued: 0, running: 0 };
      /** Requests the service answered: with their outputs, or refused as invalid. */
      const outcomes = { success: 0, invalid: 0 };
      const cutHeads: string[] = [];
      const flows: Promise<void>[] = [];
      let next = 1;
      const queue = () => registry.queues()[0]!;
      const version = () => service.resolve('linear');

      /** `count` requests of 1 to 4 rows (each row's first value is its request's id), written at once on `conn`; the rows of each. */
      const pipeline = (conn: Connection, count: number, round: number, form: 'json' | 'binary' = 'json'): number[][][] => {
        const sent = Array.from({ length: count }, () => {
          const id = next++;
          return { id, rows: Array.from({ length: 1 + int(rng, 4) }, (_, r) => [id, r + 1, round]) };
        });
        conn.socket.write(Buffer.concat(sent.flatMap(({ id, rows }) => {
          const { head, body } = request(id, rows, form);
          return [head, body];
        })));
        return sent.map(({ rows }) => rows);
      };

      /** Sends good requests (pipelined when more than one) and checks their exact answers, in order; the connection goes back to the idle ones. */
      const good = async (form: 'json' | 'binary', count: number, round: number): Promise<void> => {
        const conn = take();
        const sent = pipeline(conn, count, round, form);
        for (const rows of sent) shouldRun.set(rows[0]![0]!, rows.length);
        for (const rows of sent) {
          const id = rows[0]![0]!;
          const reply = await conn.reply();
          assert.notEqual(reply, 'EOF', `request ${id} (${form}) was answered`);
          const { status, body: text } = reply as Reply;
          assert.equal(status, 200, `request ${id}: ${text}`);
          assert.deepEqual((JSON.parse(text) as { outputs: { data: number[] }[] }).outputs[0]!.data, expected(rows), `request ${id}`);
          outcomes.success++;
        }
        idle.push(conn);
      };

      try {
        for (let round = 0; round < ROUNDS; round++) {
          const runsBefore = holds.length;
          // The blocker's batch runs and holds: every request after it queues behind it.
          const started = flows.length;
          flows.push(good('json', 1, round));
          await until(() => holds.length === runsBefore + 1, 'the blocker to run');
          // The first round has every fate once, in a random order; the others a random mix.
          const fates = round === 0 ? shuffle(rng, FATES) : Array.from({ length: 6 + int(rng, 8) }, () => pick(rng, FATES));
          /** Connections to drop while their requests are queued, or running, and how many each holds. */
          const later = { queued: [] as { conn: Connection; requests: number }[], running: [] as { conn: Connection; requests: number }[] };
          let toQueue = 0;
          flows.push(...fates.map(async (fate) => {
            if (fate === 'queued' || fate === 'running') {
              const conn = take();
              const requests = 1 + int(rng, 3);
              toQueue += requests;
              for (const rows of pipeline(conn, requests, round)) if (fate === 'running') shouldRun.set(rows[0]![0]!, rows.length);
              later[fate].push({ conn, requests });
              return;
            }
            const rows = Array.from({ length: 1 + int(rng, 4) }, (_, r) => [next, r + 1, round]);
            if (fate === 'good-json' || fate === 'good-binary' || fate === 'pipelined') {
              const count = fate === 'pipelined' ? 2 + int(rng, 2) : 1;
              toQueue += count;
              return good(fate === 'good-binary' ? 'binary' : 'json', count, round);
            }
            const id = next++;
            if (fate === 'bad') {
              const conn = take();
              const { head, body } = request(id, rows, 'bad');
              conn.socket.write(Buffer.concat([head, body]));
              const reply = await conn.reply();
              assert.notEqual(reply, 'EOF');
              assert.equal((reply as Reply).status, 400, (reply as Reply).body);
              assert.equal(typeof (JSON.parse((reply as Reply).body) as { error: unknown }).error, 'string');
              outcomes.invalid++;
              idle.push(conn);
              return;
            }
            const conn = take();
            if (fate === 'head') {
              const { head } = request(id, rows, 'json');
              conn.socket.write(head.subarray(0, 1 + int(rng, head.byteLength - 1)));
              cutHeads.push(String(id));
              for (let i = int(rng, 3); i > 0; i--) await tick();
              conn.socket.destroy();
              return;
            }
            if (fate === 'body-json' || fate === 'body-binary') {
              const { head, body } = request(id, rows, fate === 'body-json' ? 'json' : 'binary');
              conn.socket.write(Buffer.concat([head, body.subarray(0, int(rng, body.byteLength))]));
              await until(() => server.began.has(String(id)), `request ${id} to begin`);
              conn.socket.destroy();
              return;
            }
            if (fate === 'reply') {
              const big = Array.from({ length: REPLY_ROWS }, (_, r) => [id, r % 97, round]);
              shouldRun.set(id, big.length);
              toQueue++;
              const { head, body } = request(id, big, 'binary', true);
              conn.socket.write(Buffer.concat([head, body]));
              await until(() => server.held.get(String(id))?.holding === true, `the reply to ${id} to be written`);
              const held = server.held.get(String(id))!;
              conn.socket.destroy();
              await until(() => held.socket.readableEnded || held.socket.destroyed, `the server to see ${id}'s client go`);
              outcomes.success++;
              held.release();
              await until(() => held.socket.destroyed, `the server to drop ${id}'s connection`);
            }
          }));
          await until(() => queue().queued === toQueue, `${toQueue} requests to queue in round ${round}`);
          // Dropped while queued: out of the queue at once, and never run.
          const requests = (dropping: { requests: number }[]) => dropping.reduce((n, d) => n + d.requests, 0);
          for (const { conn } of later.queued) conn.socket.destroy();
          await until(() => queue().queued === toQueue - requests(later.queued), 'the queued drops');
          dropped.queued += requests(later.queued);
          dropped.running += requests(later.running);
          const batches = toQueue > requests(later.queued) ? 2 : 1;
          holds[runsBefore]!();
          if (batches === 2) {
            await until(() => holds.length === runsBefore + 2, 'the second batch to run');
            assert.equal(queue().queued, 0, 'every queued request went into the second batch');
            // Dropped while their batch runs: their rows were sent to the model, their answers are discarded.
            for (const { conn } of later.running) conn.socket.destroy();
            await until(() => cancelled.running === dropped.running, 'the running drops');
            holds[runsBefore + 1]!();
          }
          await Promise.all(flows.slice(started));
          assert.equal(holds.length, runsBefore + batches, 'no batch ran but the two');
          await until(() => queue().inFlight === 0 && version().inFlight === 0, 'the round to settle');
          assert.deepEqual(
            { queued: queue().queued, queuedItems: queue().queuedItems, inFlight: queue().inFlight, accepted: version().inFlight, held: version().held },
            { queued: 0, queuedItems: 0, inFlight: 0, accepted: 0, held: 0 },
            `after round ${round}`,
          );
        }
        assert.deepEqual({ cancelled, otherDrops }, { cancelled: dropped, otherDrops: [] });
        assert.deepEqual(cutHeads.filter((id) => server.began.has(id)), [], 'a request whose head was cut short never began');
        assert.ok(reused > 0, 'kept-alive connections were reused');

        // The rows the model ran, by request: exactly those of the requests that reached a batch, once each.
        const ran = new Map<number, number>();
        for (const row of runs(backend).flatMap((x) => Array.from({ length: x.length / 3 }, (_, r) => x[r * 3]!))) ran.set(row, (ran.get(row) ?? 0) + 1);
        assert.deepEqual(new Map([...ran].sort(([a], [b]) => a - b)), new Map([...shouldRun].sort(([a], [b]) => a - b)));

        // And it serves on, on connections kept from the rounds and on new ones.
        free = true;
        await Promise.all([good('json', 1, ROUNDS), good('binary', 1, ROUNDS), good('json', 3, ROUNDS)]);
        // The metrics say the same: nothing queued or running, each request counted once by its outcome, every row run counted.
        const metrics = parse(await promRegistry.metrics());
        const mv = { model: 'linear', version: '1' };
        const counted = (name: string) => metrics.filter((m) => m.name === name && m.value > 0);
        assert.deepEqual(
          {
            queued: sample(metrics, 'servable_queue_requests', mv),
            items: sample(metrics, 'servable_queue_items', mv),
            batches: sample(metrics, 'servable_batches_in_flight', mv),
            rows: sample(metrics, 'servable_inference_items_total', mv),
            outcomes: Object.fromEntries(counted('servable_requests_total').map((m) => [m.labels.outcome, m.value])),
            drops: Object.fromEntries(counted('servable_queue_drops_total').map((m) => [`${m.labels.reason}/${m.labels.stage}`, m.value])),
          },
          {
            queued: 0,
            items: 0,
            batches: 0,
            rows: [...shouldRun.values()].reduce((a, b) => a + b, 0),
            outcomes: { ...outcomes, cancelled: dropped.queued + dropped.running },
            drops: { 'cancelled/queued': dropped.queued, 'cancelled/running': dropped.running },
          },
        );
        assert.deepEqual(errors, []);
        assert.deepEqual(unhandled, []);
        assert.deepEqual(uncaught, []);
      } finally {
        free = true;
        for (const open of holds) open();
        for (const conn of idle) conn.socket.destroy();
        await server.close();
        await Promise.allSettled(flows);
        process.off('unhandledRejection', onUnhandled);
        await registry.close();
      }
    });
  });
}
