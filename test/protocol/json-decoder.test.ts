import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryLayout, decodeInferBinary, decodeInferJson, decodePredictJson } from '../../src/protocol/index.js';

const header = '{"inputs":[{"name":"x","datatype":"INT32","shape":[1],"parameters":{"binary_data_size":4}}]}';
const predict = '{"instances":[1]}';
const inputs = [{ name: 'x', datatype: 'INT32' as const, shape: [-1] }];

test('decodeInferBinary refuses binary data that is neither a Uint8Array nor a BinarySource, quoting it', () => {
  assert.throws(() => decodeInferBinary(header, new ArrayBuffer(4) as never, 10), {
    name: 'TypeError',
    message: /^Expected `binary` to be a Uint8Array or a BinarySource \(\{tensorData, finish\}\), got \{\} \(object\)$/,
  });
  assert.throws(() => decodeInferBinary(header, null as never, 10), { name: 'TypeError', message: 'Expected `binary` to be a Uint8Array or a BinarySource ({tensorData, finish}), got null (null)' });
});

test('decodeInferBinary reads a Uint8Array and takes a BinaryLayout', () => {
  const { request } = decodeInferBinary(header, new Uint8Array(new Int32Array([7]).buffer), 10);
  assert.deepEqual([...(request.inputs['x']!.data as Int32Array)], [7]);
  const layout = new BinaryLayout(4);
  decodeInferBinary(header, layout, 10);
  assert.equal(layout.spans.length, 1);
});

test('the body decoders refuse a body that is neither bytes nor text, quoting it', () => {
  const message = (name: string): RegExp => new RegExp(`^Expected \`${name}\` to be a Uint8Array or a string, got \\{\\} \\(object\\)$`);
  assert.throws(() => decodeInferJson(new ArrayBuffer(2) as never, 10), { name: 'TypeError', message: message('body') });
  assert.throws(() => decodeInferBinary(new ArrayBuffer(2) as never, new Uint8Array(4), 10), { name: 'TypeError', message: message('json') });
  assert.throws(() => decodePredictJson(new ArrayBuffer(2) as never, inputs, 10), { name: 'TypeError', message: message('body') });
});

test('the body decoders refuse a maxElements that is not an integer >= 1 and a bad maxHeapBytes, quoting them', () => {
  for (const bad of [Number.NaN, 0, '10', 1.5]) {
    assert.throws(() => decodeInferJson('{"inputs":[]}', bad as never), { message: /^Expected `maxElements` to be an integer/ }, String(bad));
    assert.throws(() => decodeInferBinary(header, new Uint8Array(4), bad as never), { message: /^Expected `maxElements` to be an integer/ }, String(bad));
    assert.throws(() => decodePredictJson(predict, inputs, bad as never), { message: /^Expected `maxElements` to be an integer/ }, String(bad));
  }
  assert.throws(() => decodeInferJson('{"inputs":[]}', 10, Number.NaN), { name: 'TypeError', message: 'Expected `maxHeapBytes` to be a finite number, got NaN (number)' });
  assert.throws(() => decodeInferBinary(header, new Uint8Array(4), 10, -1), { name: 'RangeError', message: /^Expected `maxHeapBytes` to be/ });
  assert.throws(() => decodePredictJson(predict, inputs, 10, '1' as never), { name: 'TypeError', message: "Expected `maxHeapBytes` to be a finite number, got \"1\" (string)" });
});

test('decodePredictJson refuses inputs that are not an array of specs, quoting them', () => {
  assert.throws(() => decodePredictJson(predict, {} as never, 10), { name: 'TypeError', message: 'Expected `inputs` to be an array of tensor specs, got {} (object)' });
});

test('the decoders refuse a bad argument with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => decodePredictJson('{}', 'x' as never, 10), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => decodeInferJson(new ArrayBuffer(2) as never, 10), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});

test("a zero-size input without Inference-Header-Content-Length gets a buffer of its own: moving one request's data to a worker leaves the next request's decode whole", () => {
  const input = (name: string, datatype: string) => `{"name":"${name}","shape":[1,0],"datatype":"${datatype}","parameters":{"binary_data_size":0}}`;
  const body = `{"inputs":[${input('x', 'FP32')},${input('b', 'BOOL')},${input('i', 'INT64')}]}`;
  const first = decodeInferJson(body, 100);
  const buffers = new Set(first.request.inputs ? Object.values(first.request.inputs).map((t) => (t.data as Uint8Array).buffer) : []);
  assert.equal(buffers.size, 3, 'each input has a buffer of its own');
  // The JSON worker and onnx-node's transferFeeds move the buffers under the decoded data.
  structuredClone(first, { transfer: [...buffers] as ArrayBuffer[] });
  const again = decodeInferJson(body, 100);
  assert.deepEqual(Object.values(again.request.inputs).map((t) => [t.datatype, t.data.length]), [
    ['FP32', 0],
    ['BOOL', 0],
    ['INT64', 0],
  ]);
});
