import { test } from 'node:test';
import assert from 'node:assert/strict';
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
