import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InferenceService, ModelRegistry, memoryBackend, type RegistryOptions } from 'servable';
import { createHttpHandler } from 'servable/protocol';
import { ModelRepository } from 'servable/repository';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeVersion } from './fixtures.js';
import { closeAtEnd } from './harness.js';

// The repository load route (POST /v2/repository/models/{m}/load) over a real ModelRepository: what each kind of failure answers (docs/http.md, docs/errors.md).

/** An explicit-mode repository over a temp root, with the HTTP handler serving its routes; `load(name)` answers [status, body]. */
async function loadRoute(t: TestContext, registryOptions: Omit<RegistryOptions, 'backends'> = {}) {
  const { root, remove } = await tempRoot();
  const registry = new ModelRegistry({ backends: [memoryBackend()], ...registryOptions });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', backends: jsonBackends().backends });
  closeAtEnd(t, repository, registry, remove);
  await repository.start();
  const http = createHttpHandler({ service: new InferenceService({ registry }), repository, authorizeRepository: () => true });
  const load = async (name: string) => {
    const reply = await http.handle({ method: 'POST', path: `/v2/repository/models/${name}/load`, headers: {} });
    const body = JSON.parse(reply.body as string) as { error: string; code: string };
    return [reply.status, { ...body, error: body.error.replaceAll(root, '<root>') }];
  };
  return { root, registry, load };
}

test("a load whose config.json holds a bad option, or whose handler refuses its options, answers 400 with the option error's code and message, where it answered ERR_SERVABLE_LOAD_FAILED; a load that fails otherwise answers as before (LOAD_FAILED, or a backend's code)", async (t) => {
  const { root, registry, load } = await loadRoute(t);
  await writeConfig(root, 'field', jsonConfig({ batching: { maxBatchSize: 0 } }));
  await writeVersion(root, 'field', '1', { offset: 1 });
  await writeConfig(root, 'syntax', '{"backend": "json",');
  await writeVersion(root, 'syntax', '1', { offset: 1 });
  // A handler module of the user's whose constructor checks its options as servable's own do (optionError from 'servable').
  await writeConfig(root, 'handler', jsonConfig({ handler: { module: 'handler.mjs', options: { threshold: 2 } } }));
  await writeFile(
    path.join(root, 'handler', 'handler.mjs'),
    `export default class {
      constructor(options) {
        throw Object.assign(new RangeError('Expected \`threshold\` to be a number between 0 and 1, got ' + options.threshold + ' (number)'), { code: 'ERR_SERVABLE_INVALID_OPTION' });
      }
      preprocess() {}
      postprocess() {}
    }\n`,
  );
  await writeVersion(root, 'handler', '1', { offset: 1 });
  // Real load failures: a model file the backend cannot read, a model that fails its warm-up.
  await writeConfig(root, 'corrupt', jsonConfig());
  await mkdir(path.join(root, 'corrupt', '1'), { recursive: true });
  await writeFile(path.join(root, 'corrupt', '1', 'model.json'), 'not json');
  await writeConfig(root, 'warmup', jsonConfig());
  await writeVersion(root, 'warmup', '1', { offset: 1, fail: true });

  assert.deepEqual(
    [await load('field'), await load('syntax'), await load('handler'), await load('corrupt'), await load('warmup')],
    [
      [400, { error: "Model 'field' failed to load: <root>/field/config.json: Expected `batching.maxBatchSize` to be an integer >= 1, got 0 (number)", code: 'ERR_SERVABLE_INVALID_OPTION' }],
      [400, { error: "Model 'syntax' failed to load: <root>/syntax/config.json: not valid JSON: Expected double-quoted property name in JSON at position 19", code: 'ERR_SERVABLE_INVALID_OPTION' }],
      [400, { error: "Model 'handler' failed to load: Expected `threshold` to be a number between 0 and 1, got 2 (number)", code: 'ERR_SERVABLE_INVALID_OPTION' }],
      [400, { error: `Model 'corrupt' failed to load: Unexpected token 'o', "not json" is not valid JSON`, code: 'ERR_SERVABLE_LOAD_FAILED' }],
      [400, { error: "Model 'warmup' failed to load: the weights are corrupt", code: 'ERR_SERVABLE_BACKEND' }],
    ],
  );
  assert.deepEqual(['field', 'syntax', 'handler', 'corrupt', 'warmup'].filter((name) => registry.isReady(name)), [], 'nothing loaded');
});
