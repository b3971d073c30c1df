import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidInputError, type Tensor } from '../../src/core/index.js';
import { InferenceService, memoryBackend, ModelRegistry, type MemoryModel } from '../../src/index.js';
import { classifier, classify, createHttpHandler, decodeInferRequest, encodeInferResponse } from '../../src/protocol/index.js';
import { fixed6 } from '../../src/protocol/classification.js';

const fp32 = (shape: number[], values: number[]): Tensor => ({ datatype: 'FP32', shape, data: new Float32Array(values) });

test('a batched model classifies each row of the first dimension alone: [rows, k], "<value>:<index>", values as printf("%f")', () => {
  const probs = fp32([2, 4], [0.1, 0.7, 0.2, 0, 0.25, 0.125, 0.5, 0.125]);
  assert.deepEqual(classify('prob', probs, 2, true), { datatype: 'BYTES', shape: [2, 2], data: ['0.700000:1', '0.200000:2', '0.500000:2', '0.250000:0'] });
  // Every element after the batch dimension is a class: [rows, 2, 2] has four per row.
  assert.deepEqual(classify('prob', fp32([1, 2, 2], [1, 4, 3, 2]), 3, true).data, ['4.000000:1', '3.000000:2', '2.000000:3']);
});

test('a model that does not batch classifies all its elements as one row: [k]', () => {
  const y = fp32([2, 2], [32, 48, 59, 84]);
  assert.deepEqual(classify('Y', y, 3, false), { datatype: 'BYTES', shape: [3], data: ['84.000000:3', '59.000000:2', '48.000000:1'] });
  assert.deepEqual(classify('s', fp32([], [7]), 1, false), { datatype: 'BYTES', shape: [1], data: ['7.000000:0'] });
});

test('k larger than the classes of a row is cut to them, as Triton sizes the shape; ties go in index order', () => {
  assert.deepEqual(classify('p', fp32([1, 3], [0.5, 0.5, 0.5]), 10, true), { datatype: 'BYTES', shape: [1, 3], data: ['0.500000:0', '0.500000:1', '0.500000:2'] });
  assert.deepEqual(classify('p', fp32([2, 2], [1, 2, 2, 1]), 5, false).data, ['2.000000:1', '2.000000:2', '1.000000:0', '1.000000:3']);
});

test('the top classes of random rows with ties, NaN and -0 are those of sorting each row whole, for every k', () => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pool = [Number.NaN, -0, 0, 1, 1, 2, -1, 0.5, Infinity, -Infinity];
  for (let trial = 0; trial < 200; trial++) {
    const rows = 1 + Math.floor(next() * 3);
    const perRow = Math.floor(next() * 60);
    const values = Array.from({ length: rows * perRow }, () => (next() < 0.5 ? pool[Math.floor(next() * pool.length)]! : Math.round(next() * 8) / 4));
    const k = 1 + Math.floor(next() * 70);
    const expected: string[] = [];
    for (let row = 0; row < rows; row++) {
      const order = Array.from({ length: perRow }, (_, i) => i).sort((a, b) => {
        const [x, y] = [values[row * perRow + a]!, values[row * perRow + b]!];
        if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) === Number.isNaN(y) ? a - b : Number.isNaN(x) ? 1 : -1;
        return y - x || a - b;
      });
      for (const i of order.slice(0, k)) expected.push(`${fixed6(Math.fround(values[row * perRow + i]!))}:${i}`);
    }
    assert.deepEqual(classify('p', fp32([rows, perRow], values), k, true).data, expected, `trial ${trial}: k ${k} of ${perRow}`);
  }
});

test('labels follow the index; an index past the labels, or an empty label, has none', () => {
  const labels = ['cat', '', 'dog'];
  assert.deepEqual(classify('p', fp32([1, 4], [0.1, 0.2, 0.3, 0.4]), 4, true, labels).data, ['0.400000:3', '0.300000:2:dog', '0.200000:1', '0.100000:0:cat']);
});

