import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TensorSpec } from '../../src/backends/index.js';
import type { DataType } from '../../src/core/index.js';
import { decodePredictJson } from '../../src/protocol/index.js';
import { bodyText, parseJsonObject } from '../../src/protocol/json-body.js';
import { parseFloatTensor } from '../../src/protocol/json-floats.js';
import { hasLeadingRun } from '../../src/protocol/json-nesting.js';
import { parseNonFinite } from '../../src/protocol/json-non-finite.js';
import { decodePredict, type DecodedPredict } from '../../src/protocol/tf-request.js';

const MAX_ELEMENTS = 1 << 20;
const utf8 = new TextEncoder();

const spec = (name: string, datatype: DataType): TensorSpec => ({ name, datatype, shape: [-1] });
const X32 = [spec('x', 'FP32')];
const X64 = [spec('x', 'FP64')];
const TWO = [spec('x', 'FP32'), spec('y', 'FP64')];
const MIXED = [spec('x', 'FP32'), spec('n', 'INT64'), spec('s', 'BYTES')];

/** What decoding gave: the request and format, or the error's class and message. */
function outcome(decode: () => DecodedPredict): unknown {
  try {
    return decode();
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

/**
 * Asserts that a body decodes as JSON.parse of the whole text did before: the same tensors (bit for
 * bit) and format, or the same error. Returns what it gave.
 */
function same(body: string, inputs: readonly TensorSpec[], maxElements = MAX_ELEMENTS): unknown {
  const bytes = utf8.encode(body + ' '.repeat(1024));
  const ranged = outcome(() => decodePredictJson(bytes, inputs, maxElements));
  const whole = outcome(() => decodePredict(parseJsonObject(bodyText(bytes), undefined, parseNonFinite), inputs, maxElements));
  assert.deepStrictEqual(ranged, whole, body.slice(0, 200));
  return ranged;
}

/** {@link same} for a body that decodes, its float tensors read from the bytes: JSON.parse reads a tenth of it at most. */
function decodes(body: string, inputs: readonly TensorSpec[]): void {
  const got = same(body, inputs);
  assert.ok(!('error' in (got as object)), `${body.slice(0, 100)}: ${(got as { message?: string }).message}`);
  const parse = mock.method(JSON, 'parse');
  try {
    decodePredictJson(utf8.encode(body), inputs, MAX_ELEMENTS);
    const parsed = parse.mock.calls.reduce((sum, call) => sum + (call.arguments[0] as string).length, 0);
    assert.ok(parsed < body.length / 10, `${body.slice(0, 100)}: JSON.parse read ${parsed} of ${body.length} characters`);
  } finally {
    parse.mock.restore();
  }
}

/** A deterministic stream of doubles in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Numbers written every way a client writes them, with decimals within a hair of halfway between two floats. */
function numbers(seed: number, count: number): string[] {
  const next = random(seed);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const out = ['0', '-0', '-0.0e5', '1E3', '1e-3', '1e-45', '7e-46', '3.4028235e38', '3.4028234663852886e38', '1e-400', '5e-324', '0.30000000000000004', '9007199254740993',
    '1.00000000000000000000000000000000000001', '1' + '0'.repeat(38), '0.' + '0'.repeat(50) + '1'];
  while (out.length < count) {
    u32[0] = (next() * 2 ** 32) >>> 0;
    const f = f32[0]!;
    if (!Number.isFinite(f)) continue;
    out.push(String(f), f.toPrecision(17), (-f).toExponential(20));
    u32[0] += 1;
    const g = f32[0]!;
    if (Number.isFinite(g)) out.push(((f + g) / 2).toPrecision(17), ((f + g) / 2).toExponential(19));
  }
  return out.slice(0, count);
}

/** `values` nested into the dimensions `dims`, as JSON text. */
function nest(values: readonly string[], dims: readonly number[]): string {
  if (dims.length === 0) return values[0]!;
  const [d, ...inner] = dims;
  const size = inner.reduce((a, b) => a * b, 1);
  return `[${Array.from({ length: d! }, (_, i) => nest(values.slice(i * size, (i + 1) * size), inner)).join(', ')}]`;
}

test('float tensors in all four TF-Serving formats decode to the values JSON.parse gives, bit for bit', () => {
  const values = numbers(3, 2400);
  for (const inputs of [X32, X64]) {
    // Row format, one input: the instances as one array, of rows nested or bare.
    decodes(`{"instances": ${nest(values, [4, 3, 200])}}`, inputs);
    decodes(`{"instances": ${nest(values, [2400])}}`, inputs);
    decodes(`{"signature_name": "serving_default", "instances": ${nest(values, [1, 2, 3, 400])}}`, inputs);
    // Row format, named inputs; columnar, bare and named.
    decodes(`{"instances": [${[0, 1, 2].map((i) => `{"x": ${nest(values.slice(i * 800), [4, 200])}}`).join(', ')}]}`, inputs);
    decodes(`{"inputs": ${nest(values, [2, 3, 400])}}`, inputs);
    decodes(`{"inputs": {"x": ${nest(values, [2400])}}}`, inputs);
  }
  // FP64 takes what FP32 cannot store.
  decodes(`{"inputs": [1.7976931348623157e308, -1e39, ${nest(values, [100]).slice(1)}}`, X64);
  decodes(`{"instances": [{"x": ${nest(values, [2, 600])}, "y": ${nest(values.slice(1200), [1200])}}, {"y": ${nest(values, [1200])}, "x": ${nest(values.slice(1), [2, 600])}}]}`, TWO);
  decodes(`{"inputs": {"y": ${nest(values, [3, 800])}, "x": ${nest(values, [2400, 1])}}}`, TWO);
  // The float tensors next to others, which are read as JSON.parse reads them.
  decodes(`{"instances": [{"x": ${nest(values, [600])}, "n": [1, "9007199254740993"], "s": {"b64": "aGk="}}, {"x": ${nest(values, [600])}, "n": [3, 4], "s": "a]"}]}`, MIXED);
  decodes(`{"inputs": {"x": ${nest(values, [2, 600])}, "n": [[1, 2], [3, 4]], "s": ["[b", {"b64": "aGk="}]}}`, MIXED);
});

test('the float tensors are read from the bytes, not by JSON.parse', (t) => {
  const values = numbers(5, 600);
  const parse = t.mock.method(JSON, 'parse');
  const bodies: [string, readonly TensorSpec[]][] = [
    [`{"instances": ${nest(values, [2, 300])}}`, X32],
    [`{"instances": [{"x": ${nest(values, [300])}, "y": [1]}, {"x": ${nest(values, [300])}, "y": [2]}]}`, TWO],
    [`{"inputs": ${nest(values, [600])}}`, X64],
    [`{"inputs": {"x": ${nest(values, [3, 200])}, "y": ${nest(values, [1, 600])}}}`, TWO],
  ];
  for (const [body, inputs] of bodies) {
    parse.mock.resetCalls();
    decodePredictJson(utf8.encode(body), inputs, MAX_ELEMENTS);
    assert.equal(parse.mock.callCount(), 1, body.slice(0, 100));
    assert.equal(parse.mock.calls[0]!.arguments[0].includes(values[20]!), false, 'the text JSON.parse read holds no data');
  }
});

test('bare NaN and Infinity in float tensors are read from the bytes, as the numbers reading the whole body gives', () => {
  const tokens = ['NaN', '-NaN', 'Infinity', '-Infinity', 'Inf', '-Inf'];
  const values = numbers(7, 600).map((v, i) => (i % 7 === 3 ? tokens[i % tokens.length]! : v));
  for (const inputs of [X32, X64]) {
    decodes(`{"instances": ${nest(values, [2, 300])}}`, inputs);
    decodes(`{"inputs": {"x": ${nest(values, [3, 200])}}}`, inputs);
    decodes(`{"instances": [${values.join(', ')}]}`, inputs);
  }
  const data = (decodePredictJson(utf8.encode(`{"instances": [[${tokens.join(', ')}, ${'1, '.repeat(600)}1]]}`), X64, MAX_ELEMENTS).request.inputs['x']!.data as Float64Array);
  assert.deepEqual([...data.subarray(0, 6)], [NaN, NaN, Infinity, -Infinity, Infinity, -Infinity]);
  // Misspelt, spaced or placed where no number goes, a token leaves the body to be read whole, with its error.
  for (const bad of ['Nan', 'NaNa', 'Infinit', 'Infinityy', '- Inf', '--Inf', '+Inf', 'NaN:', '1NaN', 'NaN1']) same(`{"instances": [[1, ${bad}, 2]]}`, X32);
});

test('a body of many short tensors is read whole, where marking each cost more than JSON.parse saves', (t) => {
  const values = numbers(7, 4);
  const body = `{"instances": [${Array.from({ length: 1000 }, () => `{"x": ${nest(values, [4])}}`).join(', ')}]}`;
  same(body, X32);
  const parse = t.mock.method(JSON, 'parse');
  decodePredictJson(utf8.encode(body), X32, MAX_ELEMENTS);
  assert.equal(parse.mock.callCount(), 1);
  assert.equal(parse.mock.calls[0]!.arguments[0], body, 'JSON.parse read the body as it was sent');
});

test('scalars, empty arrays and the deepest nesting allowed decode as before', () => {
  for (const inputs of [X32, X64, TWO]) {
    for (const body of [
      '{"instances": [1.5, -2, 3e3]}', '{"instances": [[]]}', '{"instances": [[], []]}', '{"instances": [[[]], [[]]]}', '{"instances": [[[], []]]}',
      '{"inputs": 2.5}', '{"inputs": []}', '{"inputs": [[]]}', '{"inputs": [[], []]}', '{"inputs": {"x": [], "y": [[]]}}',
      '{"instances": [{"x": [], "y": [1]}, {"x": [], "y": [2]}]}', '{"instances": [{"x": 1.5, "y": [1]}, {"x": [2], "y": [2]}]}',
      '{"instances": [{"x": [1], "y": 2}, {"x": [2], "y": 3}]}', '{"inputs": {"x": 1, "y": [2]}}',
    ]) same(body, inputs);
  }
  for (const depth of [31, 32, 33]) {
    const deep = '['.repeat(depth) + '1' + ']'.repeat(depth);
    same(`{"instances": ${deep}}`, X32);
    same(`{"inputs": ${deep}}`, X32);
    same(`{"instances": [{"x": ${deep}, "y": [1]}]}`, TWO);
    same(`{"inputs": {"x": ${deep}, "y": [1]}}`, TWO);
  }
});

test('ragged, mixed and malformed values are refused as reading the whole body refuses them', () => {
  const values = [
    '[[1, 2], [3]]', '[[1, 2], [3, 4, 5]]', '[[1], [2, 3]]', '[[1, 2], [3], [4, 5, 6]]', '[[1, 2], 3]', '[1, [2]]', '[[1, 2], [[3, 4]]]', '[[[1]], [2]]',
    '[[], [1]]', '[[1], []]', '[[[]], []]', '[[], [[]]]', '[]', '[[1, 2], [3, 4]]',
    '[1, "NaN"]', '["Infinity", 1]', '[1, null]', '[1, true]', '[[1], "a"]', '[1, {"b64": "aGk="}]', '[1, NaN]', '[1, Infinity]', '[-Inf, 1]', '[1, 1e39]', '[1, -1e400]',
    '[1, 2,]', '[1 2]', '[01]', '[1.]', '[1, "]"]', '[1, "["]', '[[1, "]]"], [2]]', '[1]]', '[[1]', '[1}', '[1, {"a": [2]}]',
  ];
  for (const value of values) {
    for (const inputs of [X32, X64]) {
      same(`{"instances": ${value}}`, inputs);
      same(`{"inputs": ${value}}`, inputs);
      same(`{"inputs": {"x": ${value}}}`, inputs);
      same(`{"instances": [{"x": ${value}}]}`, inputs);
      same(`{"instances": [{"x": [[1, 2]]}, {"x": ${value}}]}`, inputs);
    }
    same(`{"instances": [{"x": ${value}, "y": [1]}, {"x": ${value}, "y": [2]}]}`, TWO);
  }
});

test('a body refused once its tensors were read from their ranges is not read whole again to refuse it', (t) => {
  const values = numbers(11, 1200);
  const ragged = `[${nest(values, [600])}, ${nest(values, [599])}]`;
  const bodies: [string, readonly TensorSpec[], RegExp][] = [
    [`{"instances": [${ragged}]}`, X32, /^InvalidInputError: Input 'x': values are not rectangular \(a list of 599 where 600 were expected\)$/],
    [`{"instances": [${nest(values, [600])}, ${nest(values, [599])}]}`, X32, /^InvalidInputError: Input 'x': instance 1 has shape \[599\], instance 0 has \[600\]$/],
    [`{"inputs": ${nest([...values.slice(0, 1199), 'null'], [2, 600])}}`, X64, /^InvalidInputError: Input 'x': expected a number .* got null \(null\) at element 1199$/],
    [`{"inputs": {"x": ${ragged}}}`, X64, /^InvalidInputError: Input 'x': values are not rectangular/],
    [`{"instances": [{"x": ${nest(values, [600])}}, {"x": ${nest(values, [2, 300])}}]}`, X32, /^InvalidInputError: Input 'x': instance 1 has shape \[2, 300\], instance 0 has \[600\]$/],
  ];
  const parse = t.mock.method(JSON, 'parse');
  for (const [body, inputs, error] of bodies) {
    same(body, inputs);
    parse.mock.resetCalls();
    assert.throws(() => decodePredictJson(utf8.encode(body), inputs, MAX_ELEMENTS), error, body.slice(0, 100));
    const parsed = parse.mock.calls.reduce((sum, call) => sum + (call.arguments[0] as string).length, 0);
    assert.ok(parsed < body.length * 1.1, `${body.slice(0, 100)}: JSON.parse read ${parsed} characters of a body of ${body.length}`);
  }
});

test('bodies shaped oddly around their tensors decode as the whole body does', () => {
  const cases: [string, readonly TensorSpec[]][] = [
    // Keys twice: JSON.parse keeps the last.
    ['{"instances": [[1]], "instances": [[2, 3]]}', X32],
    ['{"inputs": {"x": [1], "x": [2, 3]}}', X32],
    ['{"instances": [{"x": [1], "x": [2]}]}', X32],
    // Both formats, neither; a wrong signature; unknown and missing inputs; a number where an object is expected.
    ['{"instances": [[1]], "inputs": [[1]]}', X32],
    ['{"instancez": [[1]]}', X32],
    ['{"signature_name": "other", "instances": [[1]]}', X32],
    ['{"inputs": {"x": [1], "z": [2]}}', X32],
    ['{"inputs": {"x": [1]}}', TWO],
    ['{"instances": [{"x": [1], "y": [2]}, {"x": [3]}]}', TWO],
    ['{"instances": [{"x": [1], "y": [2], "z": [3]}]}', TWO],
    ['{"instances": [[1, 2], [3, 4]]}', TWO],
    ['{"inputs": [[1, 2], [3, 4]]}', TWO],
    ['{"instances": [{"x": [1], "y": [2]}, [3]]}', TWO],
    ['{"instances": [{"b64": [1, 2]}]}', X32],
    ['{"inputs": {"b64": [1, 2]}}', X32],
    ['{"instances": [{"x": [1]}]}', [spec('x', 'BYTES')]],
    ['{"inputs": {"x": [1, 2]}}', [spec('x', 'INT32'), spec('y', 'FP32')]],
    // Keys escaped; tensors where none is looked for; strings that look like structure.
    ['{"inst\\u0061nces": [[1.5]]}', X32],
    ['{"inputs": {"\\u0078": [1.5]}}', X32],
    ['{"meta": {"instances": [1]}, "instances": [[1.5]]}', X32],
    ['{"signature_name": "\\"instances\\": [", "instances": [[1.5]]}', X32],
    ['{"instances": [{"x\\"": [1]}]}', X32],
    // Not JSON, or not an object.
    ['{"instances": [[1]]', X32],
    ['{"instances": [[1]]} x', X32],
    ['{"instances": [[1', X32],
    ['[{"instances": [[1]]}]', X32],
    ['{"instances": [[1]], "extra": NaN}', X32],
    ['\ufeff{"instances": [[1]]}', X32],
    ['{"instances" : [ [ 1 ] , [ 2 ] ] , "inputs" : null }', X32],
  ];
  for (const [body, inputs] of cases) same(body, inputs);
});

test('more elements than maxElements is the same 400, in every format', () => {
  for (const body of ['{"instances": [[1, 2], [3, 4]]}', '{"inputs": [[1, 2], [3, 4]]}', '{"inputs": {"x": [1, 2, 3, 4]}}', '{"instances": [{"x": [1, 2]}, {"x": [3, 4]}]}']) {
    same(body, X32, 3);
    same(body, X32, 4);
  }
});

test('the tensor reader takes only rectangular arrays, all of the first one\'s shape', () => {
  const bytes = utf8.encode('[[1, 2], [3, 4]] [[5, 6], [7, 8]] [[9], [10]] [] [[]]');
  const range = (start: number, end: number) => ({ start, end });
  assert.deepEqual(parseFloatTensor(bytes, [range(0, 16), range(17, 33)], 'FP32', 2, 100), { shape: [2, 2], data: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]) });
  assert.equal(parseFloatTensor(bytes, [range(0, 16), range(34, 45)], 'FP32', 2, 100), undefined, 'another shape');
  assert.equal(parseFloatTensor(bytes, [range(0, 16)], 'FP32', 1, 100), undefined, 'deeper than allowed');
  assert.equal(parseFloatTensor(bytes, [range(0, 16), range(17, 33)], 'FP32', 2, 7), undefined, 'more elements than allowed');
  assert.equal(parseFloatTensor(bytes, [range(0, 12)], 'FP32', 2, 100), undefined, 'cut short');
  assert.deepEqual(parseFloatTensor(bytes, [range(46, 48)], 'FP64', 2, 100), { shape: [0], data: new Float64Array(0) });
  assert.deepEqual(parseFloatTensor(bytes, [range(49, 53), range(49, 53)], 'FP64', 2, 100), { shape: [1, 0], data: new Float64Array(0) });
});

