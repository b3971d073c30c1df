import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry, TensorHandler, type InferenceRequest, type InferenceResponse, type MemoryModel, type Tensor, type TensorHandlerOptions, type TensorMap } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { doubler, request, values } from './helpers.js';

/** Echoes `x` of any shape: the backend's recorded feeds show what the handler built. */
const echo: MemoryModel = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }],
  outputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }],
  latencyMs: 1,
  run: (feeds: TensorMap) => feeds,
};

function row(...values: number[]) {
  return { inputs: { x: { datatype: 'FP32', shape: [1, values.length], data: new Float32Array(values) } as Tensor } };
}

async function serve(source: MemoryModel, handler: () => TensorHandler) {
  const clock = new FakeClock();
  const backend = memoryBackend({ clock });
  const registry = new ModelRegistry({ backends: [backend], clock });
  await registry.load({ name: 'm', source, batching: { maxBatchSize: 8, maxQueueDelayMs: 5 }, handler, warmup: [] });
  return { clock, backend, registry, service: new InferenceService({ registry, clock }) };
}

test('allowedBatchSizes pads each batch up to an allowed size; the padding rows are run and dropped', async () => {
  const { clock, backend, registry, service } = await serve(doubler(1, 1), () => new TensorHandler({ allowedBatchSizes: [2, 4, 8] }));
  const three = [service.infer('m', request([1, 1])), service.infer('m', request([2, 2])), service.infer('m', request([3, 3]))];
  await clock.advanceAsync(10);
  assert.deepEqual((await Promise.all(three)).map(values), [[3, 3], [5, 5], [7, 7]]);
  const alone = service.infer('m', request([4, 4]));
  await clock.advanceAsync(10);
  const reply = await alone;
  assert.deepEqual([reply.outputs.y!.shape, values(reply)], [[1, 2], [9, 9]]);
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [4, 2]);
  assert.deepEqual(Array.from(backend.calls[1]!.feeds.x!.data as Float32Array), [4, 4, 0, 0]);
  await registry.close();
});

test('without batching, a request is padded alone, and one larger than every allowed size is a 400', async () => {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', source: doubler(0), handler: () => new TensorHandler({ allowedBatchSizes: [2, 4] }), warmup: [] });
  const service = new InferenceService({ registry });
  assert.deepEqual(values(await service.infer('m', request([1, 1], [2, 2], [3, 3]))), [2, 2, 4, 4, 6, 6]);
  await assert.rejects(service.infer('m', request([1, 1], [2, 2], [3, 3], [4, 4], [5, 5])), {
    code: 'ERR_SERVABLE_INVALID_INPUT',
    status: 400,
    message: 'The request holds 5 items, more than the largest of allowedBatchSizes (4)',
  });
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [4]);
  await registry.close();
});

test('padVariableLength lets requests of different lengths share a batch, padded with padValue', async () => {
  const options: TensorHandlerOptions = { padVariableLength: true, padValue: -1 };
  const { clock, backend, registry, service } = await serve(echo, () => new TensorHandler(options));
  const short = service.infer('m', row(1, 2));
  const long = service.infer('m', row(3, 4, 5, 6));
  await clock.advanceAsync(10);
  assert.equal(backend.calls.length, 1);
  assert.deepEqual(backend.calls[0]!.feeds.x!.shape, [2, 4]);
  assert.deepEqual(Array.from(backend.calls[0]!.feeds.x!.data as Float32Array), [1, 2, -1, -1, 3, 4, 5, 6]);
  const replies = await Promise.all([short, long]);
  assert.deepEqual(replies.map((r) => Array.from(r.outputs.x!.data as Float32Array)), [[1, 2, -1, -1], [3, 4, 5, 6]]);
  await registry.close();
});

test('a subclass trims padded outputs to each request true length, which its own input shape gives', async () => {
  class Trimmed extends TensorHandler {
    override postprocess(outputs: TensorMap, requests: readonly InferenceRequest[]): InferenceResponse[] {
      return super.postprocess(outputs, requests).map((response, i) => {
        const length = requests[i]!.inputs.x!.shape[1]!;
        const x = response.outputs.x!;
        return { outputs: { x: { datatype: 'FP32', shape: [1, length], data: (x.data as Float32Array).slice(0, length) } as Tensor } };
      });
    }
  }
  const { clock, registry, service } = await serve(echo, () => new Trimmed({ padVariableLength: true }));
  const replies = Promise.all([service.infer('m', row(1, 2)), service.infer('m', row(3, 4, 5))]);
  await clock.advanceAsync(10);
  assert.deepEqual((await replies).map((r) => Array.from(r.outputs.x!.data as Float32Array)), [[1, 2], [3, 4, 5]]);
  await registry.close();
});

