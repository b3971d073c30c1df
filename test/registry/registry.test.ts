import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BackendError,
  CancelledError,
  ClosedError,
  InferenceService,
  InvalidInputError,
  ModelNotFoundError,
  ModelNotReadyError,
  ModelRegistry,
  TensorHandler,
  type InferenceRequest,
  type InferenceResponse,
  type MemoryModel,
  type Tensor,
  type TensorMap,
} from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { catchingUncaught } from '../fixtures/uncaught.js';
import { disposeFailing, doubler, flush, request, values } from './helpers.js';

async function settle(clock: FakeClock, ms: number): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  clock.advance(ms);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

test('loads, warms up on zeros, reports metadata, and serves exact answers', async () => {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  const ready: string[] = [];
  registry.on('ready', (m) => ready.push(`${m.name}:${m.version}:${m.state}`));
  const mv = await registry.load({ name: 'm', version: '3', source: doubler(0), batching: { maxBatchSize: 4 } });

  assert.deepEqual(ready, ['m:3:ready']);
  const zeros = (n: number) => [n, Array.from({ length: 2 * n }, () => 0)];
  assert.deepEqual(backend.calls.map((c) => [c.batchSize, Array.from(c.feeds.x!.data as Float32Array)]), [zeros(1), zeros(1), zeros(4), zeros(4)], 'zeros at batch 1 and at maxBatchSize, each twice');
  const meta = mv.metadata();
  assert.equal(meta.device, 'cpu');
  assert.equal(meta.backend, 'memory');
  assert.equal(meta.maxBatchSize, 4);
  assert.deepEqual(meta.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }]);

  const service = new InferenceService({ registry });
  assert.deepEqual(values(await service.infer('m', request([1, 2], [3, 4]))), [2, 4, 6, 8]);
  await registry.close();
});

test('batches concurrent requests by items and answers each with its own rows', async () => {
  const clock = new FakeClock();
  const backend = memoryBackend({ clock });
  const registry = new ModelRegistry({ backends: [backend], clock });
  await registry.load({ name: 'm', source: doubler(0, 5), batching: { maxBatchSize: 4, maxQueueDelayMs: 10 }, warmup: [] });
  const service = new InferenceService({ registry });

  const pending = [request([1, 1]), request([2, 2], [3, 3]), request([4, 4]), request([5, 5])].map((r) => service.infer('m', r));
  await settle(clock, 5); // first batch of 4 items runs (full): 5 ms
  await settle(clock, 10); // the fifth request waited 10 ms, then ran alone
  await settle(clock, 5);
  const results = await Promise.all(pending);

  assert.deepEqual(results.map(values), [[2, 2], [4, 4, 6, 6], [8, 8], [10, 10]]);
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [4, 1]);
  await registry.close();
});

test('a bad request fails alone with a 400 before it is queued', async () => {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 8 }, warmup: [] });
  const service = new InferenceService({ registry });
  const bad = { inputs: { x: { datatype: 'FP64', shape: [1, 2], data: new Float64Array(2) } as Tensor } };
  const wrongShape = { inputs: { x: { datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) } as Tensor } };
  const [ok, e1, e2] = await Promise.allSettled([
    service.infer('m', request([1, 2])),
    service.infer('m', bad),
    service.infer('m', wrongShape),
  ]);
  assert.equal(ok.status, 'fulfilled');
  assert.ok(e1.status === 'rejected' && e1.reason instanceof InvalidInputError);
  assert.match((e1 as PromiseRejectedResult).reason.message, /Input 'x': expected datatype FP32, got FP64/);
  assert.match((e2 as PromiseRejectedResult).reason.message, /Input 'x': expected shape \[-1, 2\], got \[1, 3\]/);
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [1]);
  await registry.close();
});