test('the tensor reader allocates nothing for rows too short to hold the first one\'s numbers', () => {
  const first = `[${'0,'.repeat(9999)}0]`;
  const bytes = utf8.encode(`${first}${' [0]'.repeat(99)}`);
  const ranges = [{ start: 0, end: first.length }, ...Array.from({ length: 99 }, (_, i) => ({ start: first.length + 4 * i + 1, end: first.length + 4 * i + 4 }))];
  const original = globalThis.Float64Array;
  let largest = 0;
  globalThis.Float64Array = new Proxy(original, {
    construct(target, args: [number]) {
      const made = Reflect.construct(target, args) as Float64Array;
      largest = Math.max(largest, made.length);
      return made;
    },
  });
  try {
    assert.equal(parseFloatTensor(bytes, ranges, 'FP64', 2, MAX_ELEMENTS), undefined);
  } finally {
    globalThis.Float64Array = original;
  }
  assert.ok(largest <= 10000, `allocated ${largest} elements for rows of 10,000 and 1`);
});

/**
 * Asserts that `body` (padded with 1,024 spaces) is refused with `message`, as reading it whole
 * refuses it, while `JSON.parse` (mocked as `parse`) reads no more than the rest of the body, its
 * padding included.
 */
function refusedFromBytes(body: string, inputs: readonly TensorSpec[], message: string, parse: { mock: { calls: { arguments: unknown[] }[]; resetCalls(): void } }): void {
  same(body, inputs);
  parse.mock.resetCalls();
  assert.throws(() => decodePredictJson(utf8.encode(body + ' '.repeat(1024)), inputs, MAX_ELEMENTS), { name: 'InvalidInputError', message });
  const parsed = parse.mock.calls.reduce((sum, call) => sum + (call.arguments[0] as string).length, 0);
  assert.ok(parsed < 1200, `JSON.parse read ${parsed} characters of a body of ${body.length}`);
}

