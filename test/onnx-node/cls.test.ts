import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { onnxNode, type OnnxNodeSession } from '../../src/backends/onnx-node/index.js';
import { BackendError, type TensorMap } from '../../src/core/index.js';
import { clsModelPath, pseudoRandom } from '../fixtures/ocr-models.js';

const IMAGE = 3 * 48 * 192;
const OUTPUT = 'softmax_0.tmp_0';

function images(n: number, seed: number): Float32Array {
  return pseudoRandom(n * IMAGE, seed);
}

let session: OnnxNodeSession;

before(async () => {
  session = await onnxNode({ instances: 2, intraOpNumThreads: 1 }).load(clsModelPath, { label: 'cls:1' });
});

after(() => session.dispose());

test('the cls model reports its inputs and outputs with symbolic dimensions as -1', () => {
  assert.deepEqual(session.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }]);
  assert.deepEqual(session.outputs, [{ name: OUTPUT, datatype: 'FP32', shape: [-1, 2] }]);
  assert.equal(session.concurrency, 2);
});

test('a batch of 5 served through the workers equals a direct onnxruntime-node run', async () => {
  const data = images(5, 42);
  const reference = await ort.InferenceSession.create(clsModelPath);
  const direct = (await reference.run({ x: new ort.Tensor('float32', data.slice(), [5, 3, 48, 192]) }))[OUTPUT]!;
  await reference.release();

  const served = (await session.run({ x: { datatype: 'FP32', shape: [5, 3, 48, 192], data } }))[OUTPUT]!;
  assert.deepEqual(served.shape, [5, 2]);
  const want = direct.data as Float32Array;
  const got = served.data as Float32Array;
  assert.equal(got.length, 10);
  let maxDiff = 0;
  for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
  assert.ok(maxDiff <= 1e-5, `max abs diff ${maxDiff}`);
  for (let row = 0; row < 5; row++) assert.ok(Math.abs(got[2 * row]! + got[2 * row + 1]! - 1) < 1e-5, 'each row is a softmax');
});

test('the event loop keeps ticking while a worker runs a batch of 64', async (t) => {
  const feeds: TensorMap = { x: { datatype: 'FP32', shape: [64, 3, 48, 192], data: images(64, 7) } };
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks += 1;
  }, 1);
  const started = performance.now();
  const out = await session.run(feeds);
  const took = performance.now() - started;
  clearInterval(timer);
  maxGap = Math.max(maxGap, performance.now() - last);
  assert.deepEqual(out[OUTPUT]!.shape, [64, 2]);
  t.diagnostic(`batch 64 took ${took.toFixed(0)} ms in a worker; ${ticks} ticks, max gap ${maxGap.toFixed(1)} ms`);
  // On the main thread the run would be one gap as long as the run itself (~100-130 ms here).
  // The bound grows with the run so that a loaded CI machine slowing both does not fail it.
  assert.ok(ticks >= 5, `the interval ticked ${ticks} times`);
  assert.ok(maxGap < Math.max(50, took / 2), `max event-loop gap ${maxGap.toFixed(1)} ms during a ${took.toFixed(0)} ms run`);
});

test('an ONNX Runtime failure during a run rejects with a BackendError carrying ORT\'s message', async () => {
  const error = await session.run({ x: { datatype: 'FP32', shape: [1, 3, 0, 0], data: new Float32Array(0) } }).catch((e: unknown) => e);
  assert.ok(error instanceof BackendError, String(error));
  assert.equal(error.code, 'ERR_SERVABLE_BACKEND');
  assert.match(error.message, /^onnx-node cls:1: Non-zero status code returned while running Conv node\..*Invalid input shape/);
  assert.ok(error.cause instanceof Error);
  const ok = await session.run({ x: { datatype: 'FP32', shape: [1, 3, 48, 192], data: images(1, 1) } });
  assert.deepEqual(ok[OUTPUT]!.shape, [1, 2], 'the worker keeps serving');
});
