// The installed package from ESM: every subpath export loads, and the cls model (CLS_MODEL) served
// by servable/node in worker threads answers an OIP JSON request as service.infer does in process.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { createRequire } from 'node:module';

const pkg = createRequire(import.meta.url)('servable/package.json');
const subpaths = Object.keys(pkg.exports).filter((p) => p !== './package.json');
const loaded = {};
for (const subpath of subpaths) {
  const name = 'servable' + subpath.slice(1);
  loaded[name] = await import(name);
  assert.ok(Object.keys(loaded[name]).length > 0, `${name} exports nothing`);
}
console.log(`imported ${subpaths.length} subpaths: ${Object.keys(loaded).join(', ')}`);

const { InferenceService, ModelRegistry } = loaded.servable;
const { onnxNode } = loaded['servable/onnx-node'];
const { servableNode } = loaded['servable/node'];
const { metricsHandler, ServingMetrics } = loaded['servable/metrics'];
const { servableFastify } = loaded['servable/fastify'];
const { SERVABLE_VERSION } = loaded['servable/protocol'];
const { Registry } = await import('prom-client');
const { default: Fastify } = await import('fastify');
assert.equal(SERVABLE_VERSION, pkg.version);
for (const [name, exported] of [
  ['servable/testing', 'FakeClock'],
  ['servable/repository', 'ModelRepository'],
  ['servable/redis', 'RedisStore'],
  ['servable/onnx-web', 'onnxWeb'],
  ['servable/express', 'servableExpress'],
  ['servable/nest', 'ServableModule'],
]) {
  assert.equal(typeof loaded[name][exported], 'function', `${name} exports ${exported}`);
}

const OUTPUT = 'softmax_0.tmp_0';
const shape = [1, 3, 48, 192];
const x = Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => ((i * 7919) % 256) / 255);

const registry = new ModelRegistry({ backends: [onnxNode({ instances: 2, intraOpNumThreads: 1 })] });
const service = new InferenceService({ registry });
const promRegistry = new Registry();
new ServingMetrics({ promRegistry, service });
await registry.load({ name: 'cls', source: process.env.CLS_MODEL, inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }] });

const direct = (await service.infer('cls', { inputs: { x: { datatype: 'FP32', shape, data: x.slice() } } })).outputs[OUTPUT];
assert.deepEqual(direct.shape, [1, 2]);

const server = http.createServer(servableNode({ service, metrics: metricsHandler(promRegistry) }));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${server.address().port}`;
// The body (~500 KB) is over jsonWorkerMinBytes, so it is decoded on a JSON worker.
const reply = await fetch(`${url}/v2/models/cls/infer`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape, data: Array.from(x) }] }),
});
assert.equal(reply.status, 200, await reply.clone().text());
const output = (await reply.json()).outputs[0];
assert.deepEqual([output.name, output.shape], [OUTPUT, [1, 2]]);
assert.ok(Math.abs(output.data[0] + output.data[1] - 1) < 1e-5, `probabilities ${output.data} sum to 1`);
for (let i = 0; i < 2; i++) assert.ok(Math.abs(output.data[i] - direct.data[i]) <= 1e-6, `HTTP ${output.data}, in process ${direct.data}`);
const metrics = await (await fetch(`${url}/metrics`)).text();
assert.match(metrics, /^servable_requests_total\{[^}]*outcome="success"[^}]*\} 2$/m);
console.log(`served over HTTP: ${output.data.join(', ')}`);

const app = Fastify();
await app.register(servableFastify, { service });
const ready = await app.inject({ method: 'GET', url: '/v2/models/cls/ready' });
assert.equal(ready.statusCode, 200, ready.body);

await app.close();
await new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
await registry.close();
