import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BackendError,
  BackendUnavailableError,
  ClosedError,
  InferenceService,
  ModelNotFoundError,
  ModelRegistry,
  ModelTooLargeError,
  memoryBackend,
  optionError,
  type MemoryModel,
  type RepositoryControl,
  type RepositoryIndexEntry,
  type Tensor,
} from '../../src/index.js';
import { createHttpHandler, type HttpResponse } from '../../src/protocol/index.js';

const identity: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
  outputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
  run: ({ x }) => ({ x: x as Tensor }),
};

/** A repository of memory models: `good` loads, `broken` fails to. */
function memoryRepository(registry: ModelRegistry): RepositoryControl {
  return {
    async index(): Promise<RepositoryIndexEntry[]> {
      return ['broken', 'good'].map((name) =>
        registry.isReady(name) ? { name, version: '1', state: 'READY' } : { name, state: 'UNAVAILABLE', reason: 'not loaded' },
      );
    },
    async load(name) {
      // As parseConfig throws it: an option error, whose code the route passes on (it is no ServableError).
      if (name !== 'good') throw Object.assign(new TypeError(`cannot parse /models/${name}/config.json`), { code: 'ERR_SERVABLE_INVALID_OPTION' });
      await registry.load({ name, source: identity, warmup: [] });
    },
    async unload(name) {
      if (!registry.isReady(name)) throw new ModelNotFoundError(`Model '${name}' is not loaded from the repository`);
      await registry.unload(name);
    },
  };
}

function json(reply: HttpResponse): unknown {
  return JSON.parse(reply.body as string);
}

test('repository routes: index (all or ready only), load, unload, failures; extension reported', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const http = createHttpHandler({
    service: new InferenceService({ registry }),
    repository: memoryRepository(registry),
    authorizeRepository: (request) => request.headers['authorization'] === 'Bearer operator',
  });
  const post = (path: string, body?: string) => http.handle({ method: 'POST', path, headers: { authorization: 'Bearer operator' }, body });

  // Without the operator's credentials every repository route is refused, and nothing loads.
  for (const path of ['/v2/repository/index', '/v2/repository/models/good/load', '/v2/repository/models/good/unload']) {
    const denied = await http.handle({ method: 'POST', path, headers: { authorization: 'Bearer guest' } });
    assert.deepEqual([denied.status, json(denied)], [403, { error: 'Not authorized to use the model repository', code: 'ERR_SERVABLE_NOT_AUTHORIZED' }]);
  }
  assert.equal(registry.isReady('good'), false);

  assert.deepEqual((json(await http.handle({ method: 'GET', path: '/v2', headers: {} })) as { extensions: string[] }).extensions, [
    'binary_tensor_data',
    'classification',
    'model_repository',
    'schedule_policy',
  ]);
  assert.deepEqual(json(await post('/v2/repository/index')), [
    { name: 'broken', state: 'UNAVAILABLE', reason: 'not loaded' },
    { name: 'good', state: 'UNAVAILABLE', reason: 'not loaded' },
  ]);
  const load = await post('/v2/repository/models/good/load', '{}');
  assert.deepEqual([load.status, json(load)], [200, {}]);
  assert.deepEqual(json(await post('/v2/repository/index', '{"ready": true}')), [{ name: 'good', version: '1', state: 'READY' }]);
  assert.equal((await http.handle({ method: 'GET', path: '/v2/models/good/ready', headers: {} })).status, 200);

  const broken = await post('/v2/repository/models/broken/load');
  assert.deepEqual([broken.status, json(broken)], [400, { error: "Model 'broken' failed to load: cannot parse /models/broken/config.json", code: 'ERR_SERVABLE_INVALID_OPTION' }]);
  assert.equal((await post('/v2/repository/models/good/unload')).status, 200);
  assert.equal((await http.handle({ method: 'GET', path: '/v2/models/good/ready', headers: {} })).status, 404);
  const again = await post('/v2/repository/models/good/unload');
  assert.deepEqual([again.status, (json(again) as { code: string }).code], [404, 'ERR_SERVABLE_MODEL_NOT_FOUND']);
  assert.equal((await http.handle({ method: 'GET', path: '/v2/repository/index', headers: {} })).status, 405);
  await registry.close();
});

