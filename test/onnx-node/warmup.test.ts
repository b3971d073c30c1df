import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry, type InferenceRequest, type InferenceResponse, type ModelVersion } from '../../src/index.js';
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
