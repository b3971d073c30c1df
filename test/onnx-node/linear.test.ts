import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunTimings } from '../../src/backends/index.js';
import { onnxNode, type OnnxNodeSession } from '../../src/backends/onnx-node/index.js';
import { CancelledError, ClosedError, InvalidInputError, takeBuffer, type DataType, type Tensor, type TensorMap } from '../../src/core/index.js';
import { linearModel, linearReference } from '../fixtures/onnx-models.js';
import { identityModel, liveWorkers } from './models.js';

const W = [
  [1, -2],
  [3, 4],
  [-5, 6],
];
const B = [10, 20];
const model = linearModel(W, B);

function rows(n: number, offset: number): number[][] {
  return Array.from({ length: n }, (_, i) => [i + offset, 2 * i - offset, 3 - i]);
}

function feed(xs: number[][]): TensorMap {
  return { X: { datatype: 'FP32', shape: [xs.length, 3], data: new Float32Array(xs.flat()) } };
}

function expected(xs: number[][]): number[] {
  return xs.flatMap((x) => linearReference(W, B, x));
}

let session: OnnxNodeSession;
let baseline: number;

before(async () => {
  baseline = liveWorkers();
  session = await onnxNode({ instances: 2, intraOpNumThreads: 1 }).load(model, { label: 'linear:1' });
});

after(() => session.dispose());

test('the session describes the model and where it runs', () => {
  assert.deepEqual(session.inputs, [{ name: 'X', datatype: 'FP32', shape: [-1, 3] }]);
  assert.deepEqual(session.outputs, [{ name: 'Y', datatype: 'FP32', shape: [-1, 2] }]);
  assert.equal(session.device, 'cpu');
  assert.deepEqual(session.fallbacks, []);
  assert.equal(session.concurrency, 2);
  assert.equal(session.instances, 2);
  assert.equal(liveWorkers(), baseline + 2);
});

test('outputs are exact', async () => {
  const xs = rows(4, 1);
  const timings: RunTimings = {};
  const start = performance.now();
  const out = await session.run(feed(xs), { timings });
  assert.ok(timings.inferMs! > 0 && timings.inferMs! < performance.now() - start, `ONNX Runtime's own time, ${timings.inferMs} ms, is part of the call's`);
  assert.deepEqual(Object.keys(out), ['Y']);
  assert.equal(out['Y']!.datatype, 'FP32');
  assert.deepEqual(out['Y']!.shape, [4, 2]);
  assert.ok(out['Y']!.data instanceof Float32Array);
  assert.deepEqual(Array.from(out['Y']!.data as Float32Array), expected(xs));
});

test('concurrent runs on two workers all come back right', async () => {
  const batches = Array.from({ length: 24 }, (_, i) => rows(1 + (i % 5), i));
  const outs = await Promise.all(batches.map((xs) => session.run(feed(xs))));
  outs.forEach((out, i) => assert.deepEqual(Array.from(out['Y']!.data as Float32Array), expected(batches[i]!), `batch ${i}`));
});

test('with pipelineDepth 2 the session holds two runs per worker, and mixed runs come back exact and in order', async () => {
  const piped = await onnxNode({ instances: 2, intraOpNumThreads: 1, pipelineDepth: 2 }).load(model, { label: 'linear:piped' });
  try {
    assert.equal(piped.concurrency, 4);
    // Small outputs may come back through the shared arena, 9000 rows (72 KB) only by message: both kinds interleave on each worker.
    const sizes = [1, 9000, 2, 3, 9000, 1, 5, 9000, 2, 1, 4, 9000];
    const inputs = sizes.map((n, i) => rows(n, i));
    const outs = await Promise.all(inputs.map((xs) => piped.run(feed(xs))));
    outs.forEach((out, i) => assert.deepEqual(Array.from(out['Y']!.data as Float32Array), expected(inputs[i]!), `run ${i} of ${sizes[i]} rows`));
  } finally {
    await piped.dispose();
  }
});

