import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendError, dataOf, ensemble, Handler, InferenceService, InvalidInputError, ModelNotFoundError, ModelNotReadyError, ModelRegistry, type EnsembleStep, type InferenceResponse, type MemoryModel, type ShadowEvent, type Tensor, type TensorMap } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { flush } from '../registry/helpers.js';

/** y = x·k + b, element-wise, on [n, 2] tensors named `in` and `out`. */
function affine(k: number, b: number, latencyMs = 0): MemoryModel {
  return {
    inputs: [{ name: 'in', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'out', datatype: 'FP32', shape: [-1, 2] }],
    latencyMs,
    run: (feeds) => ({ out: { datatype: 'FP32', shape: feeds.in!.shape, data: (feeds.in!.data as Float32Array).map((v) => v * k + b) } }),
  };
}

const pipeline = (scaleVersion?: string) =>
  ensemble({
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'z', datatype: 'FP32', shape: [-1, 2] }, { name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    steps: [
      { model: 'scale', version: scaleVersion, inputMap: { in: 'x' }, outputMap: { out: 'y' } },
      {
        name: 'negate',
        transform: ({ v }) => ({ w: { ...v!, data: (v!.data as Float32Array).map((a) => -a) } as Tensor }),
        inputMap: { v: 'y' },
        outputMap: { w: 'minus_y' },
      },
      { model: 'shift', inputMap: { in: 'minus_y' }, outputMap: { out: 'z' } },
    ],
  });

/** An ensemble of `steps` from input `x` to output `y`, both FP32 [-1, 2]. */
const xToY = (steps: EnsembleStep[]) =>
  ensemble({ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }], steps });

const x = (...rows: number[][]) => ({ inputs: { x: { datatype: 'FP32', shape: [rows.length, 2], data: new Float32Array(rows.flat()) } as Tensor } });
const data = (r: InferenceResponse, name: string) => Array.from(r.outputs[name]!.data as Float32Array);

test('an ensemble runs its steps in order with input and output name maps, each model step batched by its own batcher', async () => {
  const clock = new FakeClock();
  const backend = memoryBackend({ clock });
  const registry = new ModelRegistry({ backends: [backend], clock });
  await registry.load({ name: 'scale', source: affine(2, 0, 5), batching: { maxBatchSize: 8, maxQueueDelayMs: 2 }, warmup: [] });
  await registry.load({ name: 'shift', source: affine(1, 100, 5), batching: { maxBatchSize: 8, maxQueueDelayMs: 2 }, warmup: [] });
  const mv = await registry.load({ name: 'pipe', source: pipeline() });
  assert.deepEqual([mv.metadata().backend, mv.metadata().device], ['ensemble', 'ensemble']);
  const service = new InferenceService({ registry, clock });

  const answers = Promise.all([x([1, 2]), x([3, 4], [5, 6]), x([7, 8])].map((r) => service.infer('pipe', r)));
  // Each step's queue waits 2 ms for a fuller batch, then runs one batch of 4 items for 5 ms.
  for (let ms = 0; ms < 14; ms++) await clock.advanceAsync(1);
  const [a, b, c] = await answers;
  assert.equal(clock.now(), 14);
  assert.deepEqual([data(a!, 'y'), data(a!, 'z')], [[2, 4], [98, 96]]);
  assert.deepEqual([data(b!, 'y'), data(b!, 'z')], [[6, 8, 10, 12], [94, 92, 90, 88]]);
  assert.deepEqual(data(c!, 'z'), [86, 84]);
  assert.deepEqual(backend.calls.map((call) => `${call.label}x${call.batchSize}`), ['scale:1x4', 'shift:1x4']);
  await registry.close();
});

test('an ensemble\'s session refuses an unknown run option by name, as every backend\'s does', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'scale', source: affine(2, 0), warmup: [] });
  const mv = await registry.load({ name: 'pipe', source: xToY([{ model: 'scale', inputMap: { in: 'x' }, outputMap: { out: 'y' } }]), warmup: [] });
  await assert.rejects(mv.session.run(x([1, 2]).inputs, { signl: AbortSignal.abort() } as never), { name: 'TypeError', message: 'Unknown option `signl`; run() takes signal, timings' });
  assert.deepEqual(Array.from((await mv.session.run(x([1, 2]).inputs, {})).y!.data as Float32Array), [2, 4]);
  await registry.close();
});

