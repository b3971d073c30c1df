import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, InvalidInputError, ModelRegistry, memoryBackend, type MemoryModel, type ServiceInferOptions, type ServiceOptions, type Tensor, type TensorMap } from '../../src/index.js';
import { createHttpHandler, decodePredictJson, type HttpResponse, type JsonDecoder } from '../../src/protocol/index.js';
import { BARE_NUMBERS } from '../../src/core/index.js';
import { parseNonFinite } from '../../src/protocol/json-non-finite.js';
import { flush } from '../registry/helpers.js';

/** Two inputs, three outputs: a (INT64 [n, 2]) passes through, s (BYTES [n]) is echoed as text and as s_bytes, n counts rows. */
function twoInputs(): MemoryModel {
  return {
    inputs: [
      { name: 'a', datatype: 'INT64', shape: [-1, 2] },
      { name: 's', datatype: 'BYTES', shape: [-1] },
    ],
    outputs: [
      { name: 'a', datatype: 'INT64', shape: [-1, 2] },
      { name: 's', datatype: 'BYTES', shape: [-1] },
      { name: 's_bytes', datatype: 'BYTES', shape: [-1] },
    ],
    run: ({ a, s }) => ({ a: a as Tensor, s: s as Tensor, s_bytes: s as Tensor }),
  };
}

/** One FP32 input echoed as its output. */
function echo(): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
    run: ({ x }) => ({ y: x as Tensor }),
  };
}

async function setup() {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'two', source: twoInputs(), warmup: [] });
  await registry.load({ name: 'echo', source: echo(), warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  const predict = (body: unknown, path = '/v1/models/two:predict') =>
    http.handle({ method: 'POST', path, headers: {}, body: JSON.stringify(body) });
  return { registry, http, predict };
}

function json(reply: HttpResponse): unknown {
  return JSON.parse(reply.body as string);
}

test('row format: one object per instance in, one object per instance out; b64 in, _bytes outputs as b64', async () => {
  const { registry, predict } = await setup();
  const reply = await predict({
    instances: [
      { a: [1, 2], s: 'héllo' },
      { a: [3, '9223372036854775807'], s: { b64: btoa('hi') } },
    ],
  });
  assert.equal(reply.status, 200, String(reply.body));
  // INT64 bare at any size, as TF-Serving writes it.
  assert.equal(
    reply.body,
    '{"predictions":[{"a":[1,2],"s":"héllo","s_bytes":{"b64":"aMOpbGxv"}},{"a":[3,9223372036854775807],"s":"hi","s_bytes":{"b64":"aGk="}}]}',
  );
  await registry.close();
});

test('columnar format: named inputs in, named outputs out, batch dimension included; an empty signature_name is the default', async () => {
  const { registry, predict } = await setup();
  for (const signature_name of ['serving_default', '']) {
    const reply = await predict({ signature_name, inputs: { a: [[5, 6]], s: ['x'] } });
    assert.deepEqual([reply.status, json(reply)], [200, { outputs: { a: [[5, 6]], s: ['x'], s_bytes: [{ b64: 'eA==' }] } }], signature_name);
  }
  await registry.close();
});

test('predict requests that do not fit get a 400 naming the input and the instance', async () => {
  const { registry, predict } = await setup();
  const cases: [unknown, RegExp][] = [
    [{ instances: [{ a: [1, 2], s: 'x' }], inputs: {} }, /exactly one of `instances` \(row format\) or `inputs` \(columnar format\)/],
    [{}, /exactly one of `instances`/],
    [{ instances: [] }, /Expected `instances` to be a non-empty array/],
    [{ instances: [[1, 2]] }, /The model takes 2 inputs \('a', 's'\): each instance must be an object naming them/],
    [{ instances: [{ a: [1, 2] }] }, /Input 's' is missing from instance 0/],
    [{ instances: [{ a: [1, 2], s: 'x', z: 1 }] }, /Unknown input 'z' in instance 0/],
    [{ instances: [{ a: [1, 2], s: 'x' }, { a: [1, 2, 3], s: 'y' }] }, /Input 'a': instance 1 has shape \[3\], instance 0 has \[2\]/],
    [{ inputs: { a: [[1, 2], [3]], s: ['x', 'y'] } }, /Input 'a': values are not rectangular/],
    [{ inputs: { a: [[1, 2]] } }, /Missing input 's'/],
    [{ inputs: { a: [[1.5, 2]], s: ['x'] } }, /Input 'a': expected an integer .* for INT64, got 1.5/],
    [{ inputs: { a: [[1, 2]], s: [{ b64: '@@' }] } }, /Input 's': element 0 is not valid base64/],
    [{ inputs: { a: [[1, 2]], s: [{ b64: btoa('\xff') }] } }, /Input 's': element 0 is not valid UTF-8 once base64-decoded/],
    [{ signature_name: 'classify', inputs: {} }, /Unknown signature_name "classify"/],
    [{ inputs: { a: [[1, 2]], s: ['x', 'y'] } }, /Input 's' has batch size 2, other inputs have 1/],
  ];
  for (const [body, message] of cases) {
    const reply = await predict(body);
    assert.equal(reply.status, 400, `${JSON.stringify(body)}: ${String(reply.body)}`);
    assert.match((json(reply) as { error: string }).error, message);
  }
  await registry.close();
});

test("a one-input model's instances that mix the named form with bare values get a 400 naming the instance that differs", async () => {
  const { registry, predict } = await setup();
  const cases: [unknown, string][] = [
    [{ instances: [{ x: [1] }, [1]] }, 'Instance 1 is a bare value, but instance 0 is an object naming the inputs: send every instance in one form'],
    [{ instances: [[1], [2], { x: [1] }] }, 'Instance 2 is an object naming the inputs, but instance 0 is a bare value: send every instance in one form'],
    [{ instances: [{ x: 1 }, 2] }, 'Instance 1 is a bare value, but instance 0 is an object naming the inputs: send every instance in one form'],
  ];
  for (const [body, message] of cases) {
    const reply = await predict(body, '/v1/models/echo:predict');
    assert.deepEqual([reply.status, (json(reply) as { error: string }).error], [400, message], JSON.stringify(body));
  }
  const named = await predict({ instances: [{ x: 1 }, { x: 2 }] }, '/v1/models/echo:predict');
  assert.deepEqual([named.status, json(named)], [200, { predictions: [1, 2] }]);
  await registry.close();
});

test('status, metadata and predict by version and by label; unknown names are 404', async () => {
  const { registry, http, predict } = await setup();
  await registry.load({ name: 'two', version: '2', source: twoInputs(), warmup: [] });
  registry.setLabel('two', 'stable', '1');
  const get = async (path: string) => {
    const reply = await http.handle({ method: 'GET', path, headers: {} });
    return [reply.status, json(reply)];
  };
  const status = (version: string) => ({ version, state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } });
  assert.deepEqual(await get('/v1/models/two'), [200, { model_version_status: [status('2'), status('1')] }]);
  assert.deepEqual(await get('/v1/models/two/versions/2'), [200, { model_version_status: [status('2')] }]);
  assert.deepEqual(await get('/v1/models/two/labels/stable'), [200, { model_version_status: [status('1')] }]);
  const [code, meta] = await get('/v1/models/two/labels/stable/metadata');
  assert.equal(code, 200);
  assert.deepEqual((meta as { model_spec: unknown }).model_spec, { name: 'two', signature_name: '', version: '1' });
  assert.deepEqual((meta as any).metadata.signature_def.signature_def.serving_default.inputs.a, {
    dtype: 'DT_INT64',
    tensor_shape: { dim: [{ size: '-1', name: '' }, { size: '2', name: '' }], unknown_rank: false },
    name: 'a',
  });
  const body = { inputs: { a: [[1, 2]], s: ['x'] } };
  assert.equal((await predict(body, '/v1/models/two/versions/2:predict')).status, 200);
  assert.equal((await predict(body, '/v1/models/two/labels/stable:predict')).status, 200);
  assert.equal((await predict(body, '/v1/models/nope:predict')).status, 404);
  assert.equal((await predict(body, '/v1/models/two/versions/7:predict')).status, 404);
  assert.equal((await get('/v1/models/two/versions/7'))[0], 404);
  assert.equal((await get('/v1/models/nope/metadata'))[0], 404);
  assert.equal((await predict(body, '/v1/models/two:classify')).status, 404);
  const wrongMethod = await http.handle({ method: 'GET', path: '/v1/models/two:predict', headers: {} });
  assert.deepEqual([wrongMethod.status, wrongMethod.headers.allow], [405, 'POST']);
  await registry.close();
});

