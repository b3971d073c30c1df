import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InferenceService, ModelRegistry } from 'servable';
import { servableNode } from 'servable/node';
import { onnxNode } from 'servable/onnx-node';
import { linearModel } from './fixtures/onnx-models.js';

// docs/http.md shows requests and their replies in plain ``` blocks. Each block is read here as it
// is written (METHOD /path, headers, an optional JSON body, then the status, headers and JSON
// reply, the JSON possibly wrapped over lines), sent over real HTTP to the model the blocks use,
// and the reply compared with the documented one.

const DOC = 'docs/http.md';

/** Blocks that are not sent, by their first line, and why. Every other plain block must be an exchange. */
const exempt: Record<string, string> = {
  'GET /v2/models/linear/versions/1/stats':
    'needs the statistics option, and its times are those of a fake clock: test/metrics/inference-statistics.test.ts holds these counts and times for the same requests',
  'GET /v2/models/pipe/config': "an ensemble over two step models the blocks do not load: test/protocol/model-config.test.ts holds an ensemble's ensemble_scheduling",
  'POST /predictions/textdir':
    "the image-handler example's own route (examples/image-handler/server.ts), not servable's, over the PaddleOCR text-direction classifier, and the block lists two alternative replies",
};

/** `linear` as the docs answer it: Y = X·W + B, [[1, 2, 3], [4, 5, 6]] giving [[32, 48], [59, 84]]. */
const W = [
  [1, 2],
  [3, 4],
  [5, 6],
];
const B = [10, 20];

/** The `<24 bytes>` of the binary example: the rows of the JSON example, whose answer has the `<16 bytes>`. */
const binaryInput = new Float32Array([1, 2, 3, 4, 5, 6]);
const binaryOutput = new Float32Array([32, 48, 59, 84]);

interface Message {
  headers: Record<string, string>;
  /** The JSON, as documented (possibly wrapped). */
  json?: string;
  /** The length of the raw bytes after the JSON (`<N bytes>`). */
  bytes?: number;
}

interface Exchange {
  method: string;
  path: string;
  request: Message;
  status: number;
  reply: Message;
}

/** Reads one block as a list of exchanges; throws, naming the line, on anything else. */
function parseBlock(text: string): Exchange[] {
  const lines = text.replace(/\n$/, '').split('\n');
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`line ${i + 1} of the block: expected ${what}, got ${JSON.stringify(lines[i] ?? '<end>')}`);
  };
  const skipBlank = () => {
    while (lines[i] === '') i++;
  };
  const headers = () => {
    const found: Record<string, string> = {};
    for (let m; (m = /^([A-Za-z-]+): (.+)$/.exec(lines[i] ?? '')); i++) found[m[1]!.toLowerCase()] = m[2]!;
    return found;
  };
  /** The JSON (and `<N bytes>`) of `text`, or fails. */
  const body = (text: string, into: Message) => {
    const m = /^([\s\S]*?)(?:<(\d+) bytes>)?$/.exec(text)!;
    try {
      JSON.parse(m[1]!);
    } catch {
      fail(`a JSON body, not ${JSON.stringify(m[1])}`);
    }
    into.json = m[1]!;
    if (m[2] !== undefined) into.bytes = Number(m[2]);
  };
  const exchanges: Exchange[] = [];
  for (skipBlank(); i < lines.length; skipBlank()) {
    const request = /^(GET|HEAD|POST|PUT|DELETE) (\/\S*)$/.exec(lines[i]!) ?? fail('METHOD /path');
    i++;
    const exchange: Exchange = { method: request[1]!, path: request[2]!, request: { headers: headers() }, status: 0, reply: { headers: {} } };
    skipBlank();
    const sent: string[] = [];
    while (i < lines.length && !/^\d{3}( |$)/.test(lines[i]!)) sent.push(lines[i++]!);
    while (sent.at(-1) === '') sent.pop();
    if (sent.length > 0) body(sent.join('\n'), exchange.request);
    const status = /^(\d{3})(?: (.+))?$/.exec(lines[i] ?? '') ?? fail('a status line');
    i++;
    exchange.status = Number(status[1]);
    const reply: string[] = [];
    if (status[2] === undefined) {
      exchange.reply.headers = headers();
      skipBlank();
    } else reply.push(status[2]);
    // The reply runs to a blank line, its JSON's later lines indented.
    while (i < lines.length && lines[i] !== '' && (reply.length === 0 || /^\s/.test(lines[i]!))) reply.push(lines[i++]!);
    if (reply.length > 0) body(reply.join('\n'), exchange.reply);
    if (i < lines.length && lines[i] !== '') fail('a blank line after the reply');
    exchanges.push(exchange);
  }
  return exchanges;
}

