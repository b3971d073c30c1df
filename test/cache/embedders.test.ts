import assert from 'node:assert/strict';
import test from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { ngramEmbedder, onnxEmbedder } from '../../src/cache/semantic/embedders.js';
import { FlatIndex } from '../../src/cache/semantic/flat-index.js';
import { SemanticCache } from '../../src/cache/semantic/semantic-cache.js';
import type { Tensor, TensorMap } from '../../src/core/index.js';
import { linearModel, linearReference } from '../fixtures/onnx-models.js';
import { ANCHORS, census, sweep } from './fixtures/semantic-pairs.js';

const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

test('ngramEmbedder gives deterministic unit vectors that ignore case, punctuation and accents but not word order', () => {
  const embed = ngramEmbedder();
  const v = embed('How do I reset my password?');
  assert.equal(v.length, 384);
  assert.ok(Math.abs(cosine(v, v) - 1) < 1e-6);
  assert.deepEqual(embed('How do I reset my password?'), v);
  assert.ok(cosine(v, embed('  how DO i reset my PASSWORD ')) > 0.99999);
  assert.ok(cosine(embed('Café crème'), embed('cafe creme')) > 0.99999);
  const swapped = cosine(embed('Alice sent money to Bob'), embed('Bob sent money to Alice'));
  assert.ok(swapped < 0.95 && swapped > 0.5, `swapped entities score ${swapped}`);
  assert.ok(cosine(v, embed('What is the capital of France?')) < 0.3);
  assert.deepEqual(embed(''), new Float32Array(384));
  assert.equal(ngramEmbedder({ dimensions: 16 })('x').length, 16);
  assert.throws(() => ngramEmbedder({ maxN: 2 }), /`maxN` to be an integer between 3 and 16, got 2/);
  // A misspelt option would leave the default (384) under a cache of another length: every embedding refused.
  assert.throws(() => ngramEmbedder({ dimension: 768 } as never), /^TypeError: Unknown option `dimension`; ngramEmbedder takes dimensions, minN, maxN, wordWeight, bigramWeight$/);
  assert.throws(() => ngramEmbedder()(5 as never), /^TypeError: Expected text to embed, got 5 \(number\)$/);
});

test('on the labelled set, ngramEmbedder has no false hit from threshold 0.925, where it hits a third of the paraphrases', () => {
  const embed = ngramEmbedder();
  const index = new FlatIndex(384);
  for (const a of ANCHORS) index.add(embed(a.text));
  const nearest = (text: string) => {
    const m = index.search(embed(text), -1)!;
    return { anchor: m.slot, similarity: m.score };
  };
  const [loose, documented, strict] = sweep(nearest, [0.8, 0.925, 0.95]);
  assert.deepEqual(census(), { anchors: 40, same: 77, different: 75 });
  assert.ok(loose!.falseHits > 20, `at 0.8 the traps do fire: ${loose!.falseHits} false hits`);
  assert.equal(documented!.falseHits, 0);
  assert.ok(documented!.hitRate > 0.33, `hit rate ${documented!.hitRate}`);
  assert.equal(strict!.falseHits, 0);
});

function run(session: ort.InferenceSession) {
  return async (feeds: TensorMap): Promise<TensorMap> => {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', t.data as Float32Array, t.shape as number[]);
    const out = await session.run(ortFeeds);
    const result: TensorMap = {};
    for (const [name, t] of Object.entries(out)) result[name] = { datatype: 'FP32', shape: [...t.dims], data: t.data as Float32Array };
    return result;
  };
}

const x = (values: number[], shape = [1, values.length]): TensorMap => ({ X: { datatype: 'FP32', shape, data: Float32Array.from(values) } });

