import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidInputError } from '../../src/core/index.js';
import { decodeInferRequest, decodePredict, encodeInferResponse, encodeJsonData, type EncodedInferResponse } from '../../src/protocol/index.js';
import { parseNonFinite } from '../../src/protocol/json-non-finite.js';

const limits = { maxElements: 1024 };

function decode(body: Record<string, unknown>) {
  return decodeInferRequest(body, limits);
}

function input(extra: Record<string, unknown>) {
  return { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4], ...extra }] };
}

function rejects(body: Record<string, unknown>, message: RegExp) {
  assert.throws(() => decode(body), (e: unknown) => e instanceof InvalidInputError && message.test(e.message), String(message));
}

test('flat and nested row-major data decode to the same typed array', () => {
  const flat = decode(input({})).request.inputs.x!;
  const nested = decode(input({ data: [[1, 2], [3, 4]] })).request.inputs.x!;
  assert.deepEqual(flat, { datatype: 'FP32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
  assert.deepEqual(nested, flat);
  const ragged = decode(input({ shape: [1, 2, 2], data: [[1, 2], 3, [4]] })).request.inputs.x!;
  assert.deepEqual(ragged.data, new Float32Array([1, 2, 3, 4]));
});

test('every datatype decodes into its storage', () => {
  const cases: [string, unknown[], unknown][] = [
    ['BOOL', [true, false], new Uint8Array([1, 0])],
    ['UINT8', [0, 255], new Uint8Array([0, 255])],
    ['INT8', [-128, 127], new Int8Array([-128, 127])],
    ['UINT16', [0, 65535], new Uint16Array([0, 65535])],
    ['INT16', [-32768, 32767], new Int16Array([-32768, 32767])],
    ['UINT32', [0, 4294967295], new Uint32Array([0, 4294967295])],
    ['INT32', [-2147483648, 2147483647], new Int32Array([-2147483648, 2147483647])],
    ['INT64', [-9007199254740991, '-9223372036854775808'], new BigInt64Array([-9007199254740991n, -9223372036854775808n])],
    ['UINT64', [9007199254740991, '18446744073709551615'], new BigUint64Array([9007199254740991n, 18446744073709551615n])],
    ['FP16', [1, -2], new Uint16Array([0x3c00, 0xc000])],
    ['FP32', [0.5, 'NaN'], new Float32Array([0.5, Number.NaN])],
    ['FP64', [0.1, '-Infinity'], new Float64Array([0.1, -Infinity])],
    ['BYTES', ['a', 'bc'], ['a', 'bc']],
  ];
  for (const [datatype, data, expected] of cases) {
    const t = decode({ inputs: [{ name: 'x', datatype, shape: [2], data }] }).request.inputs.x!;
    assert.deepEqual(t.data, expected, datatype);
  }
});

test('values that do not fit the datatype are refused, naming the input and the element', () => {
  const cases: [string, unknown[], RegExp][] = [
    ['BOOL', [1, 0], /Input 'x': expected true or false for BOOL, got 1 \(number\) at element 0/],
    ['UINT8', [0, 256], /Input 'x': expected an integer from 0 to 255 for UINT8, got 256 \(number\) at element 1/],
    ['INT32', [1.5, 0], /Input 'x': expected an integer .* for INT32, got 1.5/],
    ['INT64', [2 ** 60, 0], /Input 'x': expected an integer .* for INT64/],
    ['INT64', ['9223372036854775808', 0], /Input 'x': expected an integer .* for INT64/],
    ['FP32', ['1', 2], /Input 'x': expected a number .* for FP32, got "1" \(string\) at element 0/],
    ['FP32', [null, 2], /Input 'x': expected a number .* got null/],
    ['BYTES', ['a', 1], /Input 'x': expected a string for BYTES, got 1 \(number\) at element 1/],
  ];
  for (const [datatype, data, message] of cases) rejects({ inputs: [{ name: 'x', datatype, shape: [2], data }] }, message);
});

test('a number that would round to infinity, or that JSON.parse already made infinite, is refused; "Infinity" is not', () => {
  const range = (max: string) => `a number from -${max} to ${max} (or "NaN", "Infinity", "-Infinity")`;
  const cases: [string, unknown[], string][] = [
    ['FP32', [1, 1e300], `Input 'x': expected ${range('3.4028234663852886e+38')} for FP32, got 1e+300 (number) at element 1`],
    ['FP32', [-(2 ** 128 - 2 ** 103), 1], `Input 'x': expected ${range('3.4028234663852886e+38')} for FP32, got -3.4028235677973366e+38 (number) at element 0`],
    ['FP16', [1, -65520], `Input 'x': expected ${range('65504')} for FP16, got -65520 (number) at element 1`],
    // What JSON.parse makes of a literal too large for a double, 1e400.
    ['FP64', [JSON.parse('1e400'), 1], `Input 'x': expected ${range('1.7976931348623157e+308')} for FP64, got Infinity (number) at element 0`],
    ['FP32', [1, JSON.parse('-1e400')], `Input 'x': expected ${range('3.4028234663852886e+38')} for FP32, got -Infinity (number) at element 1`],
  ];
  for (const [datatype, data, message] of cases) {
    assert.throws(() => decode({ inputs: [{ name: 'x', datatype, shape: [2], data }] }), new InvalidInputError(message), datatype);
  }
  const fits: [string, unknown[], unknown][] = [
    ['FP32', [3.4028235e38, 'Infinity'], new Float32Array([3.4028234663852886e38, Infinity])],
    ['FP16', [65519, '-Infinity'], new Uint16Array([0x7bff, 0xfc00])],
    ['FP64', [1e300, -1e300], new Float64Array([1e300, -1e300])],
  ];
  for (const [datatype, data, expected] of fits) {
    assert.deepEqual(decode({ inputs: [{ name: 'x', datatype, shape: [2], data }] }).request.inputs.x!.data, expected, datatype);
  }
});

test('request structure errors say what was wrong', () => {
  rejects({ inputs: {} }, /Expected `inputs` to be an array, got \{\} \(object\)/);
  rejects({}, /Expected `inputs` to be an array, got undefined/);
  rejects({ inputs: [5] }, /Expected `inputs\[0\]` to be an object, got 5/);
  rejects({ inputs: [{ datatype: 'FP32', shape: [1], data: [1] }] }, /Expected `inputs\[0\].name` to be a non-empty string/);
  rejects(input({ datatype: 'FLOAT32' }), /Input 'x': unknown datatype "FLOAT32" \(string\); expected one of BOOL,/);
  rejects(input({ shape: [2, -1] }), /Input 'x': expected `shape` to be an array of at most 32 integers >= 0, got \[2,-1\]/);
  rejects(input({ shape: '2x2' }), /Input 'x': expected `shape` to be an array/);
  rejects(input({ data: 'abc' }), /Input 'x': expected `data` to be an array, got "abc"/);
  rejects(input({ data: [1, 2, 3] }), /Input 'x': shape \[2, 2\] holds 4 elements, but `data` has 3/);
  rejects(input({ data: [[[1, 2]], [[3, 4]]] }), /Input 'x': `data` is nested deeper than the shape's 2 dimensions/);
  rejects(input({ parameters: [] }), /Input 'x': expected `parameters` to be an object/);
  rejects({ ...input({}), id: 5 }, /Expected `id` to be a string, got 5/);
  rejects({ ...input({}), parameters: 'x' }, /Expected `parameters` to be an object/);
  rejects({ ...input({}), outputs: [{}] }, /Expected `outputs\[0\]` to be an object with a non-empty `name`/);
  rejects({ inputs: [input({}).inputs[0], input({}).inputs[0]] }, /Input 'x' is given more than once/);
});

test("an output asked for twice is refused, as Triton refuses it, not answered once with the first entry's binary_data", () => {
  rejects({ ...input({}), outputs: [{ name: 'y' }, { name: 'y' }] }, /Output 'y' is asked for more than once/);
  rejects(
    { ...input({}), outputs: [{ name: 'y', parameters: { binary_data: true } }, { name: 'z' }, { name: 'y', parameters: { binary_data: false } }] },
    /Output 'y' is asked for more than once/,
  );
});

test('a shape claiming more than maxElements is refused before its data is looked at', () => {
  rejects(input({ shape: [1000000000, 3, 48, 192], data: [1] }), /Input 'x': shape \[1000000000, 3, 48, 192\] claims 27648000000000 elements, more than the limit of 1024/);
  const absurd = Array.from({ length: 32 }, () => Number.MAX_SAFE_INTEGER);
  absurd[31] = 0;
  rejects(input({ shape: absurd }), /Input 'x': shape .* claims too many elements/);
  // A 0 dimension holds nothing, whatever the others say.
  assert.deepEqual(decode(input({ shape: [0, 5], data: [] })).request.inputs.x!.data, new Float32Array(0));
});

test('timeout is read in microseconds and priority passed through; 0 means the default', () => {
  const d = decode({ ...input({}), id: 'r1', parameters: { timeout: 250000, priority: 2, custom: 'kept' }, outputs: [{ name: 'y' }] });
  assert.equal(d.timeoutMs, 250);
  assert.equal(d.priority, 2);
  assert.equal(d.request.id, 'r1');
  assert.deepEqual(d.request.outputs, ['y']);
  assert.deepEqual(d.request.parameters, { timeout: 250000, priority: 2, custom: 'kept' });
  const defaults = decode({ ...input({}), parameters: { timeout: 0, priority: 0 } });
  assert.equal(defaults.timeoutMs, undefined);
  assert.equal(defaults.priority, undefined);
  rejects({ ...input({}), parameters: { timeout: -1 } }, /`parameters.timeout` to be a number of microseconds >= 0, got -1/);
  rejects({ ...input({}), parameters: { priority: 1.5 } }, /`parameters.priority` to be an integer >= 0, got 1.5/);
});

test('an empty outputs list asks for every output, as Triton reads it', () => {
  assert.equal(decode({ ...input({}), outputs: [] }).request.outputs, undefined);
  const d = decode({ ...input({}), outputs: [], parameters: { binary_data_output: true } });
  assert.equal(d.binaryOutput('y'), true);
});

test("Triton's shared-memory extension is refused, never answered as if not asked for", () => {
  const asked = (parameters: Record<string, unknown>) => ({ ...input({}), outputs: [{ name: 'y', parameters }] });
  rejects(
    asked({ binary_data: false, shared_memory_region: 'out', shared_memory_byte_size: 16 }),
    /Output 'y': shared memory is not supported \(`parameters.shared_memory_region` is "out" \(string\)\); leave it out to have the output in the body/,
  );
  rejects(
    { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], parameters: { shared_memory_region: 'in', shared_memory_byte_size: 16 } }] },
    /Input 'x': shared memory is not supported \(`parameters.shared_memory_region` is "in" \(string\)\); send `data` or binary data in the body instead/,
  );
  // 0 classes is no classification, as in Triton.
  assert.deepEqual(decode(asked({ classification: 0 })).request.outputs, ['y']);
});

