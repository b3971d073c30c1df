import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelNotFoundError, ModelNotReadyError, ModelRegistry, TensorHandler, type Backend, type MemoryModel, type RegistryEvents } from 'servable';
import { memoryBackend } from 'servable/testing';
import { doubler, flush, offsetOf, record, request } from './helpers.js';

const lifecycle: (keyof RegistryEvents)[] = ['loading', 'ready', 'failure', 'swap', 'label', 'draining', 'unload'];

function describeEvent(event: keyof RegistryEvents, p: any): string {
  if (event === 'swap') return `swap ${p.from}->${p.to}`;
  if (event === 'label') return `label ${p.label}=${p.version ?? '-'}`;
  if (event === 'draining' || event === 'unload') return `${event} ${p.version} (${p.reason})`;
  if (event === 'failure') return `failure ${p.version}: ${p.error.message}`;
  return `${event} ${p.version}`;
}

test('latest {n} keeps the newest n versions; the old one drains only once the new one is ready', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const log = record(registry, lifecycle, describeEvent);
  const service = new InferenceService({ registry });
  await registry.load({ name: 'm', version: '1', source: doubler(100), versionPolicy: { latest: 1 } });
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 100);

  await registry.load({ name: 'm', version: '2', source: doubler(200) });
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 200);
  await flush();
  assert.deepEqual(log, [
    'loading 1', 'ready 1',
    'loading 2', 'ready 2', 'swap 1->2', 'draining 1 (policy)', 'unload 1 (policy)',
  ]);
  assert.deepEqual(registry.versions('m'), [{ version: '2', state: 'ready' }]);
  await assert.rejects(registry.load({ name: 'm', version: '1', source: doubler(100) }), /Expected `version` to be kept by the version policy \(latest 1\), got "1"/);

  registry.setVersionPolicy('m', { latest: 2 });
  await registry.load({ name: 'm', version: '3', source: doubler(300) });
  await flush();
  assert.deepEqual(registry.list('m').map((v) => `${v.version}:${v.state}`), ['3:ready', '2:ready']);
  await registry.close();
});

test("'all' and 'specific' policies", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  for (const v of ['1', '2', '3']) await registry.load({ name: 'all', version: v, source: doubler(Number(v)) });
  assert.deepEqual(registry.list('all').map((v) => v.version), ['3', '2', '1']);

  await registry.load({ name: 's', version: '1', source: doubler(1), versionPolicy: { specific: ['1', '3'] } });
  await assert.rejects(registry.load({ name: 's', version: '2', source: doubler(2) }), /kept by the version policy \(specific \[1, 3\]\), got "2"/);
  await registry.load({ name: 's', version: '3', source: doubler(3) });
  assert.deepEqual(registry.list('s').map((v) => v.version), ['3', '1']);
  await assert.rejects(
    registry.load({ name: 'x', source: doubler(0), versionPolicy: { latest: 0 } }),
    /Expected `versionPolicy.latest` to be an integer >= 1, got 0 \(number\)/,
  );
  await assert.rejects(
    registry.load({ name: 'x', source: doubler(0), versionPolicy: 'newest' as never }),
    /Expected `versionPolicy` to be 'all', \{latest: n\} or \{specific: \[versions\]\}, got "newest" \(string\)/,
  );
  await registry.close();
});

test('labels route requests, move at run time, and the stable label is the default', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  await registry.load({ name: 'm', version: '1', source: doubler(100), labels: ['stable'] });
  await registry.load({ name: 'm', version: '2', source: doubler(200), labels: ['canary'] });
  const log = record(registry, lifecycle, describeEvent);

  // The newest version is not the default while `stable` points elsewhere.
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 100);
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { label: 'canary' })), 200);
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { label: 'stable' })), 100);
  assert.equal(service.resolve('m', { label: 'canary' }).version, '2');
  assert.deepEqual(registry.labels('m'), { stable: '1', canary: '2' });
  assert.deepEqual(registry.get('m', '2').metadata().labels, ['canary']);

  registry.setLabel('m', 'stable', '2');
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 200);
  registry.setLabel('m', 'stable', '1');
  assert.equal(registry.removeLabel('m', 'stable'), true);
  assert.equal(registry.removeLabel('m', 'stable'), false);
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 200, 'without stable the newest ready version serves');
  assert.deepEqual(log, ['label stable=2', 'swap 1->2', 'label stable=1', 'swap 2->1', 'label stable=-', 'swap 1->2']);

  await assert.rejects(service.infer('m', request([0, 0]), { label: 'beta' }), (e: Error) => e instanceof ModelNotFoundError && /no label 'beta'/.test(e.message));
  assert.throws(() => registry.setLabel('m', 'beta', '9'), /Model 'm' has no version '9'/);
  assert.throws(() => registry.setLabel('m', '', '1'), /Expected `label` to be a non-empty string, got "" \(string\)/);

  // Unloading a labelled version removes its labels.
  await registry.unload('m', '2');
  assert.deepEqual(registry.labels('m'), {});
  await registry.close();
});

test('a load that is refused or fails leaves the version policy as it was, so no version is dropped for it', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: doubler(1) });
  await registry.load({ name: 'm', version: '2', source: doubler(2) });
  const loading = registry.load({ name: 'm', version: '3', source: doubler(3) });
  await assert.rejects(registry.load({ name: 'm', version: '3', source: doubler(3), versionPolicy: { specific: ['3'] } }), /version '3' is already loading/);
  await loading;
  const broken: MemoryModel = { ...doubler(4), run: () => { throw new Error('weights corrupt'); } };
  await assert.rejects(registry.load({ name: 'm', version: '4', source: broken, versionPolicy: { latest: 1 } }), /weights corrupt/);
  await registry.load({ name: 'm', version: '5', source: doubler(5) });
  await flush();
  assert.deepEqual(registry.list('m').map((v) => `${v.version}:${v.state}`), ['5:ready', '3:ready', '2:ready', '1:ready']);
  await registry.close();
});