test('onnxEmbedder runs a real ONNX model that maps an input to a vector, and a SemanticCache uses it', async () => {
  const W = [[1, 0, 2], [0, 1, -1], [3, 1, 0], [0, 0, 1]];
  const B = [0.5, -0.5, 1];
  const session = await ort.InferenceSession.create(linearModel(W, B));
  const embed = onnxEmbedder<TensorMap>({ run: run(session), feeds: (q) => q });
  const vector = await embed(x([1, 2, 3, 4]));
  assert.deepEqual(Array.from(vector), linearReference(W, B, [1, 2, 3, 4]));

  const cache = new SemanticCache<TensorMap>({ embed, dimensions: 3, threshold: 0.999, maxEntries: 10 });
  let runs = 0;
  const answer = async (): Promise<TensorMap> => ({ label: { datatype: 'BYTES', shape: [1], data: [`answer ${++runs}`] } });
  await cache.run(x([1, 2, 3, 4]), answer);
  const near = await cache.run(x([1, 2, 3, 4.01]), answer);
  assert.deepEqual([near.hit, near.exact, near.value.label!.data[0]], [true, false, 'answer 1']);
  const far = await cache.run(x([4, -3, 0, 1]), answer);
  assert.equal(far.hit, false);
  await session.release();
});

/** Y[1, t, m] = X[1, t, k] · W: one vector per token, to be pooled. */
function tokenModel(W: number[][]): Uint8Array {
  const { onnx } = onnxProto;
  const info = (name: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
  const graph = onnx.GraphProto.create({
    name: 'tokens',
    node: [onnx.NodeProto.create({ opType: 'MatMul', input: ['X', 'W'], output: ['Y'] })],
    initializer: [onnx.TensorProto.create({ name: 'W', dataType: 1, dims: [W.length, W[0]!.length], floatData: W.flat() })],
    input: [info('X', [1, 'tokens', W.length])],
    output: [info('Y', [1, 'tokens', W[0]!.length])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph })).finish();
}

test('onnxEmbedder pools per-token outputs [1, tokens, d] by mean or by the first token', async () => {
  const session = await ort.InferenceSession.create(tokenModel([[1, 0], [0, 2]]));
  const tokens = x([1, 2, 3, 4, 5, 6], [1, 3, 2]);
  const mean = await onnxEmbedder<TensorMap>({ run: run(session), feeds: (q) => q })(tokens);
  assert.deepEqual(Array.from(mean), [3, 8]);
  const first = await onnxEmbedder<TensorMap>({ run: run(session), feeds: (q) => q, pooling: 'first' })(tokens);
  assert.deepEqual(Array.from(first), [1, 4]);
  await session.release();
});

test('onnxEmbedder picks the named output, decodes FP16, and says what is wrong with an unusable output', async () => {
  const outputs = (t: Record<string, Tensor>) => onnxEmbedder<string>({ run: async () => t, feeds: () => ({}) });
  const half: Tensor = { datatype: 'FP16', shape: [1, 3], data: Uint16Array.from([0x3c00, 0xc000, 0x3555]) };
  assert.deepEqual(Array.from(await outputs({ e: half })('q')), [1, -2, Math.fround(0.333251953125)]);
  const two = { a: half, b: half };
  await assert.rejects(outputs(two)('q'), /The model has outputs a, b: name the embedding with `output`/);
  assert.deepEqual(Array.from(await onnxEmbedder<string>({ run: async () => two, feeds: () => ({}), output: 'b' })('q')), [1, -2, Math.fround(0.333251953125)]);
  await assert.rejects(onnxEmbedder<string>({ run: async () => two, feeds: () => ({}), output: 'c' })('q'), /no output "c" \(it has a, b\)/);
  await assert.rejects(outputs({ e: { datatype: 'FP32', shape: [2, 3], data: new Float32Array(6) } })('q'), /shape \[d\], \[1, d\] or \[1, tokens, d\], got \[2, 3\]/);
  await assert.rejects(outputs({ e: { datatype: 'BYTES', shape: [1], data: ['x'] } })('q'), /numeric embedding, got BYTES/);
  assert.throws(() => onnxEmbedder({ run: async () => ({}), feeds: () => ({}), pooling: 'max' as never }), /`pooling` to be one of "mean", "first", got "max"/);
  assert.throws(() => onnxEmbedder({ run: async () => ({}), feeds: () => ({}), output: 0 as never }), /^TypeError: Expected `output` to be a non-empty string, got 0 \(number\)$/);
  assert.throws(() => onnxEmbedder({ run: async () => ({}), feeds: () => ({}), outputs: 'e' } as never), /^TypeError: Unknown option `outputs`; onnxEmbedder takes run, feeds, output, pooling$/);
});
