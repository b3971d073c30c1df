import assert from 'node:assert/strict';
import { deflateSync, gzipSync, gunzipSync, inflateSync } from 'node:zlib';
import { InferenceService, ModelRegistry, memoryBackend, type MemoryModel, type TensorMap } from '../../src/index.js';
import { createHttpHandler, decodeInferBinary, decodeInferJson, decodePredictJson, type HttpHandler, type HttpRequest, type HttpResponse, type JsonDecoder } from '../../src/protocol/index.js';
import { parseNonFinite } from '../../src/protocol/json-non-finite.js';

// Seeded fuzzing of the whole HTTP surface: valid requests on every route, mutated at random. Whatever
// a request holds, the handler answers (never rejects), with a 2xx or a 4xx whose body is a JSON
// `{"error"}`, and a 200 holds what the model computes; a repository route lists, loads and unloads
// only what a valid request asks, and a routing key header or tenantOf answer changes neither. The seed and the number of cases are fixed;
// FUZZ_SEED and FUZZ_CASES set others for a longer hunt by hand.
//
// This module holds what the fuzz tests share: the models, the valid cases and their mutations, and
// the checks of a reply. The tests are fuzz-inference.test.ts (the inference routes and the GET
// routes beside them), fuzz-repository.test.ts (the model repository routes) and
// fuzz-headers.test.ts (routing key headers and tenantOf answers).

export const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed81);
export const BODY_LIMIT = 256 * 1024;
const W = [[1, -2], [0.5, 3], [-1, 0.25]] as const;

/** y = x·W over rows of 3: what the FP32 models compute, and what the test recomputes. */
export function project(x: ArrayLike<number>): Float32Array {
  const rows = Math.floor(x.length / 3);
  const y = new Float32Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < 2; j++) y[r * 2 + j] = x[r * 3]! * W[0][j]! + x[r * 3 + 1]! * W[1][j]! + x[r * 3 + 2]! * W[2][j]!;
  }
  return y;
}

/** The feeds of every run, in order. */
type Seen = TensorMap[];

function linear(seen: Seen): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    run: (feeds) => {
      seen.push(feeds);
      const x = feeds.x!;
      return { y: { datatype: 'FP32', shape: [x.shape[0]!, 2], data: project(x.data as Float32Array) } };
    },
  };
}

/** INT64 ids [n, 2] and BYTES s [n], both passed through. */
function mixed(seen: Seen): MemoryModel {
  return {
    inputs: [
      { name: 'ids', datatype: 'INT64', shape: [-1, 2] },
      { name: 's', datatype: 'BYTES', shape: [-1] },
    ],
    outputs: [
      { name: 'ids', datatype: 'INT64', shape: [-1, 2] },
      { name: 's', datatype: 'BYTES', shape: [-1] },
    ],
    run: (feeds) => {
      seen.push(feeds);
      return { ids: feeds.ids!, s: feeds.s! };
    },
  };
}

type Kind = 'oip' | 'binary' | 'tf-row' | 'tf-columnar' | 'get' | 'repository';

export interface Case {
  readonly kind: Kind;
  readonly model: 'lin' | 'mix' | 'blin' | 'bmix' | 'repo';
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Uint8Array | string | undefined;
  readonly mutations: string[];
  /** What the valid request sends: x, or ids and s. */
  readonly sent: { readonly x: number[]; readonly ids: bigint[]; readonly s: string[] };
}

export type Rng = () => number;
export const int = (rng: Rng, n: number) => Math.floor(rng() * n);
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]!;
const encode = (text: string) => new TextEncoder().encode(text);

/**
 * Floats of every form: eighths, FP32 values written in full, doubles that FP32 rounds, tiny,
 * huge (within FP32's range: past it is a 400) and signed zeros. A reply is checked against the
 * FP32 value of what was sent.
 */
const float = (rng: Rng): number => {
  const roll = rng();
  if (roll < 0.4) return (int(rng, 401) - 200) / 8;
  if (roll < 0.6) return Math.fround((rng() * 2 - 1) * 10 ** (int(rng, 20) - 10));
  if (roll < 0.8) return (rng() * 2 - 1) * 10 ** (int(rng, 83) - 45);
  return pick(rng, [0, -0, 1e-45, -1e-45, 1.4e-45, 3.4028235e38, -3.4028234e38, 1e-40, 0.1, 16777217, 2 ** -149]);
};

function rows(rng: Rng, n: number, width: number, value: (rng: Rng) => unknown): unknown[][] {
  return Array.from({ length: n }, () => Array.from({ length: width }, () => value(rng)));
}

