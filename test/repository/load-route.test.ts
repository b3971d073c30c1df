import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
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
    const body = JSON.parse(reply.body as string) as { error?: string; code?: string };
    return [reply.status, body.error === undefined ? body : { ...body, error: body.error.replaceAll(root, '<root>') }];
  };
  return { root, registry, repository, load };
}

test("a load whose config.json holds a bad option, or whose handler refuses its options, answers 400 with the option error's code and message, where it answered ERR_SERVABLE_LOAD_FAILED; a load that fails otherwise answers as before (LOAD_FAILED, or a backend's code)", async (t) => {
  const { root, registry, load } = await loadRoute(t);
  await writeConfig(root, 'field', jsonConfig({ batching: { maxBatchSize: 0 } }));
  await writeVersion(root, 'field', '1', { offset: 1 });
  const truncated = '{"backend": "json",';
  await writeConfig(root, 'syntax', truncated);
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
      [400, { error: `Model 'syntax' failed to load: <root>/syntax/config.json: not valid JSON: ${parseError(truncated)}`, code: 'ERR_SERVABLE_INVALID_OPTION' }],
      [400, { error: "Model 'handler' failed to load: Expected `threshold` to be a number between 0 and 1, got 2 (number)", code: 'ERR_SERVABLE_INVALID_OPTION' }],
      [400, { error: `Model 'corrupt' failed to load: Unexpected token 'o', "not json" is not valid JSON`, code: 'ERR_SERVABLE_LOAD_FAILED' }],
      [400, { error: "Model 'warmup' failed to load: the weights are corrupt", code: 'ERR_SERVABLE_BACKEND' }],
    ],
  );
  assert.deepEqual(['field', 'syntax', 'handler', 'corrupt', 'warmup'].filter((name) => registry.isReady(name)), [], 'nothing loaded');
});

test("a load of a model larger on its own than the registry's maxLoadedBytes answers 507 ERR_SERVABLE_MODEL_TOO_LARGE with its size, the limit and by how much, where it answered a LOAD_FAILED 400 from a RangeError with no code; the repository's failure event and index say the same", async (t) => {
  const { root, registry, load, repository } = await loadRoute(t, { maxLoadedBytes: 1000 });
  const failures: string[] = [];
  repository.on('failure', ({ name, version, error }) => failures.push(`${name}:${version} ${(error as { code?: string }).code} ${error.message}`));
  await writeConfig(root, 'huge', jsonConfig({ sizeBytes: 1500 }));
  await writeVersion(root, 'huge', '1', { offset: 1 });
  await writeConfig(root, 'fits', jsonConfig({ sizeBytes: 1000 }));
  await writeVersion(root, 'fits', '1', { offset: 1 });
  const message = "Model 'huge' version '1' is estimated at 1500 bytes, more than `maxLoadedBytes` (1000) by 500 bytes: no room can be made for it, however many versions are unloaded";
  assert.deepEqual(await load('huge'), [507, { error: message, code: 'ERR_SERVABLE_MODEL_TOO_LARGE' }]);
  assert.deepEqual(await load('fits'), [200, {}]);
  assert.deepEqual([registry.isReady('huge'), registry.isReady('fits')], [false, true]);
  assert.deepEqual(failures, [`huge:1 ERR_SERVABLE_MODEL_TOO_LARGE ${message}`]);
  const index = await repository.index();
  assert.deepEqual(index.find((e) => e.name === 'huge'), { name: 'huge', version: '1', state: 'UNAVAILABLE', reason: message });
});

/** JSON.parse's own message for `text`, which V8 words differently across Node versions (Node 22 adds the line and column). */
function parseError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${text} parsed`);
}

test("a load whose class label file the server cannot read (a directory in its place, a link to itself) answers 400 ERR_SERVABLE_LOAD_FAILED, where it answered ERR_SERVABLE_INVALID_OPTION though the config is right; a label file config.json names that is not there stays an option mistake", async (t) => {
  const { root, registry, load } = await loadRoute(t);
  for (const name of ['unreadable', 'loop', 'missing']) {
    await writeConfig(root, name, jsonConfig({ classLabels: { y: 'labels.txt' } }));
    await writeVersion(root, name, '1', { offset: 1 });
  }
  await mkdir(path.join(root, 'unreadable', 'labels.txt'));
  // Permissions would do too, but not for root, who reads any file: a link to itself fails its stat with ELOOP.
  await symlink('labels.txt', path.join(root, 'loop', 'labels.txt'));
  assert.deepEqual(
    [await load('unreadable'), await load('loop'), await load('missing')],
    [
      [400, { error: "Model 'unreadable' failed to load: <root>/unreadable/config.json: Cannot read `classLabels.y` \"labels.txt\" (string): it is a directory, not a file", code: 'ERR_SERVABLE_LOAD_FAILED' }],
      [400, { error: `Model 'loop' failed to load: <root>/loop/config.json: Cannot read \`classLabels.y\` "labels.txt" (string): ELOOP: too many symbolic links encountered, stat '<root>/loop/labels.txt'`, code: 'ERR_SERVABLE_LOAD_FAILED' }],
      [400, { error: `Model 'missing' failed to load: <root>/missing/config.json: Cannot read \`classLabels.y\` "labels.txt" (string): ENOENT: no such file or directory, stat '<root>/missing/labels.txt'`, code: 'ERR_SERVABLE_INVALID_OPTION' }],
    ],
  );
  assert.deepEqual(['unreadable', 'loop', 'missing'].filter((name) => registry.isReady(name)), [], 'nothing loaded');
});

test("a load whose config.json gives its backend an option the backend factory refuses with a plain TypeError or RangeError answers 400 ERR_SERVABLE_INVALID_OPTION naming the file and `backend.<option>`, where it answered ERR_SERVABLE_LOAD_FAILED; a code the factory gave is kept", async (t) => {
  const { root, registry, load } = await loadRoute(t);
  await writeConfig(root, 'typo', jsonConfig({ backend: { name: 'json', scael: 2 } }));
  await writeVersion(root, 'typo', '1', { offset: 1 });
  // The json test backend checks `scale` as a number in range with a plain RangeError, and refuses a scale of 13 with a code of its own.
  await writeConfig(root, 'range', jsonConfig({ backend: { name: 'json', scale: -1 } }));
  await writeVersion(root, 'range', '1', { offset: 1 });
  await writeConfig(root, 'coded', jsonConfig({ backend: { name: 'json', scale: 13 } }));
  await writeVersion(root, 'coded', '1', { offset: 1 });
  assert.deepEqual(
    [await load('typo'), await load('range'), await load('coded')],
    [
      [400, { error: "Model 'typo' failed to load: <root>/typo/config.json: Unknown option `backend.scael`; json takes scale", code: 'ERR_SERVABLE_INVALID_OPTION' }],
      [400, { error: "Model 'range' failed to load: <root>/range/config.json: Expected `backend.scale` to be a positive number, got -1", code: 'ERR_SERVABLE_INVALID_OPTION' }],
      [400, { error: "Model 'coded' failed to load: <root>/coded/config.json: Expected `backend.scale` not to be 13, got 13", code: 'ERR_SERVABLE_LOAD_FAILED' }],
    ],
  );
  assert.deepEqual(['typo', 'range', 'coded'].filter((name) => registry.isReady(name)), [], 'nothing loaded');
});
