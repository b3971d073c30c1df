import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { onnxNode } from '../../src/backends/onnx-node/index.js';
import { BackendError, CancelledError } from '../../src/core/index.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { constantGraph, encode, externalTensor, floats, ifGraph, linearGraph, type Placed } from './external-models.js';

const { onnx } = onnxProto;
const W = [1, -2, 3, 4, -5, 6]; // 3×2
const B = [10, 20];
const backend = onnxNode();

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'servable-external-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `model` as dir/model.onnx and the side files given; resolves the model's path and its size. */
async function save(dir: string, model: Uint8Array, files: Record<string, Uint8Array> = {}): Promise<{ file: string; size: number }> {
  const file = path.join(dir, 'model.onnx');
  await writeFile(file, model);
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), bytes);
  }
  return { file, size: model.byteLength };
}

/** `bytes` and after them filler up to `size` bytes. */
function padded(bytes: Uint8Array, size: number): Uint8Array {
  return concat(bytes, new Uint8Array(size - bytes.byteLength).fill(7));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

const linear = (w: Placed, b: Placed) => encode(linearGraph(3, 2, externalTensor('W', [3, 2], w), externalTensor('B', [2], b)));

test('a model in one file counts its file\'s size', async (t) => {
  const dir = await tempDir(t);
  const model = encode(linearGraph(3, 2, onnx.TensorProto.create({ name: 'W', dataType: 1, dims: [3, 2], floatData: W }), onnx.TensorProto.create({ name: 'B', dataType: 1, dims: [2], floatData: B })));
  const { file, size } = await save(dir, model);
  assert.equal(await backend.estimateBytes(file), size);
});

test('external data counts the bytes its tensors take from each file: the sum of their lengths, each file once', async (t) => {
  const dir = await tempDir(t);
  // W and B in one 100-byte file (the rest of it unused), W's bytes again in a second one.
  const shared = padded(concat(floats(W), floats(B)), 100);
  const one = await save(dir, linear({ location: 'weights.bin', offset: 0, length: 24 }, { location: 'weights.bin', offset: 24, length: 8 }), { 'weights.bin': shared });
  assert.equal(await backend.estimateBytes(one.file), one.size + 32);
  const two = await save(dir, linear({ location: 'w/W.bin', length: 24 }, { location: './weights.bin', offset: 24, length: 8 }), { 'w/W.bin': floats(W) });
  assert.equal(await backend.estimateBytes(two.file), two.size + 24 + 8);
});

test('references whose tags, lengths and texts cross the 16 KiB pieces the file is read in all count', async (t) => {
  const dir = await tempDir(t);
  // 300 tensors of about 250 bytes each, names of varied lengths: about five piece boundaries, falling within fields.
  const location = `${'f'.repeat(200)}/w.bin`;
  const initializer = Array.from({ length: 300 }, (_, i) => externalTensor('t'.repeat(i % 37), [2], { location, offset: i * 8, length: 8 }));
  const { file, size } = await save(dir, encode(onnx.GraphProto.create({ name: 'many', initializer })), { [location]: new Uint8Array(4000) });
  assert.ok(size > 4 * 16384, `${size} bytes`);
  assert.equal(await backend.estimateBytes(file), size + 300 * 8);
});

test('a reference without a length counts its file whole', async (t) => {
  const dir = await tempDir(t);
  const { file, size } = await save(dir, linear({ location: 'weights.bin', offset: 0, length: 24 }, { location: 'weights.bin', offset: 24 }), { 'weights.bin': padded(concat(floats(W), floats(B)), 100) });
  assert.equal(await backend.estimateBytes(file), size + 100);
});

test('external tensors in a Constant node\'s attribute, in the initializers of an If node\'s subgraphs and in a sparse initializer count', async (t) => {
  const dir = await tempDir(t);
  const constant = await save(dir, encode(constantGraph(externalTensor('value', [2], { location: 'c.bin', length: 8 }), [2])), { 'c.bin': floats(B) });
  assert.equal(await backend.estimateBytes(constant.file), constant.size + 8);
  const branch = (location: string, offset: number) => {
    const g = constantGraph(externalTensor('value', [2], { location, length: 8 }), [2]);
    g.initializer = [externalTensor('unused', [3, 2], { location: 'init.bin', offset, length: 24 })];
    return g;
  };
  const model = encode(ifGraph(branch('then.bin', 0), ifGraph(branch('else.bin', 24), branch('else.bin', 48), [2]), [2]));
  const nested = await save(dir, model, { 'then.bin': floats(B), 'else.bin': padded(floats(B), 40), 'init.bin': padded(floats(W), 100) });
  // then.bin 8; else.bin 8 + 8 (two references) of its 40; init.bin 24 × 3 references of its 100.
  assert.equal(await backend.estimateBytes(nested.file), nested.size + 8 + 16 + 72);
  const sparse = constantGraph(onnx.TensorProto.create({ name: 'v', dataType: 1, dims: [2], floatData: B }), [2]);
  sparse.sparseInitializer = [{ values: externalTensor('S', [2], { location: 's.bin', length: 8 }), indices: externalTensor('S_i', [2], { location: 's.bin', offset: 8, length: 16 }), dims: [6] }];
  const withSparse = await save(dir, encode(sparse), { 's.bin': padded(floats(B), 30) });
  assert.equal(await backend.estimateBytes(withSparse.file), withSparse.size + 24);
});

test('an external file that is missing, outside the model\'s directory or shorter than its references fails with a BackendError naming it', async (t) => {
  const dir = await tempDir(t);
  const inner = path.join(dir, 'inner');
  await mkdir(inner);
  await writeFile(path.join(dir, 'outside.bin'), floats(W));
  const rejects = async (model: Uint8Array, message: (file: string) => string, files: Record<string, Uint8Array> = {}) => {
    const { file } = await save(inner, model, files);
    await assert.rejects(backend.estimateBytes(file), (e: Error) => e instanceof BackendError && e.message.startsWith(message(file)));
  };
  const b = { location: 'b.bin', length: 8 };
  const missing = path.join(inner, 'missing.bin');
  await rejects(linear({ location: 'missing.bin', length: 24 }, b), (file) => `Cannot read the external data file ${missing} of the model file ${file}: ENOENT`, { 'b.bin': floats(B) });
  await rejects(linear({ location: '../outside.bin', length: 24 }, b), (file) => `The model file ${file} references external data at "../outside.bin", outside its directory`);
  const absolute = path.join(dir, 'outside.bin');
  await rejects(linear({ location: absolute, length: 24 }, b), (file) => `The model file ${file} references external data at ${JSON.stringify(absolute)}, outside its directory`);
  await rejects(linear({ location: 'b.bin', offset: 4, length: 8 }, b), (file) => `The model file ${file} reads external data up to byte 12 of ${path.join(inner, 'b.bin')}, which holds 8`);
  await rejects(linear({ location: 'b.bin', length: -1 } as Placed, b), (file) => `The model file ${file} gives external data at "b.bin" the length "-1", no number of bytes`);
  await rejects(linear({ location: '', length: 8 }, b), (file) => `The model file ${file} has a tensor with external data and no location`);
});

test('an external file reached through a link that leads outside the model\'s directory fails, as in ONNX Runtime, which resolves links; a link within it counts', async (t) => {
  const dir = await tempDir(t);
  const inner = path.join(dir, 'inner');
  await mkdir(path.join(inner, 'data'), { recursive: true });
  await writeFile(path.join(dir, 'outside.bin'), floats(W));
  await writeFile(path.join(inner, 'data', 'w.bin'), floats(W));
  await symlink(path.join(dir, 'outside.bin'), path.join(inner, 'out.bin'));
  await symlink(path.join(inner, 'data'), path.join(inner, 'linked'));
  const b = { location: 'b.bin', length: 8 };
  const escaping = await save(inner, linear({ location: 'out.bin', length: 24 }, b), { 'b.bin': floats(B) });
  const link = path.join(inner, 'out.bin');
  await assert.rejects(backend.estimateBytes(escaping.file), (e: Error) => e instanceof BackendError && e.message === `The external data file ${link} of the model file ${escaping.file} leads outside its directory through a link`);
  const within = await save(inner, linear({ location: 'linked/w.bin', length: 24 }, b));
  assert.equal(await backend.estimateBytes(within.file), within.size + 32);
});

test('a file that is no ONNX protobuf, truncated or nesting graphs too deep fails with a BackendError naming it', async (t) => {
  const dir = await tempDir(t);
  const model = linear({ location: 'weights.bin', length: 24 }, { location: 'weights.bin', offset: 24, length: 8 });
  const rejects = async (bytes: Uint8Array, message: string) => {
    const { file } = await save(dir, bytes, { 'weights.bin': concat(floats(W), floats(B)) });
    await assert.rejects(backend.estimateBytes(file), (e: Error) => e instanceof BackendError && e.message === message.replaceAll('FILE', file));
  };
  // ir_version (2 bytes) and producer_name (16) come first, then the graph, then opset_import's 6 bytes.
  await rejects(model.subarray(0, 40), `The model file FILE is no valid ONNX model: a field of ${model.byteLength - 27} bytes at byte 18 runs past its end`);
  await rejects(model.subarray(0, model.byteLength - 5), `The model file FILE is no valid ONNX model: truncated at byte ${model.byteLength - 5}`);
  await rejects(new Uint8Array(1234), 'The model file FILE is no valid ONNX model: field number 0 at byte 0');
  await rejects(Uint8Array.of(0x0b, 0x0c), 'The model file FILE is no valid ONNX model: wire type 3 at byte 1');
  await rejects(Uint8Array.of(0x08, 0xff, 0xff), 'The model file FILE is no valid ONNX model: truncated at byte 3');
  const leaf = constantGraph(onnx.TensorProto.create({ name: 'v', dataType: 1, dims: [2], floatData: B }), [2]);
  let graph = leaf;
  for (let i = 1; i < 64; i++) graph = ifGraph(graph, leaf, [2]);
  const { file } = await save(dir, encode(graph));
  assert.equal(await backend.estimateBytes(file), (await stat(file)).size, '64 levels of graphs are read');
  await rejects(encode(ifGraph(graph, leaf, [2])), 'The model file FILE nests graphs deeper than 64 levels');
});

test('a model\'s own weights are skipped, not read, and an abort between reads ends the estimate', async (t) => {
  const dir = await tempDir(t);
  const big = Array.from({ length: 1 << 20 }, (_, i) => i % 7);
  const model = encode(linearGraph(3, 2, onnx.TensorProto.create({ name: 'W', dataType: 1, dims: [1 << 20], rawData: floats(big) }), externalTensor('B', [2], { location: 'b.bin', length: 8 })));
  const { file, size } = await save(dir, model, { 'b.bin': floats(B) });
  const handle = await open(file);
  type Read = (buffer: Buffer, offset: number, length: number, position: number) => Promise<{ bytesRead: number; buffer: Buffer }>;
  const read = t.mock.method(Object.getPrototypeOf(handle) as { read: Read }, 'read');
  await handle.close();
  assert.equal(await backend.estimateBytes(file), size + 8);
  const bytes = read.mock.calls.reduce((sum, c) => sum + c.arguments[2], 0);
  assert.ok(size > 4e6 && read.mock.callCount() <= 3 && bytes <= 3 * 16384, `${read.mock.callCount()} reads of ${bytes} bytes in all, of a ${size}-byte file`);
  const controller = new AbortController();
  read.mock.mockImplementation(async () => {
    controller.abort();
    return { bytesRead: 0, buffer: Buffer.alloc(0) };
  });
  await assert.rejects(backend.estimateBytes(file, { signal: controller.signal }), (e: Error) => e instanceof CancelledError);
});

test('ONNX Runtime loads a model with external data as written here and answers exactly; under maxLoadedBytes the version counts its external data', async (t) => {
  const dir = await tempDir(t);
  const shared = padded(concat(floats(W), floats(B)), 100);
  const { file, size } = await save(dir, linear({ location: 'weights.bin', offset: 0, length: 24 }, { location: 'weights.bin', offset: 24, length: 8 }), { 'weights.bin': shared });
  const session = await backend.load(file, { label: 'external:1' });
  t.after(() => session.dispose());
  const out = await session.run({ X: { datatype: 'FP32', shape: [2, 3], data: new Float32Array([1, 2, 3, -1, 0, 0.5]) } });
  // [1,2,3]·W + B = [1+6-15+10, -2+8+18+20]; [-1,0,0.5]·W + B = [-1-2.5+10, 2+3+20]
  assert.deepEqual(Array.from(out['Y']!.data as Float32Array), [2, 44, 6.5, 25]);

  const registry = new ModelRegistry({ backends: [backend], maxLoadedBytes: size + 32 });
  t.after(() => registry.close());
  await registry.load({ name: 'm', source: file });
  assert.equal(registry.get('m').metadata().sizeBytes, size + 32);
  const tight = new ModelRegistry({ backends: [backend], maxLoadedBytes: size + 31 });
  t.after(() => tight.close());
  await assert.rejects(tight.load({ name: 'm', source: file }), (e: Error) => e.message.includes(`is estimated at ${size + 32} bytes, more than \`maxLoadedBytes\` (${size + 31})`));
});
