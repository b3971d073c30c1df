/**
 * Replays the requests TF-Serving's REST clients send (`requests.post(url, json=...)`, which
 * writes `json.dumps`'s text) against a real servable/node server and a Fastify one serving exact
 * ONNX models on onnx-node, and checks the replies' text against what TF-Serving writes
 * (tensorflow_serving/util/json_tensor.cc, MakeJsonFromTensors), whitespace aside: a float output
 * as `absl::StrCat` writes it (six significant digits, or `max_digits10` when those do not read back
 * as the same value) with `.0` after a whole number, so that `json.loads` reads every float output
 * as a Python float; INT64 as a bare integer at any size; `_bytes` outputs as `{"b64": ...}`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import onnxProto from 'onnx-proto';
import { InferenceService, ModelRegistry } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { servers } from './client-servers.js';

const { onnx } = onnxProto;

const FLOAT = 1;
const STRING = 8;
const INT64 = 7;

function info(name: string, elemType: number, width?: number) {
  const dim = width === undefined ? [{ dimParam: 'batch' }] : [{ dimParam: 'batch' }, { dimValue: width }];
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim } } } });
}

function encode(graph: InstanceType<typeof onnx.GraphProto>): Uint8Array {
  const model = onnx.ModelProto.create({ irVersion: 7, producerName: 'servable-tests', opsetImport: [{ domain: '', version: 13 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

const scalar = (name: string, value: number) => onnx.TensorProto.create({ name, dataType: FLOAT, dims: [], floatData: [value] });

/** X float [batch, 3] in; Y = X·W + B out: 32, 48, 59, 84 for [[1, 2, 3], [4, 5, 6]]. */
function linearModel(): Uint8Array {
  return encode(onnx.GraphProto.create({
    name: 'linear',
    node: [
      onnx.NodeProto.create({ opType: 'MatMul', input: ['X', 'W'], output: ['XW'] }),
      onnx.NodeProto.create({ opType: 'Add', input: ['XW', 'B'], output: ['Y'] }),
    ],
    initializer: [
      onnx.TensorProto.create({ name: 'W', dataType: FLOAT, dims: [3, 2], floatData: [1, 2, 3, 4, 5, 6] }),
      onnx.TensorProto.create({ name: 'B', dataType: FLOAT, dims: [2], floatData: [10, 20] }),
    ],
    input: [info('X', FLOAT, 3)],
    output: [info('Y', FLOAT, 2)],
  }));
}

/**
 * X float [batch, 2] and S string [batch] in; out: TENTH = X / 10, THIRD = X / 3, MEGA = X · 10^6
 * (float) and S_bytes = S (string). Float32 division and multiplication round once, so each is the
 * float nearest the exact quotient or product.
 */
function namedModel(): Uint8Array {
  return encode(onnx.GraphProto.create({
    name: 'named',
    node: [
      onnx.NodeProto.create({ opType: 'Div', input: ['X', 'TEN'], output: ['TENTH'] }),
      onnx.NodeProto.create({ opType: 'Div', input: ['X', 'THREE'], output: ['THIRD'] }),
      onnx.NodeProto.create({ opType: 'Mul', input: ['X', 'MILLION'], output: ['MEGA'] }),
      onnx.NodeProto.create({ opType: 'Identity', input: ['S'], output: ['S_bytes'] }),
    ],
    initializer: [scalar('TEN', 10), scalar('THREE', 3), scalar('MILLION', 1e6)],
    input: [info('X', FLOAT, 2), info('S', STRING)],
    output: [info('TENTH', FLOAT, 2), info('THIRD', FLOAT, 2), info('MEGA', FLOAT, 2), info('S_bytes', STRING)],
  }));
}

/** A int64 [batch] in; B = A + 2^53 out. */
function wideModel(): Uint8Array {
  return encode(onnx.GraphProto.create({
    name: 'wide',
    node: [onnx.NodeProto.create({ opType: 'Add', input: ['A', 'C'], output: ['B'] })],
    initializer: [onnx.TensorProto.create({ name: 'C', dataType: INT64, dims: [], int64Data: [2 ** 53] })],
    input: [info('A', INT64)],
    output: [info('B', INT64)],
  }));
}

interface Reply {
  readonly status: number;
  readonly body: string;
}