test("a load or unload that fails is a 400 saying why with the error's own code (a backend's too, a 500 elsewhere; an option mistake's INVALID_OPTION), or LOAD_FAILED / UNLOAD_FAILED for an error without one; other servable errors keep their status", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const failures: Record<string, Error> = {
    device: new BackendUnavailableError("Cannot load model 'm'", [{ device: 'cuda', reason: 'no CUDA device' }]),
    warmup: new BackendError('warmup failed'),
    disk: Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }),
    option: optionError('Expected `threshold` to be a number between 0 and 1, got 2 (number)', RangeError),
    // The option code on an error that is no TypeError or RangeError is not an option mistake's.
    coded: Object.assign(new Error('cannot read /models/coded/1/model.onnx'), { code: 'ERR_SERVABLE_INVALID_OPTION' }),
    closed: new ClosedError('The repository is closed'),
    huge: new ModelTooLargeError("Model 'huge' version '1' is estimated at 1500 bytes, more than `maxLoadedBytes` (1000) by 500 bytes", 1500, 1000),
  };
  const fail = async (name: string) => Promise.reject(failures[name]);
  const repository: RepositoryControl = { index: async () => [], load: fail, unload: fail };
  const http = createHttpHandler({ service: new InferenceService({ registry }), repository, authorizeRepository: () => true });
  const replies: unknown[] = [];
  for (const what of ['load', 'unload']) {
    for (const name of Object.keys(failures)) {
      const reply = await http.handle({ method: 'POST', path: `/v2/repository/models/${name}/${what}`, headers: {} });
      // A 507 has no Retry-After: no retry helps until the bound or the model changes.
      replies.push([what, name, reply.status, json(reply), ...(reply.status === 507 ? [reply.headers['retry-after'] ?? null] : [])]);
    }
  }
  assert.deepEqual(replies, [
    ['load', 'device', 400, { error: "Model 'device' failed to load: Cannot load model 'm': [cuda] no CUDA device", code: 'ERR_SERVABLE_BACKEND_UNAVAILABLE' }],
    ['load', 'warmup', 400, { error: "Model 'warmup' failed to load: warmup failed", code: 'ERR_SERVABLE_BACKEND' }],
    ['load', 'disk', 400, { error: "Model 'disk' failed to load: EACCES: permission denied", code: 'ERR_SERVABLE_LOAD_FAILED' }],
    ['load', 'option', 400, { error: "Model 'option' failed to load: Expected `threshold` to be a number between 0 and 1, got 2 (number)", code: 'ERR_SERVABLE_INVALID_OPTION' }],
    ['load', 'coded', 400, { error: "Model 'coded' failed to load: cannot read /models/coded/1/model.onnx", code: 'ERR_SERVABLE_LOAD_FAILED' }],
    ['load', 'closed', 503, { error: 'The repository is closed', code: 'ERR_SERVABLE_CLOSED' }],
    ['load', 'huge', 507, { error: "Model 'huge' version '1' is estimated at 1500 bytes, more than `maxLoadedBytes` (1000) by 500 bytes", code: 'ERR_SERVABLE_MODEL_TOO_LARGE' }, null],
    ['unload', 'device', 400, { error: "Model 'device' failed to unload: Cannot load model 'm': [cuda] no CUDA device", code: 'ERR_SERVABLE_BACKEND_UNAVAILABLE' }],
    ['unload', 'warmup', 400, { error: "Model 'warmup' failed to unload: warmup failed", code: 'ERR_SERVABLE_BACKEND' }],
    ['unload', 'disk', 400, { error: "Model 'disk' failed to unload: EACCES: permission denied", code: 'ERR_SERVABLE_UNLOAD_FAILED' }],
    ['unload', 'option', 400, { error: "Model 'option' failed to unload: Expected `threshold` to be a number between 0 and 1, got 2 (number)", code: 'ERR_SERVABLE_INVALID_OPTION' }],
    ['unload', 'coded', 400, { error: "Model 'coded' failed to unload: cannot read /models/coded/1/model.onnx", code: 'ERR_SERVABLE_UNLOAD_FAILED' }],
    ['unload', 'closed', 503, { error: 'The repository is closed', code: 'ERR_SERVABLE_CLOSED' }],
    ['unload', 'huge', 507, { error: "Model 'huge' version '1' is estimated at 1500 bytes, more than `maxLoadedBytes` (1000) by 500 bytes", code: 'ERR_SERVABLE_MODEL_TOO_LARGE' }, null],
  ]);
  await registry.close();
});

test('only true authorizes the repository routes: a hook answering a truthy token, string or object by mistake refuses', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  for (const answer of ['yes', 1, { ok: false }, Promise.resolve('Bearer operator')]) {
    const http = createHttpHandler({ service: new InferenceService({ registry }), repository: memoryRepository(registry), authorizeRepository: () => answer as never });
    const denied = await http.handle({ method: 'POST', path: '/v2/repository/models/good/load', headers: {}, body: '{}' });
    assert.deepEqual([denied.status, json(denied)], [403, { error: 'Not authorized to use the model repository', code: 'ERR_SERVABLE_NOT_AUTHORIZED' }]);
  }
  assert.equal(registry.isReady('good'), false);
  await registry.close();
});