test('a request that is not an object of tensors is a 400 quoting what it holds, not a TypeError from reading it', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: doubler(0), warmup: [] });
  const service = new InferenceService({ registry });
  const x = request([1, 2]).inputs.x;
  const cases: [unknown, string | RegExp][] = [
    [null, 'Expected the request to be an object with `inputs`, got null (null)'],
    [{}, "Expected `inputs` to be an object of tensors by input name ('x'), got undefined (undefined)"],
    [{ inputs: null }, "Expected `inputs` to be an object of tensors by input name ('x'), got null (null)"],
    [{ inputs: [x] }, /^Expected `inputs` to be an object of tensors by input name \('x'\), got \[\{"datatype":"FP32",.*\(array\)$/],
    [{ inputs: { x: 5 } }, "Input 'x': expected a tensor {datatype, shape, data} (FP32, shape [-1, 2]), got 5 (number)"],
    [{ inputs: { x }, outputs: 'y' }, 'Expected `outputs` to be an array of output names, got "y" (string)'],
    [{ inputs: { x }, outputs: [7] }, 'Expected `outputs` to be an array of output names, got [7] (array)'],
  ];
  for (const [body, message] of cases) {
    await assert.rejects(service.infer('m', body), (e: unknown) => e instanceof InvalidInputError && (typeof message === 'string' ? e.message === message : message.test(e.message)), `${JSON.stringify(body)}`);
  }
  await registry.close();
});

test('routes to the newest ready version, or the one asked for; 404 and 503 otherwise', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '2', source: doubler(200) });
  await registry.load({ name: 'm', version: '10', source: doubler(1000) });
  const service = new InferenceService({ registry });

  assert.deepEqual(values(await service.infer('m', request([0, 1]))), [1000, 1002]);
  assert.deepEqual(values(await service.infer('m', request([0, 1]), { version: '2' })), [200, 202]);
  assert.deepEqual(registry.list('m').map((v) => v.version), ['10', '2']);
  assert.throws(() => registry.get('nope'), ModelNotFoundError);
  assert.throws(() => registry.get('m', '7'), ModelNotFoundError);

  await registry.unload('m', '10');
  assert.deepEqual(values(await service.infer('m', request([0, 1]))), [200, 202]);
  await registry.unload('m');
  assert.throws(() => registry.get('m'), ModelNotFoundError);
  assert.equal(registry.isReady('m'), false);
});

test('a version that fails to load or warm up leaves the old one serving and reports why', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: doubler(1) });
  const failures: string[] = [];
  registry.on('failure', (f) => failures.push(`${f.version}: ${f.error.message}`));
  const broken: MemoryModel = { ...doubler(2), run: () => { throw new Error('weights corrupt'); } };

  await assert.rejects(registry.load({ name: 'm', version: '2', source: broken }), /weights corrupt/);
  assert.equal(failures.length, 1);
  assert.match(failures[0]!, /^2: .*weights corrupt/);
  assert.equal(registry.get('m').version, '1');
  assert.throws(() => registry.get('m', '2'), ModelNotFoundError);
  await registry.close();
});

test('the failure event tells a failed load from a session that failed to dispose (stage)', async () => {
  const registry = new ModelRegistry({ backends: [disposeFailing()] });
  const failures: string[] = [];
  registry.on('failure', (f) => failures.push(`${f.stage} ${f.version}: ${f.error.message}`));
  const broken: MemoryModel = { ...doubler(2), run: () => { throw new Error('weights corrupt'); } };

  await assert.rejects(registry.load({ name: 'm', version: '2', source: broken }), /weights corrupt/);
  await registry.load({ name: 'm', version: '1', source: doubler(1), warmup: [] });
  await registry.unload('m', '1');
  assert.equal(failures.length, 2);
  assert.match(failures[0]!, /^load 2: .*weights corrupt/);
  assert.equal(failures[1], 'unload 1: device lost');
  await registry.close();
});

test('a model or handler that throws a plain Error fails its request with a BackendError that keeps the cause', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const cause = new Error('kernel panic');
  await registry.load({ name: 'm', source: { ...doubler(0), run: () => { throw cause; } }, warmup: [] });
  const service = new InferenceService({ registry });
  await assert.rejects(service.infer('m', request([1, 2])), (e: unknown) => {
    assert.ok(e instanceof BackendError);
    assert.equal(e.code, 'ERR_SERVABLE_BACKEND');
    assert.equal(e.message, 'kernel panic');
    assert.equal(e.cause, cause);
    return true;
  });
  await registry.close();
});

