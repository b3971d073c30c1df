import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry } from 'servable';
import { memoryBackend } from 'servable/testing';
import { doubler, offsetOf, request } from './helpers.js';

// tensorflow/serving#385: without warm-up the first requests to a new model pay for its first runs.

test('a version warms up before any request runs on it: one loaded on its first request, and a new version swapped in while requests arrive', async () => {
  const backend = memoryBackend({ concurrency: 4 });
  const registry = new ModelRegistry({ backends: [backend] });
  const service = new InferenceService({ registry });
  const runs = () => backend.calls.map((c) => `${c.label} [${Array.from(c.feeds.x!.data as Float32Array)}]`);

  registry.register({ name: 'm', version: '1', source: doubler(1), batching: { maxBatchSize: 8 }, warmup: [request([0.5, 0.5])] });
  const first = await Promise.all([request([1, 1]), request([2, 2])].map((r) => service.infer('m', r)));
  assert.deepEqual(first.map(offsetOf), [3, 5]);
  assert.deepEqual(runs(), ['m:1 [0.5,0.5]', 'm:1 [1,1,2,2]'], 'the warm-up request ran first, then the waiting requests in one batch');

  backend.calls.length = 0;
  const loading = registry.load({ name: 'm', version: '2', source: doubler(2), batching: { maxBatchSize: 8 } });
  const during = service.infer('m', request([3, 3]));
  await loading;
  const after = service.infer('m', request([4, 4]));
  assert.deepEqual([offsetOf(await during), offsetOf(await after)], [7, 10]);
  assert.deepEqual(runs().filter((r) => r.startsWith('m:2')), ['m:2 [0,0]', 'm:2 [4,4]'], 'version 2 warmed up on zeros before it took traffic');
  assert.deepEqual(runs().filter((r) => r.startsWith('m:1')), ['m:1 [3,3]'], 'version 1 answered meanwhile');
  await registry.close();
});
