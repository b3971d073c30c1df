/**
 * Every Open Inference Protocol v2 REST route, over real HTTP (servable/node and Fastify), checked
 * field by field against the specification (kserve/open-inference-protocol:
 * specification/protocol/open_inference_rest.yaml and inference_rest.md) by the small structural
 * checker below, written from the spec's schemas: required members present with their JSON types,
 * optional ones absent or of their type (never null: no schema is nullable), datatypes from the
 * spec's list, data row-major, `{"error": string}` on every failure. Members the spec does not
 * define are reported too, except the two servable documents (`code` on errors, `version` on a
 * versioned model-ready reply): OpenAPI generators that treat a schema without
 * additionalProperties as closed refuse any other. docs/http.md lists where servable answers
 * otherwise than the specification's text.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, LruStore, ModelRegistry, ResultCache, type MemoryModel, type Tensor } from 'servable';
import { memoryBackend } from 'servable/testing';
import { servers } from './client-servers.js';

/** The spec's Tensor Data Types table. */
const SPEC_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

/** Checks a value, returning what is wrong with it at `at` (nothing when it conforms). */
type Check = (value: unknown, at: string) => string[];

const string: Check = (v, at) => (typeof v === 'string' ? [] : [`${at}: expected a string, got ${JSON.stringify(v)}`]);
const boolean: Check = (v, at) => (typeof v === 'boolean' ? [] : [`${at}: expected a boolean, got ${JSON.stringify(v)}`]);
const integer = (min: number): Check => (v, at) => (Number.isSafeInteger(v) && (v as number) >= min ? [] : [`${at}: expected an integer >= ${min}, got ${JSON.stringify(v)}`]);
const datatype: Check = (v, at) => (SPEC_DATATYPES.includes(v as string) ? [] : [`${at}: ${JSON.stringify(v)} is not a datatype of the spec`]);
const arrayOf = (item: Check): Check => (v, at) => (Array.isArray(v) ? v.flatMap((x, i) => item(x, `${at}[${i}]`)) : [`${at}: expected an array, got ${JSON.stringify(v)}`]);

/** An object with `required` and `optional` members; any other member is reported unless in `extra`. */
function object(required: Record<string, Check>, optional: Record<string, Check> = {}, extra: Record<string, Check> = {}): Check {
  return (v, at) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${at}: expected an object, got ${JSON.stringify(v)}`];
    const o = v as Record<string, unknown>;
    const problems = Object.entries(required).flatMap(([k, check]) => (k in o ? check(o[k], `${at}.${k}`) : [`${at}.${k}: required, missing`]));
    for (const [k, value] of Object.entries(o)) {
      if (k in required) continue;
      const check = optional[k] ?? extra[k];
      if (!check) problems.push(`${at}.${k}: not a member the spec defines`);
      else problems.push(...check(value, `${at}.${k}`));
    }
    return problems;
  };
}

/** `$parameters`: name/value pairs whose values are strings, numbers or booleans. */
const parameters: Check = (v, at) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${at}: expected an object, got ${JSON.stringify(v)}`];
  return Object.entries(v).flatMap(([k, x]) => (['string', 'number', 'boolean'].includes(typeof x) ? [] : [`${at}.${k}: expected a string, number or boolean`]));
};
/** `tensor_data`: an array of numbers, strings, booleans or such arrays. */
const tensorData: Check = (v, at) =>
  Array.isArray(v) ? v.flatMap((x, i) => (['number', 'string', 'boolean'].includes(typeof x) ? [] : tensorData(x, `${at}[${i}]`))) : [`${at}: expected an array, got ${JSON.stringify(v)}`];

const metadataTensor = object({ name: string, datatype, shape: arrayOf(integer(-1)) });
const schemas = {
  live: object({ live: boolean }),
  serverReady: object({ ready: boolean }),
  serverMetadata: object({ name: string, version: string, extensions: arrayOf(string) }),
  modelMetadata: object({ name: string, platform: string }, { versions: arrayOf(string), inputs: arrayOf(metadataTensor), outputs: arrayOf(metadataTensor) }),
  modelReady: object({ name: string, ready: boolean }, {}, { version: string }),
  inferResponse: object(
    { model_name: string, outputs: arrayOf(object({ name: string, shape: arrayOf(integer(0)), datatype, data: tensorData }, { parameters })) },
    { model_version: string, id: string, parameters },
  ),
  error: object({ error: string }, {}, { code: string }),
};

function conforms(check: Check, body: unknown): void {
  assert.deepEqual(check(body, 'body'), []);
}

