import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import { BackendUnavailableError, CancelledError, ClosedError, InvalidInputError, type Tensor } from 'servable';
import { onnxWeb } from 'servable/onnx-web';
import { linearModel, linearReference } from '../fixtures/onnx-models.js';
import { clsModelPath, pseudoRandom } from '../fixtures/ocr-models.js';

const W = [[1, 2, 0], [0, -1, 3]];
const B = [10, 20, 30];
const IMAGE = 3 * 48 * 192;

function rows(...values: number[][]): Tensor {
  return { datatype: 'FP32', shape: [values.length, values[0]!.length], data: new Float32Array(values.flat()) };
}

test('runs a model on wasm with exact answers and reports its metadata', async () => {
  const session = await onnxWeb().load(linearModel(W, B), { label: 'linear:1' });
  try {
    assert.deepEqual(session.inputs, [{ name: 'X', datatype: 'FP32', shape: [-1, 2] }]);
    assert.deepEqual(session.outputs, [{ name: 'Y', datatype: 'FP32', shape: [-1, 3] }]);
    assert.equal(session.device, 'wasm');
    assert.deepEqual(session.fallbacks, []);
    assert.equal(session.concurrency, 1);
    const x = [[1, 2], [3, -4], [0, 0]];
    const { Y } = await session.run({ X: rows(...x) });
    assert.equal(Y!.datatype, 'FP32');
    assert.deepEqual(Y!.shape, [3, 3]);
    assert.deepEqual(Array.from(Y!.data as Float32Array), x.flatMap((r) => linearReference(W, B, r)));
  } finally {
    await session.dispose();
  }
});

test('the PaddleOCR classifier gives what onnxruntime-node gives, from a path or from bytes', async () => {
  const n = 4;
  const data = pseudoRandom(n * IMAGE, 7);
  const reference = await ortNode.InferenceSession.create(clsModelPath);
  const expected = (await reference.run({ x: new ortNode.Tensor('float32', data, [n, 3, 48, 192]) }))['softmax_0.tmp_0']!.data as Float32Array;
  await reference.release();
  for (const source of [clsModelPath, new Uint8Array(await readFile(clsModelPath))]) {
    const session = await onnxWeb({ devices: ['wasm'] }).load(source);
    try {
      assert.deepEqual(session.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }]);
      const out = (await session.run({ x: { datatype: 'FP32', shape: [n, 3, 48, 192], data } }))['softmax_0.tmp_0']!;
      assert.deepEqual(out.shape, [n, 2]);
      const got = out.data as Float32Array;
      const diff = Math.max(...Array.from(got, (v, i) => Math.abs(v - expected[i]!)));
      assert.ok(diff <= 1e-4, `max abs diff ${diff}`);
    } finally {
      await session.dispose();
    }
  }
});

test('falls back from webgpu to wasm in Node and says why; strict mode refuses', async () => {
  const session = await onnxWeb({ devices: ['webgpu', 'wasm'] }).load(linearModel(W, B));
  assert.equal(session.device, 'wasm');
  assert.equal(session.fallbacks.length, 1);
  assert.equal(session.fallbacks[0]!.device, 'webgpu');
  assert.match(session.fallbacks[0]!.reason, /webgpu/);
  await session.dispose();

  await assert.rejects(onnxWeb({ devices: ['webgpu', 'wasm'], strict: true }).load(linearModel(W, B), { label: 'linear:1' }), (error) => {
    assert.ok(error instanceof BackendUnavailableError);
    assert.equal(error.code, 'ERR_SERVABLE_BACKEND_UNAVAILABLE');
    assert.deepEqual(error.failures.map((f) => f.device), ['webgpu']);
    assert.match(error.message, /linear:1/);
    return true;
  });
});

test('a model no device can load lists every reason', async () => {
  await assert.rejects(onnxWeb({ devices: ['webgpu', 'wasm'] }).load(new Uint8Array([1, 2, 3])), (error) => {
    assert.ok(error instanceof BackendUnavailableError);
    assert.deepEqual(error.failures.map((f) => f.device), ['webgpu', 'wasm']);
    assert.ok(error.failures.every((f) => f.reason.length > 0));
    return true;
  });
});

test('a missing onnxruntime-web is a BackendUnavailableError with an install hint', async () => {
  const missing = 'onnxruntime-web-is-not-here';
  const backend = onnxWeb({ devices: ['webgpu', 'wasm'], runtime: () => import(missing) });
  await assert.rejects(backend.load(linearModel(W, B)), (error) => {
    assert.ok(error instanceof BackendUnavailableError);
    assert.deepEqual(error.failures.map((f) => f.device), ['webgpu', 'wasm']);
    assert.match(error.failures[0]!.reason, /npm install onnxruntime-web/);
    return true;
  });
  await assert.rejects(onnxWeb({ runtime: async () => ({ default: {} }) }).load(linearModel(W, B)), /did not resolve to onnxruntime-web/);
});