test('a model known but not loaded is loaded by its first :predict', async () => {
  const { registry, predict } = await setup();
  registry.register({ name: 'lazy', source: twoInputs(), warmup: [] });
  assert.equal(registry.isReady('lazy'), false);
  const reply = await predict({ inputs: { a: [[1, 2]], s: ['x'] } }, '/v1/models/lazy:predict');
  assert.deepEqual([reply.status, json(reply)], [200, { outputs: { a: [[1, 2]], s: ['x'], s_bytes: [{ b64: 'eA==' }] } }]);
  assert.equal(registry.isReady('lazy'), true);
  await registry.close();
});

test('a loaded model\'s float tensors are read from the body\'s bytes; one not loaded is not loaded for a body whose data is not JSON', async (t) => {
  const { registry, http } = await setup();
  registry.register({ name: 'lazy', source: echo(), warmup: [] });
  const post = (path: string, body: string) => http.handle({ method: 'POST', path, headers: {}, body: new TextEncoder().encode(body) });
  const values = Array.from({ length: 300 }, (_, i) => i / 7);
  const parse = t.mock.method(JSON, 'parse');
  const reply = await post('/v1/models/echo:predict', JSON.stringify({ instances: values }));
  assert.equal(parse.mock.calls.some((call) => String(call.arguments[0]).includes(String(values[5]))), false, 'JSON.parse did not read the data');
  parse.mock.restore();
  // Written as TF-Serving writes floats: the shortest of 6 or 9 digits that reads back as the same float.
  const { predictions } = json(reply) as { predictions: number[] };
  assert.deepEqual([reply.status, Array.from(new Float32Array(predictions))], [200, Array.from(new Float32Array(values))]);
  const malformed = await post('/v1/models/lazy:predict', `{"instances": [${values.join(',')}, oops]}`);
  assert.deepEqual([malformed.status, registry.isReady('lazy')], [400, false]);
  await registry.close();
});

test('a version or label the model does not have is a 404 before a body that does not decode, whether the body is decoded in place or handed over', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: echo(), warmup: [] });
  registry.register({ name: 'm', version: '2', source: echo(), warmup: [] });
  registry.setLabel('m', 'later', '2');
  // Bodies of 1 KiB or more are handed over, smaller ones decoded in place.
  const jsonDecoder: JsonDecoder = { ...inPlaceDecoder, minBytes: 1024 };
  const http = createHttpHandler({ service: new InferenceService({ registry }), jsonDecoder });
  const small = '{"instances": [1, oops]}';
  const large = `{"instances": [${'1, '.repeat(500)}oops]}`;
  const answers = [];
  for (const body of [small, large]) {
    for (const path of ['/v1/models/m/versions/7:predict', '/v1/models/m/labels/nope:predict', '/v1/models/m/versions/1:predict']) {
      const reply = await http.handle({ method: 'POST', path, headers: {}, body });
      answers.push([body.length < 1024 ? 'small' : 'large', path, reply.status, (json(reply) as { code: string }).code]);
    }
  }
  assert.deepEqual(answers, ['small', 'large'].flatMap((size) => [
    [size, '/v1/models/m/versions/7:predict', 404, 'ERR_SERVABLE_MODEL_NOT_FOUND'],
    [size, '/v1/models/m/labels/nope:predict', 404, 'ERR_SERVABLE_MODEL_NOT_FOUND'],
    [size, '/v1/models/m/versions/1:predict', 400, 'ERR_SERVABLE_INVALID_INPUT'],
  ]));
  // A version known but not loaded is not loaded for a small body that does not decode.
  const known = await http.handle({ method: 'POST', path: '/v1/models/m/labels/later:predict', headers: {}, body: small });
  assert.deepEqual([known.status, registry.isReady('m', '2')], [400, false]);
  await registry.close();
});