const INT64S = [0, 1, -1, 42, '9223372036854775807', '-9223372036854775808', 2 ** 53 - 1];
const STRINGS = ['', 'a', 'héllo', '日本', 'x'.repeat(40)];

/** A valid request of `kind` for `model`. */
export function validCase(rng: Rng, kind: Kind, model: Case['model']): Case {
  // Bodies past 1 KiB are read by the protocol's own number parser rather than JSON.parse.
  const n = pick(rng, [1, 2, 3, 40, 90]);
  const lin = model === 'lin' || model === 'blin';
  const x = rows(rng, n, 3, float);
  const ids = rows(rng, n, 2, (r) => pick(r, INT64S));
  const s = Array.from({ length: n }, () => pick(rng, STRINGS));
  const sent = lin ? { x: x.flat() as number[], ids: [], s: [] } : { x: [], ids: ids.flat().map((v) => BigInt(v as string)), s };
  const base = (path: string, body: unknown, headers: Record<string, string> = {}): Case =>
    ({ kind, model, method: 'POST', path, headers, body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body), mutations: [], sent });
  const version = pick(rng, ['', '/versions/1']);
  if (kind === 'get') {
    const paths = ['/v2', '/v2/health/live', '/v2/health/ready', `/v2/models/${model}`, `/v2/models/${model}/ready`, `/v2/models/${model}/versions/1`,
      `/v1/models/${model}`, `/v1/models/${model}/metadata`, `/v1/models/${model}/versions/1`, `/v1/models/${model}/versions/1/metadata`];
    return { kind, model, method: 'GET', path: pick(rng, paths), headers: {}, mutations: [], sent };
  }
  if (kind === 'oip') {
    const flat = rng() < 0.5;
    const inputs = lin
      ? [{ name: 'x', datatype: 'FP32', shape: [n, 3], data: flat ? x.flat() : x }]
      : [{ name: 'ids', datatype: 'INT64', shape: [n, 2], data: flat ? ids.flat() : ids }, { name: 's', datatype: 'BYTES', shape: [n], data: s }];
    return base(`/v2/models/${model}${version}/infer`, rng() < 0.5 ? { inputs } : { id: 'r1', inputs, outputs: lin ? [{ name: 'y' }] : [{ name: 'ids' }, { name: 's' }] });
  }
  if (kind === 'binary') {
    let parts: Uint8Array[];
    let inputs: unknown[];
    if (lin) {
      parts = [new Uint8Array(new Float32Array(x.flat() as number[]).buffer)];
      inputs = [{ name: 'x', datatype: 'FP32', shape: [n, 3], parameters: { binary_data_size: n * 12 } }];
    } else {
      const bytes = s.map((v) => encode(v));
      const sData = new Uint8Array(bytes.reduce((a, b) => a + 4 + b.length, 0));
      let at = 0;
      for (const b of bytes) {
        new DataView(sData.buffer).setUint32(at, b.length, true);
        sData.set(b, at + 4);
        at += 4 + b.length;
      }
      parts = [new Uint8Array(new BigInt64Array(ids.flat().map((v) => BigInt(v as string))).buffer), sData];
      inputs = [
        { name: 'ids', datatype: 'INT64', shape: [n, 2], parameters: { binary_data_size: n * 16 } },
        { name: 's', datatype: 'BYTES', shape: [n], parameters: { binary_data_size: sData.length } },
      ];
    }
    const binaryOut = rng() < 0.5;
    const header = encode(JSON.stringify({ inputs, outputs: (lin ? ['y'] : ['ids', 's']).map((name) => ({ name, parameters: { binary_data: binaryOut } })) }));
    return base(`/v2/models/${model}${version}/infer`, concat([header, ...parts]), { 'inference-header-content-length': String(header.length) });
  }
  const tfPath = `/v1/models/${model}${version}:predict`;
  if (kind === 'tf-row') {
    return base(tfPath, { instances: lin ? (rng() < 0.5 ? x : x.map((r) => ({ x: r }))) : ids.map((r, i) => ({ ids: r, s: s[i] })) });
  }
  return base(tfPath, { inputs: lin ? (rng() < 0.5 ? x : { x }) : { ids, s } });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function bytesOf(body: Case['body']): Uint8Array {
  return body === undefined ? new Uint8Array(0) : typeof body === 'string' ? encode(body) : body;
}