test('instances and inputs nested deeper than the rank limit are refused as reading the whole body refuses them, without JSON.parse building their arrays', (t) => {
  const deep = (depth: number, leaf = '1') => `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;
  const parse = t.mock.method(JSON, 'parse');
  const rowDeep = "Input 'x': values are nested deeper than 31 dimensions in an instance, which is one row of the batch";
  for (const [body, inputs, message] of [
    [`{"instances": ${deep(10_000)}}`, X32, rowDeep],
    [`{"instances": [{"x": [1], "n": ${deep(10_000)}, "s": "a"}]}`, MIXED, rowDeep.replace("'x'", "'n'")],
    [`{"instances": [ ${'[ '.repeat(3_000)}0.5e-3${' ]'.repeat(3_000)} , [1] ]}`, X64, rowDeep],
    [`{"inputs": ${deep(10_000)}}`, X32, "Input 'x': values are nested deeper than 32 dimensions"],
    [`{"inputs": {"x": ${deep(10_000)}}}`, X32, "Input 'x': values are nested deeper than 32 dimensions"],
    [`{"instances": [{"x": ${deep(5_000)}}, {"x": [1]}]}`, X32, rowDeep],
  ] as const) {
    refusedFromBytes(body, inputs, message, parse);
  }
  // Refused otherwise by reading the whole body, and so here: a syntax error or a value that is no number past the nesting, an object
  // among the instances, an earlier row that differs, nesting that is not the first row's, two inputs whose instances are no objects.
  for (const [body, inputs] of [
    [`{"instances": ${deep(5_000, '1,]')}}`, X32],
    [`{"instances": ${deep(5_000, '1,"a"')}}`, X32],
    [`{"instances": ${deep(5_000, '1,NaN')}}`, X32],
    [`{"instances": [${deep(5_000)}, {"x": 1}]}`, X32],
    [`{"instances": [[1], ${deep(5_000)}]}`, X32],
    [`{"instances": [[1, ${deep(5_000)}]]}`, X32],
    [`{"inputs": [1, ${deep(5_000)}]}`, X32],
    [`{"instances": ${deep(5_000)}}`, TWO],
    [`{"instances": [{"x": [1], "y": 1}, {"x": ${deep(5_000)}, "y": 1}]}`, TWO],
    [`{"instances": [{"x": ${deep(5_000)}, "y": 1}, {"x": [1], "y": ${deep(5_000, '1,]')}}]}`, TWO],
    [`{"inputs": {"x": ${deep(5_000)}, "y": ${deep(5_000, '1,]')}}}`, TWO],
    [`{"instances": ${deep(5_000, '')}}`, X32],
    [`{"inputs": {"x": ${deep(5_000, '1e5, -0.5')}}}`, X32],
    [`{"instances": ${deep(32)}}`, X32],
    [`{"instances": ${deep(33)}}`, X32],
    [`{"inputs": ${deep(32)}}`, X32],
    [`{"inputs": ${deep(33)}}`, X32],
    [`{"instances": [{"x": ${deep(31)}}]}`, X32],
    [`{"instances": [{"x": ${deep(32)}}]}`, X32],
  ] as const) {
    same(body, inputs);
  }
});

test('a model without float inputs has instances and inputs nested deeper than the rank limit refused from their bytes too, and other bodies parsed once, whole', (t) => {
  const deep = (depth: number, leaf = '1') => `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;
  const parse = t.mock.method(JSON, 'parse');
  const rowDeep = "Input 'x': values are nested deeper than 31 dimensions in an instance, which is one row of the batch";
  const columnDeep = "Input 'x': values are nested deeper than 32 dimensions";
  const INT64 = [spec('x', 'INT64')];
  const INTS_AND_BYTES = [spec('x', 'INT32'), spec('s', 'BYTES')];
  for (const [body, inputs, message] of [
    [`{"instances": ${deep(10_000)}}`, INT64, rowDeep],
    [`{"inputs": ${deep(10_000)}}`, [spec('x', 'INT32')], columnDeep],
    [`{"inputs": {"x": ${deep(10_000, '0')}, "s": ["a"]}}`, [spec('x', 'BOOL'), spec('s', 'BYTES')], columnDeep],
    [`{"instances": [{"x": ${deep(5_000)}, "s": "a"}, {"x": [1], "s": {"b64": "aGk="}}]}`, INTS_AND_BYTES, rowDeep],
    [`{"instances": [ ${'[ '.repeat(3_000)}-7${' ]'.repeat(3_000)} ]}`, [spec('x', 'BYTES')], rowDeep],
  ] as const) {
    refusedFromBytes(body, inputs, message, parse);
  }
  // No arrays nested deeper than a tensor's may be, or only strings in them (which the float path leaves to JSON.parse too): read as before.
  for (const [body, inputs] of [
    [`{"instances": [${Array.from({ length: 300 }, (_, i) => `[${i}, -${i}]`).join(', ')}]}`, INT64],
    [`{"instances": [${Array.from({ length: 100 }, (_, i) => `{"x": [[${i}]], "s": "[[["}`).join(', ')}]}`, INTS_AND_BYTES],
    [`{"instances": ${deep(31)}}`, INT64],
    [`{"instances": ${deep(5_000, '"a"')}}`, [spec('x', 'BYTES')]],
  ] as const) {
    const text = body + ' '.repeat(1024);
    same(body, inputs);
    parse.mock.resetCalls();
    outcome(() => decodePredictJson(utf8.encode(text), inputs, MAX_ELEMENTS));
    assert.deepEqual(parse.mock.calls.map((call) => call.arguments[0]), [text], body.slice(0, 100));
  }
  // Refused otherwise by reading the whole body, and so here, at the edges of the limit and past it.
  for (const [body, inputs] of [
    [`{"instances": ${deep(32)}}`, INT64],
    [`{"instances": ${deep(33)}}`, INT64],
    [`{"inputs": ${deep(32)}}`, INT64],
    [`{"inputs": ${deep(33)}}`, INT64],
    [`{"instances": [{"x": ${deep(31)}, "s": "a"}]}`, INTS_AND_BYTES],
    [`{"instances": [{"x": ${deep(32)}, "s": "a"}]}`, INTS_AND_BYTES],
    [`{"instances": ${deep(5_000, '1,]')}}`, INT64],
    [`{"instances": ${deep(5_000, '1,"a"')}}`, INT64],
    [`{"instances": ${deep(5_000, '1,true')}}`, [spec('x', 'BOOL')]],
    [`{"instances": [[1, ${deep(5_000)}]]}`, INT64],
    [`{"signature_name": "${deep(40)}", "instances": [[1]]}`, INT64],
    [`{"inputs": {"x": [1], "s": ${deep(5_000)}}}`, INTS_AND_BYTES],
  ] as const) {
    same(body, inputs);
  }
});