test('tfServing: false leaves /v1 to the app', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const http = createHttpHandler({ service: new InferenceService({ registry }), tfServing: false });
  assert.deepEqual(http.prefixes, ['/v2']);
  assert.equal(http.owns('/v1/models/m:predict'), false);
  assert.equal((await http.handle({ method: 'GET', path: '/v1/models/m', headers: {} })).status, 404);
  assert.deepEqual(createHttpHandler({ service: new InferenceService({ registry }) }).prefixes, ['/v2', '/v1/models']);
});

test('status by label reports the labelled version whatever its state, as status by version does', async () => {
  const { registry, http } = await setup();
  registry.register({ name: 'two', version: '2', source: twoInputs(), warmup: [] });
  registry.setLabel('two', 'canary', '2');
  const get = async (path: string) => {
    const reply = await http.handle({ method: 'GET', path, headers: {} });
    return [reply.status, json(reply)];
  };
  const ended = { model_version_status: [{ version: '2', state: 'END', status: { error_code: 'OK', error_message: '' } }] };
  assert.deepEqual(await get('/v1/models/two/versions/2'), [200, ended]);
  assert.deepEqual(await get('/v1/models/two/labels/canary'), [200, ended]);
  assert.deepEqual(await get('/v1/models/two/labels/nope'), [404, { error: "Model 'two' has no label 'nope'", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }]);
  // Names of Object.prototype's members are labels like any other, not the members.
  assert.deepEqual(await get('/v1/models/two/labels/constructor'), [404, { error: "Model 'two' has no label 'constructor'", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }]);
  await registry.close();
});

test('a version whose load failed reports why, until a load succeeds', async () => {
  const { registry, http, predict } = await setup();
  let broken = true;
  const flaky: MemoryModel = {
    ...twoInputs(),
    run: (feeds) => {
      if (broken) throw new Error('weights are corrupt');
      return twoInputs().run(feeds) as TensorMap;
    },
  };
  const warmup = [{ inputs: { a: { datatype: 'INT64', shape: [1, 2], data: new BigInt64Array(2) } as Tensor, s: { datatype: 'BYTES', shape: [1], data: ['x'] } as Tensor } }];
  registry.register({ name: 'flaky', source: flaky, warmup });
  const body = { inputs: { a: [[1, 2]], s: ['x'] } };
  // The request was fine: the version is not ready (503), not a server fault, and the reason is the operator's.
  const failed = await predict(body, '/v1/models/flaky:predict');
  assert.deepEqual([failed.status, json(failed)], [503, { error: "Model 'flaky' version '1' failed to load", code: 'ERR_SERVABLE_MODEL_NOT_READY' }]);
  const status = async () => json(await http.handle({ method: 'GET', path: '/v1/models/flaky', headers: {} }));
  assert.deepEqual(registry.versions('flaky'), [{ version: '1', state: 'failed', error: 'weights are corrupt' }]);
  assert.deepEqual(await status(), { model_version_status: [{ version: '1', state: 'END', status: { error_code: 'UNKNOWN', error_message: 'weights are corrupt' } }] });
  // A replacement whose load fails leaves the restored config's own failure.
  await assert.rejects(registry.load({ name: 'flaky', source: { ...flaky, run: () => { throw new Error('also corrupt'); } }, warmup }));
  assert.deepEqual(registry.versions('flaky'), [{ version: '1', state: 'failed', error: 'weights are corrupt' }]);
  // A new config for the version has not failed yet.
  registry.register({ name: 'flaky', source: flaky, warmup });
  assert.deepEqual(registry.versions('flaky'), [{ version: '1', state: 'unloaded' }]);
  broken = false;
  assert.equal((await predict(body, '/v1/models/flaky:predict')).status, 200);
  assert.deepEqual(await status(), { model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] });
  await registry.close();
});

test('verbs match case-insensitively, as TF-Serving matches them; any other verb, or one after no model name, is a 404 naming it', async () => {
  const { registry, http, predict } = await setup();
  const body = { inputs: { a: [[1, 2]], s: ['x'] } };
  for (const verb of ['PREDICT', 'Predict']) {
    const reply = await predict(body, `/v1/models/two:${verb}`);
    assert.deepEqual([reply.status, json(reply)], [200, { outputs: { a: [[1, 2]], s: ['x'], s_bytes: [{ b64: 'eA==' }] } }], verb);
  }
  const cases: [string, string, string][] = [
    ['POST', '/v1/models/two:foo', "Unknown verb ':foo'; TF-Serving's verbs are :predict, :classify and :regress"],
    ['GET', '/v1/models/two:foo', "Unknown verb ':foo'; TF-Serving's verbs are :predict, :classify and :regress"],
    ['POST', '/v1/models/two/versions/1:Classify', ':classify is not served; servable models answer :predict'],
    ['POST', '/v1/models/two/labels/stable:regress', ':regress is not served; servable models answer :predict'],
    ['POST', '/v1/models/:predict', "':predict' follows no model name or version; send /v1/models/{model}[/versions/{version}]:predict"],
    ['POST', '/v1/models/two/versions/:Predict', "':Predict' follows no model name or version; send /v1/models/{model}[/versions/{version}]:predict"],
  ];
  for (const [method, path, error] of cases) {
    const reply = await http.handle({ method, path, headers: {}, body: JSON.stringify(body) });
    assert.deepEqual([reply.status, json(reply)], [404, { error, code: 'ERR_SERVABLE_NO_ROUTE' }], `${method} ${path}`);
  }
  await registry.close();
});