/** `requests.post(url, json=body)` / `requests.get(url)`: Content-Type application/json, the body as given. */
function send(base: string, method: string, path: string, body?: string): Promise<Reply> {
  const { hostname, port } = new URL(base);
  const headers = body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

for (const [adapter, start] of Object.entries(servers)) {
  describe(`TF-Serving REST clients against servable (${adapter})`, () => {
    let registry: ModelRegistry;
    let server: { url: string; close(): Promise<void> };
    const post = (path: string, body: string) => send(server.url, 'POST', path, body);
    const get = (path: string) => send(server.url, 'GET', path);

    before(async () => {
      registry = new ModelRegistry({ backends: [onnxNode({ instances: 1, intraOpNumThreads: 1 })] });
      await registry.load({ name: 'linear', source: linearModel() });
      await registry.load({ name: 'named', source: namedModel() });
      await registry.load({ name: 'wide', source: wideModel() });
      server = await start(new InferenceService({ registry }));
    });
    after(async () => {
      await server.close();
      await registry.close();
    });

    test('one input, one output: whole float outputs are written with .0, as TF-Serving writes them, in both formats', async () => {
      assert.deepEqual(await post('/v1/models/linear:predict', '{"instances": [[1, 2, 3], [4, 5, 6]]}'), {
        status: 200,
        body: '{"predictions":[[32.0,48.0],[59.0,84.0]]}',
      });
      assert.deepEqual(await post('/v1/models/linear/versions/1:predict', '{"signature_name": "serving_default", "inputs": [[1, 2, 3], [4, 5, 6]]}'), {
        status: 200,
        body: '{"outputs":[[32.0,48.0],[59.0,84.0]]}',
      });
      // One instance named by its input, as TF-Serving also takes it.
      assert.deepEqual(await post('/v1/models/linear:predict', '{"instances": [{"X": [1, 2, 3]}]}'), { status: 200, body: '{"predictions":[[32.0,48.0]]}' });
    });

    test('float outputs in six significant digits when those read back as the float, else nine; exponents as printf writes them', async () => {
      const body = '{"instances": [{"X": [32, 59], "S": "h\\u00e9llo"}, {"X": [48, 84], "S": {"b64": "5pel5pys"}}]}';
      assert.deepEqual(await post('/v1/models/named:predict', body), {
        status: 200,
        body:
          '{"predictions":[' +
          '{"TENTH":[3.2,5.9],"THIRD":[10.666667,19.666666],"MEGA":[3.2e+07,5.9e+07],"S_bytes":{"b64":"aMOpbGxv"}},' +
          '{"TENTH":[4.8,8.4],"THIRD":[16.0,28.0],"MEGA":[4.8e+07,8.4e+07],"S_bytes":{"b64":"5pel5pys"}}]}',
      });
      const columnar = '{"inputs": {"X": [[32, 59], [48, 84]], "S": ["h\\u00e9llo", {"b64": "5pel5pys"}]}}';
      assert.deepEqual(await post('/v1/models/named:predict', columnar), {
        status: 200,
        body:
          '{"outputs":{"TENTH":[[3.2,5.9],[4.8,8.4]],"THIRD":[[10.666667,19.666666],[16.0,28.0]],' +
          '"MEGA":[[3.2e+07,5.9e+07],[4.8e+07,8.4e+07]],"S_bytes":[{"b64":"aMOpbGxv"},{"b64":"5pel5pys"}]}}',
      });
    });

    test('non-finite and signed-zero float outputs', async () => {
      const reply = await post('/v1/models/named:predict', '{"inputs": {"X": [[NaN, Infinity], [-Infinity, -0.0]], "S": ["a", "b"]}}');
      assert.equal(reply.status, 200, reply.body);
      assert.match(reply.body, /^\{"outputs":\{"TENTH":\[\[NaN,Infinity\],\[-Infinity,-0\.0\]\],/);
    });

    test('INT64 outputs are bare integers at any size, as TF-Serving writes them', async () => {
      assert.deepEqual(await post('/v1/models/wide:predict', '{"instances": [1, -5]}'), { status: 200, body: '{"predictions":[9007199254740993,9007199254740987]}' });
      assert.deepEqual(await post('/v1/models/wide:predict', '{"inputs": [1]}'), { status: 200, body: '{"outputs":[9007199254740993]}' });
      // Past 2^53 an input goes as a decimal string (docs/http.md), which TF-Serving would refuse; a bare integer is a 400.
      assert.deepEqual(await post('/v1/models/wide:predict', '{"inputs": ["9007199254740993"]}'), { status: 200, body: '{"outputs":[18014398509481985]}' });
      assert.equal((await post('/v1/models/wide:predict', '{"inputs": [9007199254740993]}')).status, 400);
    });

    test('a bare INT64 integer is exact up to 2^53 - 1: from 2^53 on it is a 400 that says so and asks for a decimal string, on both routes', async () => {
      assert.deepEqual(await post('/v1/models/wide:predict', '{"inputs": [9007199254740991]}'), { status: 200, body: '{"outputs":[18014398509481983]}' });
      // JSON.parse reads 9007199254740992 and ...993 as the same double: neither is exact.
      const oip = (value: string) => `{"inputs": [{"name": "A", "datatype": "INT64", "shape": [1], "data": [${value}]}]}`;
      for (const [path, body] of [
        ['/v1/models/wide:predict', '{"inputs": [9007199254740992]}'],
        ['/v1/models/wide:predict', '{"instances": [-9007199254740993]}'],
        ['/v2/models/wide/infer', oip('9007199254740993')],
        ['/v2/models/wide/infer', oip('1e16')],
      ] as const) {
        const reply = await post(path, body);
        assert.equal(reply.status, 400, `${body}: ${reply.body}`);
        const { error } = JSON.parse(reply.body) as { error: string };
        assert.match(error, /^Input 'A': expected an integer from -9223372036854775808 to 9223372036854775807 \(a number from -\(2\^53 - 1\) to 2\^53 - 1, or a decimal string\) for INT64, got a bare number past 2\^53 - 1 \(read as -?\d+\), which JSON\.parse cannot read exactly: send it as a decimal string, at element 0$/, body);
      }
      // A value out of range in any form keeps the message naming what was sent.
      const huge = await post('/v1/models/wide:predict', '{"inputs": ["9223372036854775808"]}');
      assert.equal(huge.status, 400, huge.body);
      assert.match(huge.body, /got \\"9223372036854775808\\" \(string\) at element 0/);
    });

    test('where servable answers otherwise than TF-Serving, as docs/http.md says', async () => {
      // TF-Serving ignores an `inputs` key the signature does not name; servable refuses it.
      const extra = await post('/v1/models/linear:predict', '{"inputs": {"X": [[1, 2, 3]], "Y": [[0, 0]]}}');
      assert.equal(extra.status, 400, extra.body);
      assert.match(extra.body, /Unknown input 'Y'/);
      // TF-Serving takes any bytes in {"b64"}; servable's BYTES tensors hold strings.
      const latin1 = await post('/v1/models/named:predict', '{"inputs": {"X": [[1, 2]], "S": [{"b64": "/w=="}]}}');
      assert.equal(latin1.status, 400, latin1.body);
      assert.match(latin1.body, /not valid UTF-8/);
      // TF-Serving refuses an integer past 2^24 - 1 for a float input ("without loss of precision"); servable rounds it as it rounds 0.1.
      assert.deepEqual(await post('/v1/models/linear:predict', '{"instances": [[16777217, 0, 0]]}'), { status: 200, body: '{"predictions":[[16777226.0,33554452.0]]}' });
      // TF-Serving refuses 1.0 for an integer input; JSON.parse reads it as 1.
      assert.deepEqual(await post('/v1/models/wide:predict', '{"instances": [1.0]}'), { status: 200, body: '{"predictions":[9007199254740993]}' });
    });

    test('status and metadata as TF-Serving answers them', async () => {
      assert.deepEqual(await get('/v1/models/linear'), {
        status: 200,
        body: '{"model_version_status":[{"version":"1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]}',
      });
      const meta = await get('/v1/models/linear/versions/1/metadata');
      assert.equal(meta.status, 200);
      assert.deepEqual(JSON.parse(meta.body), {
        model_spec: { name: 'linear', signature_name: '', version: '1' },
        metadata: {
          signature_def: {
            signature_def: {
              serving_default: {
                inputs: { X: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '-1', name: '' }, { size: '3', name: '' }], unknown_rank: false }, name: 'X' } },
                outputs: { Y: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '-1', name: '' }, { size: '2', name: '' }], unknown_rank: false }, name: 'Y' } },
                method_name: 'tensorflow/serving/predict',
              },
            },
          },
        },
      });
    });

    test('requests TF-Serving refuses with a 400 get a 400 with an {"error"} body; unknown models and versions a 404', async () => {
      const refused = async (path: string, body: string, status: number, message: RegExp) => {
        const reply = await post(path, body);
        assert.equal(reply.status, status, `${body}: ${reply.body}`);
        const { error } = JSON.parse(reply.body) as { error: unknown };
        assert.match(String(error), message, body);
      };
      await refused('/v1/models/linear:predict', '{"instances": []}', 400, /instances/);
      await refused('/v1/models/linear:predict', '{"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]}', 400, /exactly one of/);
      await refused('/v1/models/linear:predict', '{"signature_name": "predict", "instances": [[1, 2, 3]]}', 400, /signature_name/);
      await refused('/v1/models/linear:predict', '{"instances": [[1, 2, 3], [4, 5]]}', 400, /instance 1 has shape \[2\]/);
      await refused('/v1/models/linear:predict', '{"instances": [[1, 2, 3], [4, 5, [6]]]}', 400, /not rectangular/);
      await refused('/v1/models/linear:predict', '{"instances": [["1", 2, 3]]}', 400, /X/);
      await refused('/v1/models/named:predict', '{"instances": [[1, 2]]}', 400, /each instance must be an object naming them/);
      await refused('/v1/models/named:predict', '{"instances": [{"X": [1, 2]}]}', 400, /Input 'S' is missing from instance 0/);
      await refused('/v1/models/named:predict', '{"inputs": {"X": [[1, 2]], "S": [{"b64": "*"}]}}', 400, /not valid base64/);
      await refused('/v1/models/linear:predict', '{"instances": [[1, 2, 3]', 400, /JSON/);
      await refused('/v1/models/absent:predict', '{"instances": [[1, 2, 3]]}', 404, /absent/);
      await refused('/v1/models/linear/versions/9:predict', '{"instances": [[1, 2, 3]]}', 404, /9/);
    });
  });
}