test("an ensemble given warm-up requests runs each through its steps on one slot, not on each of its maxInFlight slots: its steps' versions warmed their own workers", async () => {
  const backend = memoryBackend();
  const registry = new ModelRegistry({ backends: [backend] });
  await registry.load({ name: 'scale', source: affine(2, 0), warmup: [] });
  backend.calls.length = 0;
  await registry.load({ name: 'pipe', source: xToY([{ model: 'scale', inputMap: { in: 'x' }, outputMap: { out: 'y' } }]), warmup: [x([1, 2])] });
  assert.deepEqual(backend.calls.map((c) => c.batchSize), [1, 1], 'the request ran twice, once at a time');
  await registry.close();
});

test('model steps follow the step model’s routing: a new version of a step takes over the ensemble at once', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'scale', version: '1', source: affine(2, 0) });
  await registry.load({ name: 'shift', source: affine(1, 100) });
  await registry.load({ name: 'pipe', source: pipeline() });
  await registry.load({ name: 'pinned', source: pipeline('1') });
  const service = new InferenceService({ registry });
  assert.deepEqual(data(await service.infer('pipe', x([1, 1])), 'y'), [2, 2]);
  await registry.load({ name: 'scale', version: '2', source: affine(3, 0) });
  assert.deepEqual(data(await service.infer('pipe', x([1, 1])), 'y'), [3, 3]);
  assert.deepEqual(data(await service.infer('pinned', x([1, 1])), 'y'), [2, 2]);

  // A step model unloaded makes the ensemble unavailable (503), not unknown (404); registered again, it is loaded by the first ensemble request.
  await registry.unload('shift');
  await assert.rejects(
    service.infer('pipe', x([1, 1])),
    (e: Error) =>
      e instanceof ModelNotReadyError &&
      e.message === "Ensemble step 2 (model 'shift') is not available: Model 'shift' not found" &&
      e.cause instanceof ModelNotFoundError,
  );
  registry.register({ name: 'shift', source: affine(1, 1000) });
  assert.deepEqual(data(await service.infer('pipe', x([1, 1])), 'z'), [997, 997]);
  await registry.close();
});

test('model steps follow the step model’s version routing, not its traffic policy: its split and shadow apply to requests sent to it alone', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'scale', version: '1', source: affine(2, 0), labels: ['stable'] });
  await registry.load({ name: 'scale', version: '2', source: affine(3, 0), labels: ['canary'] });
  await registry.load({ name: 'shift', source: affine(1, 100) });
  await registry.load({ name: 'pipe', source: pipeline() });
  registry.setTraffic('scale', { split: [{ label: 'canary', weight: 1 }], shadow: { version: '1', fraction: 1 } });
  const service = new InferenceService({ registry });
  const shadows: ShadowEvent[] = [];
  service.on('shadow', (e) => shadows.push(e));

  assert.deepEqual(data(await service.infer('pipe', x([1, 1])), 'y'), [2, 2], 'the step went to the stable version, not the split\'s canary');
  await flush();
  assert.equal(shadows.length, 0, 'nor was it mirrored');
  assert.deepEqual(data(await service.infer('scale', { inputs: { in: x([1, 1]).inputs.x } }), 'out'), [3, 3], 'a request to the step model itself is split');
  await flush();
  assert.deepEqual(shadows.map((e) => [e.model, e.primary, e.shadow, e.result]), [['scale', '2', '1', 'disagree']]);
  await registry.close();
});