test('row format: outputs that are scalars or batched unlike the first get a 400 naming them; the columnar format answers', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const total = (x: Tensor, shape: number[]): Tensor => ({ datatype: 'FP32', shape, data: new Float32Array([(x.data as Float32Array).reduce((a, b) => a + b, 0)]) });
  const model = (shapes: Record<string, number[]>, run: (x: Tensor) => Record<string, Tensor>): MemoryModel => ({
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
    outputs: Object.entries(shapes).map(([name, shape]) => ({ name, datatype: 'FP32', shape })),
    run: ({ x }) => run(x as Tensor),
  });
  await registry.load({ name: 'head', source: model({ total: [1], y: [-1] }, (x) => ({ total: total(x, [1]), y: x })), warmup: [] });
  await registry.load({ name: 'scalar', source: model({ total: [] }, (x) => ({ total: total(x, []) })), warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  const reply = async (name: string, body: unknown) => {
    const r = await http.handle({ method: 'POST', path: `/v1/models/${name}:predict`, headers: {}, body: JSON.stringify(body) });
    return [r.status, json(r)];
  };
  const columns = 'the row format (`instances`) answers one prediction per batch row; ask in the columnar format (`inputs`)';
  const invalid = (error: string) => [400, { error, code: 'ERR_SERVABLE_INVALID_INPUT' }];
  assert.deepEqual(await reply('head', { instances: [1, 2, 3] }), invalid(`Output 'y' has inconsistent batch size: 3 expecting: 1: ${columns}`));
  assert.deepEqual(await reply('scalar', { instances: [1, 2, 3] }), invalid(`Output 'total' is a scalar, with no batch dimension: ${columns}`));
  assert.deepEqual(await reply('head', { inputs: [1, 2, 3] }), [200, { outputs: { total: [6], y: [1, 2, 3] } }]);
  assert.deepEqual(await reply('scalar', { inputs: [1, 2, 3] }), [200, { outputs: 6 }]);
  await registry.close();
});

test('a float out of its datatype\'s range is a 400 naming the input, the element and the value', async () => {
  const { registry, predict } = await setup();
  const reply = await predict({ instances: [1, -1e39] }, '/v1/models/echo:predict');
  assert.deepEqual([reply.status, json(reply)], [
    400,
    {
      error: `Input 'x': expected a number from -3.4028234663852886e+38 to 3.4028234663852886e+38 (or "NaN", "Infinity", "-Infinity") for FP32, got -1e+39 (number) at element 1`,
      code: 'ERR_SERVABLE_INVALID_INPUT',
    },
  ]);
  await registry.close();
});

test('{"b64"} values decode and _bytes outputs encode exactly at every length, large ones included', async () => {
  const { registry, predict } = await setup();
  const large = 'é€𝄞x'.repeat(100_000);
  const values: [string, string][] = [
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
    [large, Buffer.from(large).toString('base64')],
  ];
  const reply = await predict({ inputs: { a: values.map(() => [0, 0]), s: values.map(([, b64]) => ({ b64 })) } });
  const { outputs } = json(reply) as { outputs: { s: string[]; s_bytes: { b64: string }[] } };
  assert.deepEqual(outputs.s, values.map(([text]) => text));
  assert.deepEqual(outputs.s_bytes, values.map(([, b64]) => ({ b64 })));
  await registry.close();
});

test('bare NaN, Infinity and -Infinity are read and written as TF-Serving does; strings that spell them stay strings', async () => {
  const { registry, http } = await setup();
  const mixed: MemoryModel = {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [-1] },
        { name: 's', datatype: 'BYTES', shape: [-1] },
      ],
      outputs: [
        { name: 's', datatype: 'BYTES', shape: [-1] },
        { name: 'x', datatype: 'FP32', shape: [-1] },
      ],
      run: ({ x, s }) => ({ s: s as Tensor, x: x as Tensor }),
  };
  await registry.load({ name: 'mixed', source: mixed, warmup: [] });
  const post = (path: string, body: string) => http.handle({ method: 'POST', path, headers: {}, body });
  const replies: [string, string, string][] = [
    ['/v1/models/echo:predict', '{"instances": [NaN, Infinity,\n -Infinity, 1.5]}', '{"predictions":[NaN,Infinity,-Infinity,1.5]}'],
    ['/v1/models/echo:predict', '{"inputs":[-Infinity]}', '{"outputs":[-Infinity]}'],
    ['/v1/models/echo:predict', '{"inputs":["NaN", 2]}', '{"outputs":[NaN,2.0]}'],
    // RapidJSON's other spellings, which TF-Serving reads too.
    ['/v1/models/echo:predict', '{"inputs":[-NaN, Inf, -Inf]}', '{"outputs":[NaN,Infinity,-Infinity]}'],
    [
      '/v1/models/mixed:predict',
      '{"instances": [{"x": NaN, "s": "NaN"}, {"x": 1, "s": "say \\"Infinity\\", NaN"}]}',
      '{"predictions":[{"s":"NaN","x":NaN},{"s":"say \\"Infinity\\", NaN","x":1.0}]}',
    ],
  ];
  for (const [path, body, expected] of replies) {
    const reply = await post(path, body);
    assert.deepEqual([reply.status, reply.body], [200, expected], body);
  }
  const invalid = ['{"instances": [NaN, nope]}', '{NaN: [1]}', '{"instances": [NaNa]}', '{"instances": [In]}', '{"instances": [Infinity'];
  for (const body of invalid) {
    let message = '';
    try {
      JSON.parse(body);
    } catch (error) {
      message = (error as Error).message;
    }
    const reply = await post('/v1/models/echo:predict', body);
    assert.deepEqual([reply.status, json(reply)], [400, { error: `The request body is not valid JSON: ${message}`, code: 'ERR_SERVABLE_INVALID_INPUT' }], body);
  }
  // A bare token is a number, never the text that spells it.
  const bytes = await post('/v1/models/mixed:predict', '{"instances": [{"x": 1, "s": NaN}]}');
  assert.deepEqual([bytes.status, (json(bytes) as { error: string }).error], [400, "Input 's': expected a string for BYTES, got NaN (a bare number) at element 0"]);
  const misplaced: [string, string][] = [
    ['{"signature_name": NaN, "instances": [1]}', "Unknown signature_name NaN (a bare number); servable models have one signature, 'serving_default'"],
    ['{"instances": -Infinity}', 'Expected `instances` to be a non-empty array, got -Infinity (a bare number)'],
  ];
  for (const [body, error] of misplaced) {
    const reply = await post('/v1/models/echo:predict', body);
    assert.deepEqual([reply.status, (json(reply) as { error: string }).error], [400, error]);
  }
  // The OIP route reads them too, as Triton does, but replies with the quoted strings.
  const oip = await post('/v2/models/echo/infer', '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [NaN]}]}');
  assert.deepEqual([oip.status, (json(oip) as { outputs: { data: unknown[] }[] }).outputs[0]!.data], [200, ['NaN']]);
  await registry.close();
});