/** The JSON part of a body: all of it, or the header of a binary one. */
function jsonPart(c: Case): { json: unknown; rest: Uint8Array } | undefined {
  const bytes = bytesOf(c.body);
  const length = Number(c.headers['inference-header-content-length'] ?? bytes.length);
  try {
    return { json: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, length))), rest: bytes.subarray(length) };
  } catch {
    return undefined;
  }
}

function setJsonPart(c: Case, json: unknown, text = JSON.stringify(json)): void {
  const part = jsonPart(c);
  const header = encode(text);
  if (c.headers['inference-header-content-length'] !== undefined) {
    c.headers['inference-header-content-length'] = String(header.length);
    c.body = concat([header, part?.rest ?? new Uint8Array(0)]);
  } else {
    c.body = typeof c.body === 'string' ? text : header;
  }
}

/** Every object and array in a JSON value with the path to it, to a depth of 32. */
function containers(value: unknown, out: { holder: Record<string, unknown> | unknown[]; key: string | number }[] = [], depth = 0) {
  if (depth > 32) return out;
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push({ holder: value, key: i });
      containers(v, out, depth + 1);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push({ holder: value as Record<string, unknown>, key: k });
      containers(v, out, depth + 1);
    }
  }
  return out;
}

const RAW = '\u0000RAW\u0000';
/** Values that JSON.stringify cannot write, spliced in as text. */
const RAW_TEXTS = ['NaN', 'Infinity', '-Infinity', '1e400', '-1e400', '1e-400', '123456789012345678901234567890', '0x10', '01', '+1', '.5', '"\\ud800"', '"\\u0000"'];
export const deep = (depth: number): string => '['.repeat(depth) + '1' + ']'.repeat(depth);
const RAW_DEEP = [deep(64), deep(1000), deep(100_000)];

const VALUES: readonly unknown[] = [
  null, true, false, '', 'x', 'FP32', '9223372036854775808', 0, -1, 1.5, -0, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63, 1e300, -1e300,
  [], {}, [[]], [1], [null], [[1, 2, 3]], ['a', 'b'], { b64: 'aGk=' }, { b64: '!!' }, { name: 'x' }, 'x'.repeat(70_000),
];
const SHAPES: readonly unknown[] = [[], [0, 3], [-1, 3], [1], [3], [1, 3, 1], [2 ** 31, 3], [2 ** 31, 2 ** 31], [2 ** 53, 3], [1e10, 1e10, 1e10],
  [-2, 3], [1.5, 3], ['1', 3], [null], [1, 2], [2, 3], [100, 3], Array(40).fill(1), 3, null, '[1,3]'];
const DATATYPES: readonly unknown[] = ['FP64', 'FP16', 'INT64', 'INT8', 'UINT64', 'BOOL', 'BYTES', 'fp32', 'FP32 ', '', 'STRING', 'BF16', 5, null, ['FP32']];
const SIZES: readonly unknown[] = [0, -1, 1, 11, 13, 2 ** 31, 2 ** 53, 1e300, 1.5, '12', null, true, [12], {}];
const LENGTHS = (len: number): string[] => ['-1', '0', '1', String(len - 1), String(len + 1), String(len * 100), '4294967296', '99999999999999999999', 'abc', '1e3', ' 5', '', `${len}, ${len}`, '0x10', `+${len}`];
const METHODS = ['GET', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'post', 'Post', 'TRACE', '', 'P OST'];
const PATHS = ['/', '', 'v2', '/v2/', '/v2//models', '/v2/models', '/v2/models/', '/v2/models/%ZZ/infer', '/v2/models/%E0%A4%A/infer',
  '/v2/models/lin/versions/infer', '/v2/models/lin/versions/999/infer', '/v2/models/lin/versions/%2e%2e/infer', '/v2/models/nope/infer',
  '/v2/models/lin/infer/extra', '/v2/models/lin/infer?x=1&&y', '/v1/models/lin:classify', '/v1/models/lin:PREDICT', '/v1/models/:predict',
  '/v1/models/lin/labels/none:predict', '/v1/models/lin:predict:predict', '/v1/models/lin/versions/-1:predict', `/v2/models/${'m'.repeat(5000)}/infer`,
  '/v2/models/lin\u0000/infer', '/v2/models/l%00in/ready', '/v3', '/v2/repository/index', '/v2/health/../models/lin/ready', '/v2/models/__proto__/infer',
  '/v2/models/constructor', '/v1/models/toString:predict'];

export type Mutation = (rng: Rng, c: Case) => string | undefined;

