import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry, type ModelConfig, type RegistryOptions } from 'servable';
import { memoryBackend } from 'servable/testing';
import { nullsTaken } from '../fixtures/null-options.js';
import { doubler } from './helpers.js';

const REGISTRY = ['backends', 'clock', 'maxLoadedVersions', 'maxLoadedBytes', 'loadTimeoutMs', 'closeTimeoutMs'];
const CONFIG = ['name', 'version', 'source', 'backend', 'handler', 'inputs', 'batching', 'warmup', 'warmupBatchSizes', 'versionPolicy', 'declared', 'labels', 'classLabels', 'sizeBytes'];

test('ModelRegistry refuses null for every option, naming it and quoting null, where before the limits and timeouts read with ?? took it as their default', async () => {
  const taken = await nullsTaken(REGISTRY, (key) => new ModelRegistry({ backends: [memoryBackend()], [key]: null } as unknown as RegistryOptions));
  assert.deepEqual(taken, []);
});

test('registry.load refuses null for every model config field (and its declared and load options), naming it and quoting null', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  try {
    const load = (config: Record<string, unknown>, options?: unknown) =>
      registry.load({ name: 'm', source: doubler(0), warmup: [], ...config } as unknown as ModelConfig<unknown, unknown>, options as never);
    assert.deepEqual(await nullsTaken(CONFIG, (key) => load({ [key]: null })), [], 'config');
    assert.deepEqual(await nullsTaken(['versionPolicy', 'labelFiles'], (key) => load({ declared: { [key]: null } }), 'declared.'), [], 'declared');
    assert.deepEqual(await nullsTaken(['signal'], (key) => load({}, { [key]: null })), [], 'load options');
  } finally {
    await registry.close();
  }
});