test('a body of millions of bare tokens within the body limit is read, not a 500', async () => {
  const { registry, http } = await setup();
  // Quoted, each token takes at least 25 code units: with the padding, past Node's TextDecoder limit of 2^27.
  const body = `{"inputs": [Inf, 1], "ignored": [${'Inf,'.repeat(3_600_000)}"${'x'.repeat(49_000_000)}"]}`;
  const reply = await http.handle({ method: 'POST', path: '/v1/models/echo:predict', headers: {}, body });
  assert.deepEqual([reply.status, reply.body], [200, '{"outputs":[Infinity,1.0]}']);
  await registry.close();
});

test('a body whose bare tokens, once quoted, would pass the longest string V8 can hold is a 413, not a 500', async () => {
  const { registry } = await setup();
  const http = createHttpHandler({ service: new InferenceService({ registry }), bodyLimit: 2 ** 30 });
  // One token, quoted, takes the text past 2^29 - 24 code units (a body limit above 74 MB reaches it with tokens alone). Tokens
  // take as many characters quoted as bare, unless the body spells one of the characters that mark them (U+007F here).
  const body = `{"instances": [Inf], "ignored": "\\u007f${'x'.repeat(2 ** 29 - 72)}"}`;
  const reply = await http.handle({ method: 'POST', path: '/v1/models/echo:predict', headers: {}, body });
  assert.deepEqual([reply.status, reply.body], [
    413,
    '{"error":"The request body holds too many bare NaN and Infinity tokens to read: each is rewritten as a string of about 30 characters, and the text would pass the 536870888 characters a JavaScript string can hold","code":"ERR_SERVABLE_PAYLOAD_TOO_LARGE"}',
  ]);
  await registry.close();
});

test('an instance may be nested one level less than the rank limit, since the batch adds a dimension', async () => {
  const { registry, predict } = await setup();
  let deep: unknown = 1;
  for (let i = 0; i < 32; i++) deep = [deep];
  const reply = await predict({ instances: [{ a: deep, s: 'x' }] });
  assert.deepEqual([reply.status, (json(reply) as { error: string }).error], [400, "Input 'a': values are nested deeper than 31 dimensions in an instance, which is one row of the batch"]);
  await registry.close();
});

/** FP32 x doubled: version 1 of the two-version tests below, whose version 2 takes INT64. */
const twice: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
  run: ({ x }) => ({ y: { datatype: 'FP32', shape: [...x!.shape], data: (x!.data as Float32Array).map((v) => 2 * v) } }),
};

/** INT64 x plus 100. */
const plus100: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'INT64', shape: [-1] }],
  outputs: [{ name: 'y', datatype: 'INT64', shape: [-1] }],
  run: ({ x }) => ({ y: { datatype: 'INT64', shape: [...x!.shape], data: (x!.data as BigInt64Array).map((v) => v + 100n) } }),
};

test('under a traffic split, a body is read by the inputs of the version the split sends it to', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
  await registry.load({ name: 'm', version: '2', source: plus100, warmup: [] });
  registry.setLabel('m', 'canary', '2');
  registry.setTraffic('m', { split: [{ version: '1', weight: 1 }, { label: 'canary', weight: 1 }] });
  let draws = 0;
  const http = createHttpHandler({ service: new InferenceService({ registry, random: () => (draws++ % 2 ? 0.75 : 0.25) }) });
  const replies = [];
  for (let i = 0; i < 10; i++) replies.push(await http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body: '{"instances": [1, 2]}' }));
  assert.deepEqual(
    replies.map((r) => `${r.status} ${String(r.body)}`),
    Array.from({ length: 10 }, (_, i) => (i % 2 ? '200 {"predictions":[101,102]}' : '200 {"predictions":[2.0,4.0]}')),
  );
  await registry.close();
});

/** A JsonDecoder that decodes :predict bodies in place, so that every body takes the route's hand-over path. */
const inPlaceDecoder: JsonDecoder = {
  minBytes: 1,
  infer: () => Promise.reject(new Error('not used')),
  predict: async (body, inputs, maxElements) => decodePredictJson(body, inputs, maxElements),
};

/** An InferenceService that runs `between` when a request is handed to it, before it routes or queues it. */
class InferenceServiceWith extends InferenceService {
  readonly #between: () => unknown;

  constructor(options: ServiceOptions, between: () => unknown) {
    super(options);
    this.#between = between;
  }

  override async infer<Req, Res>(model: string, request: Req, options?: ServiceInferOptions): Promise<Res> {
    await this.#between();
    return super.infer<Req, Res>(model, request, options);
  }
}

