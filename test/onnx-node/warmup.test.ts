import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry, type Backend, type InferenceRequest, type InferenceResponse, type ModelSession, type ModelVersion } from '../../src/index.js';
import { WorkerPool } from '../../src/backends/onnx-node/pool.js';
import type { Job, Result } from './pool-worker.js';
import { onnxNode } from '../../src/backends/onnx-node/index.js';
import { identityModel } from './models.js';

test('a version on two instances warms up with feeds of its own for each, though the first run moves its feeds to a worker', async () => {
  const registry = new ModelRegistry({ backends: [onnxNode({ instances: 2, intraOpNumThreads: 1 })] });
  try {
    await registry.load({ name: 'id', version: '1', source: identityModel(['FP32']), batching: { maxBatchSize: 4 } });
    const mv = registry.get('id') as ModelVersion<InferenceRequest, InferenceResponse>;
    assert.equal(mv.metadata().state, 'ready');
    const out = await mv.infer({ inputs: { in_FP32: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) } } });
    assert.deepEqual(Array.from(out.outputs.out_FP32!.data as Float32Array), [1, 2]);
  } finally {
    await registry.close();
  }
});

test("each of a pool's workers runs each warm-up batch shape twice before the version takes traffic", async () => {
  // The registry's warm-up over onnx-node's own WorkerPool, its workers echoing each run's batch size.
  const pool = await WorkerPool.start<{ threadId: number }, Job, Result>({
    url: new URL('./pool-worker.ts', import.meta.url), size: 3, label: 'warm-up test', workerData: () => ({}), spinMs: 1, threads: 1,
  });
  const ran: string[] = [];
  const session: ModelSession = {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    device: 'cpu',
    fallbacks: [],
    concurrency: pool.size,
    async run(feeds) {
      const { threadId, x } = await pool.run({ op: 'echo', x: feeds.x!.shape[0]! }, []);
      ran.push(`${threadId}:${x}`);
      return feeds;
    },
    dispose: () => pool.close(),
  };
  const backend: Backend = { name: 'pool', accepts: () => true, load: async () => session };
  const registry = new ModelRegistry({ backends: [backend] });
  try {
    await registry.load({ name: 'm', source: 'pool', batching: { maxBatchSize: 4 } });
    const byWorker = new Map<string, string[]>();
    for (const run of ran) {
      const [thread, size] = run.split(':') as [string, string];
      byWorker.set(thread, [...(byWorker.get(thread) ?? []), size]);
    }
    assert.deepEqual([...byWorker.values()], Array.from({ length: 3 }, () => ['1', '1', '4', '4']), 'three workers, each ran batch 1 twice, then batch 4 twice');
  } finally {
    await registry.close();
  }
});
