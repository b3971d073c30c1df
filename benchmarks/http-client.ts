/**
 * The client side of the HTTP benchmark, run as a child process so that encoding and sending
 * requests do not run on the server's event loop (they still share the machine's cores). Argv:
 * url mode (json | binary) callers seconds images-per-request. Each caller keeps one keep-alive
 * connection with one request in flight at a time (no pipelining), different images per caller.
 *
 * A load generator should cost as little CPU as it can, since it shares the cores with the server:
 * each request is encoded once up front, head and body as one buffer written to a raw socket, and
 * each reply is read by a minimal HTTP/1.1 parser that still checks every reply: status 200, framed
 * by Content-Length, and for binary replies a body of exactly the JSON header plus 2 FP32 per image.
 * It tells the parent over IPC when it starts measuring ('measuring'), then sends its result.
 */
import net from 'node:net';
import { INFER_PATH, inferRequest, OUTPUT_BYTES } from './http-request.js';
import { closedLoop } from './stats.js';

/** What the child reports. */
export interface ClientResult {
  /** Images answered with 200. */
  readonly items: number;
  readonly seconds: number;
  /** Per request, in milliseconds. */
  readonly latencies: number[];
  readonly errors: number;
  /** CPU time the client process used while measuring, in milliseconds. */
  readonly cpuMs: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** One whole HTTP/1.1 request of `images` images: head and body. */
function encode(url: URL, mode: 'json' | 'binary', seed: number, images: number): Buffer {
  const { headers, body } = inferRequest(mode, seed, images);
  const head = [`POST ${url.pathname} HTTP/1.1`, `Host: ${url.host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `Content-Length: ${body.byteLength}`, '', ''];
  return Buffer.concat([Buffer.from(head.join('\r\n'), 'latin1'), body]);
}

/** What a reply's head says, once its blank line has arrived. */
interface Head {
  readonly status: number;
  readonly length: number;
  /** Inference-Header-Content-Length, when present. */
  readonly jsonLength: number | undefined;
  readonly bodyStart: number;
}

function parseHead(bytes: Buffer, end: number): Head {
  const lines = bytes.toString('latin1', 0, end).split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  let length = Number.NaN;
  let jsonLength: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i]!.indexOf(':');
    const name = lines[i]!.slice(0, colon).toLowerCase();
    const value = lines[i]!.slice(colon + 1).trim();
    if (name === 'content-length') length = Number(value);
    else if (name === 'inference-header-content-length') jsonLength = Number(value);
    else if (name === 'transfer-encoding' || (name === 'connection' && value.toLowerCase() === 'close')) {
      throw new Error(`Expected a keep-alive reply framed by Content-Length, got ${lines[i]}`);
    }
  }
  if (!Number.isSafeInteger(length)) throw new Error(`Expected a Content-Length in the reply head:\n${lines.join('\n')}`);
  return { status, length, jsonLength, bodyStart: end + HEAD_END.byteLength };
}

/** A keep-alive connection that sends one prebuilt request at a time and checks each reply. */
class Connection {
  readonly #socket: net.Socket;
  readonly #request: Buffer;
  readonly #mode: string;
  readonly #images: number;
  #received: Buffer = Buffer.alloc(0);
  #head: Head | undefined;
  #pending: { resolve(ok: boolean): void; reject(error: Error): void } | undefined;

  private constructor(socket: net.Socket, request: Buffer, mode: string, images: number) {
    this.#socket = socket;
    this.#request = request;
    this.#mode = mode;
    this.#images = images;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('The server closed the connection')));
  }

  static open(url: URL, request: Buffer, mode: string, images: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true }, () => {
        socket.off('error', reject);
        resolve(new Connection(socket, request, mode, images));
      });
      socket.once('error', reject);
    });
  }

  /** Sends the request; true when the reply is a well-formed 200. */
  send(): Promise<boolean> {
    if (this.#pending) throw new Error('A request is already in flight on this connection');
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(this.#request);
    });
  }

  close(): void {
    this.#socket.removeAllListeners('close');
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#received = this.#received.byteLength === 0 ? chunk : Buffer.concat([this.#received, chunk]);
    try {
      if (!this.#head) {
        const end = this.#received.indexOf(HEAD_END);
        if (end === -1) return;
        this.#head = parseHead(this.#received, end);
      }
      const { status, length, jsonLength, bodyStart } = this.#head;
      if (this.#received.byteLength < bodyStart + length) return;
      if (this.#received.byteLength > bodyStart + length) throw new Error('The server sent bytes after the reply');
      const pending = this.#pending;
      this.#pending = undefined;
      this.#head = undefined;
      this.#received = Buffer.alloc(0);
      const sized = this.#mode === 'json' ? length > 0 : jsonLength !== undefined && length === jsonLength + OUTPUT_BYTES * this.#images;
      pending?.resolve(status === 200 && sized);
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  #fail(error: Error): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
  }
}

async function main(): Promise<void> {
  const [base, modeArg = 'binary', callersArg = '32', secondsArg = '3', imagesArg = '1'] = process.argv.slice(2);
  if (modeArg !== 'json' && modeArg !== 'binary') throw new Error(`Expected the mode json or binary, got ${modeArg}`);
  const mode = modeArg;
  const url = new URL(INFER_PATH, base);
  const callers = Number(callersArg);
  const images = Number(imagesArg);
  const connections = await Promise.all(Array.from({ length: callers }, (_, i) => Connection.open(url, encode(url, mode, i + 1, images), mode, images)));
  const warm = await Promise.all(connections.map((c) => c.send()));
  if (!warm.every(Boolean)) throw new Error(`The ${mode} warm-up requests got replies other than a well-formed 200`);

  process.send!('measuring');
  const cpu = process.cpuUsage();
  const { items, errors, seconds, latencies } = await closedLoop(callers, Number(secondsArg), async (caller) =>
    (await connections[caller]!.send()) ? images : 0,
  );
  const used = process.cpuUsage(cpu);
  for (const c of connections) c.close();
  process.send!({ items, seconds, latencies: [...latencies], errors, cpuMs: (used.user + used.system) / 1000 } satisfies ClientResult);
}

await main();