for (const [path, how] of [
  ['/v1/models/m/labels/canary:predict', 'named by its label'],
  ['/v1/models/m:predict', 'drawn by the split'],
] as const) {
  for (const decoding of ['in place, loaded', 'in place, loaded for it', 'handed over'] as const) {
    test(`a body read by the inputs of the version ${how} runs on that version when the label moves before it is queued (decoded ${decoding}), where it went to the other`, async () => {
      const registry = new ModelRegistry({ backends: [memoryBackend()] });
      if (decoding === 'in place, loaded for it') registry.register({ name: 'm', version: '1', source: twice, warmup: [] });
      else await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
      await registry.load({ name: 'm', version: '2', source: plus100, warmup: [] });
      registry.setLabel('m', 'stable', '2');
      registry.setLabel('m', 'canary', '1');
      registry.setTraffic('m', { split: [{ label: 'canary', weight: 1 }] });
      // The label moves between the body's decoding and the request's queuing.
      const service = new InferenceServiceWith({ registry }, () => registry.setLabel('m', 'canary', '2'));
      const jsonDecoder = decoding === 'handed over' ? inPlaceDecoder : undefined;
      const http = createHttpHandler({ service, jsonDecoder });
      const reply = await http.handle({ method: 'POST', path, headers: {}, body: '{"instances": [1.5, 2]}' });
      assert.deepEqual([reply.status, String(reply.body)], [200, '{"predictions":[3.0,4.0]}']);
      await registry.close();
    });
  }
}

test('a body read by the inputs of the default version runs on it when a newer version replaces it before it is queued; the old one drains after', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [], versionPolicy: { latest: 1 } });
  const unloaded: string[] = [];
  registry.on('unload', (e) => unloaded.push(e.version));
  const service = new InferenceServiceWith({ registry }, async () => {
    await registry.load({ name: 'm', version: '2', source: plus100, warmup: [] });
    assert.deepEqual(unloaded, [], 'version 1 drains only once the request it holds is answered');
  });
  const http = createHttpHandler({ service });
  const reply = await http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body: '{"instances": [1.5, 2]}' });
  assert.deepEqual([reply.status, String(reply.body)], [200, '{"predictions":[3.0,4.0]}']);
  await registry.close();
  assert.deepEqual(unloaded, ['1', '2']);
});

test('a version held for a body being read is let go when the request fails before it is queued', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
  const http = createHttpHandler({
    service: new InferenceService({ registry }),
    tenantOf: () => {
      throw new Error('no tenant');
    },
  });
  const reply = await http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body: '{"instances": [1.5, 2]}' });
  assert.equal(reply.status, 500);
  const bad = await http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body: '{"instances": ["x"]}' });
  assert.equal(bad.status, 400);
  // A hold left live would keep the unload waiting for ever.
  let unloaded = false;
  const unloading = registry.unload('m', '1').then(() => (unloaded = true));
  await flush();
  assert.equal(unloaded, true, 'version 1 is still held');
  await unloading;
  await registry.close();
});

test("a tenantOf that never settles holds no version: the version the body would be read by unloads", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
  let answer!: (tenant: string | undefined) => void;
  const asked: string[] = [];
  const tenantOf = () => {
    asked.push('asked');
    return new Promise<string | undefined>((resolve) => (answer = resolve));
  };
  const http = createHttpHandler({ service: new InferenceService({ registry }), tenantOf });
  const replying = http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body: '{"instances": [1.5, 2]}' });
  await flush();
  assert.deepEqual(asked, ['asked']);
  let unloaded = false;
  const unloading = registry.unload('m', '1').then(() => (unloaded = true));
  await flush();
  assert.equal(unloaded, true, 'version 1 is held for a request waiting on tenantOf');
  await unloading;
  answer(undefined);
  const reply = await replying;
  assert.equal(reply.status, 404, String(reply.body));
  await registry.close();
});

test("tenantOf's error comes after the body's, as on the OIP route", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
  const http = createHttpHandler({
    service: new InferenceService({ registry }),
    tenantOf: () => Promise.reject(new TypeError('no tenant')),
  });
  const bad = await http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body: '{"instances": ["x"]}' });
  assert.equal(bad.status, 400);
  const good = await http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body: '{"instances": [1.5]}' });
  assert.equal(good.status, 500);
  await registry.close();
});

test('a request tenantOf refuses loads no model: its body is read only by a version already loaded, and it is counted once by the tenant\'s error', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
  registry.register({ name: 'm', version: '2', source: twice, warmup: [] });
  registry.setLabel('m', 'later', '2');
  const service = new InferenceService({ registry });
  const outcomes: string[] = [];
  service.on('request', ({ outcome }) => outcomes.push(outcome));
  const tenantOf = () => Promise.reject(new InvalidInputError('Unknown API key'));
  const answers = [];
  for (const [decoding, jsonDecoder] of [['in place', undefined], ['handed over', inPlaceDecoder]] as const) {
    const http = createHttpHandler({ service, tenantOf, jsonDecoder });
    for (const [path, body] of [
      ['/v1/models/m/labels/later:predict', '{"instances": [1.5]}'],
      ['/v1/models/m/labels/later:predict', '{"instances": ["x"]}'],
      ['/v1/models/m/versions/1:predict', '{"instances": ["x"]}'],
      ['/v1/models/m/versions/1:predict', '{"instances": [1.5]}'],
    ] as const) {
      const reply = await http.handle({ method: 'POST', path, headers: {}, body });
      answers.push([decoding, path, body, reply.status, (json(reply) as { error: string }).error]);
    }
  }
  const tenant = 'Unknown API key';
  const string = 'Input \'x\': expected a number (or "NaN", "Infinity", "-Infinity") for FP32, got "x" (string) at element 0';
  assert.deepEqual(answers, [
    ['in place', '/v1/models/m/labels/later:predict', '{"instances": [1.5]}', 400, tenant],
    // Read as JSON, but not by a model's inputs, which would load it.
    ['in place', '/v1/models/m/labels/later:predict', '{"instances": ["x"]}', 400, tenant],
    ['in place', '/v1/models/m/versions/1:predict', '{"instances": ["x"]}', 400, string],
    ['in place', '/v1/models/m/versions/1:predict', '{"instances": [1.5]}', 400, tenant],
    ['handed over', '/v1/models/m/labels/later:predict', '{"instances": [1.5]}', 400, tenant],
    ['handed over', '/v1/models/m/labels/later:predict', '{"instances": ["x"]}', 400, tenant],
    ['handed over', '/v1/models/m/versions/1:predict', '{"instances": ["x"]}', 400, string],
    ['handed over', '/v1/models/m/versions/1:predict', '{"instances": [1.5]}', 400, tenant],
  ]);
  assert.equal(registry.isReady('m', '2'), false, 'version 2 was loaded for a request its tenant refused');
  assert.deepEqual(outcomes, Array(8).fill('invalid'));
  await registry.close();
});