test('outputs encode as flat JSON: BigInt as numbers when safe, non-finite floats as strings, FP16 as numbers', () => {
  assert.deepEqual(encodeJsonData({ datatype: 'INT64', shape: [3], data: new BigInt64Array([1n, -(2n ** 53n) + 1n, 2n ** 62n]) }), [
    1,
    -9007199254740991,
    '4611686018427387904',
  ]);
  assert.deepEqual(encodeJsonData({ datatype: 'FP32', shape: [3], data: new Float32Array([0.5, Infinity, Number.NaN]) }), [0.5, 'Infinity', 'NaN']);
  assert.deepEqual(encodeJsonData({ datatype: 'FP16', shape: [2], data: new Uint16Array([0x3c00, 0x2e66]) }), [1, 0.0999755859375]);
  assert.deepEqual(encodeJsonData({ datatype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) }), [true, false]);
  assert.deepEqual(encodeJsonData({ datatype: 'UINT8', shape: [2], data: new Uint8Array([7, 255]) }), [7, 255]);
  assert.deepEqual(encodeJsonData({ datatype: 'BYTES', shape: [1], data: ['é'] }), ['é']);
  const body = encodeInferResponse('m', '2', 'req-1', {
    outputs: { y: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([1.5, 2]) } },
  });
  assert.deepEqual(body, {
    json: { model_name: 'm', model_version: '2', id: 'req-1', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [1.5, 2] }] },
    binary: [],
  });
  assert.deepEqual(encodeInferResponse('m', undefined, undefined, { outputs: {} }).json, { model_name: 'm', outputs: [] });
});