test('the checker reports what a spec client would trip on', () => {
  const output = { name: 'Y', datatype: 'FP32', shape: [1], data: [1] };
  assert.deepEqual(schemas.inferResponse({ model_name: 'm', outputs: [output] }, 'b'), []);
  assert.deepEqual(schemas.inferResponse({ model_name: 'm', id: null, outputs: [{ ...output, datatype: 'BF16', shape: [-1], extra: 1 }] }, 'b'), [
    'b.outputs[0].shape[0]: expected an integer >= 0, got -1',
    'b.outputs[0].datatype: "BF16" is not a datatype of the spec',
    'b.outputs[0].extra: not a member the spec defines',
    'b.id: expected a string, got null',
  ]);
  assert.deepEqual(schemas.modelMetadata({ name: 'm', versions: [1] }, 'b'), ['b.platform: required, missing', 'b.versions[0]: expected a string, got 1']);
  assert.deepEqual(schemas.error({ message: 'x' }, 'b'), ['b.error: required, missing', 'b.message: not a member the spec defines']);
});

/** X INT32 [n, 2] and S BYTES [n] in; SUM (INT64 [n]), POS (BOOL [n, 2]), ECHO (BYTES [n]) and HALF (FP32 [n, 2]) out. */
const multi: MemoryModel = {
  inputs: [{ name: 'X', datatype: 'INT32', shape: [-1, 2] }, { name: 'S', datatype: 'BYTES', shape: [-1] }],
  outputs: [
    { name: 'SUM', datatype: 'INT64', shape: [-1] },
    { name: 'POS', datatype: 'BOOL', shape: [-1, 2] },
    { name: 'ECHO', datatype: 'BYTES', shape: [-1] },
    { name: 'HALF', datatype: 'FP32', shape: [-1, 2] },
  ],
  run({ X, S }) {
    const x = X!.data as Int32Array;
    const n = X!.shape[0]!;
    const sum = BigInt64Array.from({ length: n }, (_, r) => BigInt(x[2 * r]! + x[2 * r + 1]!));
    return {
      SUM: { datatype: 'INT64', shape: [n], data: sum } as Tensor,
      POS: { datatype: 'BOOL', shape: [n, 2], data: Uint8Array.from(x, (v) => (v > 0 ? 1 : 0)) } as Tensor,
      ECHO: S!,
      HALF: { datatype: 'FP32', shape: [n, 2], data: Float32Array.from(x, (v) => v / 2) } as Tensor,
    };
  },
};

const INPUTS = [
  { name: 'X', datatype: 'INT32', shape: [2, 2], parameters: { content_type: 'np', scale: 1, raw: false }, data: [[1, -2], [3, 4]] },
  { name: 'S', datatype: 'BYTES', shape: [2], data: ['a', 'b'] },
];

