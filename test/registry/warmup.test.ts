import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry, TensorHandler, type InferenceRequest, type InferenceResponse, type TensorMap } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { doubler, offsetOf, request } from './helpers.js';

// tensorflow/serving#385: without warm-up the first requests to a new model pay for its first runs.

test('a version warms up before any request runs on it: one loaded on its first request, and a new version swapped in while requests arrive', async () => {
  const backend = memoryBackend({ concurrency: 4 });
  const registry = new ModelRegistry({ backends: [backend] });
  const service = new InferenceService({ registry });
  const runs = () => backend.calls.map((c) => `${c.label} ${c.batchSize} [${[...new Set(c.feeds.x!.data as Float32Array)]}]`);
  const times = (n: number, run: string) => Array.from({ length: n }, () => run);

  registry.register({ name: 'm', version: '1', source: doubler(1), batching: { maxBatchSize: 8 }, warmup: [request([0.5, 0.5])] });
  const first = await Promise.all([request([1, 1]), request([2, 2])].map((r) => service.infer('m', r)));
  assert.deepEqual(first.map(offsetOf), [3, 5]);
  assert.deepEqual(runs(), [...times(8, 'm:1 1 [0.5]'), ...times(8, 'm:1 8 [0.5]'), 'm:1 2 [1,2]'], 'the warm-up request ran first, twice on each slot, at batch 1 and 8, then the waiting requests in one batch');

  backend.calls.length = 0;
  const loading = registry.load({ name: 'm', version: '2', source: doubler(2), batching: { maxBatchSize: 8 } });
  const during = service.infer('m', request([3, 3]));
  await loading;
  const after = service.infer('m', request([4, 4]));
  assert.deepEqual([offsetOf(await during), offsetOf(await after)], [7, 10]);
  assert.deepEqual(runs().filter((r) => r.startsWith('m:2')), [...times(8, 'm:2 1 [0]'), ...times(8, 'm:2 8 [0]'), 'm:2 1 [4]'], 'version 2 warmed up on zeros before it took traffic');
  assert.deepEqual(runs().filter((r) => r.startsWith('m:1')), ['m:1 1 [3]'], 'version 1 answered meanwhile');
  await registry.close();
});

test('each warm-up request runs twice on each run slot, as given and repeated to maxBatchSize; the default zeros too', async () => {
  const backend = memoryBackend({ concurrency: 2 });
  const registry = new ModelRegistry({ backends: [backend] });
  const runs = () => backend.calls.map((c) => `${c.label} ${c.batchSize} [${[...new Set(c.feeds.x!.data as Float32Array)]}]`);
  const times = (n: number, run: string) => Array.from({ length: n }, () => run);

  await registry.load({ name: 'm', version: '1', source: doubler(1), batching: { maxBatchSize: 8 }, warmup: [request([0.5, 0.5])] });
  assert.deepEqual(runs(), [...times(4, 'm:1 1 [0.5]'), ...times(4, 'm:1 8 [0.5]')], 'batch 1 twice on each slot, then 8 copies twice on each slot');
  backend.calls.length = 0;
  await registry.load({ name: 'm', version: '2', source: doubler(2), batching: { maxBatchSize: 4 } });
  assert.deepEqual(runs(), [...times(4, 'm:2 1 [0]'), ...times(4, 'm:2 4 [0]')], 'zeros at batch 1 and maxBatchSize, twice on each slot');
  backend.calls.length = 0;
  await registry.load({ name: 'm', version: '3', source: doubler(3) });
  assert.deepEqual(runs(), times(4, 'm:3 1 [0]'), 'without batching, batch 1 twice on each slot only');
  await registry.close();
});

test("a warm-up batch's copies run at once, so a backend with idle workers hands each its own", async () => {
  const backend = memoryBackend({ concurrency: 3 });
  const registry = new ModelRegistry({ backends: [backend] });
  let running = 0;
  const most: number[] = [];
  const model = doubler(0);
  const source = {
    ...model,
    run: async (feeds: Parameters<typeof model.run>[0]) => {
      running += 1;
      await new Promise((resolve) => setImmediate(resolve));
      most.push(running);
      running -= 1;
      return model.run(feeds);
    },
  };
  await registry.load({ name: 'm', version: '1', source, batching: { maxBatchSize: 2 } });
  assert.deepEqual(most, [3, 2, 1, 3, 2, 1, 3, 2, 1, 3, 2, 1], 'three runs in flight together, twice at batch 1, then twice at batch 2');
  await registry.close();
});

test('warmupBatchSizes picks the batch sizes, in items, a warm-up request is repeated to fill', async () => {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  const sizes = () => backend.calls.splice(0).map((c) => c.batchSize);
  const twoRows = request([1, 1], [2, 2]);
  await registry.load({ name: 'm', version: '1', source: doubler(0), batching: { maxBatchSize: 8 }, warmup: [twoRows], warmupBatchSizes: [1, 2, 4, 6, 8] });
  assert.deepEqual(sizes(), [2, 2, 4, 4, 6, 6, 8, 8], 'as given (2 items), then 2, 3 and 4 copies, each twice; 1 and 2 items add nothing');
  await registry.load({ name: 'm', version: '2', source: doubler(0), batching: { maxBatchSize: 8 }, warmup: [twoRows], warmupBatchSizes: [] });
  assert.deepEqual(sizes(), [2, 2], '[] runs the request as given only (twice)');
  await registry.close();
});