/** Byte-level mutations: any body, any route. */
const BYTE_MUTATIONS: Record<string, Mutation> = {
  truncate(rng, c) {
    const b = bytesOf(c.body);
    const at = int(rng, b.length + 1);
    c.body = b.subarray(0, at);
    return `truncate at ${at}`;
  },
  flip(rng, c) {
    const b = bytesOf(c.body).slice();
    if (b.length === 0) return undefined;
    const at = int(rng, b.length);
    b[at]! ^= 1 << int(rng, 8);
    c.body = b;
    return `flip byte ${at}`;
  },
  insert(rng, c) {
    const b = bytesOf(c.body);
    const at = int(rng, b.length + 1);
    const extra = pick(rng, [[int(rng, 256)], [0xff, 0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x22], [0x5b], [0x2c], [0x7b]]);
    c.body = concat([b.subarray(0, at), new Uint8Array(extra), b.subarray(at)]);
    return `insert ${extra} at ${at}`;
  },
  delete(rng, c) {
    const b = bytesOf(c.body);
    const at = int(rng, b.length + 1);
    const len = 1 + int(rng, 8);
    c.body = concat([b.subarray(0, at), b.subarray(at + len)]);
    return `delete ${len} at ${at}`;
  },
  empty(rng, c) {
    c.body = pick(rng, [undefined, '', new Uint8Array(0), ' ', 'null', '[]', '{}', '"x"', '\ufeff', '\ud800']);
    return `body ${JSON.stringify(c.body)}`;
  },
  pad(rng, c) {
    // Whitespace after the JSON up to the body limit, or one byte past it.
    const b = bytesOf(c.body);
    const length = BODY_LIMIT + int(rng, 2) - b.length;
    if (length < 0) return undefined;
    c.body = concat([b, new Uint8Array(length).fill(0x20)]);
    return `pad to ${b.length + length} bytes`;
  },
  compress(rng, c) {
    const format = pick(rng, ['gzip', 'deflate'] as const);
    c.body = (format === 'gzip' ? gzipSync : deflateSync)(bytesOf(c.body));
    c.headers['content-encoding'] = format;
    return `compress with ${format}`;
  },
  bomb(rng, c) {
    const format = pick(rng, ['gzip', 'deflate'] as const);
    // Inflates to just past the body limit.
    c.body = (format === 'gzip' ? gzipSync : deflateSync)(concat([bytesOf(c.body), new Uint8Array(BODY_LIMIT).fill(0x20)]));
    c.headers['content-encoding'] = format;
    return `bomb with ${format}`;
  },
  acceptEncoding(rng, c) {
    c.headers['accept-encoding'] = pick(rng, ['gzip', 'deflate', 'gzip;q=0', '*', 'br', 'identity;q=0', 'gzip, deflate;q=0.5', 'x;q=NaN']);
    return `Accept-Encoding ${c.headers['accept-encoding']}`;
  },
  stringBody(_rng, c) {
    if (c.body instanceof Uint8Array) c.body = new TextDecoder().decode(c.body);
    return 'body as string';
  },
  loneSurrogate(rng, c) {
    const text = typeof c.body === 'string' ? c.body : new TextDecoder().decode(bytesOf(c.body));
    const at = int(rng, text.length + 1);
    c.body = `${text.slice(0, at)}\ud800${text.slice(at)}`;
    return `lone surrogate at ${at}`;
  },
  method(rng, c) {
    c.method = pick(rng, METHODS);
    return `method ${c.method}`;
  },
  path(rng, c) {
    c.path = pick(rng, PATHS);
    return `path ${c.path.slice(0, 60)}`;
  },
  ihcl(rng, c) {
    const len = Number(c.headers['inference-header-content-length'] ?? bytesOf(c.body).length);
    const v = pick(rng, [...LENGTHS(len), ['1', '2']]);
    c.headers['inference-header-content-length'] = v;
    return `Inference-Header-Content-Length ${JSON.stringify(v)}`;
  },
  encoding(rng, c) {
    const v = pick(rng, ['gzip', 'deflate', 'br', 'gzip, gzip', 'identity', 'GZIP', ['gzip', 'gzip'], '']);
    c.headers['content-encoding'] = v;
    return `Content-Encoding ${JSON.stringify(v)}`;
  },
  header(rng, c) {
    const name = pick(rng, ['x-tenant', 'content-type', 'accept-encoding', 'inference-header-content-length']);
    const v = pick(rng, [['a', 'b'], '', 'x'.repeat(10_000), '\u0000', 'gzip;q=NaN']);
    c.headers[name] = v;
    return `header ${name}`;
  },
};

const field = (json: unknown, key: string): unknown => (json !== null && typeof json === 'object' ? (json as Record<string, unknown>)[key] : undefined);

