// A TypeScript consumer of the installed package, importing every subpath: type-checked (strict),
// never run. .ci/pack checks it as ESM (nodenext, bundler) and, copied to consumer.ts, as CommonJS
// (module commonjs, as `nest new` sets it, and node20), so it awaits nothing at its top level.
import { createServer } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { InferenceService, ModelRegistry, ServableError, type InferenceRequest, type InferenceResponse, type Tensor, type TensorSpec } from 'servable';
import { servableExpress, type ServableRouter } from 'servable/express';
import { servableFastify } from 'servable/fastify';
import { metricsHandler, ServingMetrics } from 'servable/metrics';
import { ServableModule } from 'servable/nest';
import { servableNode, type ServableNodeOptions } from 'servable/node';
import { onnxNode, type OnnxNodeOptions } from 'servable/onnx-node';
import { onnxWeb, type OnnxWebOptions } from 'servable/onnx-web';
import { createHttpHandler, type HttpResponse } from 'servable/protocol';
import { RedisStore } from 'servable/redis';
import { ModelRepository, type RepositoryOptions } from 'servable/repository';
import { FakeClock } from 'servable/testing';

const backend: OnnxNodeOptions = { instances: 2, intraOpNumThreads: 1 };
const web: OnnxWebOptions = { devices: ['wasm'] };
const registry = new ModelRegistry({ backends: [onnxNode(backend), onnxWeb(web)], clock: new FakeClock() });
const service = new InferenceService({ registry });
const inputs: readonly TensorSpec[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }];
const request: InferenceRequest = { inputs: { x: { datatype: 'FP32', shape: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) } } };
// @ts-expect-error a tensor's shape is numbers: the types are real, not any
const wrong: Tensor = { datatype: 'FP32', shape: ['1'], data: new Float32Array(1) };

export async function serve(): Promise<{ scores: Tensor | undefined; reply: HttpResponse }> {
  await registry.load({ name: 'cls', source: 'cls.onnx', inputs });
  const response: InferenceResponse = await service.infer('cls', request, { timeoutMs: 100 });
  const scores: Tensor | undefined = response.outputs['softmax_0.tmp_0'];

  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, service });
  const options: ServableNodeOptions = { service, metrics: metricsHandler(promRegistry), prefix: '/api' };
  createServer(servableNode(options)).listen(0);
  await Fastify().register(servableFastify, { service });
  const router: ServableRouter = servableExpress({ service });
  express().use('/api', router);

  const repository: RepositoryOptions = { root: 'models', registry, mode: 'poll', pollIntervalMs: 1000 };
  await new ModelRepository(repository).start();
  try {
    await service.infer('missing', request);
  } catch (error) {
    if (error instanceof ServableError) console.log(error.code, error.status);
  }
  const reply: HttpResponse = await createHttpHandler({ service }).handle({ method: 'GET', path: '/v2/health/ready', headers: {}, body: undefined });
  return { scores, reply };
}

export const nest = ServableModule.forRoot({ service });
export { RedisStore, wrong };