test("a handler whose postprocess throws for one request's item fails that request alone; the others of its batch are answered", async () => {
  const clock = new FakeClock();
  const backend = memoryBackend({ clock });
  const registry = new ModelRegistry({ backends: [backend], clock });
  const refusal = new Error('cannot label a negative score');
  class Labeller extends TensorHandler {
    override postprocess(outputs: TensorMap, requests: readonly InferenceRequest[]): InferenceResponse[] {
      const responses = super.postprocess(outputs, requests);
      if (responses.some((r) => values(r).some((v) => v < 0))) throw refusal;
      return responses;
    }
  }
  await registry.load({ name: 'm', source: doubler(0, 5), batching: { maxBatchSize: 8, maxQueueDelayMs: 10 }, handler: () => new Labeller(), warmup: [] });
  const service = new InferenceService({ registry });
  const answers = Promise.allSettled([request([1, 1]), request([2, 2], [-1, 3]), request([4, 4])].map((r) => service.infer('m', r)));
  for (let i = 0; i < 6; i++) await settle(clock, 5);
  const outcomes = (await answers).map((o) => (o.status === 'fulfilled' ? values(o.value) : o.reason));
  assert.deepEqual([outcomes[0], outcomes[2]], [[2, 2], [8, 8]]);
  assert.ok(outcomes[1] instanceof BackendError);
  assert.equal(outcomes[1].cause, refusal);
  // The batch of 4 items failed as a whole, then each request ran alone.
  assert.deepEqual(backend.calls.map((call) => call.batchSize), [4, 1, 2, 1]);
  await registry.close();
});

test('unload lets queued requests finish, then refuses new ones', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const mv = await registry.load({ name: 'm', source: doubler(0, 3), batching: { maxBatchSize: 1 }, warmup: [] });
  const service = new InferenceService({ registry });
  const queued = [service.infer('m', request([1, 1])), service.infer('m', request([2, 2]))];
  const unloading = registry.unload('m');
  await assert.rejects(mv.infer(request([3, 3])), ModelNotReadyError);
  await settle(clock, 3);
  await settle(clock, 3);
  assert.deepEqual((await Promise.all(queued)).map(values), [[2, 2], [4, 4]]);
  await unloading;
  assert.equal(mv.state, 'unloaded');
});

test('close lets queued requests finish; later requests get ClosedError (503), also once the model is forgotten', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'm', source: doubler(0, 3), warmup: [] });
  const service = new InferenceService({ registry });
  const queued = service.infer('m', request([1, 1]));
  const closing = registry.close();
  await assert.rejects(service.infer('m', request([2, 2])), ClosedError);
  await settle(clock, 3);
  assert.deepEqual(values(await queued), [2, 2]);
  await closing;
  assert.equal(registry.has('m'), false);
  await assert.rejects(service.infer('m', request([2, 2])), (e: Error) => e instanceof ClosedError && e.status === 503);
});

test('close waits for drains at most closeTimeoutMs: then it resolves, fails the requests a stuck version still has with a ClosedError and reports it; the drain goes on', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock, closeTimeoutMs: 1000 });
  assert.equal(registry.closeTimeoutMs, 1000);
  let answer: (() => void) | undefined;
  const stuck: MemoryModel = { ...doubler(0), run: (feeds) => new Promise((resolve) => (answer = () => resolve(doubler(0).run(feeds) as never))) };
  await registry.load({ name: 'stuck', source: stuck, batching: { maxBatchSize: 1 }, warmup: [] });
  await registry.load({ name: 'ok', source: doubler(0), warmup: [] });
  const events: string[] = [];
  registry.on('failure', (e) => events.push(`failure ${e.name}:${e.version} ${e.stage} ${(e.error as { code?: string }).code} ${e.error.message}`));
  registry.on('unload', (e) => events.push(`unload ${e.name}:${e.version}`));
  const service = new InferenceService({ registry });
  const running = service.infer('stuck', request([1, 1]));
  const queued = service.infer('stuck', request([2, 2]));
  running.catch(() => {});
  queued.catch(() => {});
  await settle(clock, 0);
  let closed = false;
  const closing = registry.close().then(() => (closed = true));
  await settle(clock, 999);
  assert.equal(closed, false, 'within the bound close() waits');
  assert.deepEqual(events, ['unload ok:1']);
  await settle(clock, 1);
  assert.equal(closed, true, 'at the bound close() resolves');
  await closing;
  for (const failed of [running, queued]) {
    await assert.rejects(failed, (e: Error) => e instanceof ClosedError && e.message === "The registry closed before model 'stuck' version '1' answered: its drain did not end within 1000 ms (`closeTimeoutMs`)");
  }
  assert.deepEqual(events, [
    'unload ok:1',
    "failure stuck:1 unload ERR_SERVABLE_DEADLINE_EXCEEDED Model 'stuck' version '1' did not finish draining within 1000 ms (`closeTimeoutMs`) of close(); it is disposed when its running batches end",
  ]);
  // The run answers at last: the version finishes draining and is disposed.
  answer!();
  await settle(clock, 0);
  assert.deepEqual(events.slice(2), ['unload stuck:1']);
  assert.equal(registry.has('stuck'), false);
});