/** JSON-level mutations: bodies (or binary headers) that parse as JSON. */
const JSON_MUTATIONS: Record<string, (rng: Rng, json: unknown) => { json: unknown; raw?: string; what: string } | undefined> = {
  replace(rng, json) {
    const all = containers(json);
    if (all.length === 0) return undefined;
    const { holder, key } = pick(rng, all);
    const roll = rng();
    if (roll < 0.25) {
      (holder as Record<string | number, unknown>)[key] = RAW;
      return { json, raw: pick(rng, roll < 0.2 ? RAW_TEXTS : RAW_DEEP), what: `raw at ${String(key)}` };
    }
    const v = pick(rng, VALUES);
    (holder as Record<string | number, unknown>)[key] = v;
    return { json, what: `${String(key)} = ${JSON.stringify(v)?.slice(0, 30)}` };
  },
  remove(rng, json) {
    const all = containers(json);
    if (all.length === 0) return undefined;
    const { holder, key } = pick(rng, all);
    if (Array.isArray(holder)) holder.splice(key as number, 1);
    else delete holder[key as string];
    return { json, what: `remove ${String(key)}` };
  },
  unknownField(rng, json) {
    const objects = [json, ...containers(json).map((p) => (p.holder as Record<string | number, unknown>)[p.key])].filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v));
    if (objects.length === 0) return undefined;
    const o = pick(rng, objects) as Record<string, unknown>;
    const key = pick(rng, ['extra', '__proto__', 'constructor', 'parameters', 'id', 'signature_name', 'outputs', 'binary_data_output', 'name']);
    Object.defineProperty(o, key, { value: pick(rng, VALUES), enumerable: true, configurable: true, writable: true });
    return { json, what: `field ${key}` };
  },
  duplicateInput(rng, json) {
    const inputs = field(json, 'inputs');
    if (!Array.isArray(inputs) || inputs.length === 0) return undefined;
    inputs.splice(int(rng, inputs.length + 1), 0, structuredClone(pick(rng, inputs)));
    return { json, what: 'duplicate input' };
  },
  shape(rng, json) {
    const inputs = field(json, 'inputs');
    if (!Array.isArray(inputs) || inputs.length === 0) return undefined;
    const input = pick(rng, inputs) as Record<string, unknown>;
    if (input === null || typeof input !== 'object') return undefined;
    input.shape = structuredClone(pick(rng, SHAPES));
    return { json, what: `shape ${JSON.stringify(input.shape)?.slice(0, 40)}` };
  },
  datatype(rng, json) {
    const inputs = field(json, 'inputs');
    if (!Array.isArray(inputs) || inputs.length === 0) return undefined;
    const input = pick(rng, inputs) as Record<string, unknown>;
    if (input === null || typeof input !== 'object') return undefined;
    input.datatype = pick(rng, DATATYPES);
    return { json, what: `datatype ${JSON.stringify(input.datatype)}` };
  },
  binarySize(rng, json) {
    const inputs = field(json, 'inputs');
    if (!Array.isArray(inputs) || inputs.length === 0) return undefined;
    const input = pick(rng, inputs) as Record<string, unknown>;
    if (input === null || typeof input !== 'object') return undefined;
    const size = pick(rng, SIZES);
    input.parameters = pick(rng, [{ binary_data_size: size }, { binary_data_size: size, binary_data: true }, null, [], 'p']);
    return { json, what: `parameters ${JSON.stringify(input.parameters)}` };
  },
  parameters(rng, json) {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
    let nested: unknown = 1;
    for (let i = 0; i < 40; i++) nested = { a: nested };
    const parameters = pick(rng, [
      { timeout: pick(rng, [1, 0, -1, 0.5, 1e300, 2 ** 31 * 1000, 2 ** 53, 'x', null, [], true]) },
      { priority: pick(rng, [0, 1, 2, 3, 100, -1, 1.5, 2 ** 31, 2 ** 53, '1', null]) },
      { binary_data_output: pick(rng, [true, false, 1, 'yes', null]) },
      { sequence_id: 1, sequence_start: true }, { shared_memory_region: 'r' }, { nested }, { deep: [[[[[[]]]]]] },
      null, 'p', [], 7,
    ]);
    (json as Record<string, unknown>).parameters = parameters;
    return { json, what: `parameters ${JSON.stringify(parameters).slice(0, 60)}` };
  },
  data(rng, json) {
    const inputs = field(json, 'inputs') ?? field(json, 'instances');
    if (!Array.isArray(inputs) || inputs.length === 0) return undefined;
    const input = pick(rng, inputs);
    const data = pick(rng, [[], [1, 2], Array(300).fill(1.25), [[1, 2, 3], [4, 5]], [[1, 2, 3], 4], ['a', 'b', 'c'], [true, false, true], [[[1, 2, 3]]], { b64: 'AAAA' }]);
    if (input !== null && typeof input === 'object' && !Array.isArray(input)) (input as Record<string, unknown>).data = data;
    else inputs[inputs.indexOf(input)] = data;
    return { json, what: `data ${JSON.stringify(data).slice(0, 30)}` };
  },
};

