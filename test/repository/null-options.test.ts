import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry } from 'servable';
import { ModelRepository, parseConfig, type RepositoryOptions } from 'servable/repository';
import { memoryBackend } from 'servable/testing';
import { nullsTaken } from '../fixtures/null-options.js';

const OPTIONS = ['root', 'registry', 'mode', 'models', 'pollIntervalMs', 'loadConcurrency', 'backends', 'clock'];
const FIELDS = ['backend', 'modelFile', 'inputs', 'batching', 'versionPolicy', 'labels', 'classLabels', 'traffic', 'warmup', 'warmupBatchSizes', 'handler', 'sizeBytes'];

test('ModelRepository refuses null for every option, naming it and quoting null, where before mode, pollIntervalMs and loadConcurrency took it as their default', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const taken = await nullsTaken(OPTIONS, (key) => new ModelRepository({ root: '/models', registry, [key]: null } as unknown as RepositoryOptions));
  assert.deepEqual(taken, []);
});

test('a config.json field given as null (and a handler field) is refused naming it and quoting null, where before modelFile, versionPolicy, labels and backend took it as their default', async () => {
  const parse = (config: object) => parseConfig('/models/m/config.json', JSON.stringify(config));
  assert.deepEqual(await nullsTaken(FIELDS, (key) => parse({ [key]: null })), [], 'config.json');
  assert.deepEqual(await nullsTaken(['module', 'export', 'options'], (key) => parse({ handler: { module: './h.js', [key]: null } }), 'handler.'), [], 'handler');
});