test('loading a ready version again replaces it without a gap; a failed replacement leaves the old one', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  const log = record(registry, lifecycle, describeEvent);
  const first = await registry.load({ name: 'm', version: '1', source: doubler(1) });
  const second = await registry.load({ name: 'm', version: '1', source: doubler(11) });
  assert.notEqual(first, second);
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 11);
  await flush();
  assert.equal(first.state, 'unloaded');

  const broken: MemoryModel = { ...doubler(3), run: () => { throw new Error('weights corrupt'); } };
  await assert.rejects(registry.load({ name: 'm', version: '1', source: broken }), /weights corrupt/);
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 11);
  assert.equal(registry.get('m').metadata().state, 'ready');
  assert.deepEqual(log.slice(0, -1), [
    'loading 1', 'ready 1',
    'loading 1', 'ready 1', 'swap 1->1', 'draining 1 (replaced)', 'unload 1 (replaced)',
    'loading 1',
  ]);
  assert.match(log.at(-1)!, /weights corrupt/);
  await registry.close();
});

test('metadata reports state, device, load and warm-up times, labels and size', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const mv = await registry.load({ name: 'm', source: doubler(0), labels: ['stable'], sizeBytes: 1234 });
  const meta = mv.metadata();
  assert.equal(meta.state, 'ready');
  assert.equal(meta.device, 'cpu');
  assert.equal(meta.backend, 'memory');
  assert.ok(meta.loadMs >= 0 && meta.warmupMs >= 0);
  assert.deepEqual(meta.labels, ['stable']);
  assert.equal(meta.sizeBytes, 1234);
  await registry.close();
  assert.equal(mv.metadata().state, 'unloaded');
});

test('a registered version loads on its first request; concurrent requests share the load', async () => {
  const backend = memoryBackend();
  let loads = 0;
  const counting = { ...backend, load: (...args: Parameters<typeof backend.load>) => (loads++, backend.load(...args)) };
  const registry = new ModelRegistry({ backends: [counting] });
  const service = new InferenceService({ registry });
  registry.register({ name: 'm', version: '4', source: doubler(4) });
  assert.deepEqual(registry.versions('m'), [{ version: '4', state: 'unloaded' }]);
  assert.throws(() => registry.get('m'), ModelNotReadyError);
  assert.equal(registry.isReady('m'), false);

  const answers = await Promise.all([1, 2, 3].map(() => service.infer('m', request([0, 0]))));
  assert.deepEqual(answers.map(offsetOf), [4, 4, 4]);
  assert.equal(loads, 1);
  assert.deepEqual(registry.versions('m'), [{ version: '4', state: 'ready' }]);
  await registry.close();
  await assert.rejects(registry.load({ name: 'm', source: doubler(0) }), /The registry is closed/);
});

test('unloading a version forgets it; unknown models and versions are 404', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: doubler(1) });
  await assert.rejects(registry.unload('m', '2'), ModelNotFoundError);
  await assert.rejects(registry.unload('nope'), ModelNotFoundError);
  await registry.unload('m', '1');
  assert.deepEqual(registry.names(), []);
  assert.throws(() => registry.versions('m'), ModelNotFoundError);
});

test('batching is checked as the batcher will before anything loads; a handler instance serves one version at a time', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await assert.rejects(
    registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 4, preferredBatchSizes: [8] } }),
    /Expected `batching.preferredBatchSizes\[0\]` to be an integer between 1 and 4, got 8 \(number\)/,
  );
  await assert.rejects(registry.load({ name: 'm', source: doubler(0), batching: { maxBatchSize: 4, maxDelayMs: 2 } as never }), {
    message: /Unknown field `batching.maxDelayMs`/,
    code: 'ERR_SERVABLE_INVALID_OPTION',
  });
  assert.deepEqual(registry.names(), []);

  const handler = new TensorHandler();
  await registry.load({ name: 'm', version: '1', source: doubler(1), handler });
  await assert.rejects(
    registry.load({ name: 'm', version: '2', source: doubler(2), handler }),
    /The handler of 'm' serves 'm' version '1' already; pass a function that makes a new one/,
  );
  await registry.load({ name: 'm', version: '2', source: doubler(2), handler: () => new TensorHandler() });
  assert.deepEqual(registry.list('m').map((v) => v.version), ['2', '1']);
  await registry.close();
});

test('a load unloaded or closed while it runs is called off, not failed: no failure event, no failed load recorded', async () => {
  const memory = memoryBackend();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const slow: Backend = { name: 'slow', accepts: (source) => memory.accepts(source), load: async (source, options) => (await gate, memory.load(source, options)) };
  const registry = new ModelRegistry({ backends: [slow] });
  const log = record(registry, lifecycle, describeEvent);
  const unloaded = registry.load({ name: 'm', version: '1', source: doubler(100) });
  const closed = registry.load({ name: 'n', version: '1', source: doubler(100) });
  await flush();
  const unloading = registry.unload('m', '1');
  const closing = registry.close();
  release();
  await unloading;
  await assert.rejects(unloaded, { name: 'ModelNotReadyError', message: "Model 'm' version '1' was unloaded while it loaded" });
  await assert.rejects(closed, { name: 'ModelNotReadyError', message: "Model 'n' version '1' was unloaded while it loaded" });
  await closing;
  assert.deepEqual(log.filter((line) => line.startsWith('failure')), []);
});