export function mutate(rng: Rng, c: Case): Case {
  const count = 1 + int(rng, 3);
  for (let i = 0; i < count; i++) {
    // A body nested deeper than JSON.stringify can write gets byte mutations only.
    const part = rng() < 0.55 && bytesOf(c.body).length < 100_000 ? jsonPart(c) : undefined;
    if (part !== undefined) {
      const name = pick(rng, Object.keys(JSON_MUTATIONS));
      const done = JSON_MUTATIONS[name]!(rng, part.json);
      if (done !== undefined) {
        const text = JSON.stringify(done.json);
        setJsonPart(c, done.json, done.raw === undefined ? text : text.replace(JSON.stringify(RAW), done.raw));
        c.mutations.push(`${name}: ${done.what}`);
        continue;
      }
    }
    const name = pick(rng, Object.keys(BYTE_MUTATIONS));
    const what = BYTE_MUTATIONS[name]!(rng, c);
    if (what !== undefined) c.mutations.push(what);
  }
  return c;
}

/** A reply's JSON, which may spell non-finite numbers (NaN, Infinity) as TF-Serving does. */
export function parseReply(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return parseNonFinite(text);
  }
}

/** A TF-Serving reply with its `ids` integers quoted: it writes INT64 bare at any size, which JSON.parse would round past 2^53. */
function exactIds(text: string): string {
  return text.replace(/(?<!\\)"ids":(\[[[\]\d,\s-]*\])/g, (_, ids: string) => `"ids":${ids.replace(/-?\d+/g, '"$&"')}`);
}

/** The outputs of a 200 infer reply: name → [shape, values]. */
export function outputsOf(c: Case, reply: HttpResponse): Map<string, { shape?: number[]; values: unknown[] }> {
  const out = new Map<string, { shape?: number[]; values: unknown[] }>();
  if (c.kind === 'tf-row' || c.kind === 'tf-columnar') {
    const body = parseReply(exactIds(reply.body as string)) as { predictions?: unknown; outputs?: unknown };
    const answer = body.predictions ?? body.outputs;
    if (c.model === 'mix' || c.model === 'bmix') {
      // Row: one object per instance; columnar: one object of columns.
      if (Array.isArray(answer)) {
        out.set('ids', { values: answer.flatMap((r) => (r as { ids: unknown[] }).ids) });
        out.set('s', { values: answer.map((r) => (r as { s: unknown }).s) });
      } else {
        const cols = answer as { ids: unknown[][]; s: unknown[] };
        out.set('ids', { values: cols.ids.flat() });
        out.set('s', { values: cols.s });
      }
    } else {
      out.set('y', { values: (answer as unknown[]).flat(Infinity) });
    }
    return out;
  }
  let header: { outputs: { name: string; shape: number[]; datatype: string; data?: unknown[]; parameters?: { binary_data_size?: number } }[] };
  let rest: Uint8Array = new Uint8Array(0);
  if (typeof reply.body === 'string') {
    header = parseReply(reply.body) as typeof header;
  } else {
    const length = Number(reply.headers['inference-header-content-length']);
    header = JSON.parse(new TextDecoder().decode(reply.body.subarray(0, length))) as typeof header;
    rest = reply.body.subarray(length);
  }
  let at = 0;
  for (const o of header.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) {
      out.set(o.name, { shape: o.shape, values: o.data! });
      continue;
    }
    const bytes = rest.slice(at, at + size);
    at += size;
    let values: unknown[];
    if (o.datatype === 'FP32') values = [...new Float32Array(bytes.buffer)];
    else if (o.datatype === 'INT64') values = [...new BigInt64Array(bytes.buffer)];
    else {
      values = [];
      for (let i = 0; i < bytes.length; ) {
        const n = new DataView(bytes.buffer).getUint32(i, true);
        values.push(new TextDecoder().decode(bytes.subarray(i + 4, i + 4 + n)));
        i += 4 + n;
      }
    }
    out.set(o.name, { shape: o.shape, values });
  }
  assert.equal(at, rest.length, 'binary reply holds exactly its outputs');
  return out;
}

