import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dataOf, Handler, InferenceService, ModelRegistry, type MemoryModel, type TensorMap } from 'servable';
import { handlerHarness, memoryBackend } from 'servable/testing';

const double: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
  run: ({ x }) => ({ y: { datatype: 'FP32', shape: x!.shape, data: dataOf(x, 'FP32').map((v) => 2 * v) } }),
};

// A handler whose preprocess names the model's input wrongly: the client's request is fine.
class MisnamedFeeds extends Handler<{ n: number }, number> {
  override preprocess(requests: readonly { n: number }[]): TensorMap {
    return { input: { datatype: 'FP32', shape: [requests.length, 1], data: Float32Array.from(requests, (r) => r.n) } };
  }

  override postprocess(outputs: TensorMap): number[] {
    return [...dataOf(outputs.y, 'FP32')];
  }
}

test("feeds a custom handler's preprocess built that the model does not take are a 500 naming the handler, not the client's 400", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'double', source: double, handler: new MisnamedFeeds(), warmup: [] });
  const service = new InferenceService({ registry });
  try {
    await assert.rejects(service.infer('double', { n: 1 }), (error: Error & { code?: string; status?: number; cause?: unknown }) => {
      assert.equal(error.code, 'ERR_SERVABLE_BACKEND');
      assert.equal(error.status, 500);
      assert.equal(
        error.message,
        "MisnamedFeeds.preprocess built feeds that model 'double' version '1' does not take: Unknown input 'input'; the model takes 'x'",
      );
      assert.equal((error.cause as { code?: string } | undefined)?.code, 'ERR_SERVABLE_INVALID_INPUT');
      return true;
    });
  } finally {
    await registry.close();
  }
});

test('the harness reports such feeds the same way', async () => {
  const harness = await handlerHarness(new MisnamedFeeds(), double);
  await assert.rejects(harness.infer({ n: 1 }), { code: 'ERR_SERVABLE_BACKEND', message: /^MisnamedFeeds\.preprocess built feeds that model 'model' version '1' does not take: / });
});