test('feeds that do not fit the model are rejected with InvalidInputError before they reach a worker', async () => {
  const bad: [string, TensorMap, RegExp][] = [
    ['wrong datatype', { X: { datatype: 'FP64', shape: [1, 3], data: new Float64Array(3) } }, /Input 'X': expected datatype FP32, got FP64/],
    ['wrong shape', { X: { datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) } }, /expected shape \[-1, 3\], got \[1, 4\]/],
    ['wrong length', { X: { datatype: 'FP32', shape: [2, 3], data: new Float32Array(5) } }, /holds 6 elements, got 5/],
    ['missing input', {}, /Missing input 'X'/],
    ['unknown input', { ...feed([[1, 2, 3]]), Z: { datatype: 'FP32', shape: [1], data: new Float32Array(1) } }, /Unknown input 'Z'/],
  ];
  for (const [what, feeds, message] of bad) {
    await assert.rejects(session.run(feeds), (e: unknown) => e instanceof InvalidInputError && message.test(e.message), what);
  }
});

test('feeds move to the worker by default; transferFeeds: false, views and shared memory leave the caller\'s arrays intact', async () => {
  const moved = feed([[1, 2, 3]]);
  await session.run(moved);
  assert.equal(moved['X']!.data.length, 0, 'the feed buffer was transferred');

  const whole = new Float32Array([9, 9, 9, 1, 2, 3, 9, 9, 9]);
  const view: Tensor = { datatype: 'FP32', shape: [1, 3], data: whole.subarray(3, 6) };
  const out = await session.run({ X: view });
  assert.deepEqual(Array.from(out['Y']!.data as Float32Array), expected([[1, 2, 3]]));
  assert.equal(whole.length, 9, 'a view is copied, not its whole buffer moved');

  const shared = new Float32Array(new SharedArrayBuffer(12));
  shared.set([1, 2, 3]);
  const fromShared = await session.run({ X: { datatype: 'FP32', shape: [1, 3], data: shared } });
  assert.deepEqual(Array.from(fromShared['Y']!.data as Float32Array), expected([[1, 2, 3]]), 'shared memory is copied for ONNX Runtime');
  assert.deepEqual(Array.from(shared), [1, 2, 3]);

  const copying = await onnxNode({ instances: 1, transferFeeds: false }).load(model);
  try {
    const kept = feed([[4, 5, 6]]);
    const y = await copying.run(kept);
    assert.deepEqual(Array.from(kept['X']!.data as Float32Array), [4, 5, 6]);
    assert.deepEqual(Array.from(y['Y']!.data as Float32Array), expected([[4, 5, 6]]));
  } finally {
    await copying.dispose();
  }
});

test('the feed buffers moved to a worker come back for reuse, after a single batch too', async () => {
  // A worker of its own, whose first and only batch this is: it holds feeds for a few batches,
  // so only its going to sleep with no batch in sight sends this one back.
  const single = await onnxNode({ instances: 1, intraOpNumThreads: 1 }).load(model, { label: 'linear:recycle' });
  try {
    // An odd length no other buffer in this file has, with a pattern to recognise it by.
    const xs = Array.from({ length: 7 }, (_, i) => [i, i + 1, -i]);
    const feeds = feed(xs);
    const out = await single.run(feeds);
    assert.deepEqual(Array.from(out['Y']!.data as Float32Array), expected(xs));
    // The worker gives the buffer back in a message the event loop delivers.
    let reused: Float32Array | undefined;
    for (const until = Date.now() + 2000; !reused && Date.now() < until; await sleep(1)) {
      const taken = new Float32Array(takeBuffer(7 * 3 * 4));
      if (taken.every((v, i) => v === xs.flat()[i])) reused = taken;
    }
    assert.ok(reused, 'the buffer that was sent is handed out again, contents and all');
    assert.notEqual((out['Y']!.data as Float32Array).buffer, reused.buffer, 'outputs are never recycled');
  } finally {
    await single.dispose();
  }
});

test('outputs too large for the shared reply arena come back by message, exact', async () => {
  // 9,000 rows of Y are 72 KB, over the 64 KiB arena.
  const xs = rows(9000, 3);
  const timings: RunTimings = {};
  const out = await session.run(feed(xs), { timings });
  assert.ok(timings.inferMs! > 0, 'the time comes back by message too');
  assert.deepEqual(out['Y']!.shape, [9000, 2]);
  assert.deepEqual(Array.from(out['Y']!.data as Float32Array), expected(xs));
});

