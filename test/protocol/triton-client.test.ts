/**
 * Replays the requests Triton's Python HTTP client (tritonclient.http) sends, byte for byte, and
 * reads the replies the way its InferResult does, against a real servable/node server and a
 * Fastify one serving an exact ONNX model on onnx-node.
 *
 * What tritonclient builds (`_get_inference_request`, `InferInput._get_tensor`,
 * `InferRequestedOutput._get_tensor`), as python-rapidjson writes it (compact, keys in insertion
 * order): `{"id"?, "inputs": [{"name", "shape", "datatype", "parameters"?: {"binary_data_size"},
 * "data"?}], "outputs"?: [{"name", "parameters": {"classification"?, "binary_data"}}],
 * "parameters"?: {"sequence_id", "sequence_start", "sequence_end", "priority", "timeout",
 * "binary_data_output"}}`, where `binary_data_output: true` is set when no outputs are named. It
 * sends no Content-Type, `Inference-Header-Content-Length` when an input is binary, and
 * `Content-Encoding`/`Accept-Encoding` for `request_compression_algorithm` and
 * `response_compression_algorithm`. InferResult inflates a reply whose `Content-Encoding` is
 * `gzip` or `deflate` (zlib), then splits it at the reply's `Inference-Header-Content-Length`, and
 * takes each output with `parameters.binary_data_size` from the rest, in the order of `outputs`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync, deflateSync } from 'node:zlib';
import onnxProto from 'onnx-proto';
import { InferenceService, ModelRegistry } from 'servable';
import { InferenceStatistics } from 'servable/metrics';
import { onnxNode } from 'servable/onnx-node';
import { send, servers, type Reply } from './client-servers.js';
import { serializeBytes, splitReply } from './triton-result.js';

const { onnx } = onnxProto;

const FLOAT = 1;
const STRING = 8;
const BOOL = 9;
const FLOAT16 = 10;
const INT64 = 7;

/**
 * X float [batch, 3] and S string [batch, 2] in; Y = X·W + B (float), H = Y as float16, G = Y > 40
 * (bool), I = Y as int64 and T = S (string) out. Exact for small integer inputs.
 */
