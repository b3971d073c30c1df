// A TypeScript consumer of the installed package without its optional peers: type-checked (as ESM
// and, copied to bare.ts, as CommonJS), never run.
import { InferenceService, ModelRegistry, memoryBackend } from 'servable';
import { servableNode } from 'servable/node';
import { onnxNode } from 'servable/onnx-node';
import { createHttpHandler } from 'servable/protocol';
import { RedisStore } from 'servable/redis';
import { ModelRepository } from 'servable/repository';
import { FakeClock } from 'servable/testing';

const registry = new ModelRegistry({ backends: [memoryBackend(), onnxNode()], clock: new FakeClock() });
const service = new InferenceService({ registry });
export const parts = [new ModelRepository({ root: 'models', registry }), servableNode({ service }), createHttpHandler({ service }), RedisStore];