/**
 * A case's body as its Content-Encoding (codings in any case, `identity` and empty ones aside; no
 * body has none) says it inflates; undefined when it does not.
 */
export function inflatedBody(c: Case): Uint8Array | undefined {
  const bytes = bytesOf(c.body);
  const header = c.headers['content-encoding'];
  const codings = (header === undefined || c.body === undefined ? [] : typeof header === 'string' ? [header] : header)
    .flatMap((h) => h.split(','))
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '' && h !== 'identity');
  if (codings.length === 0) return bytes;
  if (codings.length > 1 || (codings[0] !== 'gzip' && codings[0] !== 'deflate')) return undefined;
  try {
    return new Uint8Array((codings[0] === 'gzip' ? gunzipSync : inflateSync)(bytes));
  } catch {
    return undefined;
  }
}

/**
 * The FP32 values a request for an FP32 model sends, where its body still reads as JSON (or a
 * binary header and its data) with the input where the protocol puts it; undefined otherwise.
 */
export function sentFloats(c: Case): unknown[] | undefined {
  const bytes = inflatedBody(c);
  if (bytes === undefined) return undefined;
  const length = c.kind === 'binary' ? Number(c.headers['inference-header-content-length']) : bytes.length;
  if (!Number.isSafeInteger(length)) return undefined;
  const text = new TextDecoder().decode(bytes.subarray(0, length)).replace(/^\ufeff/, '');
  let json: unknown;
  try {
    json = parseReply(text);
  } catch {
    return undefined;
  }
  if (c.kind === 'binary') {
    const x = (field(json, 'inputs') as unknown[])?.find((i) => field(i, 'name') === 'x');
    const size = field(field(x, 'parameters'), 'binary_data_size');
    if (field(x, 'data') !== undefined || typeof size !== 'number') return undefined;
    return [...new Float32Array(bytes.slice(length, length + size).buffer)];
  }
  if (c.kind === 'oip') {
    const inputs = field(json, 'inputs');
    const x = Array.isArray(inputs) ? inputs.find((i) => field(i, 'name') === 'x') : undefined;
    const data = field(x, 'data');
    return Array.isArray(data) ? data.flat(Infinity) : undefined;
  }
  const rows = field(json, 'instances') ?? field(json, 'inputs');
  const unwrap = (v: unknown): unknown => (v !== null && typeof v === 'object' && !Array.isArray(v) ? field(v, 'x') : v);
  const values = Array.isArray(rows) ? rows.map(unwrap) : unwrap(rows);
  return Array.isArray(values) ? values.flat(Infinity) : [values];
}

/** A reply's number: TF-Serving's bare NaN and Infinity come back from parseNonFinite as BARE_NUMBERS' symbols. */
export const numberOf = (a: unknown): number => (typeof a === 'symbol' ? Number(a.description) : a === null ? NaN : Number(a));
export const sameFloat = (a: unknown, b: number) => Object.is(Math.fround(numberOf(a)) + 0, b + 0);

/** A 200 infer reply holds what the model computes from what it was fed. */
function checkOutputs(c: Case, reply: HttpResponse, feeds: TensorMap): void {
  const out = outputsOf(c, reply);
  if (c.model === 'mix' || c.model === 'bmix') {
    // A request may ask for only some outputs.
    const ids = out.get('ids');
    const s = out.get('s');
    assert.ok(ids !== undefined || s !== undefined);
    if (ids !== undefined) assert.deepEqual(ids.values.map((v) => BigInt(v as string)), [...(feeds.ids!.data as BigInt64Array)]);
    if (ids?.shape !== undefined) assert.deepEqual(ids.shape, feeds.ids!.shape);
    if (s !== undefined) assert.deepEqual(s.values, feeds.s!.data);
    return;
  }
  const y = out.get('y')!;
  const fed = feeds.x!.data as Float32Array;
  const sent = sentFloats(c);
  if (sent !== undefined) {
    assert.equal(fed.length, sent.length, 'as many values fed as sent');
    sent.forEach((v, i) => assert.ok(sameFloat(v, fed[i]!), `x[${i}] sent as ${String(v)}, fed as ${fed[i]}`));
  }
  const expected = project(fed);
  if (y.shape) assert.deepEqual(y.shape, [feeds.x!.shape[0], 2]);
  assert.equal(y.values.length, expected.length);
  y.values.forEach((v, i) => assert.ok(sameFloat(v, expected[i]!), `y[${i}] = ${String(v)}, expected ${expected[i]}`));
}