test('TensorHandler options are checked when made, and allowed sizes against maxBatchSize when loaded', async () => {
  const code = 'ERR_SERVABLE_INVALID_OPTION';
  assert.throws(() => new TensorHandler({ allowedBatchSizes: [4, 2] }), { name: 'RangeError', message: 'Expected `allowedBatchSizes` to be strictly ascending, got [4,2] (array)', code });
  assert.throws(() => new TensorHandler({ allowedBatchSizes: [0, 2] }), { name: 'TypeError', message: 'Expected `allowedBatchSizes[0]` to be an integer >= 1, got 0 (number)', code });
  assert.throws(() => new TensorHandler({ padValue: Number.NaN }), { name: 'TypeError', message: 'Expected `padValue` to be a finite number, got NaN (number)' });
  assert.throws(() => new TensorHandler({ padVariableLength: 'yes' as never }), { message: 'Expected `padVariableLength` to be a boolean, got "yes" (string)' });
  assert.throws(() => new TensorHandler({ allowedBatchSizes: 4 as never }), { name: 'TypeError', message: 'Expected `allowedBatchSizes` to be a non-empty array of integers, got 4 (number)', code });
  assert.throws(() => new TensorHandler({ padding: true } as never), { message: 'Unknown option `padding`; TensorHandler takes allowedBatchSizes, padVariableLength, padValue, padRows' });
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await assert.rejects(
    registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 8 }, handler: new TensorHandler({ allowedBatchSizes: [1, 4] }), warmup: [] }),
    { name: 'RangeError', message: 'Expected the last of `allowedBatchSizes` to be at least maxBatchSize (8), got [1,4] (array)', code },
  );
  const tokens: MemoryModel = { ...echo, inputs: [{ name: 'ids', datatype: 'UINT8', shape: [-1, -1] }] };
  await assert.rejects(
    registry.load({ name: 't', source: tokens, batching: { maxBatchSize: 8 }, handler: new TensorHandler({ padVariableLength: true, padValue: 300 }), warmup: [] }),
    { name: 'RangeError', message: "Expected `padValue` of input 'ids' to be an integer between 0 and 255 for UINT8, got 300 (number)", code },
  );
  await registry.close();
});

test('alone in an unpadded batch, a request gets outputs that have no batch dimension whole', async () => {
  const detector: MemoryModel = {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [
      { name: 'boxes', datatype: 'FP32', shape: [-1, 4] },
      { name: 'total', datatype: 'FP32', shape: [] },
    ],
    run: ({ x }) => ({
      boxes: { datatype: 'FP32', shape: [3, 4], data: new Float32Array(12).fill(7) },
      total: { datatype: 'FP32', shape: [], data: new Float32Array([(x!.data as Float32Array).reduce((a, b) => a + b, 0)]) },
    }),
  };
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'd', source: detector, warmup: [] });
  const reply = await new InferenceService({ registry }).infer('d', request([1, 2]));
  assert.deepEqual([reply.outputs.boxes!.shape, (reply.outputs.boxes!.data as Float32Array).length], [[3, 4], 12]);
  assert.deepEqual([reply.outputs.total!.shape, Array.from(reply.outputs.total!.data as Float32Array)], [[], [3]]);
  await registry.close();
});

test('a split request whose parts ran in batches padded to different lengths is merged at the longest', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({
    name: 'm',
    source: echo,
    batching: { maxBatchSize: 2, maxQueueDelayMs: 5 },
    handler: () => new TensorHandler({ padVariableLength: true, padValue: -1 }),
    warmup: [],
  });
  const service = new InferenceService({ registry, clock });
  const three = { inputs: { x: { datatype: 'FP32', shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) } as Tensor } };
  // Parts of 2 and 1 rows; the second shares its batch with the long request and is padded to 5.
  const split = service.infer('m', three);
  const long = service.infer('m', row(7, 7, 7, 7, 7));
  await clock.advanceAsync(20);
  const reply = await split;
  assert.deepEqual(reply.outputs.x!.shape, [3, 5]);
  assert.deepEqual(Array.from(reply.outputs.x!.data as Float32Array), [1, 2, -1, -1, -1, 3, 4, -1, -1, -1, 5, 6, -1, -1, -1]);
  assert.deepEqual(Array.from((await long).outputs.x!.data as Float32Array), [7, 7, 7, 7, 7]);
  await registry.close();
});