/** The plain ``` blocks of the doc, with the line each starts on. */
async function plainBlocks(): Promise<{ line: number; text: string }[]> {
  const doc = await readFile(new URL(`../${DOC}`, import.meta.url), 'utf8');
  return [...doc.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)]
    .filter((m) => m[1] === '')
    .map((m) => ({ line: doc.slice(0, m.index).split('\n').length, text: m[2]! }));
}

let registry: ModelRegistry;
let server: http.Server;
let base: string;

before(async () => {
  registry = new ModelRegistry({ backends: [onnxNode({ instances: 1, intraOpNumThreads: 1 })] });
  await registry.load({ name: 'linear', source: linearModel(W, B) });
  server = http.createServer(servableNode({ service: new InferenceService({ registry }) }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await registry.close();
});

/** Sends the exchange's request and checks the reply against the documented one. */
async function check(exchange: Exchange, where: string): Promise<void> {
  const { request, reply } = exchange;
  const json = request.json === undefined ? undefined : Buffer.from(JSON.stringify(JSON.parse(request.json)));
  if (request.bytes !== undefined) {
    assert.equal(request.bytes, binaryInput.byteLength, `${where}: the example's binary input`);
    assert.equal(request.headers['inference-header-content-length'], String(json!.length), `${where}: Inference-Header-Content-Length of the request's JSON`);
  }
  const body = json && (request.bytes === undefined ? json : Buffer.concat([json, Buffer.from(binaryInput.buffer)]));
  const res = await fetch(base + exchange.path, { method: exchange.method, headers: request.headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, exchange.status, `${where}: status (${bytes.toString()})`);
  for (const [name, value] of Object.entries(reply.headers)) assert.equal(res.headers.get(name), value, `${where}: reply header ${name}`);
  const jsonLength = reply.bytes === undefined ? bytes.length : Number(res.headers.get('inference-header-content-length'));
  if (reply.json !== undefined) assert.deepEqual(JSON.parse(bytes.subarray(0, jsonLength).toString()), JSON.parse(reply.json), `${where}: reply body`);
  else assert.equal(bytes.length, 0, `${where}: no reply body`);
  if (reply.bytes !== undefined) {
    assert.equal(bytes.length - jsonLength, reply.bytes, `${where}: binary reply length`);
    assert.deepEqual(new Float32Array(bytes.subarray(jsonLength).buffer.slice(bytes.byteOffset + jsonLength, bytes.byteOffset + bytes.length)), binaryOutput);
  }
}

test(`${DOC}: every request/reply block answers as documented over HTTP`, async () => {
  const blocks = await plainBlocks();
  let sent = 0;
  for (const { line, text } of blocks) {
    const first = text.split('\n')[0]!;
    if (first in exempt) continue;
    const where = `${DOC}:${line}`;
    let exchanges: Exchange[];
    try {
      exchanges = parseBlock(text);
    } catch (error) {
      assert.fail(`${where}: a plain block that is no request/reply example and not exempt: ${(error as Error).message}`);
    }
    for (const exchange of exchanges) {
      await check(exchange, `${where} ${exchange.method} ${exchange.path}`);
      sent++;
    }
  }
  assert.ok(sent >= 8, `only ${sent} exchanges were sent`);
  // An exemption whose block has gone is stale.
  for (const first of Object.keys(exempt)) assert.ok(blocks.some((b) => b.text.startsWith(first + '\n')), `exempt block ${first} is no longer in ${DOC}`);
});

test('the block reader refuses what it does not understand', () => {
  assert.throws(() => parseBlock('models/\n  textdir/\n'), /expected METHOD \/path/);
  assert.throws(() => parseBlock('GET /v2\n'), /expected a status line/);
  assert.throws(() => parseBlock('POST /v2/x\n{not json}\n\n200 {}\n'), /a JSON body/);
  assert.throws(() => parseBlock('GET /v2\n200 {}\n400 {}\n'), /a blank line after the reply/);
  assert.deepEqual(parseBlock('GET /v2\n200 {"a":\n  1}\n'), [{ method: 'GET', path: '/v2', request: { headers: {} }, status: 200, reply: { headers: {}, json: '{"a":\n  1}' } }]);
});