export function describeCase(c: Case): string {
  const body = c.body === undefined ? '(none)' : typeof c.body === 'string' ? JSON.stringify(c.body.slice(0, 200)) : `bytes ${JSON.stringify(new TextDecoder().decode(c.body.subarray(0, 200)))}`;
  return `${c.kind} ${c.model} [${c.mutations.join('; ')}] ${c.method} ${c.path.slice(0, 80)} headers ${JSON.stringify(c.headers).slice(0, 200)} body ${body}`;
}

/** Asserts the reply to one case; `feeds` are what the model was fed for it, if it ran. */
export function checkReply(c: Case, reply: HttpResponse, feeds: TensorMap | undefined, batched = false): void {
  const where = describeCase(c);
  // A request's own deadline (`parameters.timeout`) passing is a 504 (DeadlineExceededError).
  const deadline = reply.status === 504 && c.mutations.some((m) => m.includes('"timeout"'));
  assert.ok((reply.status >= 200 && reply.status < 300) || (reply.status >= 400 && reply.status < 499) || deadline, `status ${reply.status} ${String(reply.body).slice(0, 300)} for ${where}`);
  if (reply.status >= 400) {
    assert.equal(typeof reply.body, 'string', where);
    const body = JSON.parse(reply.body as string) as { error?: unknown };
    assert.ok(typeof body.error === 'string' && body.error.length > 0, `no error message in ${reply.body as string} for ${where}`);
    return;
  }
  const infer = reply.status === 200 && c.method.toUpperCase() === 'POST' && (/\/infer(\?|$)/.test(c.path) || /:predict(\?|$)/i.test(c.path));
  if (!infer) {
    if (c.method.toUpperCase() !== 'HEAD') JSON.parse(String(reply.body));
    return;
  }
  assert.ok(feeds !== undefined, `a 200 without a run for ${where}`);
  // A batch's feeds hold other requests' rows too: the caller checks a batched reply itself.
  if (batched) return;
  try {
    checkOutputs(c, reply, feeds);
  } catch (error) {
    throw new Error(`${(error as Error).message} for ${where}`, { cause: error });
  }
}

export const KINDS: readonly Kind[] = ['oip', 'binary', 'tf-row', 'tf-columnar', 'get'];

export async function setup(batching: boolean) {
  const seen: Seen = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'lin', source: linear(seen), warmup: [] });
  await registry.load({ name: 'mix', source: mixed(seen), warmup: [] });
  if (batching) {
    await registry.load({ name: 'blin', source: linear(seen), batching: { maxBatchSize: 8, maxQueueDelayMs: 2 }, warmup: [] });
    await registry.load({ name: 'bmix', source: mixed(seen), batching: { maxBatchSize: 8, maxQueueDelayMs: 2 }, warmup: [] });
  }
  const service = new InferenceService({ registry });
  const http = createHttpHandler({ service, bodyLimit: BODY_LIMIT });
  // Every body handed to a JsonDecoder, which must answer as decoding in place does.
  const jsonDecoder: JsonDecoder = {
    minBytes: 0,
    infer: async (body, maxElements) => decodeInferJson(body, maxElements),
    inferBinary: async (body, headerLength, maxElements) => decodeInferBinary(body.subarray(0, headerLength), body.subarray(headerLength), maxElements),
    predict: async (body, inputs, maxElements) => decodePredictJson(body, inputs, maxElements),
  };
  const viaDecoder = createHttpHandler({ service, bodyLimit: BODY_LIMIT, jsonDecoder });
  return { registry, service, http, viaDecoder, seen };
}

/** The handler's reply to a case, its body inflated when it came compressed. */
export async function answer(http: HttpHandler, c: Case): Promise<HttpResponse> {
  const request: HttpRequest = { method: c.method, path: c.path, headers: c.headers, body: c.body };
  let reply: HttpResponse;
  try {
    reply = await http.handle(request);
  } catch (error) {
    assert.fail(`handle() rejected with ${String(error)} for ${describeCase(c)}`);
  }
  const encoding = reply.headers['content-encoding'];
  if (encoding === undefined) return reply;
  assert.ok(encoding === 'gzip' || encoding === 'deflate', `Content-Encoding ${encoding} for ${describeCase(c)}`);
  const bytes = (encoding === 'gzip' ? gunzipSync : inflateSync)(reply.body);
  const binary = reply.headers['inference-header-content-length'] !== undefined;
  return { ...reply, body: binary ? new Uint8Array(bytes) : bytes.toString() };
}