test('every datatype crosses the worker boundary as the right ONNX Runtime type and back', async () => {
  const values: { [T in DataType]: Tensor<T>['data'] } = {
    BOOL: new Uint8Array([1, 0, 0, 1]),
    UINT8: new Uint8Array([0, 1, 254, 255]),
    UINT16: new Uint16Array([0, 1, 65534, 65535]),
    UINT32: new Uint32Array([0, 1, 2 ** 32 - 2, 2 ** 32 - 1]),
    UINT64: new BigUint64Array([0n, 1n, 2n ** 64n - 2n, 2n ** 64n - 1n]),
    INT8: new Int8Array([-128, -1, 1, 127]),
    INT16: new Int16Array([-32768, -1, 1, 32767]),
    INT32: new Int32Array([-(2 ** 31), -1, 1, 2 ** 31 - 1]),
    INT64: new BigInt64Array([-(2n ** 63n), -1n, 1n, 2n ** 63n - 1n]),
    FP16: new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]),
    FP32: new Float32Array([1.5, -2.25, 3.4e38, 1e-45]),
    FP64: new Float64Array([Math.PI, -Math.E, 1e308, 5e-324]),
    BYTES: ['a', '', 'héllo', 'x'.repeat(300)],
  };
  // With BYTES the outputs come back by message; without, through the shared reply arena.
  const all = Object.keys(values) as DataType[];
  for (const types of [all, all.filter((t) => t !== 'BYTES')]) {
    const identity = await onnxNode({ instances: 1 }).load(identityModel(types), { label: 'identity:1' });
    try {
      assert.deepEqual(identity.inputs.map((s) => [s.name, s.datatype, s.shape]), types.map((t) => [`in_${t}`, t, [-1, 2]]));
      const feeds: TensorMap = {};
      for (const t of types) feeds[`in_${t}`] = { datatype: t, shape: [2, 2], data: values[t].slice() } as Tensor;
      const out = await identity.run(feeds);
      for (const t of types) {
        const y = out[`out_${t}`]!;
        assert.equal(y.datatype, t);
        assert.deepEqual(y.shape, [2, 2]);
        assert.equal(y.data.constructor, values[t].constructor, `${t} storage`);
        assert.deepEqual(Array.from(y.data as ArrayLike<unknown>), Array.from(values[t] as ArrayLike<unknown>), t);
      }
    } finally {
      await identity.dispose();
    }
  }
});

test('load checks its source and honours its signal', async () => {
  const backend = onnxNode({ instances: 1 });
  assert.equal(backend.name, 'onnx-node');
  assert.equal(backend.accepts('models/a/1/model.onnx'), true);
  assert.equal(backend.accepts('MODEL.ONNX'), true);
  assert.equal(backend.accepts(model), true);
  assert.equal(backend.accepts('model.pt'), false);
  assert.equal(backend.accepts({ inputs: [] }), false);
  await assert.rejects(backend.load('model.pt'), { name: 'TypeError', message: /Expected a path to an \.onnx file or the model's bytes \(Uint8Array\), got "model.pt" \(string\)/ });
  await assert.rejects(backend.load(model, { signal: AbortSignal.abort() }), CancelledError);
  const controller = new AbortController();
  const loading = backend.load(model, { signal: controller.signal });
  controller.abort(new Error('shutting down'));
  await assert.rejects(loading, { message: 'shutting down' });

  const shared = new Uint8Array(new SharedArrayBuffer(model.length));
  shared.set(model);
  const fromShared = await backend.load(shared);
  try {
    assert.deepEqual(fromShared.inputs, session.inputs, 'bytes in shared memory load too');
  } finally {
    await fromShared.dispose();
  }
});

test('dispose lets a run in flight finish, stops the workers, and later runs reject', async () => {
  const own = await onnxNode({ instances: 2 }).load(model, { label: 'linear:2' });
  const workers = liveWorkers();
  const inFlight = own.run(feed([[1, 1, 1]]));
  const disposing = own.dispose();
  assert.equal(own.dispose(), disposing, 'dispose is idempotent');
  assert.deepEqual(Array.from((await inFlight)['Y']!.data as Float32Array), expected([[1, 1, 1]]));
  await disposing;
  assert.equal(own.instances, 0);
  assert.equal(liveWorkers(), workers - 2);
  await assert.rejects(own.run(feed([[1, 1, 1]])), (e: unknown) => e instanceof ClosedError && e.message === 'onnx-node linear:2 is disposed');
});