test("padRows: 'repeat' pads a batch with copies of its last request's first row, as TF Serving does, and drops them", async () => {
  const { clock, backend, registry, service } = await serve(echo, () => new TensorHandler({ allowedBatchSizes: [4, 8], padRows: 'repeat' }));
  const pair = { inputs: { x: { datatype: 'FP32', shape: [2, 2], data: new Float32Array([3, 4, 5, 6]) } as Tensor } };
  const replies = [service.infer('m', row(1, 2)), service.infer('m', pair)];
  await clock.advanceAsync(10);
  assert.deepEqual((await Promise.all(replies)).map((r) => Array.from(r.outputs.x!.data as Float32Array)), [[1, 2], [3, 4, 5, 6]]);
  assert.deepEqual(Array.from(backend.calls[0]!.feeds.x!.data as Float32Array), [1, 2, 3, 4, 5, 6, 3, 4]);
  assert.throws(() => new TensorHandler({ padRows: 'first' as never }), { name: 'TypeError', message: 'Expected `padRows` to be one of "value", "repeat", got "first" (string)' });
  await registry.close();
});

test('a split request with allowedBatchSizes and padVariableLength: its first part fills the batch queued ahead, padded to that batch\'s length; its last is padded with rows; every padding row and length is dropped or merged back at its own length', async () => {
  const clock = new FakeClock();
  const backend = memoryBackend({ clock });
  const registry = new ModelRegistry({ backends: [backend], clock });
  await registry.load({
    name: 'm',
    source: echo,
    batching: { maxBatchSize: 4, maxQueueDelayMs: 5 },
    handler: () => new TensorHandler({ allowedBatchSizes: [4], padVariableLength: true, padValue: -1 }),
    warmup: [],
  });
  const service = new InferenceService({ registry, clock });
  const six = { inputs: { x: { datatype: 'FP32', shape: [6, 2], data: new Float32Array([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]) } as Tensor } };
  const long = service.infer('m', row(9, 9, 9));
  const split = service.infer('m', six); // parts of 3 (beside the long row) and 3
  await clock.advanceAsync(20);
  assert.deepEqual(backend.calls.map((c) => c.feeds.x!.shape), [
    [4, 3],
    [4, 2],
  ]);
  assert.deepEqual(Array.from(backend.calls[0]!.feeds.x!.data as Float32Array), [9, 9, 9, 1, 1, -1, 2, 2, -1, 3, 3, -1]);
  assert.deepEqual(Array.from(backend.calls[1]!.feeds.x!.data as Float32Array), [4, 4, 5, 5, 6, 6, -1, -1]);
  const reply = await split;
  assert.deepEqual(reply.outputs.x!.shape, [6, 3]);
  assert.deepEqual(Array.from(reply.outputs.x!.data as Float32Array), [1, 1, -1, 2, 2, -1, 3, 3, -1, 4, 4, -1, 5, 5, -1, 6, 6, -1]);
  const first = await long;
  assert.deepEqual([first.outputs.x!.shape, Array.from(first.outputs.x!.data as Float32Array)], [[1, 3], [9, 9, 9]]);
  await registry.close();
});

test("a subclass that trims to each part's true length gives a split request padded beside a longer one its own length back", async () => {
  class TrimRows extends TensorHandler {
    override postprocess(outputs: TensorMap, requests: readonly InferenceRequest[]): InferenceResponse[] {
      return super.postprocess(outputs, requests).map((response, i) => {
        const [rows, length] = requests[i]!.inputs.x!.shape as [number, number];
        const x = response.outputs.x!;
        const width = x.shape[1]!;
        const data = new Float32Array(rows * length);
        for (let r = 0; r < rows; r++) data.set((x.data as Float32Array).subarray(r * width, r * width + length), r * length);
        return { outputs: { x: { datatype: 'FP32', shape: [rows, length], data } as Tensor } };
      });
    }
  }
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const handler = () => new TrimRows({ allowedBatchSizes: [4], padVariableLength: true, padValue: -1 });
  await registry.load({ name: 'm', source: echo, batching: { maxBatchSize: 4, maxQueueDelayMs: 5 }, handler, warmup: [] });
  const service = new InferenceService({ registry, clock });
  const six = { inputs: { x: { datatype: 'FP32', shape: [6, 2], data: new Float32Array([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]) } as Tensor } };
  const long = service.infer('m', row(9, 9, 9));
  const split = service.infer('m', six);
  await clock.advanceAsync(20);
  const reply = await split;
  assert.deepEqual([reply.outputs.x!.shape, Array.from(reply.outputs.x!.data as Float32Array)], [[6, 2], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]]);
  assert.deepEqual(Array.from((await long).outputs.x!.data as Float32Array), [9, 9, 9]);
  await registry.close();
});
