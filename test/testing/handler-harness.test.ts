import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TensorHandler, type MemoryModel } from 'servable';
import { handlerHarness } from 'servable/testing';

const echo: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
  outputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
  run: (feeds) => feeds,
};

test('handlerHarness checks its options, naming an unknown one and quoting a bad value', async () => {
  await assert.rejects(handlerHarness(new TensorHandler(), echo, { maxBatchSise: 8 } as never), /^TypeError: Unknown option `maxBatchSise`; handlerHarness takes name, version, inputs, maxBatchSize$/);
  await assert.rejects(handlerHarness(new TensorHandler(), echo, { maxBatchSize: 0 }), /^RangeError: Expected `maxBatchSize` to be an integer >= 1, got 0 \(number\)$/);
  await assert.rejects(handlerHarness(new TensorHandler(), echo, { version: 2 as never }), /^TypeError: Expected `version` to be a non-empty string, got 2 \(number\)$/);
  const harness = await handlerHarness(new TensorHandler(), echo, { maxBatchSize: 4 });
  assert.deepEqual(Array.from((await harness.infer({ inputs: { x: { datatype: 'FP32', shape: [1, 1], data: new Float32Array([3]) } } })).outputs.x!.data as Float32Array), [3]);
});