test('integer outputs are compared and written as integers, INT64 and UINT64 whole; FP16 as the float it holds', () => {
  assert.deepEqual(classify('i', { datatype: 'INT64', shape: [3], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n + 1n, 2n ** 62n]) }, 3, false).data, [
    '4611686018427387905:1',
    '4611686018427387904:2',
    '-9223372036854775808:0',
  ]);
  assert.deepEqual(classify('u', { datatype: 'UINT64', shape: [1, 2], data: new BigUint64Array([1n, 2n ** 64n - 1n]) }, 1, true).data, ['18446744073709551615:1']);
  assert.deepEqual(classify('b', { datatype: 'INT8', shape: [3], data: new Int8Array([-3, -128, 5]) }, 2, false).data, ['5:2', '-3:0']);
  assert.deepEqual(classify('h', { datatype: 'FP16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }, 2, false).data, ['1.000000:0', '-2.000000:1']);
  assert.deepEqual(classify('d', { datatype: 'FP64', shape: [2], data: new Float64Array([123.456, 1e-7]) }, 2, false).data, ['123.456000:0', '0.000000:1']);
});

test('infinities as inf and -inf; NaN ranks below every number and is written nan', () => {
  assert.deepEqual(classify('p', fp32([4], [Number.NaN, -Infinity, Infinity, 1]), 4, false).data, ['inf:2', '1.000000:3', '-inf:1', 'nan:0']);
});

test('a NaN with its sign bit set is written -nan, as glibc\'s printf("%f") writes it (x86\'s 0/0 is one)', () => {
  const negative = new Float32Array(new Uint32Array([0xffc00000, 0x7fc00000]).buffer);
  assert.deepEqual(classify('p', { datatype: 'FP32', shape: [2], data: negative }, 2, false).data, ['-nan:0', 'nan:1']);
  assert.equal(fixed6(new Float64Array(new BigUint64Array([0xfff8000000000001n]).buffer)[0]!), '-nan');
});

test('fixed6 writes what printf("%f") does: the exact binary value to six decimals, ties to even, the sign kept, no exponent', () => {
  // 2^-7 and 3 × 2^-7 lie exactly halfway; toFixed(6) gives 0.007813 and 0.023438 for both.
  assert.equal(fixed6(0.0078125), '0.007812');
  assert.equal(fixed6(0.0234375), '0.023438');
  assert.equal(fixed6(-0.0078125), '-0.007812');
  assert.equal(fixed6(-0), '-0.000000');
  assert.equal(fixed6(-1e-9), '-0.000000');
  assert.equal(fixed6(0), '0.000000');
  assert.equal(fixed6(0.786859), '0.786859');
  assert.equal(fixed6(Math.fround(0.786859)), '0.786859');
  assert.equal(fixed6(1e21), '1000000000000000000000.000000');
  assert.equal(fixed6(3.4028234663852886e38), '340282346638528859811704183484516925440.000000');
  assert.equal(fixed6(5e-324), '0.000000');
});

test('BOOL and BYTES outputs cannot be classified: an InvalidInputError naming the output', () => {
  const refused = (t: Tensor) =>
    assert.throws(() => classify('G', t, 1, false), (e: unknown) => e instanceof InvalidInputError && e.message === `Output 'G': \`parameters.classification\` needs a numeric output, got ${t.datatype}; ask for the output itself`);
  refused({ datatype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) });
  refused({ datatype: 'BYTES', shape: [1], data: ['a'] });
});

test('classifier checks the model outputs asked for before anything runs, and leaves the outputs not asked for as they are', () => {
  const model = { maxBatchSize: 4, outputs: [{ name: 'p', datatype: 'FP32' as const }, { name: 'g', datatype: 'BOOL' as const }] };
  assert.throws(() => classifier(new Map([['g', 2]]), model), /Output 'g': `parameters.classification` needs a numeric output, got BOOL/);
  const classifyReply = classifier(new Map([['p', 1]]), model, { p: ['a', 'b'] });
  const other = fp32([1, 2], [1, 2]);
  assert.equal(classifyReply('q', other), other);
  assert.deepEqual(classifyReply('p', other), { datatype: 'BYTES', shape: [1, 1], data: ['2.000000:1:b'] });
  assert.deepEqual(classifier(new Map([['p', 1]]), { ...model, maxBatchSize: 0 })('p', fp32([2, 2], [1, 2, 5, 3])).shape, [1]);
});

test('decoded: parameters.classification an integer >= 0, 0 off; anything else a 400 naming the output', () => {
  const asked = (parameters: Record<string, unknown>) =>
    decodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }], outputs: [{ name: 'y', parameters }, { name: 'z' }] }, { maxElements: 16 });
  assert.deepEqual(asked({ classification: 3, binary_data: true }).classification, new Map([['y', 3]]));
  assert.equal(asked({ classification: 0 }).classification, undefined);
  assert.equal(asked({}).classification, undefined);
  for (const [bad, shown] of [['3', '"3" (string)'], [-1, '-1'], [1.5, '1.5'], [true, 'true']] as const) {
    assert.throws(
      () => asked({ classification: bad }),
      (e: unknown) => e instanceof InvalidInputError && e.message.startsWith(`Output 'y': expected \`parameters.classification\` to be an integer >= 0 (a number of classes), got ${shown}`),
    );
  }
});