/** parseNonFinite as it was, with a reviver, for the differential test below. */
function parseNonFiniteBefore(text: string): unknown {
  const marker = `\\u0000${Math.random().toString(36).slice(2)}:`;
  let out = '';
  let found = false;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    let c = text[i]!;
    if (inString) {
      if (c === '\\' && i + 1 < text.length) {
        out += c;
        c = text[++i]!;
      } else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === 'N' || c === 'I') {
      const token = ([['NaN', 'NaN'], ['Infinity', 'Infinity'], ['Inf', 'Infinity']] as const).find(([spelling]) => text.startsWith(spelling, i));
      if (!token) return undefined;
      if (/^\s*:/.test(text.slice(i + token[0].length))) return undefined;
      const minus = out.endsWith('-');
      if (minus) out = out.slice(0, -1);
      out += `"${marker}${minus && token[1] === 'Infinity' ? '-Infinity' : token[1]}"`;
      i += token[0].length - 1;
      found = true;
      continue;
    }
    out += c;
  }
  if (!found) return undefined;
  const prefix = JSON.parse(`"${marker}"`) as string;
  try {
    return JSON.parse(out, (_key, value: unknown) => (typeof value === 'string' && value.startsWith(prefix) ? BARE_NUMBERS[value.slice(prefix.length) as keyof typeof BARE_NUMBERS] : value));
  } catch {
    return undefined;
  }
}

test('bare tokens are read as the reviver that swapped them one value at a time read them, in random bodies', () => {
  let seed = 7;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % n;
  };
  const pick = <T>(items: readonly T[]): T => items[next(items.length)]!;
  const space = (): string => pick(['', '', ' ', '\n\t ', '\r\n']);
  const strings = ['"NaN"', '"-Inf"', '"a\\"NaN\\" b"', '"\\\\"', '"x\\\\\\"Infinity"', '"\\u007f"', '"\u0080"', '"\\u0000NaN"', '""', '"Inf:"'];
  const keys = ['"a"', '"NaN"', '"__proto__"', '"0"', '"Infinity\\""', '"\\u0081"'];
  const value = (depth: number): string => {
    const kind = next(depth > 3 ? 3 : 6);
    if (kind === 0) return pick(['NaN', 'Infinity', 'Inf', '-NaN', '-Infinity', '-Inf']);
    if (kind === 1) return pick(['1', '-2.5e3', '0', 'true', 'null']);
    if (kind === 2) return pick(strings);
    const n = next(4);
    const items = Array.from({ length: n }, () => (kind === 5 ? `${pick(keys)}${space()}:${space()}` : '') + space() + value(depth + 1) + space());
    return kind === 5 ? `{${items.join(',')}}` : `[${items.join(',')}]`;
  };
  const spoil = (text: string): string => {
    const at = next(text.length);
    return text.slice(0, at) + pick(['N', 'Nan', 'Infinit', '- Inf', '--Inf', 'NaN:', '"', '\\', 'NaN"', '"NaN":1']) + text.slice(at);
  };
  let read = 0;
  for (let i = 0; i < 4000; i++) {
    let text = `{"instances":${space()}${value(0)}, "k": ${value(0)}}`;
    if (i % 4 === 3) text = spoil(text);
    const before = parseNonFiniteBefore(text);
    assert.deepStrictEqual(parseNonFinite(text), before, text);
    if (before !== undefined) read++;
  }
  assert.ok(read > 1000, `${read} bodies read`);
  for (const text of ['NaN', '-Inf', '[NaN, "\\u007f", -Infinity]', '{"__proto__": NaN}']) assert.deepStrictEqual(parseNonFinite(text), parseNonFiniteBefore(text), text);
});

test('tenantOf is not asked for a model the registry does not know, nor once it is closed, as on the OIP route', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
  const asked: string[] = [];
  const tenantOf = ({ path }: { path: string }) => {
    asked.push(path);
    return 'acme';
  };
  const http = createHttpHandler({ service: new InferenceService({ registry }), tenantOf });
  const body = '{"instances": [1.5]}';
  for (const path of ['/v1/models/nope:predict', '/v2/models/nope/infer']) {
    const reply = await http.handle({ method: 'POST', path, headers: {}, body });
    assert.equal(reply.status, 404, path);
  }
  assert.deepEqual(asked, []);
  const served = await http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body });
  assert.equal(served.status, 200);
  assert.deepEqual(asked, ['/v1/models/m:predict']);
  await registry.close();
  const closed = await http.handle({ method: 'POST', path: '/v1/models/m:predict', headers: {}, body });
  assert.equal(closed.status, 503);
  assert.deepEqual(asked, ['/v1/models/m:predict']);
});