test('checks feeds, honours aborts, runs one at a time, and refuses runs after dispose', async () => {
  const session = await onnxWeb().load(linearModel(W, B));
  await assert.rejects(session.run({ X: { datatype: 'INT32', shape: [1, 2], data: new Int32Array(2) } }), (error) => {
    assert.ok(error instanceof InvalidInputError);
    assert.match(error.message, /Input 'X': expected datatype FP32, got INT32/);
    return true;
  });
  await assert.rejects(session.run({ X: rows([1, 2, 3]) }), InvalidInputError);
  await assert.rejects(session.run({ X: rows([1, 2]), Z: rows([1]) }), /Unknown input 'Z'/);

  const aborted = AbortSignal.abort();
  await assert.rejects(session.run({ X: rows([1, 2]) }, { signal: aborted }), CancelledError);
  // A run queued behind another leaves the queue when its signal aborts, without running.
  const controller = new AbortController();
  const first = session.run({ X: rows([1, 1]) });
  const second = session.run({ X: rows([2, 2]) }, { signal: controller.signal });
  controller.abort();
  await assert.rejects(second, CancelledError);
  assert.deepEqual(Array.from((await first).Y!.data as Float32Array), linearReference(W, B, [1, 1]));

  const many = await Promise.all([1, 2, 3, 4].map((v) => session.run({ X: rows([v, -v]) })));
  many.forEach((out, i) => assert.deepEqual(Array.from(out.Y!.data as Float32Array), linearReference(W, B, [i + 1, -(i + 1)])));

  const pending = session.run({ X: rows([5, 5]) });
  await session.dispose();
  assert.deepEqual(Array.from((await pending).Y!.data as Float32Array), linearReference(W, B, [5, 5]));
  await assert.rejects(session.run({ X: rows([1, 2]) }), ClosedError);
});

test('each run starts in a new task, so back-to-back runs never starve the event loop', async () => {
  const session = await onnxWeb().load(linearModel(W, B));
  await session.run({ X: rows([1, 2]) });
  // onnxruntime-web settles runs in microtasks only; without a task turn per run this never fires.
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  await session.run({ X: rows([1, 2]) });
  assert.equal(turned, true);
  await session.dispose();
});

test('an aborted load rejects before loading anything', async () => {
  await assert.rejects(onnxWeb().load(linearModel(W, B), { signal: AbortSignal.abort() }), CancelledError);
});

test('numThreads is set once per process; a backend asking for another value is told why', async () => {
  // Earlier tests started the runtime with the thread count onnxruntime-web chose for this machine.
  const outcomes = await Promise.all(
    [1, 2, 3].map((n) =>
      onnxWeb({ numThreads: n })
        .load(linearModel(W, B))
        .then(async (session) => {
          await session.dispose();
          return { n, running: n };
        })
        .catch((error: unknown) => {
          assert.ok(error instanceof BackendUnavailableError);
          const running = Number(/already runs with numThreads (\d+)/.exec(error.failures[0]!.reason)?.[1]);
          assert.notEqual(running, n);
          return { n, running };
        }),
    ),
  );
  const running = new Set(outcomes.map((o) => o.running));
  assert.equal(running.size, 1, JSON.stringify(outcomes));
  assert.ok(outcomes.filter((o) => o.n !== o.running).length >= 2);
});

test('validates options and sources, quoting the bad value', async () => {
  assert.throws(() => onnxWeb([] as never), { name: 'TypeError', message: 'Expected `options` to be an object, got [] (array)' });
  assert.throws(() => onnxWeb(['webgpu'] as never), { name: 'TypeError', message: 'Expected `options` to be an object, got ["webgpu"] (array)' });
  assert.throws(() => onnxWeb(null as never), { name: 'TypeError', message: 'Expected `options` to be an object, got null (null)' });
  assert.throws(() => onnxWeb({ wasmPaths: {} }), { name: 'TypeError', message: 'Expected `wasmPaths` to be a URL prefix or {wasm, mjs}, got {} (object)' });
  assert.throws(() => onnxWeb({ devices: [] }), /Expected `devices` to be a non-empty array, got \[\] \(array\)/);
  assert.throws(() => onnxWeb({ devices: ['cuda' as 'wasm'] }), /Expected `devices\[0\]` to be one of "wasm", "webgpu", got "cuda" \(string\)/);
  assert.throws(() => onnxWeb({ devices: ['wasm', 'wasm'] }), /without repeats/);
  assert.throws(() => onnxWeb({ devices: [, 'wasm'] as never }), /Expected `devices\[0\]` to be one of "wasm", "webgpu", got undefined/);
  assert.throws(() => onnxWeb({ numThreads: -1 }), RangeError);
  assert.throws(() => onnxWeb({ numThreads: 1.5 }), /Expected `numThreads` to be an integer, got 1.5 \(number\)/);
  assert.throws(() => onnxWeb({ wasmPaths: { js: '/x' } as never }), /Unknown key `js` in `wasmPaths`/);
  assert.throws(() => onnxWeb({ graphOptimizationLevel: 'max' as 'all' }), /graphOptimizationLevel/);
  assert.throws(() => onnxWeb({ strict: 'yes' as unknown as boolean }), /Expected `strict` to be a boolean, got "yes" \(string\)/);
  assert.throws(() => onnxWeb({ provider: 'wasm' } as never), /Unknown option `provider`/);
  const backend = onnxWeb();
  assert.equal(backend.name, 'onnx-web');
  assert.equal(backend.accepts('model.onnx'), true);
  assert.equal(backend.accepts(new Uint8Array(4)), true);
  assert.equal(backend.accepts({ inputs: [], outputs: [], run() {} }), false);
  await assert.rejects(backend.load({ weights: [] }), /Expected a model URL, path or bytes \(Uint8Array\), got \{"weights":\[\]\} \(object\)/);
});