test('a request accepted while a slot is free tells the session to expect a run; one that must wait asks it to collect finished runs', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const mv = await registry.load({ name: 'm', source: doubler(0, 3), batching: { maxBatchSize: 1 }, warmup: [] });
  let expected = 0;
  let collected = 0;
  const session = mv.session as { expect?: (withinMs: number) => void; collect?: () => void };
  session.expect = (withinMs) => {
    assert.equal(withinMs, 0, 'the batch goes out at once');
    expected++;
  };
  session.collect = () => collected++;
  const first = mv.infer(request([1, 1]));
  assert.deepEqual({ expected, collected }, { expected: 1, collected: 0 }, 'the only slot is free');
  await clock.advanceAsync(0);
  const second = mv.infer(request([2, 2]));
  assert.deepEqual({ expected, collected }, { expected: 1, collected: 1 }, 'the slot is busy: the request will wait, unless a run has finished unnoticed');
  await settle(clock, 3);
  await settle(clock, 3);
  assert.deepEqual((await Promise.all([first, second])).map(values), [[2, 2], [4, 4]]);

  // With a queue delay the run may come that much later: the session is told so, and decides.
  const delayed = await registry.load({ name: 'd', source: doubler(0, 3), batching: { maxBatchSize: 4, maxQueueDelayMs: 2 }, warmup: [] });
  const within: number[] = [];
  (delayed.session as { expect?: (withinMs: number) => void }).expect = (withinMs) => within.push(withinMs);
  const late = delayed.infer(request([3, 3]));
  assert.deepEqual(within, [2]);
  await settle(clock, 2);
  await settle(clock, 3);
  assert.deepEqual(values(await late), [6, 6]);
  await registry.close();
});