test('tenantOf is not asked for a version or label the model does not have: the 404 comes first on :predict, as on the OIP route, for a slow hook too', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
  const asked: string[] = [];
  // A hook that never settles: asked first, it would hold the 404 back for ever.
  const tenantOf = ({ path }: { path: string }) => {
    asked.push(path);
    return new Promise<string>(() => {});
  };
  const http = createHttpHandler({ service: new InferenceService({ registry }), tenantOf });
  const answers = [];
  for (const path of ['/v1/models/m/versions/9:predict', '/v1/models/m/labels/nope:predict', '/v2/models/m/versions/9/infer']) {
    // A body that does not decode: the 404 comes before it is read.
    const reply = await http.handle({ method: 'POST', path, headers: {}, body: '{"instances": [' });
    answers.push([path, reply.status, json(reply)]);
  }
  assert.deepEqual(answers, [
    ['/v1/models/m/versions/9:predict', 404, { error: "Model 'm' has no version '9'", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }],
    ['/v1/models/m/labels/nope:predict', 404, { error: "Model 'm' has no label 'nope'", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }],
    ['/v2/models/m/versions/9/infer', 404, { error: "Model 'm' has no version '9'", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }],
  ]);
  assert.deepEqual(asked, []);
  await registry.close();
});

test('a header refused with a 400 comes before an unknown version\'s or label\'s 404 on :predict, as on the OIP route', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: twice, warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }), routingKeyHeader: 'x-user' });
  const answers = [];
  for (const path of ['/v1/models/m/versions/9:predict', '/v1/models/m/labels/nope:predict', '/v2/models/m/versions/9/infer']) {
    for (const headers of [{ 'x-tenant': ['a', 'b'] }, { 'x-user': 'u'.repeat(257) }]) {
      const reply = await http.handle({ method: 'POST', path, headers, body: '{"instances": [' });
      answers.push([path, reply.status, json(reply)]);
    }
  }
  const refused = (path: string) => [
    [path, 400, { error: 'The X-Tenant header was sent 2 times; send it once', code: 'ERR_SERVABLE_INVALID_INPUT' }],
    [path, 400, { error: "The routing key header 'x-user' holds 257 characters; it may hold at most 256", code: 'ERR_SERVABLE_INVALID_INPUT' }],
  ];
  assert.deepEqual(answers, ['/v1/models/m/versions/9:predict', '/v1/models/m/labels/nope:predict', '/v2/models/m/versions/9/infer'].flatMap(refused));
  await registry.close();
});

test('a version whose registry.load() failed is listed END with its error (TF-Serving GetModelStatus), its Triton ready route answers 503 not ready, predict on it 404, until it loads, is unloaded, or the model goes', async () => {
  const { registry, http, predict } = await setup();
  const get = async (path: string) => {
    const reply = await http.handle({ method: 'GET', path, headers: {} });
    return [reply.status, json(reply)];
  };
  const corrupt: MemoryModel = { ...twoInputs(), run: () => { throw new Error('weights are corrupt'); } };
  const warmup = [{ inputs: { a: { datatype: 'INT64', shape: [1, 2], data: new BigInt64Array(2) } as Tensor, s: { datatype: 'BYTES', shape: [1], data: ['x'] } as Tensor } }];
  await assert.rejects(registry.load({ name: 'two', version: '2', source: corrupt, warmup }), /weights are corrupt/);
  const ended = { version: '2', state: 'END', status: { error_code: 'UNKNOWN', error_message: 'weights are corrupt' } };
  const available = { version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } };
  assert.deepEqual(registry.versions('two'), [{ version: '2', state: 'failed', error: 'weights are corrupt' }, { version: '1', state: 'ready' }]);
  assert.deepEqual(await get('/v1/models/two'), [200, { model_version_status: [ended, available] }]);
  assert.deepEqual(await get('/v1/models/two/versions/2'), [200, { model_version_status: [ended] }]);
  assert.deepEqual(await get('/v2/models/two/versions/2/ready'), [503, { name: 'two', version: '2', ready: false }]);
  // Not served: requests for it are 404, as TF-Serving's for an END version; unversioned ones go to version 1.
  assert.equal((await predict({ inputs: { a: [[1, 2]], s: ['x'] } }, '/v1/models/two/versions/2:predict')).status, 404);
  assert.equal((await predict({ inputs: { a: [[1, 2]], s: ['x'] } }, '/v1/models/two:predict')).status, 200);
  // The last failure only: a second one replaces it.
  await assert.rejects(registry.load({ name: 'two', version: '2', source: { ...corrupt, run: () => { throw new Error('still corrupt'); } }, warmup }), /still corrupt/);
  assert.deepEqual(registry.versions('two')[0], { version: '2', state: 'failed', error: 'still corrupt' });
  await registry.unload('two', '2');
  assert.deepEqual(await get('/v1/models/two'), [200, { model_version_status: [available] }]);
  await assert.rejects(registry.load({ name: 'two', version: '3', source: corrupt, warmup }));
  await registry.load({ name: 'two', version: '3', source: twoInputs(), warmup: [] });
  assert.deepEqual(registry.versions('two').map((v) => v.state), ['ready', 'ready']);
  // A model whose first load failed is forgotten with its failure: 404, as before.
  await assert.rejects(registry.load({ name: 'fresh', source: corrupt, warmup }));
  assert.deepEqual([registry.has('fresh'), (await get('/v1/models/fresh'))[0]], [false, 404]);
  await registry.close();
});

test('the failures registry.load() leaves are bounded: a newer ready version supersedes them, and a model keeps the newest 8', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: echo(), warmup: [] });
  const warmup = [{ inputs: { x: { datatype: 'FP32', shape: [1], data: new Float32Array(1) } as Tensor } }];
  const broken = (v: number): MemoryModel => ({ ...echo(), run: () => { throw new Error(`v${v} broken`); } });
  for (let v = 2; v <= 11; v++) await assert.rejects(registry.load({ name: 'm', version: String(v), source: broken(v), warmup }));
  assert.deepEqual(registry.versions('m').map((s) => `${s.version}:${s.state}`), ['11:failed', '10:failed', '9:failed', '8:failed', '7:failed', '6:failed', '5:failed', '4:failed', '1:ready']);
  await registry.load({ name: 'm', version: '9', source: echo(), warmup: [] });
  assert.deepEqual(registry.versions('m').map((s) => `${s.version}:${s.state}`), ['11:failed', '10:failed', '9:ready', '1:ready']);
  await registry.close();
});
