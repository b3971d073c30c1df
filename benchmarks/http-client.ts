/**
 * The client side of the HTTP benchmark, run as a child process so that encoding and sending
 * requests do not run on the server's event loop (they still share the machine's cores). Argv:
 * url mode (json | binary) callers seconds images-per-request. Each caller keeps one keep-alive
 * connection and sends one request at a time, encoded once up front, different images per caller.
 * It tells the parent over IPC when it starts measuring ('measuring'), then sends its result.
 */
import http from 'node:http';
import { pseudoRandom } from '../test/fixtures/ocr-models.js';
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

const IMAGE = 3 * 48 * 192;

interface Encoded {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

/** One request body of `images` images, with its headers. */
function encode(mode: string, seed: number, images: number): Encoded {
  const x = pseudoRandom(images * IMAGE, seed);
  const shape = [images, 3, 48, 192];
  if (mode === 'json') {
    const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape, data: Array.from(x) }] }));
    return { body, headers: { 'content-type': 'application/json', 'content-length': String(body.byteLength) } };
  }
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'x', datatype: 'FP32', shape, parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    }),
  );
  const body = Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]);
  return {
    body,
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(body.byteLength),
      'inference-header-content-length': String(header.byteLength),
    },
  };
}

function send(agent: http.Agent, url: URL, request: Encoded): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: request.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(request.body);
  });
}

async function main(): Promise<void> {
  const [base, mode = 'binary', callersArg = '32', secondsArg = '3', imagesArg = '1'] = process.argv.slice(2);
  const url = new URL('/v2/models/textdir/infer', base);
  const callers = Number(callersArg);
  const images = Number(imagesArg);
  const agent = new http.Agent({ keepAlive: true, maxSockets: callers });
  const bodies = Array.from({ length: callers }, (_, i) => encode(mode, i + 1, images));
  await Promise.all(bodies.map((b) => send(agent, url, b)));

  process.send!('measuring');
  const cpu = process.cpuUsage();
  const { items, errors, seconds, latencies } = await closedLoop(callers, Number(secondsArg), async (caller) =>
    (await send(agent, url, bodies[caller]!)) === 200 ? images : 0,
  );
  const used = process.cpuUsage(cpu);
  agent.destroy();
  process.send!({ items, seconds, latencies: [...latencies], errors, cpuMs: (used.user + used.system) / 1000 } satisfies ClientResult);
}

await main();
