import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry, memoryBackend } from '../../src/index.js';
import { createHttpHandler, HTTP_HANDLER_OPTIONS, type HttpHandlerOptions } from '../../src/protocol/index.js';
import { nullsTaken } from '../fixtures/null-options.js';

test('createHttpHandler refuses null for every option, naming the option and quoting null, where before some took it as their default', async () => {
  const service = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  const taken = await nullsTaken(HTTP_HANDLER_OPTIONS, (key) => createHttpHandler({ service, [key]: null } as unknown as HttpHandlerOptions));
  assert.deepEqual(taken, []);
});