/** A binary-extension body: the JSON header, then the chunks. */
function binaryBody(header: unknown, ...chunks: Uint8Array[]) {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const body = new Uint8Array(json.byteLength + chunks.reduce((n, c) => n + c.byteLength, 0));
  body.set(json);
  let offset = json.byteLength;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.byteLength;
  }
  return { body, headerLength: json.byteLength };
}

function bytesOf(...arrays: ArrayBufferView[]): Uint8Array[] {
  return arrays.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

function lengthPrefixed(...strings: string[]): Uint8Array {
  const parts = strings.map((s) => new TextEncoder().encode(s));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    new DataView(out.buffer).setUint32(offset, p.byteLength, true);
    out.set(p, offset + 4);
    offset += 4 + p.byteLength;
  }
  return out;
}

function decodeBinary(header: Record<string, unknown>, ...chunks: Uint8Array[]) {
  const { body, headerLength } = binaryBody(header, ...chunks);
  return decodeInferRequest(header, { maxElements: 1024, binary: body.subarray(headerLength) });
}

test('binary inputs decode from little-endian bytes in the order the JSON lists them; BYTES are length-prefixed', () => {
  const header = {
    inputs: [
      { name: 'u', datatype: 'UINT32', shape: [2, 2], parameters: { binary_data_size: 16 } },
      { name: 'j', datatype: 'INT8', shape: [2], data: [-1, 1] },
      { name: 'b', datatype: 'BOOL', shape: [3], parameters: { binary_data_size: 3 } },
      { name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 4 + 3 + 4 + 0 } },
      { name: 'i', datatype: 'INT64', shape: [1], parameters: { binary_data_size: 8 } },
    ],
  };
  const [u, b, i] = bytesOf(new Uint32Array([1, 2, 3, 4294967295]), new Uint8Array([1, 0, 1]), new BigInt64Array([-(2n ** 62n)]));
  const d = decodeBinary(header, u!, b!, lengthPrefixed('hé', ''), i!);
  assert.deepEqual(d.request.inputs.u, { datatype: 'UINT32', shape: [2, 2], data: new Uint32Array([1, 2, 3, 4294967295]) });
  assert.deepEqual(d.request.inputs.j!.data, new Int8Array([-1, 1]));
  assert.deepEqual(d.request.inputs.b!.data, new Uint8Array([1, 0, 1]));
  assert.deepEqual(d.request.inputs.s!.data, ['hé', '']);
  assert.deepEqual(d.request.inputs.i!.data, new BigInt64Array([-(2n ** 62n)]));
});

