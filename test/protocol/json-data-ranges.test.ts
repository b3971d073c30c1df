import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeInferJson } from '../../src/protocol/index.js';
import { bodyText, parseJsonObject } from '../../src/protocol/json-body.js';
import { parseNonFinite } from '../../src/protocol/json-non-finite.js';
import { decodeInferRequestData, type InferRequestData } from '../../src/protocol/oip-request.js';
import { parseFloatArray } from '../../src/protocol/json-floats.js';

const MAX_ELEMENTS = 1 << 20;
const utf8 = new TextEncoder();

/** What decoding gave: the request, or the error's class and message. */
function outcome(decode: () => InferRequestData): unknown {
  try {
    return decode().request;
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

/** JSON.parse of the whole text, then the decoder: what every body was read with before data ranges. */
function wholeBody(body: Uint8Array): unknown {
  return outcome(() => decodeInferRequestData(parseJsonObject(bodyText(body), undefined, parseNonFinite), { maxElements: MAX_ELEMENTS }));
}

/** Asserts that a body decodes as reading it whole does: the same tensors (bit for bit) or the same error. */
function same(body: string | Uint8Array, message?: string): void {
  const bytes = typeof body === 'string' ? utf8.encode(pad(body)) : body;
  const ranged = outcome(() => decodeInferJson(bytes, MAX_ELEMENTS));
  const whole = wholeBody(bytes);
  assert.deepStrictEqual(ranged, whole, message ?? (typeof body === 'string' ? body.slice(0, 200) : undefined));
}

/** The body with trailing whitespace enough for its data to be read from the bytes (small bodies go to JSON.parse whole). */
function pad(body: string): string {
  return body + ' '.repeat(1024);
}

function request(data: string, datatype = 'FP32', shape = '[1]', extra = ''): string {
  return `{"inputs":[{"name":"x","datatype":"${datatype}","shape":${shape},"data":${data}${extra}}]}`;
}

/** A deterministic stream of doubles in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('an FP32 image decodes to the floats JSON.parse gives, in every way a client writes numbers', () => {
  const next = random(7);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const values: string[] = [];
  for (let i = 0; i < 4000; i++) {
    // Any float bit pattern but NaN and infinities, written as JSON does, as float32 printing does, and with 17 and 21 digits.
    u32[0] = (next() * 2 ** 32) >>> 0;
    const f = f32[0]!;
    if (!Number.isFinite(f)) continue;
    values.push(String(f), f.toPrecision(9), f.toPrecision(17), f.toExponential(20), (-f).toPrecision(12));
    // Decimals near the middle between two neighbouring floats, where rounding twice could differ.
    u32[0] += 1;
    const g = f32[0]!;
    if (Number.isFinite(g)) {
      const middle = (f + g) / 2;
      values.push(middle.toPrecision(17), middle.toPrecision(21), middle.toExponential(19));
    }
  }
  values.push('0', '-0', '0.0', '-0.0e5', '1E3', '1e+3', '1e-3', '123456789012345678901234567890', '0.000000000000000000000000000000000000000000001401298464324817',
    '1e-45', '7e-46', '3.4028235e38', '3.4028235677973362e38', '3.4028234663852886e38', '1e-400', '5e-324', '0.1', '0.30000000000000004', '9007199254740993',
    '1.00000000000000000000000000000000000001', '123.456e-2', '-1e-7', '2e38', '1' + '0'.repeat(38), '0.' + '0'.repeat(50) + '1');
  const data = `[${values.join(',')}]`;
  same(request(data, 'FP32', `[${values.length}]`));
  same(request(data, 'FP64', `[${values.length}]`));
  // Compared above on the fast path, not on a fallback to JSON.parse.
  assert.ok(parseFloatArray(utf8.encode(data), 0, data.length, 'FP32', values.length, 1));
  assert.ok(parseFloatArray(utf8.encode(data), 0, data.length, 'FP64', values.length, 1));
});

test('FP64 data decodes to the doubles JSON.parse gives', () => {
  const next = random(11);
  const values: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const x = (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20);
    values.push(String(x), x.toPrecision(15), x.toExponential(8), x.toPrecision(19));
  }
  values.push('1.7976931348623157e308', '2.2250738585072014e-308', '4.9e-324', '1e22', '1e23', '123456789012345.6');
  const data = `[${values.join(',')}]`;
  same(request(data, 'FP64', `[${values.length}]`));
  assert.ok(parseFloatArray(utf8.encode(data), 0, data.length, 'FP64', values.length, 1));
});

test('a number the storage makes infinite is refused by name, as before', () => {
  for (const big of ['3.4028235677973366e38', '3.4028236e38', '1e39', '-1e39', '1e400', '3.40282357e38']) same(request(`[${big}]`));
  for (const big of ['1e309', '-1e400']) same(request(`[${big}]`, 'FP64'));
});

test('an exponent of seven or more digits is not shortened against a long mantissa', () => {
  // 10^-100001 × 10^1000000 is infinite, and 10^100018 × 10^-1000000 is zero; shortened to 10^5, each exponent cancelled the digits' shift.
  for (const datatype of ['FP32', 'FP64']) {
    same(request(`[0.${'0'.repeat(100_000)}1e1000000]`, datatype));
    same(request(`[1${'0'.repeat(100_018)}e-1000000]`, datatype));
  }
});

test('data that is not plain JSON numbers, or does not fit its shape, is refused as reading the whole body refuses it', () => {
  const cases = [
    '[01]', '[1.]', '[.5]', '[+1]', '[1e]', '[-]', '[--1]', '[1e+]', '[NaN]', '[Infinity]', '[-Infinity]', '["NaN"]', '["1"]', '[true]', '[null]',
    '[1,]', '[,1]', '[1 2]', '[1,,2]', '[]', '[1,2]', '[[1]]', '[[[1]]]', '[1]]', '[[1]', '[1}', '[{}]', '[1, "]"]', '[0x1]', '[1_0]', '[ 1 ]', '[\n1\t]\r',
    '[1e5 ]', '[-0]', '[Inf]', '[1]x', '[1] ,', '[1e-99999999999]', '[1e99999999]',
  ];
  for (const data of cases) same(request(data));
  same(request('[1,2,3,4,5,6]', 'FP32', '[2,3]'));
  same(request('[[1,2,3],[4,5,6]]', 'FP32', '[2,3]'));
  same(request('[[1,2],[3,4,5,6]]', 'FP32', '[2,3]'));
  same(request('[[[1,2,3],[4,5,6]]]', 'FP32', '[2,3]'));
  same(request('[[],[1,2,3,4,5,6],[]]', 'FP32', '[2,3]'));
  same(request('[1,2,3,4,5]', 'FP32', '[2,3]'));
  same(request('[1,2,3,4,5,6,7]', 'FP32', '[2,3]'));
  same(request('[]', 'FP32', '[0]'));
  same(request('[[]]', 'FP32', '[1,0]'));
});

test('data refused once it was read from its range is not read whole again to refuse it', (t) => {
  const floats = Array.from({ length: 3000 }, (_, i) => (i / 7).toFixed(6));
  const parse = t.mock.method(JSON, 'parse');
  for (const [data, error] of [
    [`[${floats.join(',')},"x"]`, /^InvalidInputError: Input 'x': expected a number .* got "x" \(string\) at element 3000$/],
    [`[[${floats.join(',')}],[1]]`, /^InvalidInputError: Input 'x': `data` is nested deeper than the shape's 1 dimensions$/],
  ] as const) {
    const body = request(data, 'FP32', '[3001]');
    same(body);
    parse.mock.resetCalls();
    assert.throws(() => decodeInferJson(utf8.encode(body), MAX_ELEMENTS), error);
    const parsed = parse.mock.calls.reduce((sum, call) => sum + (call.arguments[0] as string).length, 0);
    assert.ok(parsed < body.length * 1.1, `JSON.parse read ${parsed} characters of a body of ${body.length}`);
  }
});

test('data nested deeper than its shape is refused as reading the whole body refuses it, without JSON.parse building its arrays', (t) => {
  const deep = (depth: number, leaf = '1') => `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;
  const parse = t.mock.method(JSON, 'parse');
  for (const [data, datatype, shape, depth] of [
    [deep(10_000), 'FP32', '[1,3]', 2],
    [deep(10_000), 'INT32', '[1]', 1],
    [`[1,${deep(5_000)}, 2]`, 'FP64', '[3]', 1],
    [`[[1,2],[${deep(5_000)}]]`, 'BOOL', '[2,2]', 2],
    [`[ [ ${'[ '.repeat(3_000)}0.5e-3${' ]'.repeat(3_000)} ] ]`, 'FP16', '[1,1,1]', 3],
  ] as const) {
    const body = request(data, datatype, shape);
    same(body);
    parse.mock.resetCalls();
    assert.throws(() => decodeInferJson(utf8.encode(body), MAX_ELEMENTS), { name: 'InvalidInputError', code: 'ERR_SERVABLE_INVALID_INPUT', message: `Input 'x': \`data\` is nested deeper than the shape's ${depth} dimensions` });
    const parsed = parse.mock.calls.reduce((sum, call) => sum + (call.arguments[0] as string).length, 0);
    assert.ok(parsed < 200, `JSON.parse read ${parsed} characters of a body of ${body.length}`);
  }
  // Refused by JSON.parse first, as reading the whole body refuses them: a syntax error past the nesting, a string, a bare NaN.
  for (const data of [deep(5_000, '1,]'), deep(5_000, '1 2'), deep(5_000, '01'), deep(5_000, '1.'), deep(5_000, '1e'), deep(5_000, '1,"a"'), deep(5_000, '1,NaN'), deep(5_000, '1,{}'), deep(5_000, '1,null')]) {
    same(request(data, 'FP32', '[1]'));
    same(request(data, 'INT8', '[1]'));
  }
  same(request(deep(3), 'FP32', '[1,1,1]'));
  same(request(deep(4), 'FP32', '[1,1,1]'));
});

test('other datatypes, and bodies shaped oddly around their data, decode as the whole body does', () => {
  for (const [datatype, data] of [['INT32', '[1,-2,3]'], ['INT64', '[1,"9007199254740993",3]'], ['BOOL', '[true,false,true]'], ['BYTES', '["a]","[b",""]'], ['FP16', '[1.5,-2,65504]'], ['UINT8', '[1,2,300]'], ['INT8', '[1.5,2,3]']]) {
    same(request(data!, datatype, '[3]'));
  }
  const cases = [
    // Keys twice: JSON.parse keeps the last.
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1,oops],"data":[2]}]}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],"data":[2]}]}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"inputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[2]}]}',
    // Data before its datatype and shape; keys escaped; data where no input is.
    '{"inputs":[{"data":[1.5,2.5],"shape":[2],"name":"x","datatype":"FP32"}]}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"d\\u0061ta":[1]}]}',
    '{"parameters":{"data":[1,2]},"inputs":[{"name":"x","datatype":"FP32","shape":[1],"parameters":{"data":[3]},"data":[4]}]}',
    '{"outputs":[{"name":"y","data":[1]}],"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[4]}]}',
    // Strings that look like structure.
    '{"id":"\\"data\\":[9]","inputs":[{"name":"x\\\\","datatype":"FP32","shape":[1],"data":[4]}]}',
    '{"id":"]}[{","inputs":[{"name":"\\"inputs\\":[","datatype":"FP32","shape":[1],"data":[4]}]}',
    // Two inputs, one of them binary-sized without a header; an input that is not an object; inputs not an array.
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2]},{"name":"y","datatype":"FP64","shape":[1],"data":[3]}]}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]},{"name":"x","datatype":"FP32","shape":[1],"data":[2]}]}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4},"data":[1]}]}',
    '{"inputs":[[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]]}',
    '{"inputs":{"name":"x","datatype":"FP32","shape":[1],"data":[1]}}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]} x',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"parameters":{"a":NaN}}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[NaN]}]}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":"',
    '[{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}]',
    '{"inputs" : [ { "name" : "x" , "datatype" : "FP32" , "shape" : [ 1 ] , "data" : [ 1 ] } ] }',
    '\ufeff{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}',
    '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}\ufeff]}',
    '{"inputs":[{"name":"é","datatype":"FP32","shape":[1],"data":[1]}]}',
    '',
  ];
  for (const body of cases) same(body);
});

test('bytes that are not UTF-8, inside or outside the data, are refused as before', () => {
  const body = utf8.encode(pad(request('[1,2]', 'FP32', '[2]')));
  const inData = body.indexOf(0x32);
  const inName = body.indexOf(0x78);
  for (const at of [inData, inName, 0]) {
    const broken = body.slice();
    broken[at] = 0xff;
    assert.throws(() => decodeInferJson(broken, MAX_ELEMENTS), /^InvalidInputError: The request body is not valid UTF-8; a body with binary tensor data needs/, `0xff at ${at}`);
  }
});

test('the reader takes only a whole, well-formed array with exactly the elements asked for', () => {
  const bytes = utf8.encode(' [1, [2.5, -3e2], []] ');
  assert.deepEqual(parseFloatArray(bytes, 1, 21, 'FP32', 3, 2), new Float32Array([1, 2.5, -300]));
  assert.equal(parseFloatArray(bytes, 1, 21, 'FP32', 3, 1), undefined, 'deeper than allowed');
  assert.equal(parseFloatArray(bytes, 1, 21, 'FP32', 2, 2), undefined, 'more elements than asked for');
  assert.equal(parseFloatArray(bytes, 1, 21, 'FP32', 4, 2), undefined, 'fewer');
  assert.equal(parseFloatArray(bytes, 1, 12, 'FP32', 2, 2), undefined, 'cut short');
  // More elements than the range has room for: refused before storage for them is allocated (which this many would fail).
  assert.equal(parseFloatArray(bytes, 1, 21, 'FP64', 2 ** 33, 2), undefined, 'more than the bytes could hold');
  assert.deepEqual(parseFloatArray(utf8.encode('[1,2]'), 0, 5, 'FP32', 2, 1), new Float32Array([1, 2]), 'as many as they can hold');
});

test('only numeric data is read from the bytes: BYTES data is left to JSON.parse with the rest of the body', (t) => {
  const parse = t.mock.method(JSON, 'parse');
  decodeInferJson(utf8.encode(pad(request('["a", "b"]', 'BYTES', '[2]'))), MAX_ELEMENTS);
  assert.equal(parse.mock.callCount(), 1);
  decodeInferJson(utf8.encode(pad(request('[[1.5, 2], [3, 4]]', 'FP32', '[2, 2]'))), MAX_ELEMENTS);
  assert.equal(parse.mock.callCount(), 2, 'the FP32 body: its text without the data');
  assert.equal(parse.mock.calls[1]!.arguments[0].includes('1.5'), false);
});

test('data read with JSON.parse shares one heap budget with the rest of the body: ranges that fit it alone may not together', () => {
  const zeros = `[${'0,'.repeat(9_999)}0]`;
  const input = (name: string) => `{"name":"${name}","datatype":"INT32","shape":[10000],"data":${zeros}}`;
  const one = utf8.encode(`{"inputs":[${input('a')}]}`);
  const two = utf8.encode(`{"inputs":[${input('a')},${input('b')}]}`);
  assert.equal((decodeInferJson(one, MAX_ELEMENTS, 1 << 20).request.inputs['a']!.data as Int32Array).length, 10_000);
  assert.throws(() => decodeInferJson(two, MAX_ELEMENTS, 1 << 20), { name: 'PayloadTooLargeError', message: /^Decoding this JSON body could take 2 MB of memory, more than the 1 MB a JSON worker takes for one body/ });
});