test('a repository hook that throws or rejects refuses with a 500, its error passed to onError', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  for (const hook of [() => { throw new Error('token store down'); }, () => Promise.reject(new Error('token store down'))]) {
    const errors: string[] = [];
    const http = createHttpHandler({ service: new InferenceService({ registry }), repository: memoryRepository(registry), authorizeRepository: hook, onError: (e) => errors.push((e as Error).message) });
    const refused = await http.handle({ method: 'POST', path: '/v2/repository/models/good/load', headers: {}, body: '{}' });
    assert.deepEqual([refused.status, json(refused), errors], [500, { error: 'Internal server error', code: 'ERR_SERVABLE_INTERNAL' }, ['token store down']]);
  }
  assert.equal(registry.isReady('good'), false);
  await registry.close();
});

test("a load asking for Triton's config or file overrides is refused, not loaded as if it had not asked", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const http = createHttpHandler({ service: new InferenceService({ registry }), repository: memoryRepository(registry), authorizeRepository: () => true });
  const load = (body: string) => http.handle({ method: 'POST', path: '/v2/repository/models/good/load', headers: {}, body });
  // tritonclient's load_model(name, config=..., files=...) bodies.
  const config = await load('{"parameters":{"config":"{\\"max_batch_size\\":8}"}}');
  assert.deepEqual([config.status, (json(config) as { error: string }).error], [
    400,
    "Model 'good': loading with `parameters.config` is not supported; the repository's own configuration and files are what loads",
  ]);
  const files = await load('{"parameters":{"config":"{}","file:1/model.onnx":"AAAA"}}');
  assert.equal(files.status, 400);
  assert.equal(registry.isReady('good'), false);
  const bad = await load('[1]');
  assert.deepEqual([bad.status, (json(bad) as { error: string }).error], [400, 'The request body must be a JSON object, got [1] (array)']);
  // Parameters that override nothing leave the load as it was.
  assert.equal((await load('{"parameters":{}}')).status, 200);
  await registry.close();
});

test('a repository body Triton would not parse is a 400 quoting it, and nothing is listed, loaded or unloaded for it', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const http = createHttpHandler({ service: new InferenceService({ registry }), repository: memoryRepository(registry), authorizeRepository: () => true });
  const post = (path: string, body: string) => http.handle({ method: 'POST', path, headers: {}, body });
  const refused = async (path: string, body: string, error: string) => {
    const reply = await post(path, body);
    assert.deepEqual([reply.status, (json(reply) as { error: string }).error], [400, error], `${path} ${body}`);
  };
  await refused('/v2/repository/index', '{"ready":"yes"}', 'Expected `ready` to be true or false, got "yes" (string)');
  await refused('/v2/repository/models/good/load', '{"parameters":5}', 'Expected `parameters` to be an object, got 5 (number)');
  assert.equal(registry.isReady('good'), false);
  assert.equal((await post('/v2/repository/models/good/load', '{}')).status, 200);
  await refused('/v2/repository/models/good/unload', 'garbage', `The request body is not valid JSON: Unexpected token 'g', "garbage" is not valid JSON`);
  await refused('/v2/repository/models/good/unload', '[]', 'The request body must be a JSON object, got [] (array)');
  await refused('/v2/repository/models/good/unload', '{"parameters":[]}', 'Expected `parameters` to be an object, got [] (array)');
  assert.equal(registry.isReady('good'), true);
  // tritonclient's unload_model(name, unload_dependents=True) body, and bodies left empty, still work.
  assert.equal((await post('/v2/repository/index', '{"ready":false}')).status, 200);
  assert.equal((await post('/v2/repository/models/good/unload', '{"parameters":{"unload_dependents":true}}')).status, 200);
  assert.equal(registry.isReady('good'), false);
  await registry.close();
});

test('without a repository the routes do not exist, and a bad one is refused at construction', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  const http = createHttpHandler({ service });
  assert.equal((await http.handle({ method: 'POST', path: '/v2/repository/index', headers: {} })).status, 404);
  assert.deepEqual((json(await http.handle({ method: 'GET', path: '/v2', headers: {} })) as { extensions: string[] }).extensions, ['binary_tensor_data', 'classification', 'schedule_policy']);
  assert.throws(() => createHttpHandler({ service, repository: {} as RepositoryControl }), /Expected `repository` to be a RepositoryControl \(\{index, load, unload\}\), got \{\}/);
  assert.throws(
    () => createHttpHandler({ service, repository: memoryRepository(registry) }),
    /Expected `authorizeRepository` to be a function deciding who may load and unload models, got undefined/,
  );
});
