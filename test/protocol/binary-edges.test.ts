/**
 * The binary tensor data extension's edge cases as real HTTP requests, through servable/node and
 * Fastify, against a memory model that echoes each input: Inference-Header-Content-Length values
 * Triton reads differently or refuses, binary_data_size sums that miss the bytes sent, BYTES length
 * prefixes that run past their data, each datatype's element size, zero-element tensors; and every
 * reply read as tritonclient's InferResult reads it (inflate per Content-Encoding, split at the
 * reply's Inference-Header-Content-Length, binary outputs at offsets summed in the order of
 * `outputs`), with the exact bytes expected.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InferenceService, memoryBackend, ModelRegistry, type MemoryModel, type Tensor } from 'servable';
import { servableNode } from 'servable/node';
import { send, servers, type Reply } from './client-servers.js';
import { serializeBytes, splitReply, type ReplyOutput } from './triton-result.js';

/** x FP32, h FP16, b BOOL, i INT64, s BYTES in, each [-1, -1]; each out as it came, and z, FP32 [rows, 0]. */
function echo(): MemoryModel {
  const spec = (name: string, datatype: 'FP32' | 'FP16' | 'BOOL' | 'INT64' | 'BYTES') => ({ name, datatype, shape: [-1, -1] });
  const inputs = [spec('x', 'FP32'), spec('h', 'FP16'), spec('b', 'BOOL'), spec('i', 'INT64'), spec('s', 'BYTES')];
  return {
    inputs,
    outputs: [...inputs, spec('z', 'FP32')],
    run: (feeds) => ({ ...feeds, z: { datatype: 'FP32', shape: [feeds.x!.shape[0]!, 0], data: new Float32Array(0) } as Tensor }),
  };
}

const X = Buffer.from(new Float32Array([1.5, -2, 3, 4]).buffer);
/** 1, -2, 0.5, 65504 as float16 bits. */
const H = Buffer.from(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff]).buffer);
/** Any non-zero byte is true and reaches the model as 1. */
const B = Buffer.from([0, 1, 7, 0]);
const I = Buffer.from(new BigInt64Array([1n, -1n, 9223372036854775807n, -9223372036854775808n]).buffer);
const STRINGS = ['héllo', '', 'a\u0000b', '日本'];
const S = serializeBytes(STRINGS);

/** The five inputs, [2, 2] each, with the binary_data_size of each given (or their data's). */
function inputs(sizes: Partial<Record<'x' | 'h' | 'b' | 'i' | 's', number>> = {}): string {
  const input = (name: string, datatype: string, size: number) => `{"name":"${name}","shape":[2,2],"datatype":"${datatype}","parameters":{"binary_data_size":${size}}}`;
  return `[${input('x', 'FP32', sizes.x ?? X.length)},${input('h', 'FP16', sizes.h ?? H.length)},${input('b', 'BOOL', sizes.b ?? B.length)},${input('i', 'INT64', sizes.i ?? I.length)},${input('s', 'BYTES', sizes.s ?? S.length)}]`;
}
const DATA = Buffer.concat([X, H, B, I, S]);

/** One output of a reply as tritonclient's InferResult reads it: its JSON, and its binary bytes when it has any. */
interface ReadOutput {
  readonly json: ReplyOutput;
  readonly bytes: Buffer | undefined;
}

/** InferResult(response), as splitReply reads it, by output name. */
function inferResult(reply: Reply): { json: { outputs: ReplyOutput[] } & Record<string, unknown>; outputs: Map<string, ReadOutput> } {
  const { json, bytes } = splitReply(reply);
  return { json, outputs: new Map(json.outputs.map((o) => [o.name, { json: o, bytes: bytes.get(o.name) }])) };
}