test('an ensemble definition is checked when it is made and when it is loaded', async () => {
  const base = { inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 2] }] };
  assert.throws(
    () => ensemble({ ...base, steps: [{ model: 'a', inputMap: { in: 'nope' }, outputMap: { out: 'y' } }] }),
    /Expected `steps\[0\].inputMap.in` to name an ensemble input or an earlier step's output, got "nope" \(string\)/,
  );
  assert.throws(
    () => ensemble({ ...base, steps: [{ model: 'a', inputMap: { in: 'x' }, outputMap: { out: 'other' } }] }),
    /Expected ensemble output 'y' to be produced by a step; none has it in its outputMap/,
  );
  assert.throws(
    () => ensemble({ ...base, steps: [{ model: 'a', inputMap: { in: 'x' }, outputMap: { out: 'x' } }] }),
    /Expected `steps\[0\].outputMap.out` to name a new tensor, got "x" \(string\), which exists already/,
  );
  assert.throws(() => ensemble({ ...base, steps: [] }), /Expected `steps` to be a non-empty array of steps, got \[\] \(array\)/);
  // A misspelt key is refused: `versoin` would otherwise leave the step on its model's default version.
  assert.throws(
    () => ensemble({ ...base, steps: [{ model: 'a', versoin: '2', inputMap: { in: 'x' }, outputMap: { out: 'y' } } as never] }),
    /^TypeError: Unknown option `steps\[0\].versoin`; a model step takes model, version, label, inputMap, outputMap$/,
  );
  assert.throws(
    () => ensemble({ ...base, steps: [{ name: 't', transform: (t: TensorMap) => t, inputMap: { in: 'x' }, outputMap: { out: 'y' }, model: 'a' } as never] }),
    /^TypeError: Unknown option `steps\[0\].model`; a transform step takes name, transform, inputMap, outputMap$/,
  );
  assert.throws(() => ensemble({ ...base, maxInflight: 4 } as never), /^TypeError: Unknown option `maxInflight`; an ensemble takes inputs, outputs, steps, maxInFlight$/);
  // A bad spec would fail every request with a 500.
  const step = { model: 'a', inputMap: { in: 'x' }, outputMap: { out: 'y' } };
  assert.throws(() => ensemble({ ...base, inputs: [{ name: 'x', datatype: 'FP33', shape: [-1, 2] }], steps: [step] } as never), /Expected `inputs\[0\].datatype` to be one of BOOL, .*, got "FP33" \(string\)/);
  assert.throws(() => ensemble({ ...base, outputs: [{ name: 'y', datatype: 'FP32', shape: '-1' }], steps: [step] } as never), /Expected `outputs\[0\].shape` to be an array of integers >= -1 \(-1 for a dynamic dimension\), got "-1" \(string\)/);
  assert.throws(() => ensemble({ ...base, inputs: [base.inputs[0]!, base.inputs[0]!], steps: [step] }), /Expected `inputs\[1\].name` to be unique, got "x" \(string\) twice/);
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await assert.rejects(
    registry.load({ name: 'e', source: ensemble({ ...base, steps: [{ model: 'missing', inputMap: { in: 'x' }, outputMap: { out: 'y' } }] }) }),
    /Expected `source.steps\[0\].model` to name a loaded or registered model, got "missing" \(string\)/,
  );
});

test('a step naming a version or label its model does not have is refused at load; one unloaded or removed since gets a 503', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'scale', version: '1', source: affine(2, 0) });
  registry.register({ name: 'scale', version: '10', source: affine(5, 0), labels: ['canary'] });
  await registry.load({ name: 'shift', source: affine(1, 100) });
  const step = (selector: { version?: string; label?: string }) =>
    xToY([{ model: 'scale', ...selector, inputMap: { in: 'x' }, outputMap: { out: 'y' } }]);
  await assert.rejects(
    registry.load({ name: 'e', source: step({ version: '2' }) }),
    (e: Error) => e instanceof TypeError && e.message === "Expected `source.steps[0].version` to name a version of model 'scale' ('1', '10'), got \"2\" (string)",
  );
  await assert.rejects(
    registry.load({ name: 'e', source: step({ label: 'stabel' }) }),
    (e: Error) => e instanceof TypeError && e.message === "Expected `source.steps[0].label` to name a label of model 'scale' ('canary'), got \"stabel\" (string)",
  );
  assert.throws(() => step({ version: 2 as unknown as string }), /Expected `steps\[0\].version` to be a non-empty string, got 2 \(number\)/);
  assert.throws(() => registry.versions('e'), ModelNotFoundError);

  // A registered version, and a label a known version's config declares, are fine: the first request loads them.
  registry.setLabel('scale', 'stable', '1');
  await registry.load({ name: 'by-version', source: step({ version: '10' }) });
  await registry.load({ name: 'by-label', source: step({ label: 'canary' }) });
  await registry.load({ name: 'by-stable', source: step({ label: 'stable' }) });
  const service = new InferenceService({ registry });
  assert.deepEqual(data(await service.infer('by-version', x([1, 1])), 'y'), [5, 5]);
  assert.deepEqual(data(await service.infer('by-label', x([1, 1])), 'y'), [5, 5]);

  // The version unloaded or the label removed since: the step is not available (503), as for a step model unloaded.
  assert.equal(registry.removeLabel('scale', 'stable'), true);
  await assert.rejects(
    service.infer('by-stable', x([1, 1])),
    (e: Error) => e instanceof ModelNotReadyError && e.message === "Ensemble step 0 (model 'scale') is not available: Model 'scale' has no label 'stable'",
  );
  await registry.unload('scale', '10');
  await assert.rejects(
    service.infer('by-version', x([1, 1])),
    (e: Error) => e instanceof ModelNotReadyError && e.message === "Ensemble step 0 (model 'scale') is not available: Model 'scale' has no version '10'",
  );
  await registry.close();
});

