import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { InferenceService, ModelRegistry } from 'servable';
import { servableExpress } from 'servable/express';
import { servableFastify, type ServableFastifyOptions } from 'servable/fastify';
import { ServableModule } from 'servable/nest';
import { servableNode, type ServableNodeOptions } from 'servable/node';
import { memoryBackend } from 'servable/testing';
import { HTTP_HANDLER_OPTIONS } from '../../src/protocol/index.js';
import { nullsTaken } from '../fixtures/null-options.js';

const ADAPTER_OPTIONS = [...HTTP_HANDLER_OPTIONS.filter((key) => key !== 'jsonDecoder'), 'metrics', 'jsonWorkers', 'jsonWorkerMinBytes', 'jsonWorkerHeapMb'];

test('every adapter refuses null for every option, naming the option and quoting null, where before the handler options read with ?? took it as their default', async () => {
  const service = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  const nulled = (key: string): Record<string, unknown> => ({ service, [key]: null });
  assert.deepEqual(await nullsTaken([...ADAPTER_OPTIONS, 'prefix'], (key) => servableNode(nulled(key) as unknown as ServableNodeOptions)), [], 'servableNode');
  assert.deepEqual(await nullsTaken(ADAPTER_OPTIONS, (key) => servableExpress(nulled(key) as never)), [], 'servableExpress');
  assert.deepEqual(
    await nullsTaken([...ADAPTER_OPTIONS, 'prefix', 'expectContinue'], async (key) => {
      const app = Fastify();
      try {
        await app.register(servableFastify, nulled(key) as unknown as ServableFastifyOptions);
      } finally {
        await app.close();
      }
    }),
    [],
    'servableFastify',
  );
  // The module's own options are checked when it is declared; the handler's when Nest builds it.
  assert.deepEqual(await nullsTaken(['controller', 'path', 'global', 'decorators'], (key) => ServableModule.forRoot(nulled(key) as never)), [], 'forRoot');
  assert.deepEqual(
    await nullsTaken(['inject', 'imports', 'metrics', 'controller', 'path', 'global', 'decorators'], (key) => ServableModule.forRootAsync({ useFactory: () => ({ service }), [key]: null } as never)),
    [],
    'forRootAsync',
  );
  assert.deepEqual(
    await nullsTaken(['controller', 'health', 'inference'], (key) => ServableModule.forRoot({ service, decorators: { [key]: null } } as never), 'decorators.'),
    [],
    'decorators',
  );
});