test('options are checked when given, quoting the bad value', async () => {
  assert.throws(() => new ModelRegistry({ backends: [] }), /Expected `backends` to be a non-empty array of backends, got \[\] \(array\)/);
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await assert.rejects(
    registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 0 } }),
    /Expected `batching.maxBatchSize` to be an integer >= 1, got 0 \(number\)/,
  );
  // A pair refused by the DynamicBatcher reaches registry.load() naming both fields, with the same code.
  await assert.rejects(registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 4, agingMs: 50 } }), {
    name: 'RangeError',
    message: 'Expected `batching.agingMs` only with `batching.priorityLevels` above 1 (aging lifts a request to a higher level), got agingMs 50 (number) with priorityLevels left out (1 level)',
    code: 'ERR_SERVABLE_INVALID_OPTION',
  });
  await assert.rejects(registry.load({ name: 'm', source: doubler(0), backend: 'gpu' }), /Expected `backend` to be one of 'memory', got "gpu"/);
  await assert.rejects(
    registry.load({ name: 'm', source: doubler(0), inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }] }),
    /dimension 1 to be 2 as in the model, got 3/,
  );
  await assert.rejects(
    registry.load({ name: 'm', source: doubler(0), inputs: [{ name: 'z', datatype: 'FP32', shape: [-1, 2] }] }),
    /Expected `inputs` to name model inputs \('x'\), got "z"/,
  );
  // Each pinned spec is checked as a config.json's are, before the model is read: a plain TypeError from the pinning once.
  for (const [inputs, message] of [
    [[{ name: 'x', datatype: 'FP32', shape: null }], 'Expected `inputs[0].shape` to be an array of integers >= -1 (-1 for a dynamic dimension), got null (null)'],
    [[null], 'Expected `inputs[0]` to be an object, got null (null)'],
    [[{ datatype: 'FP32', shape: [-1, 2] }], 'Expected `inputs[0].name` to be a non-empty string, got undefined (undefined)'],
    ['x', 'Expected `inputs` to be an array of {name, datatype, shape}, got "x" (string)'],
  ] as const) {
    await assert.rejects(registry.load({ name: 'm', source: doubler(0), inputs: inputs as never }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION', message });
  }
  // A misplaced or misspelt option is named, not silently dropped (here the model would run unbatched).
  await assert.rejects(registry.load({ name: 'm', source: doubler(0), maxBatchSize: 4 } as never), {
    name: 'TypeError',
    message: 'Unknown option `maxBatchSize`; a model config takes name, version, source, backend, handler, inputs, batching, warmup, warmupBatchSizes, versionPolicy, declared, labels, classLabels, sizeBytes',
  });
  assert.throws(() => new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersion: 2 } as never), {
    message: 'Unknown option `maxLoadedVersion`; ModelRegistry takes backends, clock, maxLoadedVersions, maxLoadedBytes, loadTimeoutMs, closeTimeoutMs',
  });
  assert.throws(() => new ModelRegistry({ backends: [memoryBackend()], clock: 'fake' as never }), {
    name: 'TypeError',
    message: 'Expected `clock` to be a Clock ({now, setTimeout, clearTimeout}), got "fake" (string)',
  });
  assert.throws(() => new ModelRegistry({ backends: [memoryBackend()], loadTimeoutMs: 0 }), {
    name: 'RangeError',
    message: 'Expected `loadTimeoutMs` to be a number >= 1, got 0 (number)',
  });
  assert.throws(() => new ModelRegistry({ backends: [memoryBackend()], loadTimeoutMs: '5000' as never }), {
    name: 'TypeError',
    message: 'Expected `loadTimeoutMs` to be a finite number, got "5000" (string)',
  });
  assert.throws(() => new ModelRegistry({ backends: [memoryBackend()], closeTimeoutMs: -1 }), {
    name: 'RangeError',
    message: 'Expected `closeTimeoutMs` to be a number >= 0, got -1 (number)',
  });
  assert.throws(() => new ModelRegistry({ backends: [memoryBackend()], closeTimeoutMs: NaN }), {
    name: 'TypeError',
    message: 'Expected `closeTimeoutMs` to be a finite number, got NaN (number)',
  });
  assert.equal(new ModelRegistry({ backends: [memoryBackend()] }).closeTimeoutMs, 30000, "Triton's --exit-timeout-secs");
  assert.equal(new ModelRegistry({ backends: [memoryBackend()], closeTimeoutMs: Infinity }).closeTimeoutMs, Infinity);
  const limited = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 3, maxLoadedBytes: 1e9 });
  const unlimited = new ModelRegistry({ backends: [memoryBackend()] });
  assert.deepEqual([limited.maxLoadedVersions, limited.maxLoadedBytes, unlimited.maxLoadedVersions, unlimited.maxLoadedBytes], [3, 1e9, Infinity, Infinity]);
  assert.throws(() => new InferenceService({ registry, cache: {} } as never), {
    message: 'Unknown option `cache`; InferenceService takes registry, clock, random, caches',
  });
});

test('service.infer() checks its per-request options: an unknown one is named, a timeoutMs that is not a number is a 400', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 4 }, warmup: [] });
  const service = new InferenceService({ registry });
  const outcomes: string[] = [];
  service.on('request', (e) => outcomes.push(e.outcome));
  try {
    await assert.rejects(service.infer('m', request([1, 2]), { timeoutMS: 5 } as never), {
      name: 'TypeError',
      message: 'Unknown option `timeoutMS`; infer() takes version, label, signal, timeoutMs, routingKey, hold, noCache, noStore, tenant, priority, onVersion',
    });
    await assert.rejects(service.infer('m', request([1, 2]), null as never), { name: 'TypeError', message: 'Expected `options` to be an object, got null (null)' });
    for (const [timeoutMs, shown] of [['100', '"100" (string)'], [Number.NaN, 'NaN (number)']] as const) {
      await assert.rejects(service.infer('m', request([1, 2]), { timeoutMs: timeoutMs as number }), (error: Error) => {
        assert.ok(error instanceof InvalidInputError, `${String(timeoutMs)}: ${error.name}: ${error.message}`);
        assert.equal(error.message, `Expected \`timeoutMs\` to be a number, got ${shown}`);
        return true;
      });
    }
    // A budget already spent is a timeout, as a caller passing on what is left of its own expects.
    await assert.rejects(service.infer('m', request([1, 2]), { timeoutMs: 0 }), { code: 'ERR_SERVABLE_DEADLINE_EXCEEDED' });
    assert.deepEqual(outcomes, ['invalid', 'invalid', 'timeout']);
    assert.deepEqual(values(await service.infer('m', request([1, 2]), { timeoutMs: 1000, priority: 1 })), [2, 4]);
  } finally {
    await registry.close();
  }
});

