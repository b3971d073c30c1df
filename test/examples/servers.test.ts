import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { start as startExpress } from '../../examples/express/server.js';
import { start as startFastify } from '../../examples/fastify/server.js';
import { start as startNest } from '../../examples/nest/server.js';
import { start as startNode } from '../../examples/node/server.js';
import type { Started, StartOptions } from '../../examples/shared/textdir.js';
import { clsModelPath, pseudoRandom } from '../fixtures/ocr-models.js';
import { sample } from '../metrics/exposition.js';

const IMAGE = 3 * 48 * 192;
const OUTPUT = 'softmax_0.tmp_0';
const x = pseudoRandom(2 * IMAGE, 7);
let expected: Float32Array;

before(async () => {
  const session = await ort.InferenceSession.create(clsModelPath);
  const result = await session.run({ x: new ort.Tensor('float32', x, [2, 3, 48, 192]) });
  expected = result[OUTPUT]!.data as Float32Array;
  await session.release();
});

function assertClose(actual: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1e-5, `${what}: element ${i} is ${actual[i]}, onnxruntime-node gives ${expected[i]}`);
  }
}

/** The same two lines as OIP JSON, and as binary tensor data with a binary output. */
async function inferBoth(url: string): Promise<void> {
  const json = await fetch(`${url}/v2/models/textdir/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'lines', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3, 48, 192], data: Array.from(x) }] }),
  });
  assert.equal(json.status, 200);
  const reply = (await json.json()) as { model_name: string; model_version: string; id: string; outputs: { name: string; shape: number[]; data: number[] }[] };
  assert.deepEqual([reply.model_name, reply.model_version, reply.id], ['textdir', '1', 'lines']);
  assert.deepEqual([reply.outputs[0]!.name, reply.outputs[0]!.shape], [OUTPUT, [2, 2]]);
  assertClose(reply.outputs[0]!.data, 'JSON');

  const header = new TextEncoder().encode(
    JSON.stringify({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3, 48, 192], parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    }),
  );
  const body = new Uint8Array(header.byteLength + x.byteLength);
  body.set(header);
  body.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), header.byteLength);
  const binary = await fetch(`${url}/v2/models/textdir/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) },
    body,
  });
  assert.equal(binary.status, 200);
  const bytes = new Uint8Array(await binary.arrayBuffer());
  const jsonLength = Number(binary.headers.get('inference-header-content-length'));
  assertClose(new Float32Array(bytes.slice(jsonLength).buffer), 'binary');
}

const examples: [string, (options?: StartOptions) => Promise<Started>][] = [
  ['fastify', startFastify],
  ['express', startExpress],
  ['nest', startNest],
  ['node', startNode],
];

for (const [name, start] of examples) {
  test(`examples/${name}: serves the classifier over HTTP, matching onnxruntime-node, with metrics`, async () => {
    const server = await start({ port: 0 });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(await (await fetch(`${server.url}/v2/health/ready`)).json(), { ready: true });
      await inferBoth(server.url);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.equal(sample(metrics, 'servable_requests_total', { model: 'textdir', version: '1', outcome: 'success' }), 2);
      if (name === 'express' || name === 'node') assert.deepEqual(await (await fetch(`${server.url}/hello`)).json(), { hello: 'from the app' });
      if (name === 'nest') {
        const models = (await (await fetch(`${server.url}/app/models`)).json()) as { name: string; version: string; device: string }[];
        assert.deepEqual(models, [{ name: 'textdir', version: '1', device: 'cpu' }]);
      }
    } finally {
      await server.close();
    }
  });
}
