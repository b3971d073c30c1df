import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry, type TensorMap } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { createHttpHandler } from 'servable/protocol';
import { doubler, request, values } from './helpers.js';

async function serve(batching: Record<string, unknown>) {
  const clock = new FakeClock();
  const backend = memoryBackend({ clock });
  const registry = new ModelRegistry({ backends: [backend], clock });
  await registry.load({ name: 'm', source: doubler(1, 1), batching: { maxBatchSize: 4, maxQueueDelayMs: 0, ...batching }, warmup: [] });
  return { clock, backend, registry, service: new InferenceService({ registry, clock }) };
}

test('a request larger than maxBatchSize runs as parts over several batches and is answered in order', async () => {
  const { clock, backend, registry, service } = await serve({});
  const rows = Array.from({ length: 10 }, (_, i) => [i, -i]);
  const big = service.infer('m', request(...rows));
  const small = service.infer('m', request([100, 100]));
  await clock.advanceAsync(10);
  const reply = await big;
  assert.deepEqual(reply.outputs.y!.shape, [10, 2]);
  assert.deepEqual(values(reply), rows.flat().map((v) => 2 * v + 1));
  assert.deepEqual(values(await small), [201, 201]);
  // Parts of 4, 4 and 2 items; the remainder shares its batch with the small request.
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [4, 4, 3]);
  await registry.close();
});

test('a request past maxRequestItems is a 400 before any part is made, however few elements it holds', async () => {
  const { registry, service } = await serve({ maxRequestItems: 8 });
  await assert.rejects(service.infer('m', request(...Array.from({ length: 9 }, () => [0, 0]))), {
    name: 'InvalidInputError',
    message: 'The request holds 9 items, more than maxRequestItems (8) allows in one request',
  });
  // A hundred million rows of nothing: no elements for maxElements to count, so only the item cap stops it.
  await registry.load({
    name: 'any',
    source: { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }], outputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }], run: (feeds: TensorMap) => feeds },
    batching: { maxBatchSize: 4 },
    warmup: [],
  });
  const reply = await createHttpHandler({ service }).handle({
    method: 'POST',
    path: '/v2/models/any/infer',
    headers: {},
    body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1e8, 0], data: [] }] }),
  });
  assert.deepEqual([reply.status, JSON.parse(reply.body as string)], [
    400,
    { error: 'The request holds 100000000 items, more than maxRequestItems (4096) allows in one request', code: 'ERR_SERVABLE_INVALID_INPUT' },
  ]);
  await registry.close();
});