test('binary sizes are checked against the shape and the body before anything is allocated', () => {
  const input = (extra: Record<string, unknown>) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], ...extra }] });
  const two = new Uint8Array(8);
  const cases: [Record<string, unknown>, Uint8Array, RegExp][] = [
    [input({ parameters: { binary_data_size: 4 } }), new Uint8Array(4), /Input 'x': 2 FP32 elements take 8 bytes, but binary_data_size is 4/],
    [input({ parameters: { binary_data_size: 8 } }), new Uint8Array(4), /Input 'x': binary_data_size 8 runs past the end of the binary data \(4 bytes left\)/],
    [input({ parameters: { binary_data_size: 8 } }), new Uint8Array(12), /holds 4 bytes of binary data after the last input/],
    [input({ parameters: { binary_data_size: -1 } }), two, /Input 'x': expected `parameters.binary_data_size` to be an integer >= 0, got -1/],
    [input({ parameters: { binary_data_size: 8 }, data: [1, 2] }), two, /Input 'x': has both `data` and `parameters.binary_data_size`/],
    [input({ shape: [1000000000, 3, 48, 192], parameters: { binary_data_size: 8 } }), two, /Input 'x': shape \[1000000000, 3, 48, 192\] claims 27648000000000 elements/],
    [{ inputs: [{ name: 's', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: 8 } }] }, two, /Input 's': 3 BYTES elements take at least 12 bytes, but binary_data_size is 8/],
    [{ inputs: [{ name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }] }, lengthPrefixed('abcdef').subarray(0, 6), /Input 's': BYTES element 0 claims 6 bytes, past the end/],
  ];
  for (const [header, chunk, message] of cases) {
    assert.throws(() => decodeBinary(header, chunk), (e: unknown) => e instanceof InvalidInputError && message.test(e.message), String(message));
  }
  const invalid = lengthPrefixed('ab');
  invalid.set([0xff, 0xfe], 4);
  assert.throws(
    () => decodeBinary({ inputs: [{ name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }] }, invalid),
    /Input 's': BYTES element 0 is not valid UTF-8/,
  );
  assert.throws(
    () => decodeInferRequest(input({ parameters: { binary_data_size: 8 } }), { maxElements: 1024 }),
    /Input 'x': has binary_data_size but the request has no Inference-Header-Content-Length header/,
  );
});