for (const [adapter, start] of Object.entries(servers)) {
  describe(`binary tensor data edge cases over HTTP (${adapter})`, () => {
    let registry: ModelRegistry;
    let server: { url: string; close(): Promise<void> };
    const post = (headers: Record<string, string>, body: Buffer) => send(server.url, 'POST', '/v2/models/echo/infer', headers, body);
    /** The 400 a request gets, as tritonclient's _get_error reads it. */
    const refused = async (headers: Record<string, string>, body: Buffer): Promise<string> => {
      const reply = await post(headers, body);
      assert.equal(reply.status, 400, reply.body.toString());
      const answer = JSON.parse(reply.body.toString()) as { error: string; code: string };
      assert.equal(answer.code, 'ERR_SERVABLE_INVALID_INPUT');
      return answer.error;
    };
    const withLength = (json: string, binary: Buffer, length = Buffer.byteLength(json)) => ({ headers: { 'Inference-Header-Content-Length': String(length) }, body: Buffer.concat([Buffer.from(json), binary]) });

    before(async () => {
      registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'echo', source: echo(), warmup: [] });
      server = await start(new InferenceService({ registry }));
    });
    after(async () => {
      await server.close();
      await registry.close();
    });

    test('every datatype in binary and out in binary: the exact bytes back, offsets in the order of outputs, Content-Length the body', async () => {
      const json = `{"inputs":${inputs()},"outputs":[{"name":"s","parameters":{"binary_data":true}},{"name":"z","parameters":{"binary_data":true}},{"name":"x","parameters":{"binary_data":true}},{"name":"h","parameters":{"binary_data":true}},{"name":"b","parameters":{"binary_data":true}},{"name":"i","parameters":{"binary_data":true}}]}`;
      const { headers, body } = withLength(json, DATA);
      const reply = await post(headers, body);
      assert.equal(reply.headers['content-type'], 'application/octet-stream');
      const expectedJson = '{"model_name":"echo","model_version":"1","outputs":[' +
        `{"name":"s","datatype":"BYTES","shape":[2,2],"parameters":{"binary_data_size":${S.length}}},` +
        '{"name":"z","datatype":"FP32","shape":[2,0],"parameters":{"binary_data_size":0}},' +
        '{"name":"x","datatype":"FP32","shape":[2,2],"parameters":{"binary_data_size":16}},' +
        '{"name":"h","datatype":"FP16","shape":[2,2],"parameters":{"binary_data_size":8}},' +
        '{"name":"b","datatype":"BOOL","shape":[2,2],"parameters":{"binary_data_size":4}},' +
        '{"name":"i","datatype":"INT64","shape":[2,2],"parameters":{"binary_data_size":32}}]}';
      assert.equal(reply.headers['inference-header-content-length'], String(Buffer.byteLength(expectedJson)));
      assert.deepEqual(reply.body, Buffer.concat([Buffer.from(expectedJson), S, X, H, Buffer.from([0, 1, 1, 0]), I]));
      const { outputs } = inferResult(reply);
      assert.deepEqual(outputs.get('z')!.bytes, Buffer.alloc(0));
      assert.deepEqual(outputs.get('b')!.bytes, Buffer.from([0, 1, 1, 0]));
    });

    test('binary and JSON outputs mixed: only the binary ones take bytes, in the order of outputs; binary_data_output for the rest', async () => {
      const json = `{"inputs":${inputs()},"outputs":[{"name":"i","parameters":{"binary_data":false}},{"name":"h"},{"name":"b","parameters":{"binary_data":false}},{"name":"s"}],"parameters":{"binary_data_output":true}}`;
      const { headers, body } = withLength(json, DATA);
      const { json: head, outputs } = inferResult(await post(headers, body));
      assert.deepEqual(head.outputs, [
        { name: 'i', datatype: 'INT64', shape: [2, 2], data: [1, -1, '9223372036854775807', '-9223372036854775808'] },
        { name: 'h', datatype: 'FP16', shape: [2, 2], parameters: { binary_data_size: 8 } },
        { name: 'b', datatype: 'BOOL', shape: [2, 2], data: [false, true, true, false] },
        { name: 's', datatype: 'BYTES', shape: [2, 2], parameters: { binary_data_size: S.length } },
      ]);
      assert.deepEqual([outputs.get('h')!.bytes, outputs.get('s')!.bytes], [H, S]);
    });

    test('only zero-element outputs in binary: the header length is the whole body, and a JSON-only reply has none', async () => {
      const json = `{"inputs":${inputs()},"outputs":[{"name":"z","parameters":{"binary_data":true}}]}`;
      const { headers, body } = withLength(json, DATA);
      const reply = await post(headers, body);
      const expectedJson = '{"model_name":"echo","model_version":"1","outputs":[{"name":"z","datatype":"FP32","shape":[2,0],"parameters":{"binary_data_size":0}}]}';
      assert.deepEqual([reply.headers['content-type'], reply.headers['inference-header-content-length'], reply.body.toString()], ['application/octet-stream', String(expectedJson.length), expectedJson]);
      inferResult(reply);
      const asJson = withLength(`{"inputs":${inputs()},"outputs":[{"name":"z"}]}`, DATA);
      const jsonReply = await post(asJson.headers, asJson.body);
      assert.deepEqual([jsonReply.headers['content-type'], jsonReply.headers['inference-header-content-length']], ['application/json', undefined]);
      assert.deepEqual(inferResult(jsonReply).json.outputs, [{ name: 'z', datatype: 'FP32', shape: [2, 0], data: [] }]);
    });

    for (const encoding of ['gzip', 'deflate']) {
      test(`a ${encoding} reply with binary outputs: inflated, then split at the header length, which counts the JSON before compression`, async () => {
        const strings = Array.from({ length: 400 }, (_, k) => `string ${k}`);
        const s = serializeBytes(strings);
        const json = `{"id":"é","inputs":${inputs({ s: s.length }).replace('"name":"s","shape":[2,2]', '"name":"s","shape":[2,200]')},"parameters":{"binary_data_output":true}}`;
        const { headers, body } = withLength(json, Buffer.concat([X, H, B, I, s]));
        const reply = await post({ ...headers, 'Accept-Encoding': encoding }, body);
        assert.equal(reply.headers['content-encoding'], encoding);
        const { json: head, outputs } = inferResult(reply);
        assert.equal(head.id, 'é');
        assert.deepEqual([...outputs.keys()], ['x', 'h', 'b', 'i', 's', 'z']);
        assert.deepEqual([outputs.get('x')!.bytes, outputs.get('i')!.bytes, outputs.get('s')!.bytes, outputs.get('z')!.bytes], [X, I, s, Buffer.alloc(0)]);
      });
    }

    test('classification with binary_data: BYTES "<value>:<index>" strings, length-prefixed, beside binary outputs', async () => {
      const json = `{"inputs":${inputs()},"outputs":[{"name":"x","parameters":{"classification":1,"binary_data":true}},{"name":"h","parameters":{"binary_data":true}}]}`;
      const { headers, body } = withLength(json, DATA);
      const { json: head, outputs } = inferResult(await post(headers, body));
      // No batching: all four elements of x are one row of classes.
      assert.deepEqual(head.outputs, [
        { name: 'x', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 4 + 10 } },
        { name: 'h', datatype: 'FP16', shape: [2, 2], parameters: { binary_data_size: 8 } },
      ]);
      assert.deepEqual([outputs.get('x')!.bytes, outputs.get('h')!.bytes], [serializeBytes(['4.000000:3']), H]);
    });

    test('Inference-Header-Content-Length equal to the whole body: no binary part, JSON inputs read as they are', async () => {
      const json = '{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[2]},{"name":"h","shape":[1,1],"datatype":"FP16","data":[1]},{"name":"b","shape":[1,1],"datatype":"BOOL","data":[true]},{"name":"i","shape":[1,1],"datatype":"INT64","data":[3]},{"name":"s","shape":[1,1],"datatype":"BYTES","data":["q"]}],"outputs":[{"name":"s"}]}';
      const { headers, body } = withLength(json, Buffer.alloc(0));
      assert.deepEqual(inferResult(await post(headers, body)).json.outputs, [{ name: 's', datatype: 'BYTES', shape: [1, 1], data: ['q'] }]);
      // And a binary input then has nothing to read.
      const binary = withLength(`{"inputs":${inputs()}}`, Buffer.alloc(0));
      assert.equal(await refused(binary.headers, binary.body), "Input 'x': binary_data_size 16 runs past the end of the binary data (0 bytes left)");
    });

    test('Inference-Header-Content-Length larger than the body, not a number, negative or absent: a 400 saying so', async () => {
      const json = `{"inputs":${inputs()}}`;
      const body = Buffer.concat([Buffer.from(json), DATA]);
      const within = (got: string) => `Expected the Inference-Header-Content-Length header to be a byte count within the body's ${body.length} bytes, got "${got}" (string)`;
      for (const value of [String(body.length + 1), 'abc', '-1', '1e3', '0x10', `${json.length}abc`]) {
        assert.equal(await refused({ 'Inference-Header-Content-Length': value }, body), within(value), value);
      }
      assert.equal(await refused({}, body), 'The request body is not valid UTF-8; a body with binary tensor data needs the Inference-Header-Content-Length header, the byte length of its JSON part');
      // A JSON body whose inputs claim binary data, with no header at all.
      assert.equal(await refused({}, Buffer.from(json)), "Input 'x': has binary_data_size but the request has no Inference-Header-Content-Length header");
    });

    test("Inference-Header-Content-Length 0, Triton's raw binary request (the whole body one input's data), is a 400 saying servable does not serve it", async () => {
      assert.equal(
        await refused({ 'Inference-Header-Content-Length': '0' }, X),
        "Inference-Header-Content-Length 0 asks for Triton's raw binary request (the whole body the data of a model's one input), which servable does not serve; send the JSON header first and its length in bytes",
      );
    });

    test('binary_data_size summing to fewer or more bytes than follow the JSON, or beside `data`: a 400 naming the input', async () => {
      const json = `{"inputs":${inputs()}}`;
      const short = withLength(json, DATA.subarray(0, DATA.length - 1));
      assert.equal(await refused(short.headers, short.body), `Input 's': binary_data_size ${S.length} runs past the end of the binary data (${S.length - 1} bytes left)`);
      const long = withLength(json, Buffer.concat([DATA, Buffer.from([0, 0])]));
      assert.equal(await refused(long.headers, long.body), "The body holds 2 bytes of binary data after the last input's binary_data_size");
      const both = withLength(json.replace('"binary_data_size":16}', '"binary_data_size":16},"data":[1,2,3,4]'), DATA);
      assert.equal(await refused(both.headers, both.body), "Input 'x': has both `data` and `parameters.binary_data_size`; send one");
    });

    test("each datatype's size is its element size times the shape's elements: FP16 2, BOOL 1, INT64 8; BF16 is not a datatype", async () => {
      const cases: [Partial<Record<'x' | 'h' | 'b' | 'i', number>>, Buffer[], string][] = [
        [{ h: 6 }, [X, H.subarray(0, 6), B, I, S], "Input 'h': 4 FP16 elements take 8 bytes, but binary_data_size is 6"],
        [{ b: 8 }, [X, H, B, B, I, S], "Input 'b': 4 BOOL elements take 4 bytes, but binary_data_size is 8"],
        [{ i: 16 }, [X, H, B, I.subarray(0, 16), S], "Input 'i': 4 INT64 elements take 32 bytes, but binary_data_size is 16"],
      ];
      for (const [sizes, data, message] of cases) {
        const { headers, body } = withLength(`{"inputs":${inputs(sizes)}}`, Buffer.concat(data));
        assert.equal(await refused(headers, body), message);
      }
      const bf16 = withLength(`{"inputs":${inputs().replace('"datatype":"FP16"', '"datatype":"BF16"')}}`, DATA);
      assert.match(await refused(bf16.headers, bf16.body), /^Input 'h': unknown datatype "BF16" \(string\); expected one of BOOL, /);
    });

    test('BYTES length prefixes that run past their binary_data_size, or leave bytes over, are a 400 naming the element', async () => {
      // The last element's prefix says 6 bytes; 3 follow.
      const past = Buffer.concat([S.subarray(0, S.length - 6), Buffer.from('日')]);
      const overrun = withLength(`{"inputs":${inputs({ s: past.length })}}`, Buffer.concat([X, H, B, I, past]));
      assert.equal(await refused(overrun.headers, overrun.body), "Input 's': BYTES element 3 claims 6 bytes, past the end of its binary data");
      // The prefix itself cut short.
      const cut = withLength(`{"inputs":${inputs({ s: S.length - 8 - 2 })}}`, Buffer.concat([X, H, B, I, S.subarray(0, S.length - 10)]));
      assert.equal(await refused(cut.headers, cut.body), "Input 's': the binary data ends before BYTES element 3");
      const over = withLength(`{"inputs":${inputs({ s: S.length + 3 })}}`, Buffer.concat([X, H, B, I, S, Buffer.from('xyz')]));
      assert.equal(await refused(over.headers, over.body), `Input 's': 4 BYTES elements take ${S.length} bytes, but binary_data_size is ${S.length + 3}`);
    });

    test('binary_data_size 0 needs no Inference-Header-Content-Length, as in Triton: there are no bytes to find', async () => {
      const input = (name: string, datatype: string) => `{"name":"${name}","shape":[1,0],"datatype":"${datatype}","parameters":{"binary_data_size":0}}`;
      const json = `{"inputs":[${input('x', 'FP32')},${input('h', 'FP16')},${input('b', 'BOOL')},${input('i', 'INT64')},${input('s', 'BYTES')}],"outputs":[{"name":"s"},{"name":"x","parameters":{"binary_data":true}}]}`;
      const reply = await post({}, Buffer.from(json));
      const { json: head } = inferResult(reply);
      assert.deepEqual(head.outputs, [
        { name: 's', datatype: 'BYTES', shape: [1, 0], data: [] },
        { name: 'x', datatype: 'FP32', shape: [1, 0], parameters: { binary_data_size: 0 } },
      ]);
      // A size above 0 still needs the header, and its elements are still counted against it.
      assert.equal(await refused({}, Buffer.from(json.replace('"shape":[1,0],"datatype":"FP32","parameters":{"binary_data_size":0}', '"shape":[1,1],"datatype":"FP32","parameters":{"binary_data_size":4}'))), "Input 'x': has binary_data_size but the request has no Inference-Header-Content-Length header");
      assert.equal(await refused({}, Buffer.from(json.replace('"shape":[1,0],"datatype":"FP32"', '"shape":[1,1],"datatype":"FP32"'))), "Input 'x': 1 FP32 elements take 4 bytes, but binary_data_size is 0");
    });

    test('zero-element tensors with binary_data_size 0 decode to empty tensors and come back with binary_data_size 0', async () => {
      const input = (name: string, datatype: string) => `{"name":"${name}","shape":[1,0],"datatype":"${datatype}","parameters":{"binary_data_size":0}}`;
      const json = `{"inputs":[${input('x', 'FP32')},${input('h', 'FP16')},${input('b', 'BOOL')},${input('i', 'INT64')},${input('s', 'BYTES')}],"parameters":{"binary_data_output":true}}`;
      const { headers, body } = withLength(json, Buffer.alloc(0));
      const { json: head, outputs } = inferResult(await post(headers, body));
      assert.deepEqual(head.outputs.map((o) => [o.name, o.shape, o.parameters]), ['x', 'h', 'b', 'i', 's', 'z'].map((name) => [name, [1, 0], { binary_data_size: 0 }]));
      assert.ok([...outputs.values()].every((o) => o.bytes?.length === 0), 'no output holds a byte');
    });
  });
}

