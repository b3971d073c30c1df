import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry, memoryBackend } from '../../src/index.js';
import { createHttpHandler, type HttpHandler } from '../../src/protocol/index.js';
import { ModelRepository } from '../../src/repository/index.js';
import { random } from '../batching/helpers.js';
import { jsonBackends, tempRoot, writeModels, writeVersion } from '../repository/fixtures.js';
import { answer, BODY_LIMIT, bytesOf, checkReply, deep, describeCase, inflatedBody, mutate, parseReply, pick, SEED, type Case, type Mutation, type Rng } from './fuzz-harness.js';

// The repository routes fuzzed (see fuzz-harness.ts), over a ModelRepository of a temporary directory holding `good` (y = 2x + 1)
// and `other` (y = 2x + 5).
const ROOT_MODELS = ['good', 'other'] as const;
const OPERATOR = 'Bearer operator';

/** A valid repository request: an index, or a load or unload of a model in the root. */
function repositoryCase(rng: Rng): Case {
  const verb = pick(rng, ['index', 'load', 'unload'] as const);
  const path = verb === 'index' ? '/v2/repository/index' : `/v2/repository/models/${pick(rng, ROOT_MODELS)}/${verb}`;
  const bodies = {
    index: [undefined, '', '{}', '{"ready":true}', '{"ready":false}'],
    load: [undefined, '', '{}', '{"parameters":{}}'],
    unload: [undefined, '{}', '{"parameters":{"unload_dependents":true}}'],
  }[verb];
  return { kind: 'repository', model: 'repo', method: 'POST', path, headers: { authorization: OPERATOR }, body: pick(rng, bodies), mutations: [], sent: { x: [], ids: [], s: [] } };
}

const REPOSITORY_BODIES = [
  'null', '[]', '[{}]', '5', '"x"', 'true', '{"ready":"yes"}', '{"ready":1}', '{"ready":null}', '{"ready":[]}', '{"ready":{}}', '{"ready":"true"}',
  '{"parameters":null}', '{"parameters":"p"}', '{"parameters":[]}', '{"parameters":7}', '{"parameters":true}', '{"parameters":{"config":"{}"}}',
  '{"parameters":{"config":null}}', '{"parameters":{"file:1/model.json":"AAAA"}}', '{"parameters":{"file:":""}}', '{"parameters":{"Config":"{}"}}',
  '{"parameters":{"__proto__":{"config":"{}"}}}', '{"__proto__":{"parameters":5}}', '{"parameters":{"config":"{}"},"parameters":{}}',
  '{"parameters":{},"parameters":{"config":"{}"}}', `{"parameters":${deep(1000)}}`, deep(100_000), `{"parameters":{"a":"${'x'.repeat(200_000)}"}}`,
  `{"parameters":{"config":"${'x'.repeat(300_000)}"}}`, '{"parameters":{"unload_dependents":"yes"}}', '{"ready":true,"parameters":{"config":"{}"}}',
];
const REPOSITORY_NAMES = [
  '%67ood', '..', '%2e%2e', '.', '%2E', 'good%00', 'good%2F..', '%2F', '%2Fetc', 'Good', 'good%20', '%20good', '.good', '-good', 'good.', 'good~',
  'g'.repeat(200), 'g'.repeat(201), 'g'.repeat(5000), '%ZZ', '%E0%A4%A', '__proto__', 'constructor', '..%2F..%2Fetc', '%2e%2e%2fgood', '日本', '%F0%9F%98%80', 'good/..',
];
const REPOSITORY_MUTATIONS: Record<string, Mutation> = {
  body(rng, c) {
    c.body = pick(rng, REPOSITORY_BODIES);
    return `body ${c.body.slice(0, 60)}`;
  },
  name(rng, c) {
    const name = pick(rng, REPOSITORY_NAMES);
    c.path = `/v2/repository/models/${name}/${pick(rng, ['load', 'unload', 'LOAD', 'load/', 'load?x=1', 'index'])}`;
    return `path ${c.path.slice(0, 80)}`;
  },
  authorization(rng, c) {
    const v = pick(rng, [undefined, '', 'bearer operator', `${OPERATOR} `, [OPERATOR, OPERATOR], [OPERATOR]]);
    if (v === undefined) delete c.headers.authorization;
    else c.headers.authorization = v;
    return `authorization ${JSON.stringify(v)}`;
  },
};

/**
 * What a repository request asks, read apart from the handler: a route of the model repository
 * extension, authorized, with a body docs/http.md says is accepted; undefined for one that must not
 * list, load or unload anything.
 */
