import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/batching/index.js';
import { memoryBackend, type MemoryModel, type RunTimings } from '../../src/backends/index.js';
import { concatBatch, sliceBatch, type Tensor } from '../../src/core/index.js';
import { FakeClock, events, track } from './helpers.js';

const rows = (...values: number[][]): Tensor => ({ datatype: 'FP32', shape: [values.length, 2], data: new Float32Array(values.flat()) });

test('batches tensors through the memory backend, with its latency on the fake clock', async () => {
  const clock = new FakeClock();
  const backend = memoryBackend({ clock });
  const model: MemoryModel = {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    latencyMs: (n) => 3 + n, // 3 ms per batch + 1 ms per row
    run: ({ x }) => ({ y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => 2 * v + 1) } }),
  };
  const session = await backend.load(model, { label: 'affine:1' });
  const inferMs: number[] = [];
  const batcher = new DynamicBatcher<Tensor, Tensor>({
    clock,
    maxBatchSize: 4,
    maxQueueDelayMs: 2,
    concurrency: session.concurrency,
    sizeOf: (t) => t.shape[0]!,
    execute: async (requests, { signal }) => {
      const timings: RunTimings = {};
      const { y } = await session.run({ x: concatBatch(requests) }, { signal, timings });
      inferMs.push(timings.inferMs!);
      let start = 0;
      return requests.map((r) => sliceBatch(y!, start, (start += r.shape[0]!)));
    },
  });
  const { batches } = events(batcher);
  const answers = [rows([1, 2]), rows([3, 4], [5, 6]), rows([7, 8]), rows([9, 10]), rows([11, 12], [13, 14])].map((r) => track(batcher.submit(r)));

  await clock.advanceAsync(6.5); // [1 + 2 + 1 rows] is full at once and runs 3 + 4 ms
  assert.deepEqual(backend.calls.map((c) => [c.label, c.batchSize]), [['affine:1', 4]]);
  await clock.advanceAsync(0.5);
  assert.deepEqual(answers.map((a) => a.state), ['resolved', 'resolved', 'resolved', 'pending', 'pending']);
  await clock.advanceAsync(6); // the rest (3 rows) had waited past the 2 ms delay: runs at 7 for 3 + 3 ms
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [4, 3]);
  assert.deepEqual(
    answers.map((a) => [a.value!.shape, Array.from(a.value!.data as Float32Array)]),
    [
      [[1, 2], [3, 5]],
      [[2, 2], [7, 9, 11, 13]],
      [[1, 2], [15, 17]],
      [[1, 2], [19, 21]],
      [[2, 2], [23, 25, 27, 29]],
    ],
  );
  assert.deepEqual(batches.map((b) => [b.size, b.requests, b.reason, b.runMs, b.queueMs]), [
    [4, 3, 'full', 7, [0, 0, 0]],
    [3, 2, 'delay', 6, [7, 7]],
  ]);
  assert.deepEqual(inferMs, [7, 6], 'the simulated run time is what the session reports');
});