test('warmupBatchSizes is refused unless it holds whole numbers from 1 to maxBatchSize', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const load = (warmupBatchSizes: unknown, maxBatchSize?: number) =>
    registry.load({ name: 'm', source: doubler(0), ...(maxBatchSize ? { batching: { maxBatchSize } } : {}), warmupBatchSizes: warmupBatchSizes as number[] });
  await assert.rejects(load([16], 8), { name: 'RangeError', code: 'ERR_SERVABLE_INVALID_OPTION', message: 'Expected `warmupBatchSizes[0]` to be a whole number from 1 to 8 (`batching.maxBatchSize`), got 16 (number)' });
  await assert.rejects(load([1, 2.5], 8), { name: 'RangeError', message: /`warmupBatchSizes\[1\]`.*got 2\.5/ });
  await assert.rejects(load([2]), { name: 'RangeError', message: /from 1 to 1 .*got 2/ });
  await assert.rejects(load(8, 8), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION', message: 'Expected `warmupBatchSizes` to be an array of batch sizes, got 8 (number)' });
  await registry.close();
});

test('each copy of a warm-up batch runs preprocess → inference → postprocess once, as a batch of traffic does: a handler keeping state from one to the other loads', async () => {
  // A handler may keep what preprocess learnt of a batch (an image's scale) for its postprocess, and let it go there.
  class Stateful extends TensorHandler {
    readonly pending = new WeakSet<object>();
    readonly calls: string[] = [];
    override preprocess(requests: readonly InferenceRequest[]): TensorMap {
      this.calls.push(`pre ${requests.length}`);
      this.pending.add(requests);
      return super.preprocess(requests);
    }
    override postprocess(outputs: TensorMap, requests: readonly InferenceRequest[]): InferenceResponse[] {
      this.calls.push(`post ${requests.length}`);
      if (!this.pending.delete(requests)) throw new Error('postprocess of a batch preprocess did not make');
      return super.postprocess(outputs, requests);
    }
  }
  const handler = new Stateful();
  const registry = new ModelRegistry({ backends: [memoryBackend({ concurrency: 2 })] });
  await registry.load({ name: 'm', source: doubler(0), handler, batching: { maxBatchSize: 2 } });
  const pairs = (n: number) => Array.from({ length: 4 }, () => [`pre ${n}`, `post ${n}`]).flat();
  assert.deepEqual([...handler.calls].sort(), [...pairs(1), ...pairs(2)].sort(), 'two slots, twice, at batch 1 and 2: 8 batches, each preprocessed and postprocessed once');
  await registry.close();
});

test('a warm-up copy that fails fails the load once the copies beside it have finished: the handler and session are not disposed under a run', async () => {
  let calls = 0;
  let running = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const model = doubler(0);
  const source = {
    ...model,
    run: async (feeds: Parameters<typeof model.run>[0]) => {
      if (++calls === 1) throw new Error('first copy fails');
      running += 1;
      await gate;
      running -= 1;
      return model.run(feeds);
    },
  };
  const runningAtDispose: number[] = [];
  class Watched extends TensorHandler {
    override dispose(): void {
      runningAtDispose.push(running);
    }
  }
  const registry = new ModelRegistry({ backends: [memoryBackend({ concurrency: 2 })] });
  const failure = registry.load({ name: 'm', source, handler: () => new Watched() }).then(() => undefined, (error: Error) => error.message);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  release();
  assert.equal(await failure, 'first copy fails');
  assert.deepEqual(runningAtDispose, [0], 'disposed once, with no copy still running');
  await registry.close();
});

test('a load that times out during warm-up runs no more warm-up batches', async () => {
  const clock = new FakeClock();
  const backend = memoryBackend({ clock });
  const registry = new ModelRegistry({ backends: [backend], clock, loadTimeoutMs: 150 });
  const turns = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  // Twice at batch 1, twice at 8, 100 ms each: the timeout falls during the second run.
  const failure = registry.load({ name: 'm', source: doubler(0, 100), batching: { maxBatchSize: 8 } }).then(() => undefined, (error: Error) => error.message);
  for (let t = 0; t < 10; t++) {
    await turns();
    clock.advance(50);
  }
  await turns();
  assert.match((await failure) ?? '', /did not load within 150 ms/);
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [1, 1], 'the run under way when the load timed out finished; none followed it');
  await registry.close();
});

test("a warm-up request whose handler's sizeOf is no positive whole number fails the load as the batcher refuses such a request, with InvalidInputError", async () => {
  class Sized extends TensorHandler {
    readonly size: number;
    constructor(size: number) {
      super();
      this.size = size;
    }
    override sizeOf(): number {
      return this.size;
    }
  }
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  for (const size of [0, 1.5, Number.NaN]) {
    await assert.rejects(registry.load({ name: 'm', source: doubler(0), handler: () => new Sized(size), batching: { maxBatchSize: 8 } }), {
      name: 'InvalidInputError',
      code: 'ERR_SERVABLE_INVALID_INPUT',
      message: `Expected sizeOf(request) to be a positive integer number of items, got ${size} (number)`,
    });
  }
  await registry.close();
});

test("a warm-up request the handler answers with an error of its own fails the load with that error, as a ServableError", async () => {
  // postprocess may answer one request of a batch with an Error and the others with results, as traffic's batches are answered.
  // TensorHandler's own postprocess types its answers as responses; the Handler contract it serves allows an Error per request.
  class Refusing extends TensorHandler {
    override postprocess(): InferenceResponse[] {
      return [new Error('no answer for a blank image') as never];
    }
  }
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await assert.rejects(registry.load({ name: 'm', source: doubler(0), handler: () => new Refusing(), warmup: [request([1, 1])] }), {
    code: 'ERR_SERVABLE_BACKEND',
    message: 'no answer for a blank image',
  });
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [1], 'the first warm-up batch answered with the error; none followed it');
  await registry.close();
});
