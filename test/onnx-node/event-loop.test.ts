import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onnxNode } from '../../src/backends/onnx-node/index.js';
import { linearModel, shiftChainModel } from '../fixtures/onnx-models.js';

/** How many turns of the event loop (setImmediate) pass before `run` settles. */
async function turnsWhile(run: Promise<unknown>): Promise<number> {
  let settled = false;
  void run.then(() => (settled = true), () => (settled = true));
  let turns = 0;
  while (!settled) {
    await new Promise((resolve) => setImmediate(resolve));
    turns++;
  }
  return turns;
}

test('onnx-node runs the model off the event loop: the loop keeps turning while a run computes, and the answer is exact (microsoft/onnxruntime#19611)', async () => {
  // 128 MatMuls of [256, 256] by 256 × 256: 2G multiply-adds, tens to hundreds of milliseconds on
  // one thread. onnxruntime-node's own session.run() on the main thread does this while the loop
  // waits: it turns once, when the run has ended; here it turns thousands of times.
  const k = 256;
  const depth = 128;
  const n = 256;
  const session = await onnxNode({ instances: 1, intraOpNumThreads: 1 }).load(shiftChainModel(k, depth), { label: 'chain:1' });
  try {
    const run = session.run({ X: { datatype: 'FP32', shape: [n, k], data: new Float32Array(n * k).map((_, i) => i % k) } });
    const turns = await turnsWhile(run);
    assert.ok(turns >= 10, `the event loop turned ${turns} times during the run`);
    const y = (await run).Y!;
    assert.deepEqual(y.shape, [n, k]);
    const expected = Array.from({ length: n * k }, (_, i) => ((i % k) - depth + 2 * k) % k);
    assert.deepEqual(Array.from(y.data as Float32Array), expected);
  } finally {
    await session.dispose();
  }
});

test('onnx-node loads a model off the event loop: another model keeps answering while a 16 MB model loads (tensorflow/serving#881, #910)', async () => {
  // onnxruntime-node's own InferenceSession.create() of this model on the main thread held the
  // loop for 80-125 ms in a scratch run (2 turns); here the session is created in its worker.
  const other = await onnxNode({ instances: 1, intraOpNumThreads: 1 }).load(linearModel([[1], [2]], [3]), { label: 'linear:1' });
  try {
    let settled = false;
    const loading = onnxNode({ instances: 1, intraOpNumThreads: 1 }).load(shiftChainModel(2048, 2), { label: 'big:1' });
    void loading.then(() => (settled = true), () => (settled = true));
    const answers: number[] = [];
    while (!settled) {
      const y = await other.run({ X: { datatype: 'FP32', shape: [1, 2], data: Float32Array.from([answers.length, 1]) } });
      answers.push((y.Y!.data as Float32Array)[0]!);
    }
    assert.ok(answers.length >= 10, `${answers.length} runs of the other model answered during the load`);
    assert.deepEqual(answers, answers.map((_, i) => i + 5));
    await (await loading).dispose();
  } finally {
    await other.dispose();
  }
});