for (const [adapter, start] of Object.entries(servers)) {
  describe(`OIP v2 REST conformance (${adapter})`, () => {
    let registry: ModelRegistry;
    let server: Awaited<ReturnType<typeof start>>;
    before(async () => {
      registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'multi', version: '3', source: multi, warmup: [] });
      await registry.load({ name: 'multi', version: '4', source: multi, warmup: [] });
      const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
      server = await start(new InferenceService({ registry, caches: { multi: { result } } }));
    });
    after(async () => {
      await server.close();
      await registry.close();
    });

    async function call(method: string, path: string, body?: unknown): Promise<{ status: number; type: string | null; body: unknown }> {
      const init: RequestInit = { method };
      if (body !== undefined) Object.assign(init, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      const r = await fetch(server.url + path, init);
      const text = await r.text();
      // Exactly: KServe's InferenceRESTClient reads an error's message only under this content type.
      assert.equal(r.headers.get('content-type'), 'application/json', `${method} ${path}`);
      return { status: r.status, type: r.headers.get('content-type'), body: method === 'HEAD' ? text : JSON.parse(text) };
    }

    test('health, server metadata and model routes answer the spec\'s objects, with or without a version and a trailing slash', async () => {
      const cases: [string, Check, number][] = [
        ['/v2/health/live', schemas.live, 200],
        ['/v2/health/ready', schemas.serverReady, 200],
        ['/v2', schemas.serverMetadata, 200],
        ['/v2/', schemas.serverMetadata, 200], // the OpenAPI document's path
        ['/v2/models/multi', schemas.modelMetadata, 200],
        ['/v2/models/multi/versions/3', schemas.modelMetadata, 200],
        ['/v2/models/multi/versions/3/', schemas.modelMetadata, 200],
        ['/v2/models/multi/ready', schemas.modelReady, 200],
        ['/v2/models/multi/versions/3/ready', schemas.modelReady, 200],
      ];
      for (const [path, check, status] of cases) {
        const reply = await call('GET', path);
        assert.equal(reply.status, status, path);
        conforms(check, reply.body);
        const head = await call('HEAD', path);
        assert.deepEqual([head.status, head.body], [status, ''], `HEAD ${path}`);
      }
      const meta = (await call('GET', '/v2/models/multi/versions/3')).body as Record<string, unknown>;
      assert.deepEqual(meta.versions, ['4', '3']);
      assert.deepEqual(meta.inputs, [{ name: 'X', datatype: 'INT32', shape: [-1, 2] }, { name: 'S', datatype: 'BYTES', shape: [-1] }]);
      assert.deepEqual((await call('GET', '/v2/models/multi/versions/3/ready')).body, { name: 'multi', version: '3', ready: true });
    });

    test('an inference answers the selected outputs, in order, with the id echoed and the data flat and row-major', async () => {
      const request = {
        id: 'r-1',
        parameters: { unknown_key: 'kept', n: 2, flag: true },
        inputs: INPUTS,
        outputs: [{ name: 'POS', parameters: { anything: 1 } }, { name: 'SUM' }],
      };
      for (const path of ['/v2/models/multi/infer', '/v2/models/multi/versions/3/infer', '/v2/models/multi/versions/3/infer/']) {
        const reply = await call('POST', path, request);
        assert.equal(reply.status, 200, path);
        conforms(schemas.inferResponse, reply.body);
        const body = reply.body as { model_name: string; model_version: string; id: string; outputs: unknown[] };
        assert.deepEqual([body.model_name, body.model_version, body.id], ['multi', path.includes('/versions/3') ? '3' : '4', 'r-1']);
        assert.deepEqual(body.outputs, [
          { name: 'POS', datatype: 'BOOL', shape: [2, 2], data: [true, false, true, true] },
          { name: 'SUM', datatype: 'INT64', shape: [2], data: [-1, 7] },
        ]);
      }
      // No id sent, none answered; no outputs named, all of the model's.
      const all = (await call('POST', '/v2/models/multi/infer', { inputs: INPUTS })).body as Record<string, unknown>;
      conforms(schemas.inferResponse, all);
      assert.equal('id' in all, false);
      assert.deepEqual((all.outputs as { name: string }[]).map((o) => o.name), ['SUM', 'POS', 'ECHO', 'HALF']);
      assert.deepEqual((all.outputs as { data: unknown }[]).map((o) => o.data), [[-1, 7], [true, false, true, true], ['a', 'b'], [0.5, -1, 1.5, 2]]);
    });

    test('outputs come back in the order asked for, when an answer to the same inputs asked in another order is cached', async () => {
      const ask = (names: string[]) => call('POST', '/v2/models/multi/versions/4/infer', { inputs: [{ ...INPUTS[0], data: [[5, 6], [7, 8]] }, INPUTS[1]], outputs: names.map((name) => ({ name })) });
      const names = async (names: string[]) => ((await ask(names)).body as { outputs: { name: string }[] }).outputs.map((o) => o.name);
      assert.deepEqual(await names(['HALF', 'SUM']), ['HALF', 'SUM']);
      assert.deepEqual(await names(['SUM', 'HALF']), ['SUM', 'HALF']);
    });

    test('failures answer the spec\'s error object, as JSON', async () => {
      const cases: [string, string, unknown, number][] = [
        ['GET', '/v2/models/nope', undefined, 404],
        ['GET', '/v2/models/multi/versions/9', undefined, 404],
        ['GET', '/v2/models/nope/ready', undefined, 404],
        ['GET', '/v2/models/multi/versions/9/ready', undefined, 404],
        ['POST', '/v2/models/nope/infer', { inputs: INPUTS }, 404],
        ['POST', '/v2/models/multi/versions/9/infer', { inputs: INPUTS }, 404],
        ['POST', '/v2/models/multi/infer', 'not json', 400],
        ['POST', '/v2/models/multi/infer', { inputs: INPUTS, outputs: [{ name: 'NOPE' }] }, 400],
        ['POST', '/v2/models/multi/infer', { inputs: INPUTS, id: 7 }, 400],
        ['GET', '/v2/models/multi/infer', undefined, 405],
        ['GET', '/v2/unknown', undefined, 404],
      ];
      for (const [method, path, body, status] of cases) {
        const reply = await call(method, path, body);
        assert.equal(reply.status, status, `${method} ${path}`);
        conforms(schemas.error, reply.body);
      }
    });
  });
}