test('a classified output sent as binary data is its strings, each after a 4-byte little-endian length', () => {
  const response = { outputs: { p: fp32([1, 3], [0.25, 0.5, 0.125]), q: fp32([1], [9]) } };
  const encoded = encodeInferResponse('m', '1', undefined, response, (name) => name === 'p', undefined, classifier(new Map([['p', 2]]), { maxBatchSize: 8, outputs: [] }));
  assert.deepEqual(encoded.json.outputs, [
    { name: 'p', datatype: 'BYTES', shape: [1, 2], parameters: { binary_data_size: 28 } },
    { name: 'q', datatype: 'FP32', shape: [1], data: [9] },
  ]);
  const bytes = Buffer.from(encoded.binary[0]!);
  assert.deepEqual([bytes.readUInt32LE(0), bytes.subarray(4, 14).toString(), bytes.readUInt32LE(14), bytes.subarray(18).toString()], [10, '0.500000:1', 10, '0.250000:0']);
});

/** prob FP32 [n, 4] = the input; flag BOOL [n]. */
function probs(): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [
      { name: 'prob', datatype: 'FP32', shape: [-1, 4] },
      { name: 'flag', datatype: 'BOOL', shape: [-1] },
    ],
    run: ({ x }) => ({ prob: x!, flag: { datatype: 'BOOL', shape: [x!.shape[0]!], data: new Uint8Array(x!.shape[0]!) } }),
  };
}

test("a model's classLabels name its classes over HTTP: \"<value>:<index>:<label>\", none past the list or for an empty label", async (t) => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  t.after(() => registry.close());
  let runs = 0;
  const model = probs();
  await registry.load({ name: 'm', source: { ...model, run: (feeds: Parameters<MemoryModel["run"]>[0]) => (runs++, model.run(feeds)) }, batching: { maxBatchSize: 8 }, classLabels: { prob: ['cat', '', 'dog'] }, warmup: [] });
  const http = createHttpHandler({ service: new InferenceService({ registry }) });
  const infer = async (outputs: unknown[]) => {
    const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], data: [0.1, 0.2, 0.3, 0.4, 4, 3, 2, 1] }], outputs });
    const reply = await http.handle({ method: 'POST', path: '/v2/models/m/infer', headers: { 'content-type': 'application/json' }, body: new TextEncoder().encode(body) });
    return { status: reply.status, json: JSON.parse(reply.body as string) as Record<string, unknown> };
  };
  assert.deepEqual(await infer([{ name: 'prob', parameters: { classification: 4 } }]), {
    status: 200,
    json: {
      model_name: 'm',
      model_version: '1',
      outputs: [{ name: 'prob', datatype: 'BYTES', shape: [2, 4], data: ['0.400000:3', '0.300000:2:dog', '0.200000:1', '0.100000:0:cat', '4.000000:0:cat', '3.000000:1', '2.000000:2:dog', '1.000000:3'] }],
    },
  });
  assert.equal(runs, 1);
  // A BOOL output asked for as classes is refused before the model runs.
  assert.deepEqual(await infer([{ name: 'prob' }, { name: 'flag', parameters: { classification: 1 } }]), {
    status: 400,
    json: { error: "Output 'flag': `parameters.classification` needs a numeric output, got BOOL; ask for the output itself", code: 'ERR_SERVABLE_INVALID_INPUT' },
  });
  assert.equal(runs, 1);
});

test('classLabels are checked: an object of string arrays when given, each naming a model output once the version loads', async (t) => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  t.after(() => registry.close());
  const load = (classLabels: unknown) => registry.load({ name: 'm', source: probs(), classLabels: classLabels as Record<string, string[]>, warmup: [] });
  await assert.rejects(load(['cat']), { name: 'TypeError', message: 'Expected `classLabels` to be an object, got ["cat"] (array)' });
  await assert.rejects(load({ prob: 'labels.txt' }), { name: 'TypeError', message: 'Expected `classLabels.prob` to be an array of class labels, got "labels.txt" (string)' });
  await assert.rejects(load({ prob: ['cat', 7] }), { name: 'TypeError', message: /^Expected `classLabels.prob\[1\]` to be a string, got 7/ });
  await assert.rejects(load({ probs: ['cat'] }), { name: 'TypeError', message: "Expected `classLabels` to name model outputs ('prob', 'flag'), got \"probs\" (string)" });
});
