import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry, TensorHandler } from 'servable';
import { handlerHarness, memoryBackend } from 'servable/testing';
import { nullsTaken } from '../fixtures/null-options.js';

test('InferenceService, its caches entries, TensorHandler and handlerHarness refuse null for every option, naming it and quoting null, where before TensorHandler took padRows: null for its default, and handlerHarness name, version and inputs', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  assert.deepEqual(await nullsTaken(['registry', 'clock', 'random', 'caches'], (key) => new InferenceService({ registry, [key]: null } as never)), [], 'InferenceService');
  assert.deepEqual(await nullsTaken(['result', 'semantic', 'query'], (key) => new InferenceService({ registry, caches: { m: { [key]: null } } } as never), 'caches.m.'), [], 'caches');
  const handlerKeys = ['allowedBatchSizes', 'padVariableLength', 'padValue', 'padRows'];
  assert.deepEqual(await nullsTaken(handlerKeys, (key) => new TensorHandler({ [key]: null } as never)), [], 'TensorHandler');
  const model = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }], outputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }], run: (feeds: object) => feeds } as never;
  const harness = (key: string) => handlerHarness(new TensorHandler(), model, { [key]: null } as never);
  assert.deepEqual(await nullsTaken(['name', 'version', 'inputs', 'maxBatchSize'], harness), [], 'handlerHarness');
});