test('decodeInferRequest refuses limits that are not valid, quoting them, with code ERR_SERVABLE_INVALID_OPTION', () => {
  const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] };
  assert.throws(() => decodeInferRequest(body, { maxElements: 0 }), {
    name: 'RangeError',
    code: 'ERR_SERVABLE_INVALID_OPTION',
    message: 'Expected `limits.maxElements` to be an integer >= 1, got 0 (number)',
  });
  const binary = [1, 2] as unknown as Uint8Array;
  assert.throws(() => decodeInferRequest(body, { maxElements: 8, binary }), {
    name: 'TypeError',
    code: 'ERR_SERVABLE_INVALID_OPTION',
    message: 'Expected `limits.binary` to be a Uint8Array, got [1,2] (array)',
  });
});

test('outputs asked for as binary are encoded as raw bytes after the JSON; the rest stay JSON', () => {
  const header = {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }],
    parameters: { binary_data_output: true },
    outputs: [{ name: 'y' }, { name: 's' }, { name: 'z', parameters: { binary_data: false } }],
  };
  const d = decodeInferRequest(header, { maxElements: 8 });
  assert.deepEqual(['y', 's', 'z', 'other'].map((n) => d.binaryOutput(n)), [true, true, false, true]);
  const encoded: EncodedInferResponse = encodeInferResponse('m', '1', undefined, {
    outputs: {
      y: { datatype: 'FP32', shape: [2], data: new Float32Array([1.5, -2]) },
      s: { datatype: 'BYTES', shape: [2], data: ['hé', ''] },
      z: { datatype: 'INT32', shape: [1], data: new Int32Array([7]) },
    },
  }, d.binaryOutput);
  assert.deepEqual(encoded.json.outputs, [
    { name: 'y', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
    { name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 11 } },
    { name: 'z', datatype: 'INT32', shape: [1], data: [7] },
  ]);
  assert.deepEqual(encoded.binary, [bytesOf(new Float32Array([1.5, -2]))[0], lengthPrefixed('hé', '')]);
  assert.throws(() => decodeInferRequest({ ...header, parameters: { binary_data_output: 1 } }, limits), /Expected `parameters.binary_data_output` to be true or false, got 1/);
  assert.throws(
    () => decodeInferRequest({ ...header, outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] }, limits),
    /Output 'y': expected `parameters.binary_data` to be true or false, got "yes"/,
  );
});

test('an input named __proto__ is an ordinary (unknown) name, not a prototype', () => {
  const d = decode({ inputs: [{ name: '__proto__', datatype: 'FP32', shape: [1], data: [1] }, { name: 'shape', datatype: 'FP32', shape: [1], data: [2] }] });
  assert.deepEqual(Object.keys(d.request.inputs), ['__proto__', 'shape']);
  assert.deepEqual(d.request.inputs.shape!.data, new Float32Array([2]));
  assert.equal(Object.getPrototypeOf(d.request.inputs), null);
});