/** A stand-in for onnxruntime-web whose sessions record how many runs overlap, across sessions. */
function overlapRuntime() {
  const state = { running: 0, most: 0, order: [] as string[], releaseError: undefined as Error | undefined };
  class Tensor {
    readonly type: string;
    readonly data: unknown;
    readonly dims: readonly number[];
    constructor(type: string, data: unknown, dims: readonly number[]) {
      this.type = type;
      this.data = data;
      this.dims = dims;
    }
  }
  const meta = [{ name: 'X', isTensor: true, type: 'float32', shape: [-1] }];
  const ort = {
    env: { wasm: {} },
    Tensor,
    InferenceSession: {
      create: async () => ({
        inputMetadata: meta,
        outputMetadata: meta,
        async run(feeds: Record<string, Tensor>) {
          state.running++;
          state.most = Math.max(state.most, state.running);
          // onnxruntime-web's WebGPU runs await the GPU: other tasks run meanwhile.
          await new Promise((resolve) => setImmediate(resolve));
          state.running--;
          return { X: feeds.X };
        },
        async release() {
          state.order.push(state.running > 0 ? 'release during a run' : 'release');
          if (state.releaseError) throw state.releaseError;
        },
      }),
    },
  };
  return { state, runtime: async () => ort };
}

test('runs of different sessions of one runtime never overlap, as onnxruntime-web serves one session at a time', async () => {
  const { state, runtime } = overlapRuntime();
  const backend = onnxWeb({ devices: ['webgpu'], runtime });
  const a = await backend.load(new Uint8Array(1));
  const b = await backend.load(new Uint8Array(1));
  const x = (v: number): Tensor => ({ datatype: 'FP32', shape: [1], data: new Float32Array([v]) });
  const outs = await Promise.all([a, b, a, b].map((s, i) => s.run({ X: x(i) })));
  assert.deepEqual(outs.map((o) => (o.X!.data as Float32Array)[0]), [0, 1, 2, 3]);
  assert.equal(state.most, 1);
  const last = b.run({ X: x(4) });
  await a.dispose();
  await last;
  assert.deepEqual(state.order, ['release']);
  // A session whose release fails does not hold up the others.
  const c = await backend.load(new Uint8Array(1));
  state.releaseError = new Error('release failed');
  await assert.rejects(c.dispose(), /release failed/);
  assert.deepEqual(Array.from((await b.run({ X: x(5) })).X!.data as Float32Array), [5]);
  state.releaseError = undefined;
  await b.dispose();
});

test('in Node, a file: URL loads the file it names and an http URL is fetched', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'servable-onnx-web-'));
  const file = path.join(dir, 'linear model.onnx');
  await writeFile(file, linearModel(W, B));
  const server = createServer((request, response) => {
    if (request.url === '/models/linear.onnx') response.end(linearModel(W, B));
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    for (const source of [pathToFileURL(file), pathToFileURL(file).href, `${origin}/models/linear.onnx`, new URL('/models/linear.onnx', origin)]) {
      const session = await onnxWeb().load(source);
      assert.deepEqual(Array.from((await session.run({ X: rows([1, 2]) })).Y!.data as Float32Array), linearReference(W, B, [1, 2]), String(source));
      await session.dispose();
    }
    await assert.rejects(onnxWeb({ devices: ['webgpu', 'wasm'] }).load(`${origin}/models/gone.onnx`), (error) => {
      assert.ok(error instanceof BackendUnavailableError);
      assert.deepEqual(error.failures.map((f) => f.device), ['webgpu', 'wasm']);
      assert.match(error.failures[0]!.reason, /GET http:\/\/127\.0\.0\.1:\d+\/models\/gone\.onnx answered 404/);
      return true;
    });
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('onnxWeb refuses empty devices with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => onnxWeb({ devices: [] }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