function tritonModel(): Uint8Array {
  const info = (name: string, elemType: number, width: number) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } } });
  const graph = onnx.GraphProto.create({
    name: 'triton',
    node: [
      onnx.NodeProto.create({ opType: 'MatMul', input: ['X', 'W'], output: ['XW'] }),
      onnx.NodeProto.create({ opType: 'Add', input: ['XW', 'B'], output: ['Y'] }),
      onnx.NodeProto.create({ opType: 'Cast', input: ['Y'], output: ['H'], attribute: [{ name: 'to', type: 2, i: FLOAT16 }] }),
      onnx.NodeProto.create({ opType: 'Greater', input: ['Y', 'C'], output: ['G'] }),
      onnx.NodeProto.create({ opType: 'Cast', input: ['Y'], output: ['I'], attribute: [{ name: 'to', type: 2, i: INT64 }] }),
      onnx.NodeProto.create({ opType: 'Identity', input: ['S'], output: ['T'] }),
    ],
    initializer: [
      onnx.TensorProto.create({ name: 'W', dataType: FLOAT, dims: [3, 2], floatData: [1, 2, 3, 4, 5, 6] }),
      onnx.TensorProto.create({ name: 'B', dataType: FLOAT, dims: [2], floatData: [10, 20] }),
      onnx.TensorProto.create({ name: 'C', dataType: FLOAT, dims: [], floatData: [40] }),
    ],
    input: [info('X', FLOAT, 3), info('S', STRING, 2)],
    output: [info('Y', FLOAT, 2), info('H', FLOAT16, 2), info('G', BOOL, 2), info('I', INT64, 2), info('T', STRING, 2)],
  });
  const model = onnx.ModelProto.create({ irVersion: 7, producerName: 'servable-tests', opsetImport: [{ domain: '', version: 13 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

/** `deserialize_bytes_tensor`. */
function deserializeBytes(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const length = bytes.readUInt32LE(offset);
    out.push(bytes.subarray(offset + 4, offset + 4 + length).toString('utf8'));
    offset += 4 + length;
  }
  return out;
}

/** `numpy.ndarray.tobytes()` of a float32 array. */
function float32Bytes(values: readonly number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

/** An output as InferResult.as_numpy reads it: flat values, and its shape. */
interface Output {
  readonly datatype: string;
  readonly shape: number[];
  readonly values: unknown[];
  readonly binary: boolean;
}

/** `np.frombuffer(buffer, dtype=triton_to_np_dtype(datatype))` for the datatypes of the model. */
function fromBuffer(datatype: string, bytes: Buffer): unknown[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read: Record<string, [number, (at: number) => unknown]> = {
    FP32: [4, (at) => view.getFloat32(at, true)],
    FP16: [2, (at) => view.getUint16(at, true)],
    BOOL: [1, (at) => view.getUint8(at) !== 0],
    INT64: [8, (at) => view.getBigInt64(at, true)],
  };
  if (datatype === 'BYTES') return deserializeBytes(bytes);
  const [size, at] = read[datatype]!;
  assert.equal(bytes.length % size, 0, `${datatype} data of ${bytes.length} bytes`);
  return Array.from({ length: bytes.length / size }, (_, i) => at(i * size));
}

/** InferResult(response) (see splitReply), each output's values as as_numpy reads them. */
function inferResult(reply: Reply): { json: Record<string, unknown>; outputs: Map<string, Output> } {
  const { json, bytes } = splitReply(reply);
  const outputs = new Map<string, Output>();
  for (const o of json.outputs) {
    const binary = bytes.get(o.name);
    outputs.set(o.name, { datatype: o.datatype, shape: o.shape, values: binary ? fromBuffer(o.datatype, binary) : o.data!, binary: binary !== undefined });
  }
  return { json, outputs };
}

/** The body tritonclient builds: the JSON text, then each binary input's raw data; and its json_size. */
function tritonBody(json: string, ...binary: Buffer[]): { body: Buffer; headers: Record<string, string> } {
  if (binary.length === 0) return { body: Buffer.from(json), headers: {} };
  return { body: Buffer.concat([Buffer.from(json), ...binary]), headers: { 'Inference-Header-Content-Length': String(json.length) } };
}

const ROWS = [
  [1, 2, 3],
  [4, 5, 6],
];
// No NUL byte: ONNX Runtime's string tensors end an element at one, as Triton's ONNX Runtime backend does.
const STRINGS = ['héllo', '', 'a b', '日本'];
const X = float32Bytes(ROWS.flat());
const S = serializeBytes(STRINGS);
/** Y for ROWS, and Y as float16 bits: 32, 48, 59, 84. */
const Y = [32, 48, 59, 84];
const H = [0x5000, 0x5200, 0x5360, 0x5540];
const G = [false, true, true, true];
const I = [32n, 48n, 59n, 84n];

/** The inputs as `set_data_from_numpy(x, binary_data=True)` describes them. */
const BINARY_INPUTS = `[{"name":"X","shape":[2,3],"datatype":"FP32","parameters":{"binary_data_size":${X.length}}},{"name":"S","shape":[2,2],"datatype":"BYTES","parameters":{"binary_data_size":${S.length}}}]`;

for (const [adapter, start] of Object.entries(servers)) {
  describe(`tritonclient.http against servable (${adapter})`, () => {
    let registry: ModelRegistry;
    let server: { url: string; close(): Promise<void> };
    /** The same service, with the statistics extension. */
    let withStatistics: { url: string; close(): Promise<void> };
    const post = (path: string, headers: Record<string, string>, body: Buffer) => send(server.url, 'POST', path, headers, body);

    before(async () => {
      registry = new ModelRegistry({ backends: [onnxNode({ instances: 1, intraOpNumThreads: 1 })] });
      await registry.load({ name: 'triton', source: tritonModel() });
      const service = new InferenceService({ registry });
      server = await start(service);
      withStatistics = await start(service, new InferenceStatistics({ service }));
    });
    after(async () => {
      await withStatistics.close();
      await server.close();
      await registry.close();
    });

    test('infer(inputs) with no outputs named: binary_data_output, every output binary in the model\'s order', async () => {
      const { body, headers } = tritonBody(`{"inputs":${BINARY_INPUTS},"parameters":{"binary_data_output":true}}`, X, S);
      const reply = await post('/v2/models/triton/infer', headers, body);
      assert.equal(reply.headers['content-type'], 'application/octet-stream');
      const { json, outputs } = inferResult(reply);
      assert.deepEqual(json, {
        model_name: 'triton',
        model_version: '1',
        outputs: [
          { name: 'Y', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
          { name: 'H', datatype: 'FP16', shape: [2, 2], parameters: { binary_data_size: 8 } },
          { name: 'G', datatype: 'BOOL', shape: [2, 2], parameters: { binary_data_size: 4 } },
          { name: 'I', datatype: 'INT64', shape: [2, 2], parameters: { binary_data_size: 32 } },
          { name: 'T', datatype: 'BYTES', shape: [2, 2], parameters: { binary_data_size: S.length } },
        ],
      });
      assert.deepEqual(outputs.get('Y')!.values, Y);
      assert.deepEqual(outputs.get('H')!.values, H);
      assert.deepEqual(outputs.get('G')!.values, G);
      assert.deepEqual(outputs.get('I')!.values, I);
      assert.deepEqual(outputs.get('T')!.values, STRINGS);
    });

    test('InferRequestedOutput mixing binary_data true and false, with request_id, sequence, priority and timeout', async () => {
      // infer(..., outputs=[Y json, G binary, T json, H binary], request_id='r1', sequence_id=7,
      // sequence_start=True, priority=1, timeout=5000000): parameters come last, as the client adds them.
      const json =
        `{"id":"r1","inputs":${BINARY_INPUTS},` +
        '"outputs":[{"name":"Y","parameters":{"binary_data":false}},{"name":"G","parameters":{"binary_data":true}},' +
        '{"name":"T","parameters":{"binary_data":false}},{"name":"H","parameters":{"binary_data":true}}],' +
        '"parameters":{"sequence_id":7,"sequence_start":true,"sequence_end":false,"priority":1,"timeout":5000000}}';
      const { body, headers } = tritonBody(json, X, S);
      const { json: head, outputs } = inferResult(await post('/v2/models/triton/versions/1/infer', headers, body));
      assert.deepEqual(head, {
        model_name: 'triton',
        model_version: '1',
        id: 'r1',
        outputs: [
          { name: 'Y', datatype: 'FP32', shape: [2, 2], data: Y },
          { name: 'G', datatype: 'BOOL', shape: [2, 2], parameters: { binary_data_size: 4 } },
          { name: 'T', datatype: 'BYTES', shape: [2, 2], data: STRINGS },
          { name: 'H', datatype: 'FP16', shape: [2, 2], parameters: { binary_data_size: 8 } },
        ],
      });
      assert.deepEqual(outputs.get('G')!.values, G);
      assert.deepEqual(outputs.get('H')!.values, H);
    });

    test('set_data_from_numpy(binary_data=False): JSON inputs, BYTES as strings, JSON outputs, no header length either way', async () => {
      const json =
        '{"inputs":[{"name":"X","shape":[2,3],"datatype":"FP32","data":[1.0,2.0,3.0,4.0,5.0,6.0]},' +
        `{"name":"S","shape":[2,2],"datatype":"BYTES","data":${JSON.stringify(STRINGS)}}],` +
        '"outputs":[{"name":"I","parameters":{"binary_data":false}},{"name":"G","parameters":{"binary_data":false}},{"name":"H","parameters":{"binary_data":false}}]}';
      const { body, headers } = tritonBody(json);
      const reply = await post('/v2/models/triton/infer', headers, body);
      assert.equal(reply.headers['inference-header-content-length'], undefined);
      const { json: head } = inferResult(reply);
      assert.deepEqual(head, {
        model_name: 'triton',
        model_version: '1',
        outputs: [
          { name: 'I', datatype: 'INT64', shape: [2, 2], data: Y },
          { name: 'G', datatype: 'BOOL', shape: [2, 2], data: G },
          { name: 'H', datatype: 'FP16', shape: [2, 2], data: Y },
        ],
      });
    });

    for (const [algorithm, compress] of [['gzip', gzipSync], ['deflate', deflateSync]] as const) {
      test(`request_compression_algorithm and response_compression_algorithm '${algorithm}': the header length counts the inflated JSON`, async () => {
        const rows = Array.from({ length: 64 }, (_, r) => [r, r + 1, r + 2]);
        const x = float32Bytes(rows.flat());
        const strings = Array.from({ length: 128 }, (_, i) => `s${i}`);
        const s = serializeBytes(strings);
        const json = `{"inputs":[{"name":"X","shape":[64,3],"datatype":"FP32","parameters":{"binary_data_size":${x.length}}},{"name":"S","shape":[64,2],"datatype":"BYTES","parameters":{"binary_data_size":${s.length}}}],"parameters":{"binary_data_output":true}}`;
        const plain = tritonBody(json, x, s);
        const reply = await post('/v2/models/triton/infer', { 'Content-Encoding': algorithm, 'Accept-Encoding': algorithm, ...plain.headers }, compress(plain.body));
        assert.equal(reply.headers['content-encoding'], algorithm);
        const { outputs } = inferResult(reply);
        const y = rows.flatMap(([a, b, c]) => [a! + 3 * b! + 5 * c! + 10, 2 * a! + 4 * b! + 6 * c! + 20]);
        assert.deepEqual(outputs.get('Y')!.values, y);
        assert.deepEqual(outputs.get('I')!.values, y.map(BigInt));
        assert.deepEqual(outputs.get('G')!.values, y.map((v) => v > 40));
        assert.deepEqual(outputs.get('T')!.values, strings);
        // Every output as JSON: no header length, so InferResult inflates the body and parses it whole.
        const asJson = json.replace('"parameters":{"binary_data_output":true}', '"outputs":[{"name":"Y","parameters":{"binary_data":false}},{"name":"T","parameters":{"binary_data":false}}]');
        const jsonBody = tritonBody(asJson, x, s);
        const jsonReply = await post('/v2/models/triton/infer', { 'Content-Encoding': algorithm, 'Accept-Encoding': algorithm, ...jsonBody.headers }, compress(jsonBody.body));
        assert.equal(jsonReply.headers['content-encoding'], algorithm);
        assert.equal(jsonReply.headers['inference-header-content-length'], undefined);
        const { json: head } = inferResult(jsonReply);
        assert.deepEqual(head.outputs, [
          { name: 'Y', datatype: 'FP32', shape: [64, 2], data: y },
          { name: 'T', datatype: 'BYTES', shape: [64, 2], data: strings },
        ]);
      });
    }

    test('an empty batch (binary_data_size 0, as serialize_byte_tensor gives) is a 400, as Triton\'s "batch-size must be >= 1"', async () => {
      const json = '{"inputs":[{"name":"X","shape":[0,3],"datatype":"FP32","parameters":{"binary_data_size":0}},{"name":"S","shape":[0,2],"datatype":"BYTES","parameters":{"binary_data_size":0}}],"parameters":{"binary_data_output":true}}';
      const { body, headers } = tritonBody(json, Buffer.alloc(0), Buffer.alloc(0));
      assert.deepEqual(headers, { 'Inference-Header-Content-Length': String(body.length) });
      const reply = await post('/v2/models/triton/infer', headers, body);
      assert.equal(reply.status, 400);
      assert.equal((JSON.parse(reply.body.toString()) as { error: string }).error, "Input 'X' has batch dimension 0: the request holds no items");
    });

    test('what servable refuses where Triton would answer: a priority past the levels, class_count of a BOOL output (before it runs), BF16', async () => {
      const refused = async (json: string, binary: Buffer[], message: RegExp) => {
        const { body, headers } = tritonBody(json, ...binary);
        const reply = await post('/v2/models/triton/infer', headers, body);
        assert.equal(reply.status, 400);
        // _get_error: InferenceServerException(msg=error_response["error"]).
        assert.match((JSON.parse(reply.body.toString()) as { error: string }).error, message);
      };
      // Triton runs it at the model's default level; servable's model has one level.
      await refused(`{"inputs":${BINARY_INPUTS},"parameters":{"priority":2,"binary_data_output":true}}`, [X, S], /`parameters.priority` to be an integer between 1 and 1, got 2/);
      // Triton fails it once the model has run ("class result not available for output due to unsupported type 'BOOL'"); servable before.
      await refused(`{"inputs":${BINARY_INPUTS},"outputs":[{"name":"G","parameters":{"classification":2,"binary_data":true}}]}`, [X, S], /Output 'G': `parameters.classification` needs a numeric output, got BOOL/);
      await refused('{"inputs":[{"name":"X","shape":[2,3],"datatype":"BF16","parameters":{"binary_data_size":12}}],"parameters":{"binary_data_output":true}}', [Buffer.alloc(12)], /Input 'X': unknown datatype "BF16"/);
    });

    test("InferRequestedOutput(class_count=k): Triton's classification extension, BYTES \"<value>:<index>\" as as_numpy reads them", async () => {
      // infer(outputs=[InferRequestedOutput('Y', class_count=3), InferRequestedOutput('I', binary_data=False, class_count=2)]).
      const json = `{"inputs":${BINARY_INPUTS},"outputs":[{"name":"Y","parameters":{"classification":3,"binary_data":true}},{"name":"I","parameters":{"classification":2,"binary_data":false}}]}`;
      const { body, headers } = tritonBody(json, X, S);
      const { json: head, outputs } = inferResult(await post('/v2/models/triton/infer', headers, body));
      // No batching (Triton's max_batch_size 0): all four elements of the [2, 2] output are the classes.
      assert.deepEqual(head.outputs, [
        { name: 'Y', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: 3 * (4 + 11) } },
        { name: 'I', datatype: 'BYTES', shape: [2], data: ['84:3', '59:2'] },
      ]);
      assert.deepEqual(outputs.get('Y')!.values, ['84.000000:3', '59.000000:2', '48.000000:1']);
      // A batching model classifies each row; class_count past the classes is cut to them.
      const rows = tritonBody(`{"inputs":${BINARY_INPUTS},"outputs":[{"name":"Y","parameters":{"classification":5,"binary_data":true}},{"name":"H","parameters":{"classification":1,"binary_data":false}}]}`, X, S);
      const batching = new ModelRegistry({ backends: [onnxNode({ instances: 1, intraOpNumThreads: 1 })] });
      await batching.load({ name: 'batched', source: tritonModel(), batching: { maxBatchSize: 4 } });
      const batchingServer = await start(new InferenceService({ registry: batching }));
      let batched: ReturnType<typeof inferResult>;
      try {
        batched = inferResult(await send(batchingServer.url, 'POST', '/v2/models/batched/infer', rows.headers, rows.body));
        // get_model_config of a batching model: dims without the batch dimension, the batcher's defaults in Triton's units.
        const config = JSON.parse((await send(batchingServer.url, 'GET', '/v2/models/batched/config')).body.toString()) as Record<string, unknown>;
        assert.deepEqual([config.max_batch_size, config.input, config.dynamic_batching], [
          4,
          [
            { name: 'X', data_type: 'TYPE_FP32', dims: [3] },
            { name: 'S', data_type: 'TYPE_STRING', dims: [2] },
          ],
          {
            preferred_batch_size: [],
            max_queue_delay_microseconds: 0,
            preserve_ordering: false,
            priority_levels: 0,
            default_priority_level: 0,
            default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: true, max_queue_size: 1024 },
            priority_queue_policy: {},
          },
        ]);
      } finally {
        await batchingServer.close();
        await batching.close();
      }
      assert.deepEqual(batched.json.outputs, [
        { name: 'Y', datatype: 'BYTES', shape: [2, 2], parameters: { binary_data_size: 4 * (4 + 11) } },
        { name: 'H', datatype: 'BYTES', shape: [2, 1], data: ['48.000000:1', '84.000000:1'] },
      ]);
      assert.deepEqual(batched.outputs.get('Y')!.values, ['48.000000:1', '32.000000:0', '84.000000:1', '59.000000:0']);
    });

    test('the health, metadata, readiness and model configuration routes the client calls; the ones servable does not serve are JSON 404s', async () => {
      const get = async (path: string) => {
        const reply = await send(server.url, 'GET', path);
        return { status: reply.status, json: JSON.parse(reply.body.toString()) as unknown };
      };
      assert.deepEqual(await get('/v2/health/live'), { status: 200, json: { live: true } });
      assert.deepEqual(await get('/v2/health/ready'), { status: 200, json: { ready: true } });
      const metadata = {
        name: 'triton',
        versions: ['1'],
        platform: 'onnx-node',
        inputs: [
          { name: 'X', datatype: 'FP32', shape: [-1, 3] },
          { name: 'S', datatype: 'BYTES', shape: [-1, 2] },
        ],
        outputs: [
          { name: 'Y', datatype: 'FP32', shape: [-1, 2] },
          { name: 'H', datatype: 'FP16', shape: [-1, 2] },
          { name: 'G', datatype: 'BOOL', shape: [-1, 2] },
          { name: 'I', datatype: 'INT64', shape: [-1, 2] },
          { name: 'T', datatype: 'BYTES', shape: [-1, 2] },
        ],
      };
      assert.deepEqual(await get('/v2/models/triton'), { status: 200, json: metadata });
      assert.deepEqual(await get('/v2/models/triton/versions/1'), { status: 200, json: metadata });
      assert.deepEqual(await get('/v2/models/triton/ready'), { status: 200, json: { name: 'triton', ready: true } });
      assert.deepEqual(await get('/v2/models/triton/versions/1/ready'), { status: 200, json: { name: 'triton', version: '1', ready: true } });
      assert.equal((await get('/v2')).status, 200);
      // get_model_config(model_name[, model_version]): json.loads of the reply. No batching, so dims keep every dimension.
      const tensor = (name: string, type: string, dims: number[]) => ({ name, data_type: `TYPE_${type}`, dims });
      const config = {
        name: 'triton',
        platform: 'onnxruntime_onnx',
        backend: 'onnxruntime',
        version_policy: { all: {} },
        max_batch_size: 0,
        input: [tensor('X', 'FP32', [-1, 3]), tensor('S', 'STRING', [-1, 2])],
        output: [tensor('Y', 'FP32', [-1, 2]), tensor('H', 'FP16', [-1, 2]), tensor('G', 'BOOL', [-1, 2]), tensor('I', 'INT64', [-1, 2]), tensor('T', 'STRING', [-1, 2])],
        instance_group: [{ name: 'triton_0', kind: 'KIND_CPU', count: 1 }],
      };
      assert.deepEqual(await get('/v2/models/triton/config'), { status: 200, json: config });
      assert.deepEqual(await get('/v2/models/triton/versions/1/config'), { status: 200, json: config });
      // _raise_if_error reads a non-200 reply's `error`.
      assert.deepEqual(await get('/v2/models/missing/config'), { status: 404, json: { error: "Model 'missing' not found", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' } });
      // get_inference_statistics, the trace and log settings and the shared-memory status: _get_error
      // reads their `error`, so the client raises InferenceServerException with it.
      for (const path of ['/v2/models/triton/stats', '/v2/trace/setting', '/v2/logging', '/v2/systemsharedmemory/status', '/v2/cudasharedmemory/status']) {
        assert.deepEqual(await get(path), { status: 404, json: { error: `No route for GET ${path}`, code: 'ERR_SERVABLE_NO_ROUTE' } }, path);
      }
      // get_inference_statistics() for every model asks for a model named `stats`.
      assert.deepEqual(await get('/v2/models/stats'), { status: 404, json: { error: "Model 'stats' not found", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' } });
    });

    test('get_inference_statistics() with the statistics option: the three URLs it builds, read as json.loads does', async () => {
      type Stat = { count: number; ns: number };
      type ModelStat = { name: string; version: string; last_inference: number; inference_count: number; execution_count: number; inference_stats: Record<string, Stat>; batch_stats: { batch_size: number; compute_infer: Stat }[] };
      // _get(request_uri) puts the URI after the base URL's slash; _raise_if_error reads a non-200 reply's `error`.
      const statistics = async (uri: string) => {
        const reply = await send(withStatistics.url, 'GET', `/${uri}`);
        assert.equal(reply.status, 200, uri);
        return (JSON.parse(reply.body.toString()) as { model_stats: ModelStat[] }).model_stats;
      };
      const [before] = await statistics('v2/models/triton/versions/1/stats');
      const { body, headers } = tritonBody(`{"inputs":${BINARY_INPUTS},"parameters":{"binary_data_output":true}}`, X, S);
      assert.equal((await send(withStatistics.url, 'POST', '/v2/models/triton/infer', headers, body)).status, 200);
      for (const uri of ['v2/models/stats', 'v2/models/triton/stats', 'v2/models/triton/versions/1/stats']) {
        const stats = await statistics(uri);
        assert.deepEqual(stats.map((s) => [s.name, s.version]), [['triton', '1']], uri);
        const [after] = stats;
        assert.deepEqual(Object.keys(after!), ['name', 'version', 'last_inference', 'inference_count', 'execution_count', 'inference_stats', 'batch_stats']);
        assert.deepEqual(Object.keys(after!.inference_stats), ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output', 'cache_hit', 'cache_miss']);
        // The request of X's two rows: one more success and one more execution, of one inference: the
        // model has no batching, and Triton counts a request to a model without max_batch_size as one.
        assert.deepEqual(
          [after!.inference_stats.success!.count - before!.inference_stats.success!.count, after!.execution_count - before!.execution_count, after!.inference_count - before!.inference_count],
          [1, 1, 1],
          uri,
        );
        assert.ok(after!.last_inference >= Date.now() - 60_000 && after!.inference_stats.compute_infer!.ns > 0, uri);
        assert.ok(after!.batch_stats.some((b) => b.batch_size === 1 && b.compute_infer.count >= 1), uri);
      }
      const unknown = await send(withStatistics.url, 'GET', '/v2/models/nope/stats');
      assert.deepEqual([unknown.status, JSON.parse(unknown.body.toString()) as unknown], [404, { error: "Model 'nope' not found", code: 'ERR_SERVABLE_MODEL_NOT_FOUND' }]);
    });
  });
}