test('registry.acquire() checks its options as a constructor does: an unknown one is named, a bad value quoted, loaded or not', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: doubler(0), warmup: [] });
  registry.register({ name: 'm', version: '2', source: doubler(1), warmup: [] });
  try {
    for (const version of ['1', '2']) {
      // A misspelt option was dropped: a wait for the load with no deadline, or the default version where one was named.
      await assert.rejects(registry.acquire('m', { version, timeoutMS: 5 } as never), {
        name: 'TypeError',
        message: 'Unknown option `timeoutMS`; ModelRegistry.acquire() takes version, label, signal, timeoutMs',
      });
      await assert.rejects(registry.acquire('m', { version, timeoutMs: Number.NaN }), { name: 'TypeError', message: 'Expected `timeoutMs` to be a finite number, got NaN (number)' });
      await assert.rejects(registry.acquire('m', { version, timeoutMs: -1 }), { name: 'RangeError', message: 'Expected `timeoutMs` to be a number >= 0, got -1 (number)' });
    }
    await assert.rejects(registry.acquire('m', { verison: '2' } as never), { name: 'TypeError', message: /^Unknown option `verison`/ });
    await assert.rejects(registry.acquire('m', { version: 2 as never }), { name: 'TypeError', message: 'Expected `version` to be a non-empty string, got 2 (number)' });
    await assert.rejects(registry.acquire('m', { label: null as never }), { name: 'TypeError', message: 'Expected `label` to be a non-empty string, got null (null)' });
    await assert.rejects(registry.acquire('m', { signal: 'stop' as never }), { name: 'TypeError', message: 'Expected `signal` to be an AbortSignal, got "stop" (string)' });
    await assert.rejects(registry.acquire('m', null as never), { name: 'TypeError', message: 'Expected `options` to be an object, got null (null)' });
    assert.equal(registry.isReady('m', '2'), false, 'nothing refused was loaded');
    assert.equal((await registry.acquire('m', { version: '2', timeoutMs: 1000 })).version, '2');
  } finally {
    await registry.close();
  }
});

