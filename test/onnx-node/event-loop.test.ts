import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onnxNode } from '../../src/backends/onnx-node/index.js';
import { shiftChainModel } from '../fixtures/onnx-models.js';

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
