import {
  assertFunction,
  assertInteger,
  assertOptionKeys,
  assertNumber,
  assertObject,
  assertOneOf,
  assertString,
  CacheError,
  describe,
  fnv1a32,
  fromHalfBits,
  type Tensor,
  type TensorMap,
} from '../../core/index.js';
import type { SemanticQuery } from './types.js';

/** Options of {@link ngramEmbedder}. */
export interface NgramEmbedderOptions {
  /** The vector length. @default 384 */
  readonly dimensions?: number;
  /** The shortest character n-gram (taken within each word, with `<` `>` marking its ends). @default 3 */
  readonly minN?: number;
  /** The longest character n-gram. @default 5 */
  readonly maxN?: number;
  /** The weight of whole words relative to character n-grams. @default 2 */
  readonly wordWeight?: number;
  /** The weight of adjacent word pairs, which carry word order ("a pays b" vs "b pays a"). @default 4 */
  readonly bigramWeight?: number;
}

/**
 * A classical text embedder that needs no model: hashed character n-grams of each word, plus
 * whole words and word pairs, each counted sublinearly (1 + ln count) into `dimensions` signed
 * buckets (the hashing trick), then normalised. Lower-cased, accents removed, split on anything
 * that is not a letter or a digit. Deterministic across processes and machines.
 */
export function ngramEmbedder(options: NgramEmbedderOptions = {}): (text: string) => Float32Array {
  assertObject('options', options);
  assertOptionKeys('ngramEmbedder', options, ['dimensions', 'minN', 'maxN', 'wordWeight', 'bigramWeight']);
  const { dimensions = 384, minN = 3, maxN = 5, wordWeight = 2, bigramWeight = 4 } = options;
  assertInteger('dimensions', dimensions, 1, 65536);
  assertInteger('minN', minN, 1, 16);
  assertInteger('maxN', maxN, minN, 16);
  assertNumber('wordWeight', wordWeight, 0);
  assertNumber('bigramWeight', bigramWeight, 0);
  return (text: string): Float32Array => {
    if (typeof text !== 'string') throw new TypeError(`Expected text to embed, got ${describe(text)}`);
    const features = new Map<string, number>();
    const add = (feature: string, weight: number): void => {
      if (weight > 0) features.set(feature, (features.get(feature) ?? 0) + weight);
    };
    const words = text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
    for (const [i, word] of words.entries()) {
      add(`w:${word}`, wordWeight);
      if (i > 0) add(`b:${words[i - 1]} ${word}`, bigramWeight);
      const marked = `<${word}>`;
      if (marked.length <= minN) add(`c:${marked}`, 1);
      for (let n = minN; n <= maxN; n++) for (let at = 0; at + n <= marked.length; at++) add(`c:${marked.slice(at, at + n)}`, 1);
    }
    const out = new Float32Array(dimensions);
    for (const [feature, count] of features) {
      const h = fnv1a32(feature);
      const weight = 1 + Math.log(count);
      const bucket = h % dimensions;
      out[bucket] = out[bucket]! + ((mix(h) & 1) === 0 ? weight : -weight);
    }
    let norm = 0;
    for (const v of out) norm += v * v;
    if (norm > 0) for (let i = 0; i < dimensions; i++) out[i] = out[i]! / Math.sqrt(norm);
    return out;
  };
}

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

/** Options of {@link onnxEmbedder}. */
export interface OnnxEmbedderOptions<Q extends SemanticQuery> {
  /** Runs the model: a ModelSession's `run`, an InferenceService call, or ONNX Runtime wrapped to servable tensors. */
  readonly run: (feeds: TensorMap, signal?: AbortSignal) => Promise<TensorMap>;
  /** Builds the model's feeds (a batch of one) from a query. */
  readonly feeds: (query: Q) => TensorMap | Promise<TensorMap>;
  /** The output holding the embedding. @default the model's only output */
  readonly output?: string;
  /** How per-token outputs `[1, tokens, d]` become one vector. @default 'mean' */
  readonly pooling?: 'mean' | 'first';
}

/**
 * An embedder from any model that maps an input to a vector: it builds the feeds, runs the model
 * and reads the output, `[d]` or `[1, d]` as is, `[1, tokens, d]` pooled. Any numeric output
 * datatype works (FP16 is decoded). ONNX Runtime is not imported here: pass the run function.
 */
export function onnxEmbedder<Q extends SemanticQuery>(options: OnnxEmbedderOptions<Q>): (query: Q, signal?: AbortSignal) => Promise<Float32Array> {
  assertObject('options', options);
  assertOptionKeys('onnxEmbedder', options, ['run', 'feeds', 'output', 'pooling']);
  const { run, feeds, output, pooling = 'mean' } = options;
  assertFunction('run', run);
  assertFunction('feeds', feeds);
  if (output !== undefined) assertString('output', output);
  assertOneOf('pooling', pooling, ['mean', 'first'] as const);
  return async (query: Q, signal?: AbortSignal): Promise<Float32Array> => {
    const outputs = await run(await feeds(query), signal);
    const names = Object.keys(outputs);
    const name = output ?? (names.length === 1 ? names[0]! : undefined);
    if (name === undefined) throw new CacheError(`The model has outputs ${names.join(', ')}: name the embedding with \`output\``);
    const t = outputs[name];
    if (!t) throw new CacheError(`The model has no output "${name}" (it has ${names.join(', ')})`);
    return pool(t, pooling);
  };
}

function pool(t: Tensor, pooling: 'mean' | 'first'): Float32Array {
  const values = numeric(t);
  const shape = t.shape;
  if (shape.length === 1 || (shape.length === 2 && shape[0] === 1)) return values;
  if (shape.length === 3 && shape[0] === 1) {
    const tokens = shape[1]!;
    const d = shape[2]!;
    if (pooling === 'first' || tokens === 1) return values.slice(0, d);
    const out = new Float32Array(d);
    for (let k = 0; k < tokens; k++) for (let i = 0; i < d; i++) out[i] = out[i]! + values[k * d + i]! / tokens;
    return out;
  }
  throw new CacheError(`Expected an embedding of shape [d], [1, d] or [1, tokens, d], got [${shape.join(', ')}]`);
}

function numeric(t: Tensor): Float32Array {
  switch (t.datatype) {
    case 'BYTES':
      throw new CacheError('Expected a numeric embedding, got BYTES');
    case 'FP16':
      return Float32Array.from(t.data as Uint16Array, fromHalfBits);
    case 'INT64':
    case 'UINT64':
      return Float32Array.from(t.data as BigInt64Array, Number);
    default:
      return Float32Array.from(t.data as Float32Array);
  }
}