test('registry.load() checks its options as acquire() does, and a signal aborted already rejects with its reason before anything loads', async () => {
  const loads: string[] = [];
  const memory = memoryBackend();
  const registry = new ModelRegistry({ backends: [{ ...memory, load: (source, options) => (loads.push(options?.label ?? '?'), memory.load(source, options)) }] });
  const config = { name: 'm', source: doubler(0), warmup: [] };
  try {
    await assert.rejects(registry.load(config, { sigal: AbortSignal.abort() } as never), { name: 'TypeError', message: 'Unknown option `sigal`; ModelRegistry.load() takes signal' });
    await assert.rejects(registry.load(config, { signal: 'stop' as never }), { name: 'TypeError', message: 'Expected `signal` to be an AbortSignal, got "stop" (string)' });
    await assert.rejects(registry.load(config, null as never), { name: 'TypeError', message: 'Expected `options` to be an object, got null (null)' });
    const reason = new Error('shutting down');
    await assert.rejects(registry.load(config, { signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(registry.load(config, { signal: AbortSignal.abort('bye') }), (e: Error) => e instanceof CancelledError && e.code === 'ERR_SERVABLE_CANCELLED' && e.cause === 'bye');
    assert.deepEqual([loads, registry.names()], [[], []]);
    assert.equal((await registry.load(config, { signal: new AbortController().signal })).version, '1');
  } finally {
    await registry.close();
  }
});

test('acquire() and service.infer() with a signal aborted already reject with its reason and start no load, for a version known but not loaded; a loaded one is still held', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: doubler(0), warmup: [] });
  registry.register({ name: 'm', version: '2', source: doubler(1), warmup: [] });
  const loads: string[] = [];
  registry.on('loading', ({ version }) => loads.push(version));
  const service = new InferenceService({ registry });
  const outcomes: string[] = [];
  service.on('request', ({ outcome }) => outcomes.push(outcome));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const reason = new Error('client gone');
    await assert.rejects(registry.acquire('m', { version: '2', signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(registry.acquire('m', { version: '2', signal: AbortSignal.abort() }), (e: Error) => e instanceof CancelledError && e.code === 'ERR_SERVABLE_CANCELLED');
    await assert.rejects(service.infer('m', request([1, 2]), { version: '2', signal: AbortSignal.abort() }), CancelledError);
    assert.equal((await registry.acquire('m', { version: '1', signal: AbortSignal.abort() })).version, '1');
    await flush();
    assert.deepEqual([loads, registry.isReady('m', '2'), outcomes, unhandled], [[], false, ['cancelled'], []]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await registry.close();
  }
});

test('registry.resolve() checks its selector: an unknown field is named, a version or label that is not a non-empty string quoted', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: doubler(0), warmup: [] });
  await registry.load({ name: 'm', version: '2', source: doubler(1), warmup: [] });
  try {
    // A misspelt field was dropped: the newest version where version 1 was asked for.
    assert.throws(() => registry.resolve('m', { verison: '1' } as never), { name: 'TypeError', message: 'Unknown option `verison`; ModelRegistry.resolve() takes version, label' });
    assert.throws(() => registry.resolve('m', { version: 1 as never }), { name: 'TypeError', message: 'Expected `version` to be a non-empty string, got 1 (number)' });
    assert.throws(() => registry.get('m', 1 as never), { name: 'TypeError', message: 'Expected `version` to be a non-empty string, got 1 (number)' });
    assert.throws(() => registry.resolve('m', null as never), { name: 'TypeError', message: 'Expected `selector` to be an object, got null (null)' });
    assert.equal(registry.resolve('m', { version: '1' }).version, '1');
    assert.equal(registry.resolve('m').version, '2');
  } finally {
    await registry.close();
  }
});

test('a request listener that throws never fails the request it reports, nor reports it twice; its error is rethrown later', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', source: doubler(0), warmup: [] });
  const service = new InferenceService({ registry });
  const outcomes: string[] = [];
  service.on('request', (e) => {
    outcomes.push(e.outcome);
    throw new Error('a metrics listener bug');
  });
  try {
    await catchingUncaught(async (uncaught) => {
      assert.deepEqual(values(await service.infer('m', request([1, 2]))), [2, 4]);
      await assert.rejects(service.infer('nope', request([1, 2])), ModelNotFoundError);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(outcomes, ['success', 'not-found']);
      assert.deepEqual(uncaught.map((e) => (e as Error).message), ['a metrics listener bug', 'a metrics listener bug']);
    });
  } finally {
    await registry.close();
  }
});

test('a registry listener that throws breaks no load or unload; its error is rethrown later', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const failures: string[] = [];
  registry.on('failure', (e) => failures.push(e.error.message));
  for (const event of ['loading', 'ready', 'draining', 'unload'] as const) {
    registry.on(event, () => {
      throw new Error(`a ${event} listener bug`);
    });
  }
  try {
    await catchingUncaught(async (uncaught) => {
      const mv = await registry.load({ name: 'm', source: doubler(0), warmup: [] });
      assert.equal(mv.version, '1');
      const service = new InferenceService({ registry });
      assert.deepEqual(values(await service.infer('m', request([1, 2]))), [2, 4]);
      await registry.unload('m');
      await assert.rejects(service.infer('m', request([1, 2])), ModelNotFoundError);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(failures, []);
      assert.deepEqual(
        uncaught.map((e) => (e as Error).message),
        ['a loading listener bug', 'a ready listener bug', 'a draining listener bug', 'a unload listener bug'],
      );
    });
  } finally {
    await registry.close();
  }
});