function repositoryIntent(c: Case): { verb: 'index' | 'load' | 'unload'; model: string; readyOnly: boolean } | undefined {
  if (c.method.toUpperCase() !== 'POST' || c.headers.authorization !== OPERATOR) return undefined;
  let s: string[];
  try {
    s = c.path.split('?')[0]!.replace(/(.)\/$/, '$1').split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
  if (s[0] !== '' || s[1] !== 'v2' || s[2] !== 'repository') return undefined;
  const verb = s.length === 4 && s[3] === 'index' ? 'index' : s.length === 6 && s[3] === 'models' && (s[5] === 'load' || s[5] === 'unload') ? s[5] : undefined;
  const bytes = bytesOf(c.body).length <= BODY_LIMIT ? inflatedBody(c) : undefined;
  if (verb === undefined || bytes === undefined || bytes.length > BODY_LIMIT) return undefined;
  const text = new TextDecoder().decode(bytes).replace(/^\ufeff/, '');
  let body: unknown = {};
  try {
    if (text.trim() !== '') body = parseReply(text);
  } catch {
    return undefined;
  }
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(body)) return undefined;
  const { ready, parameters } = body;
  if (parameters !== undefined && !isObject(parameters)) return undefined;
  if (verb === 'index' && ready !== undefined && typeof ready !== 'boolean') return undefined;
  if (verb === 'load' && Object.keys(parameters ?? {}).some((k) => k === 'config' || k.startsWith('file:'))) return undefined;
  return { verb, model: s[4] ?? '', readyOnly: ready === true };
}

const readyModels = (registry: ModelRegistry) => registry.names().filter((name) => registry.isReady(name)).sort();

/** The model's answer to x = [[1, 2]] over HTTP: [2 + offset, 4 + offset] for a model of the root. */
async function rootAnswer(http: HttpHandler, model: string): Promise<unknown> {
  const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] });
  const reply = await http.handle({ method: 'POST', path: `/v2/models/${model}/infer`, headers: {}, body });
  return [reply.status, (JSON.parse(reply.body as string) as { outputs?: { data: number[] }[] }).outputs?.[0]?.data];
}

test('mutated repository requests: a 2xx or a 4xx with a JSON error, and only what valid requests ask is listed, loaded or unloaded', async () => {
  const { root, remove } = await tempRoot();
  await writeModels(root, ROOT_MODELS);
  await writeVersion(root, 'other', '1', { offset: 5 });
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', backends: jsonBackends().backends });
  await repository.start();
  const http = createHttpHandler({ service: new InferenceService({ registry }), bodyLimit: BODY_LIMIT, repository, authorizeRepository: (r) => r.headers.authorization === OPERATOR });
  const rng = random(SEED + 3);
  const loaded = new Set<string>();
  const statuses = new Map<number, number>();
  const send = async (closed: boolean) => {
    const c = repositoryCase(rng);
    const valid = rng() < 0.25;
    if (!valid) {
      if (rng() < 0.6) {
        const name = pick(rng, Object.keys(REPOSITORY_MUTATIONS));
        c.mutations.push(REPOSITORY_MUTATIONS[name]!(rng, c)!);
      }
      if (rng() < 0.6 || c.mutations.length === 0) mutate(rng, c);
    }
    const reply = await answer(http, c);
    statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
    const intent = repositoryIntent(c);
    const where = describeCase(c);
    // A closed repository refuses to list, load or unload with ClosedError (docs/registry.md).
    if (closed && reply.status === 503) {
      assert.ok(intent !== undefined, `a 503 for ${where}`);
      assert.equal((JSON.parse(reply.body as string) as { code: string }).code, 'ERR_SERVABLE_CLOSED', where);
    } else {
      checkReply(c, reply, undefined);
    }
    if (reply.status === 200) {
      assert.ok(intent !== undefined, `a 200 for ${where}`);
      if (intent.verb === 'load') {
        assert.ok((ROOT_MODELS as readonly string[]).includes(intent.model), `loaded ${intent.model} for ${where}`);
        loaded.add(intent.model);
      } else if (intent.verb === 'unload') {
        assert.ok(loaded.delete(intent.model), `unloaded ${intent.model}, which was not loaded, for ${where}`);
      } else {
        const entries = JSON.parse(reply.body as string) as { name: string; state: string }[];
        const listed = entries.filter((e) => e.state === 'READY').map((e) => e.name);
        assert.deepEqual(listed, [...loaded].sort(), where);
        if (intent.readyOnly) assert.equal(listed.length, entries.length, where);
      }
    }
    if (valid && !closed) {
      const missing = c.path.endsWith('/unload') && reply.status === 404 && !loaded.has(intent!.model);
      assert.ok(reply.status === 200 || missing, `status ${reply.status} ${String(reply.body)} for valid ${where}`);
    }
    assert.deepEqual(readyModels(registry), [...loaded].sort(), `after ${where}`);
  };
  for (let i = 0; i < 600; i++) await send(false);
  assert.ok([200, 400, 403, 404, 405, 413, 415].every((s) => statuses.has(s)), JSON.stringify([...statuses]));
  if (!loaded.has('good')) {
    assert.equal((await http.handle({ method: 'POST', path: '/v2/repository/models/good/load', headers: { authorization: OPERATOR } })).status, 200);
    loaded.add('good');
  }
  assert.deepEqual(await rootAnswer(http, 'good'), [200, [3, 5]]);
  if (loaded.has('other')) assert.deepEqual(await rootAnswer(http, 'other'), [200, [7, 9]]);
  await repository.close();
  statuses.clear();
  for (const name of ROOT_MODELS) if (!registry.isReady(name)) loaded.delete(name);
  for (let i = 0; i < 150; i++) await send(true);
  assert.ok(statuses.has(503), JSON.stringify([...statuses]));
  await registry.close();
  await remove();
});