test('a run of more brackets than a depth is found wherever it starts, whitespace between them or not', () => {
  for (const depth of [1, 2, 31]) {
    for (const [run, found] of [[depth, false], [depth + 1, true]] as const) {
      for (const gap of ['', ' ', ' \n\t\r ']) {
        const brackets = Array.from({ length: run }, () => '[').join(gap);
        for (let at = 0; at <= 2 * (depth + 1); at++) {
          for (const text of [`${'1,'.repeat(at)}${brackets}`, `${' '.repeat(at)}${brackets}1]`, `"${'a'.repeat(at)}" ${brackets} ,[1], [2]`]) {
            assert.equal(hasLeadingRun(utf8.encode(text), depth), found, JSON.stringify([depth, text]));
          }
        }
      }
    }
  }
  assert.equal(hasLeadingRun(utf8.encode(`[${'[1], '.repeat(1000)}[[2]]]`), 2), false, 'many runs, each short enough');
});

test('a run of more brackets than a depth is found as a scan of every byte finds it, in any mix of brackets, whitespace and values', () => {
  const scan = (bytes: Uint8Array, depth: number) => {
    let run = 0;
    for (const c of bytes) {
      if (c === 0x5b) run++;
      else if (![0x20, 0x09, 0x0a, 0x0d].includes(c)) run = 0;
      if (run > depth) return true;
    }
    return false;
  };
  let seed = 5;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const alphabet = utf8.encode('[[[[  \n\t1,]"');
  let found = 0;
  for (let round = 0; round < 20_000; round++) {
    const depth = [0, 1, 2, 5, 31][Math.floor(rand() * 5)]!;
    const brackets = rand();
    const bytes = Uint8Array.from({ length: Math.floor(rand() * 200) }, () => (rand() < brackets ? 0x5b : alphabet[Math.floor(rand() * alphabet.length)]!));
    const expected = scan(bytes, depth);
    assert.equal(hasLeadingRun(bytes, depth), expected, JSON.stringify([depth, new TextDecoder().decode(bytes)]));
    if (expected) found++;
  }
  assert.ok(found > 2_000 && found < 18_000, `${found} with a run`);
});

test('a pretty-printed body with no run of brackets has little of its indentation read', () => {
  const rows = Array.from({ length: 40 }, (_, i) => Array.from({ length: 8 }, (_, j) => Array.from({ length: 8 }, (_, k) => (i * 64 + j * 8 + k) % 1000)));
  const bytes = utf8.encode(JSON.stringify({ instances: rows }, null, 4));
  let reads = 0;
  const counted = new Proxy(bytes, {
    get: (target, key) => {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key) as unknown;
    },
  });
  assert.equal(hasLeadingRun(counted, 31), false);
  // Every probe that lands in indentation used to read all of it, back and forth: 1.35 reads a byte.
  assert.ok(reads < bytes.length / 2, `${reads} reads of ${bytes.length} bytes`);
});
