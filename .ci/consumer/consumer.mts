// A TypeScript consumer of the installed package: type-checked (strict, nodenext), never run.
import { createServer } from 'node:http';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { InferenceService, ModelRegistry, ServableError, type InferenceRequest, type InferenceResponse, type Tensor, type TensorSpec } from 'servable';
import { servableFastify } from 'servable/fastify';
import { metricsHandler, ServingMetrics } from 'servable/metrics';
import { servableNode, type ServableNodeOptions } from 'servable/node';
import { onnxNode, type OnnxNodeOptions } from 'servable/onnx-node';
import { createHttpHandler, type HttpResponse } from 'servable/protocol';
import { ModelRepository, type RepositoryOptions } from 'servable/repository';
import { FakeClock } from 'servable/testing';

const backend: OnnxNodeOptions = { instances: 2, intraOpNumThreads: 1 };
const registry = new ModelRegistry({ backends: [onnxNode(backend)], clock: new FakeClock() });
const service = new InferenceService({ registry });
const inputs: readonly TensorSpec[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }];
await registry.load({ name: 'cls', source: 'cls.onnx', inputs });

const request: InferenceRequest = { inputs: { x: { datatype: 'FP32', shape: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) } } };
const response: InferenceResponse = await service.infer('cls', request, { timeoutMs: 100 });
const scores: Tensor | undefined = response.outputs['softmax_0.tmp_0'];
// @ts-expect-error a tensor's shape is numbers: the types are real, not any
const wrong: Tensor = { datatype: 'FP32', shape: ['1'], data: new Float32Array(1) };

const promRegistry = new Registry();
new ServingMetrics({ promRegistry, service });
const options: ServableNodeOptions = { service, metrics: metricsHandler(promRegistry), prefix: '/api' };
createServer(servableNode(options)).listen(0);
await Fastify().register(servableFastify, { service });

const handler = createHttpHandler({ service });
const reply: HttpResponse = await handler.handle({ method: 'GET', path: '/v2/health/ready', headers: {}, body: undefined });
const repository: RepositoryOptions = { root: 'models', registry, mode: 'poll', pollIntervalMs: 1000 };
await new ModelRepository(repository).start();

try {
  await service.infer('missing', request);
} catch (error) {
  if (error instanceof ServableError) console.log(error.code, error.status);
}
export { reply, scores, wrong };