test('an ensemble whose steps lead back to it, itself or through another ensemble, is refused at load; a step pinned to another version of its own model is fine', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  // Over affine's `in` and `out`, or over another ensemble's `x` and `y`.
  const through = (model: string, version?: string, [input, output] = ['in', 'out']) =>
    xToY([{ model, version, inputMap: { [input!]: 'x' }, outputMap: { [output!]: 'y' } }]);
  await registry.load({ name: 'a', version: '1', source: affine(2, 0) });
  await registry.load({ name: 'b', source: through('a') });
  await assert.rejects(
    registry.load({ name: 'a', version: '2', source: through('b', undefined, ['x', 'y']) }),
    (e: Error) => e instanceof TypeError && e.message === "Expected the steps of ensemble 'a' version '2' not to lead back to it, got 'a' → 'b' → 'a': each request would wait for itself",
  );
  assert.throws(() => registry.register({ name: 'a', version: '2', source: through('a', undefined, ['x', 'y']) }), /Expected the steps of ensemble 'a' version '2' not to lead back to it, got 'a' → 'a'/);
  assert.deepEqual(registry.versions('a').map((v) => v.version), ['1']);

  await registry.load({ name: 'a', version: '3', source: through('a', '1') });
  const service = new InferenceService({ registry });
  assert.deepEqual(data(await service.infer('a', x([1, 1])), 'y'), [2, 2]);
  await registry.close();
});

test('a step model refusing the tensors an earlier step made is a 400 naming the step, with the model\'s refusal as its cause', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'scale', source: affine(2, 0) });
  await registry.load({
    name: 'e',
    source: xToY([
      { name: 'widen', transform: ({ v }) => ({ w: { datatype: 'INT64', shape: v!.shape, data: new BigInt64Array(v!.data.length) } }), inputMap: { v: 'x' }, outputMap: { w: 'wide' } },
      { model: 'scale', inputMap: { in: 'wide' }, outputMap: { out: 'y' } },
    ]),
  });
  const service = new InferenceService({ registry });
  await assert.rejects(
    service.infer('e', x([1, 1])),
    (e: Error) =>
      e instanceof InvalidInputError &&
      e.message === "Ensemble step 1 (model 'scale') refused its inputs: Input 'in': expected datatype FP32, got INT64" &&
      e.cause instanceof InvalidInputError,
  );
  await registry.close();
});

// An ensemble behind a handler of its own, as examples/ocr's: its requests are no tensors.
class Pairs extends Handler<[number, number], number[]> {
  override preprocess(requests: readonly [number, number][]): TensorMap {
    return { x: { datatype: 'FP32', shape: [requests.length, 2], data: Float32Array.from(requests.flat()) } };
  }

  override postprocess(outputs: TensorMap): number[][] {
    const y = dataOf(outputs.y, 'FP32');
    return Array.from({ length: y.length / 2 }, (_, i) => [y[2 * i]!, y[2 * i + 1]!]);
  }
}

test("behind a custom handler, a step model's refusal is a 500 naming the handler: the client sent no tensors", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'scale', source: affine(2, 0) });
  await registry.load({
    name: 'e',
    handler: new Pairs(),
    source: xToY([
      { name: 'widen', transform: ({ v }) => ({ w: { datatype: 'INT64', shape: v!.shape, data: new BigInt64Array(v!.data.length) } }), inputMap: { v: 'x' }, outputMap: { w: 'wide' } },
      { model: 'scale', inputMap: { in: 'wide' }, outputMap: { out: 'y' } },
    ]),
  });
  const service = new InferenceService({ registry });
  await assert.rejects(
    service.infer('e', [1, 1]),
    (e: Error) =>
      e instanceof BackendError &&
      e.status === 500 &&
      e.message === "Pairs.preprocess built feeds that model 'e' version '1' does not take: Ensemble step 1 (model 'scale') refused its inputs: Input 'in': expected datatype FP32, got INT64" &&
      e.cause instanceof InvalidInputError &&
      e.cause.cause instanceof InvalidInputError,
  );
  await registry.close();
});