test("bare NaN and Infinity, as Triton's RapidJSON parser reads them, are numbers to float inputs, and refused elsewhere", () => {
  const body = parseNonFinite(
    '{"id": "r", "parameters": {"tag": "NaN"}, "inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [NaN, -Inf, 1.5]}]}',
  ) as Record<string, unknown>;
  const { request } = decode(body);
  assert.deepEqual(request.inputs.x!.data, new Float32Array([Number.NaN, -Infinity, 1.5]));
  assert.deepEqual(request.parameters, { tag: 'NaN' });
  // Parameters reach handlers and cache keys as they are, where a bare token would be a symbol.
  rejects(
    parseNonFinite('{"parameters": {"a": 1, "nested": {"list": [0, -Infinity]}}, "inputs": []}') as Record<string, unknown>,
    /^Expected `parameters\.nested\.list\[1\]` to be standard JSON, got -Infinity \(a bare number\); bare NaN and Infinity are read only in an input's `data`$/,
  );
  rejects(parseNonFinite('{"inputs": [{"name": "i", "datatype": "INT64", "shape": [1], "data": [NaN]}]}') as Record<string, unknown>, /got NaN \(a bare number\) at element 0/);
  rejects(parseNonFinite('{"id": Infinity, "inputs": []}') as Record<string, unknown>, /Expected `id` to be a string, got Infinity \(a bare number\)/);
  rejects(parseNonFinite('{"parameters": {"timeout": Infinity}, "inputs": []}') as Record<string, unknown>, /^Expected `parameters\.timeout` to be standard JSON, got Infinity \(a bare number\)/);
  // Nested in a quoted value, a token reads as the client wrote it, not as the symbol standing for it.
  rejects(
    parseNonFinite('{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, NaN], "data": [1]}]}') as Record<string, unknown>,
    /expected `shape` to be an array of at most 32 integers >= 0, got \[1,NaN\] \(array\)$/,
  );
  rejects(parseNonFinite('{"inputs": [], "outputs": [{"name": -Inf}]}') as Record<string, unknown>, /got \{"name":-Infinity\} \(object\)$/);
});

test('a BYTES element that starts with U+FEFF keeps it, in binary data and in TF-Serving b64, where the decoders dropped it as a byte order mark', () => {
  const header = { inputs: [{ name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 4 + 4 + 4 + 3 } }] };
  const text = new TextEncoder();
  const element = (s: string) => {
    const bytes = text.encode(s);
    return Uint8Array.from([...new Uint8Array(new Uint32Array([bytes.byteLength]).buffer), ...bytes]);
  };
  assert.deepEqual(decodeBinary(header, element('\ufeffa'), element('\ufeff')).request.inputs.s!.data, ['\ufeffa', '\ufeff']);
  const b64 = btoa(String.fromCharCode(...text.encode('\ufeffb')));
  const predicted = decodePredict({ instances: [{ b64 }] }, [{ name: 's', datatype: 'BYTES', shape: [-1] }], 1024);
  assert.deepEqual(predicted.request.inputs.s!.data, ['\ufeffb']);
});

test('a bare INT64/UINT64 number out of range even exactly is refused as out of range, not sent to a decimal string that would be refused too', () => {
  const where = (datatype: string, value: number) => {
    try {
      decode({ inputs: [{ name: 'x', datatype, shape: [1], data: [value] }] });
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  // 1e20 is past INT64's 2^63 - 1 in any form; -2^53 - 2 is below UINT64's 0.
  assert.equal(where('INT64', 1e20), "Input 'x': expected an integer from -9223372036854775808 to 9223372036854775807 (a number from -(2^53 - 1) to 2^53 - 1, or a decimal string) for INT64, got a bare number out of range (read as 100000000000000000000) at element 0");
  assert.equal(where('UINT64', -(2 ** 53) - 2), "Input 'x': expected an integer from 0 to 18446744073709551615 (a number up to 2^53 - 1, or a decimal string) for UINT64, got a bare number out of range (read as -9007199254740994) at element 0");
  // A UINT64 is never a negative number: its range does not offer one.
  assert.equal(where('UINT64', -1), "Input 'x': expected an integer from 0 to 18446744073709551615 (a number up to 2^53 - 1, or a decimal string) for UINT64, got -1 (number) at element 0");
  // In range but rounded, it is still sent to a decimal string, quoting the exact integer JSON.parse read (not 1152921504606847000).
  assert.match(where('UINT64', 2 ** 60), /got a bare number past 2\^53 - 1 \(read as 1152921504606846976\), which JSON\.parse cannot read exactly: send it as a decimal string, at element 0$/);
});
