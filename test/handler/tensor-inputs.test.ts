import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, InvalidInputError, ModelRegistry, type MemoryModel, type TensorMap } from 'servable';
import { memoryBackend } from 'servable/testing';

/** Echoes rows of four values: its input has a batch dimension. */
const rows: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  run: (feeds: TensorMap) => feeds,
};

async function serve() {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', source: rows, batching: { maxBatchSize: 8 }, warmup: [] });
  return { backend, registry, service: new InferenceService({ registry }) };
}

const expected = "Input 'x': expected a tensor {datatype, shape, data} (FP32, shape [-1, 4]), got";

test('an input that is not a tensor (a plain number, a typed array without dims) is a 400 naming the input and what it got', async () => {
  const { backend, registry, service } = await serve();
  const cases: [unknown, string][] = [
    [3, `${expected} 3 (number)`],
    [new Float32Array(4), `${expected} a Float32Array of 4 elements, with no datatype or shape`],
    [[1, 2, 3, 4], `${expected} [1,2,3,4] (array)`],
    ['1,2,3,4', `${expected} "1,2,3,4" (string)`],
    [null, `${expected} null (null)`],
  ];
  for (const [x, message] of cases) {
    await assert.rejects(service.infer('m', { inputs: { x } } as never), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, `${String(error)}`);
      assert.deepEqual([error.code, error.status, error.message], ['ERR_SERVABLE_INVALID_INPUT', 400, message]);
      return true;
    });
  }
  // A tensor without a shape is not taken for a scalar either.
  await assert.rejects(service.infer('m', { inputs: { x: { datatype: 'FP32', data: new Float32Array(4) } } } as never), {
    name: 'InvalidInputError',
    message: "Input 'x': expected a shape of integers >= 0, got undefined (undefined)",
  });
  assert.deepEqual(backend.calls, [], 'nothing ran');
  await registry.close();
});

test('a request without an inputs object, or that is no object, is a 400 saying so', async () => {
  const { backend, registry, service } = await serve();
  await assert.rejects(service.infer('m', {} as never), {
    name: 'InvalidInputError',
    message: "Expected `inputs` to be an object of tensors by input name ('x'), got undefined (undefined)",
  });
  await assert.rejects(service.infer('m', { inputs: new Float32Array(4) } as never), {
    name: 'InvalidInputError',
    message: "Expected `inputs` to be an object of tensors by input name ('x'), got a Float32Array of 4 elements, with no datatype or shape",
  });
  await assert.rejects(service.infer('m', null as never), {
    name: 'InvalidInputError',
    message: 'Expected the request to be an object with `inputs`, got null (null)',
  });
  assert.deepEqual(backend.calls, []);
  await registry.close();
});