test('a step that makes an ensemble output of another datatype or shape than declared, or returns no map, fails with a 500 naming the step', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const making = (transform: (inputs: Record<string, Tensor>) => unknown) =>
    xToY([{ name: 'make', transform: transform as never, inputMap: { v: 'x' }, outputMap: { w: 'y' } }]);
  await registry.load({ name: 'wide', source: making(({ v }) => ({ w: { datatype: 'INT64', shape: v!.shape, data: new BigInt64Array(v!.data.length) } })) });
  await registry.load({ name: 'flat', source: making(({ v }) => ({ w: { ...v!, shape: [v!.data.length] } })) });
  await registry.load({ name: 'none', source: making(() => undefined) });
  const service = new InferenceService({ registry });
  const failure = async (model: string) => {
    const error = await service.infer(model, x([1, 2])).then(() => undefined, (e: Error) => e);
    return [error?.constructor.name, error?.message];
  };
  assert.deepEqual(await failure('wide'), ['BackendError', "Ensemble step 0 (transform 'make') made ensemble output 'y' other than declared: Output 'y': expected datatype FP32, got INT64"]);
  assert.deepEqual(await failure('flat'), ['BackendError', "Ensemble step 0 (transform 'make') made ensemble output 'y' other than declared: Output 'y': expected shape [-1, 2], got [2]"]);
  assert.deepEqual(await failure('none'), ['BackendError', "Ensemble step 0 (transform 'make') returned no output 'w'"]);
  await registry.close();
});

test("the registry's step event: each model step a version took, with its ensemble, index and time from the step's call, and a failed one's error; none for a transform", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'scale', source: affine(2, 0, 5), batching: { maxBatchSize: 8, maxQueueDelayMs: 2 }, warmup: [] });
  await registry.load({ name: 'shift', version: '3', source: affine(1, 100, 5), warmup: [] });
  await registry.load({ name: 'pipe', source: pipeline() });
  // A transform that makes a tensor of 3 columns, which shift refuses.
  const widen = { name: 'widen', transform: () => ({ w: { datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) } as Tensor }), inputMap: { v: 'x' }, outputMap: { w: 'wide' } };
  await registry.load({ name: 'bad', source: xToY([widen, { model: 'shift', inputMap: { in: 'wide' }, outputMap: { out: 'y' } }]) });
  const service = new InferenceService({ registry, clock });
  const steps: unknown[] = [];
  registry.on('step', (event) => {
    const { error, ...rest } = event;
    steps.push({ ...rest, failed: 'error' in event ? (error as Error).constructor.name : 'no' });
  });

  const answer = service.infer('pipe', x([1, 2]));
  for (let ms = 0; ms < 12; ms++) await clock.advanceAsync(1);
  await answer;
  await assert.rejects(service.infer('bad', x([1, 2])), InvalidInputError);
  assert.deepEqual(steps, [
    // scale waits its 2 ms delay and runs 5; shift, unbatched, runs 5 at once.
    { name: 'scale', version: '1', ensemble: { name: 'pipe', version: '1' }, step: 0, durationMs: 7, failed: 'no' },
    { name: 'shift', version: '3', ensemble: { name: 'pipe', version: '1' }, step: 2, durationMs: 5, failed: 'no' },
    { name: 'shift', version: '3', ensemble: { name: 'bad', version: '1' }, step: 1, durationMs: 0, failed: 'InvalidInputError' },
  ]);
  await registry.close();
});

test('every mistake in an ensemble definition throws with code ERR_SERVABLE_INVALID_OPTION, as the shared checks it also runs do', () => {
  const base = { inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 2] }] };
  const step = { model: 'a', inputMap: { in: 'x' }, outputMap: { out: 'y' } };
  const cases: [string, () => unknown][] = [
    ['inputs not an array', () => ensemble({ ...base, inputs: [], steps: [step] })],
    ['an input twice', () => ensemble({ ...base, inputs: [base.inputs[0]!, base.inputs[0]!], steps: [step] })],
    ['no steps', () => ensemble({ ...base, steps: [] })],
    ['an unknown input tensor', () => ensemble({ ...base, steps: [{ ...step, inputMap: { in: 'nope' } }] })],
    ['an output that exists', () => ensemble({ ...base, steps: [{ ...step, outputMap: { out: 'x' } }] })],
    ['an output no step makes', () => ensemble({ ...base, steps: [{ ...step, outputMap: { out: 'other' } }] })],
    ['an unknown key (a shared check)', () => ensemble({ ...base, steps: [step], maxInflight: 4 } as never)],
  ];
  for (const [what, make] of cases) {
    assert.throws(make, (error: Error & { code?: unknown }) => {
      assert.equal(error.code, 'ERR_SERVABLE_INVALID_OPTION', `${what}: ${error.name}: ${error.message}`);
      return true;
    });
  }
});
