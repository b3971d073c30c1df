import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InferenceService, ModelRegistry } from '../../src/index.js';
import { createHttpHandler } from '../../src/protocol/index.js';
import { ModelRepository } from '../../src/repository/index.js';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeVersion } from '../repository/fixtures.js';

/** A ModelRepository over `models` (name → config.json's extra fields, versions on disk), behind the HTTP handler, which is not given the repository. */
async function served(models: Record<string, { config: object; versions: readonly string[] }>) {
  const { root, remove } = await tempRoot();
  for (const [name, { config, versions }] of Object.entries(models)) {
    await writeConfig(root, name, jsonConfig(config));
    for (const version of versions) await writeVersion(root, name, version, { offset: Number(version) });
  }
  const { backends, memory } = jsonBackends();
  const registry = new ModelRegistry({ backends: [memory] });
  const repository = new ModelRepository({ root, registry, backends });
  await repository.start();
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  const config = async (path: string) => JSON.parse((await http.handle({ method: 'GET', path, headers: {} })).body as string) as Record<string, unknown>;
  return {
    config,
    close: async () => {
      await repository.close();
      await registry.close();
      await remove();
    },
  };
}

test("a repository model's version_policy is its config.json's, which the repository applies, not the registry's 'all' it loads with", async () => {
  const { config, close } = await served({
    plain: { config: {}, versions: ['1', '2'] },
    two: { config: { versionPolicy: { latest: 2 } }, versions: ['1', '2', '3'] },
    pinned: { config: { versionPolicy: { specific: ['1', '3'] } }, versions: ['1', '2', '3'] },
    every: { config: { versionPolicy: 'all' }, versions: ['1', '2'] },
  });
  try {
    assert.deepEqual((await config('/v2/models/plain/config')).version_policy, { latest: { num_versions: 1 } });
    assert.deepEqual((await config('/v2/models/two/config')).version_policy, { latest: { num_versions: 2 } });
    assert.deepEqual((await config('/v2/models/two/versions/2/config')).version_policy, { latest: { num_versions: 2 } });
    assert.deepEqual((await config('/v2/models/pinned/config')).version_policy, { specific: { versions: [1, 3] } });
    assert.deepEqual((await config('/v2/models/every/config')).version_policy, { all: {} });
  } finally {
    await close();
  }
});

test("a repository model's configuration is its config.json's: batching, pinned dims, and each output's class label file as Triton's label_filename", async () => {
  const { root, remove } = await tempRoot();
  await writeConfig(
    root,
    'labelled',
    jsonConfig({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
      batching: { maxBatchSize: 4, preferredBatchSizes: [2, 4], maxQueueDelayMs: 1.5, priorityLevels: 2, maxQueueSize: 16, queuePolicies: { 2: { timeoutAction: 'delay', defaultTimeoutMs: 20 } } },
      classLabels: { y: 'labels.txt' },
    }),
  );
  await writeFile(path.join(root, 'labelled', 'labels.txt'), 'cat\ndog\n');
  await writeVersion(root, 'labelled', '1', { offset: 1 });
  const { backends, memory } = jsonBackends();
  const registry = new ModelRegistry({ backends: [memory] });
  const repository = new ModelRepository({ root, registry, backends });
  await repository.start();
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  try {
    const reply = await http.handle({ method: 'GET', path: '/v2/models/labelled/config', headers: {} });
    assert.deepEqual(JSON.parse(reply.body as string), {
      name: 'labelled',
      platform: '',
      backend: 'json',
      version_policy: { latest: { num_versions: 1 } },
      max_batch_size: 4,
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }],
      output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [2], label_filename: 'labels.txt' }],
      dynamic_batching: {
        preferred_batch_size: [2, 4],
        max_queue_delay_microseconds: 1500,
        preserve_ordering: false,
        priority_levels: 2,
        default_priority_level: 2,
        default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: true, max_queue_size: 16 },
        priority_queue_policy: { 2: { timeout_action: 'DELAY', default_timeout_microseconds: 20_000, allow_timeout_override: true, max_queue_size: 16 } },
      },
      instance_group: [{ name: 'labelled_0', kind: 'KIND_CPU', count: 1 }],
    });
  } finally {
    await repository.close();
    await registry.close();
    await remove();
  }
});