test('expectLoad marks a model as starting until a version is ready or the mark is released (each mark alone, once); close() releases every mark, and a closed registry marks nothing', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  assert.throws(() => registry.expectLoad(3 as unknown as string), (e: unknown) => e instanceof TypeError && /got 3/.test(e.message));
  const first = registry.expectLoad('a');
  const second = registry.expectLoad('a');
  const b = registry.expectLoad('b');
  assert.deepEqual([registry.has('a'), registry.isStarting('a'), registry.starting()], [false, true, ['a', 'b']], 'not known to the registry yet, and starting');
  first();
  first();
  assert.deepEqual(registry.starting(), ['a', 'b'], "a's other mark holds it");
  await registry.load({ name: 'a', source: doubler(0) });
  assert.deepEqual([registry.isStarting('a'), registry.starting()], [false, ['b']], 'a version of a is ready');
  await registry.unload('a');
  assert.deepEqual(registry.starting(), ['a', 'b'], 'none ready again, still expected');
  second();
  b();
  assert.deepEqual(registry.starting(), []);
  const c = registry.expectLoad('c');
  await registry.close();
  c();
  assert.deepEqual([registry.starting(), registry.isStarting('c')], [[], false]);
  registry.expectLoad('d')();
  registry.expectLoad('e');
  assert.deepEqual(registry.starting(), []);
});

test("a version loading is not ready, to be retried after what the model's last load took less the time its load has run (retryAfterMs); after 1 s when none was timed or it is overdue, and never when it is not loaded", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const notReady = (version: string): [string, number | undefined] => {
    try {
      registry.resolve('m', { version });
    } catch (error) {
      assert.ok(error instanceof ModelNotReadyError);
      return [error.message, error.retryAfterMs];
    }
    return assert.fail(`version ${version} is ready`);
  };
  // Each load's warm-up runs the model twice, each run taking its latency.
  const first = registry.load({ name: 'm', version: '1', source: doubler(0, 2000) });
  await settle(clock, 1000);
  assert.deepEqual(notReady('1'), ["Model 'm' version '1' is loading", 1000]);
  await settle(clock, 1000);
  await settle(clock, 2000);
  await first;
  const second = registry.load({ name: 'm', version: '2', source: doubler(0, 3000) });
  await settle(clock, 1500);
  assert.deepEqual(notReady('2'), ["Model 'm' version '2' is loading", 2500]);
  await settle(clock, 1500);
  await settle(clock, 1500);
  assert.deepEqual(notReady('2'), ["Model 'm' version '2' is loading", 1000]);
  await settle(clock, 1500);
  await second;
  registry.register({ name: 'm', version: '3', source: doubler(0) });
  assert.deepEqual(notReady('3'), ["Model 'm' version '3' is not loaded", undefined]);
  await registry.close();
});

test('resolving a ready version reads no clock: only a version loading is timed, for its retryAfterMs', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  const mv = await registry.load({ name: 'm', version: '1', source: doubler(0), warmup: [] });
  const now = clock.now.bind(clock);
  let reads = 0;
  clock.now = () => {
    reads++;
    return now();
  };
  assert.deepEqual([registry.resolve('m'), registry.resolve('m', { version: '1' }), registry.get('m', '1'), reads], [mv, mv, mv, 0]);
  await registry.close();
});

test("a backend or handler registry.load() cannot use throws with code ERR_SERVABLE_INVALID_OPTION, as its other config checks do", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const code = 'ERR_SERVABLE_INVALID_OPTION';
  await assert.rejects(registry.load({ name: 'm', source: doubler(0), backend: 'gpu' }), { message: /Expected `backend` to be one of 'memory', got "gpu"/, code });
  await assert.rejects(registry.load({ name: 'm', source: doubler(0), backend: { name: 'b' } as never }), { message: /Expected `backend` to be a backend name or a Backend/, code });
  await assert.rejects(registry.load({ name: 'm', source: 'model.onnx' as never }), { message: /No backend \(memory\) accepts the source "model.onnx"/, code });
  const { TensorHandler } = await import('servable');
  const handler = new TensorHandler();
  await registry.load({ name: 'a', source: doubler(0), handler, warmup: [] });
  await assert.rejects(registry.load({ name: 'b', source: doubler(0), handler, warmup: [] }), { message: /The handler of 'b' serves 'a' version '1' already/, code });
  await registry.close();
});