describe('binary tensor data edge cases decoded on a JSON worker (servable/node, jsonWorkerMinBytes 0)', () => {
  let registry: ModelRegistry;
  let server: http.Server;
  let url: string;
  before(async () => {
    registry = new ModelRegistry({ backends: [memoryBackend()] });
    await registry.load({ name: 'echo', source: echo(), warmup: [] });
    server = http.createServer(servableNode({ service: new InferenceService({ registry }), jsonWorkerMinBytes: 0 }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await registry.close();
  });

  test('a header decoded apart from its data, a zero-size input with no header, and header 0, as on the event loop', async () => {
    const json = `{"inputs":${inputs()},"outputs":[{"name":"s","parameters":{"binary_data":true}},{"name":"b"}]}`;
    const { json: head, outputs } = inferResult(await send(url, 'POST', '/v2/models/echo/infer', { 'Inference-Header-Content-Length': String(json.length) }, Buffer.concat([Buffer.from(json), DATA])));
    assert.deepEqual(head.outputs, [
      { name: 's', datatype: 'BYTES', shape: [2, 2], parameters: { binary_data_size: S.length } },
      { name: 'b', datatype: 'BOOL', shape: [2, 2], data: [false, true, true, false] },
    ]);
    assert.deepEqual(outputs.get('s')!.bytes, S);
    const input = (name: string, datatype: string) => `{"name":"${name}","shape":[1,0],"datatype":"${datatype}","parameters":{"binary_data_size":0}}`;
    const empty = `{"inputs":[${input('x', 'FP32')},${input('h', 'FP16')},${input('b', 'BOOL')},${input('i', 'INT64')},${input('s', 'BYTES')}],"outputs":[{"name":"i"}]}`;
    // Twice: the worker moves the buffers under what it decoded, so each request's must be its own.
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(inferResult(await send(url, 'POST', '/v2/models/echo/infer', {}, Buffer.from(empty))).json.outputs, [{ name: 'i', datatype: 'INT64', shape: [1, 0], data: [] }]);
    }
    // A shape that claims elements with size 0 is refused there as on the event loop.
    const claims = await send(url, 'POST', '/v2/models/echo/infer', {}, Buffer.from(empty.replace('"shape":[1,0],"datatype":"BYTES"', '"shape":[1,2],"datatype":"BYTES"')));
    assert.equal(claims.status, 400);
    assert.equal((JSON.parse(claims.body.toString()) as { error: string }).error, "Input 's': 2 BYTES elements take at least 8 bytes, but binary_data_size is 0");
    const raw = await send(url, 'POST', '/v2/models/echo/infer', { 'Inference-Header-Content-Length': '0' }, X);
    assert.equal(raw.status, 400);
    assert.match((JSON.parse(raw.body.toString()) as { error: string }).error, /^Inference-Header-Content-Length 0 asks for Triton's raw binary request/);
  });
});
