import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClosedError, InferenceService, InvalidInputError, ModelNotFoundError, ModelRegistry, memoryBackend, type AcquireOptions, type RegistryOptions, type InferenceResponse, type ModelConfig, type RegistryLoadOptions, type Tensor } from 'servable';
import { FakeClock } from 'servable/testing';
import { ModelRepository, type BackendFactory, type ControlMode, type RepositoryEvents, type RepositoryOptions } from 'servable/repository';
import { until } from '../fixtures/until.js';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeModels, writeVersion } from './fixtures.js';

const x = (a: number, b: number) => ({ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([a, b]) } as Tensor } });
const offset = (r: InferenceResponse) => (r.outputs.y!.data as Float32Array)[0]!;

/** The repository's failure events, as `name[:version]: message`. */
function failuresOf(repository: ModelRepository): string[] {
  const failures: string[] = [];
  repository.on('failure', (f: RepositoryEvents['failure'][0]) => failures.push(`${f.name}${f.version ? `:${f.version}` : ''}: ${f.error.message}`));
  return failures;
}

/**
 * A repository over a temp root, and a registry (of `Registry`) with the memory backend on a fake
 * clock, which the repository's waits then run on too; with the repository's failure events.
 */
async function onFakeClock<R extends ModelRegistry>(
  registryOptions: Omit<RegistryOptions, 'backends' | 'clock'>,
  repositoryOptions: Omit<RepositoryOptions, 'root' | 'registry'>,
  Registry: new (options: RegistryOptions) => R,
) {
  const { root, remove } = await tempRoot();
  const clock = new FakeClock();
  const registry = new Registry({ backends: [memoryBackend()], clock, ...registryOptions });
  const repository = new ModelRepository({ root, registry, ...repositoryOptions });
  return { root, remove, clock, registry, repository, failures: failuresOf(repository) };
}

/** A poll repository over a registry holding at most `maxLoadedVersions`, waiting 1000 ms for room (see {@link onFakeClock}). */
function roomLimited(maxLoadedVersions: number, pollIntervalMs = 3_600_000, loads?: string[]) {
  return onFakeClock({ maxLoadedVersions, loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs, backends: jsonBackends(loads).backends }, ModelRegistry);
}

async function setup(mode: ControlMode, models?: string[]) {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const { backends, memory } = jsonBackends(loads);
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  const repository = new ModelRepository({ root, registry, mode, models, backends });
  const failures = failuresOf(repository);
  const ask = async (model: string, options = {}) => offset(await service.infer(model, x(0, 0), options));
  const done = async () => {
    await repository.close();
    await registry.close();
    await remove();
  };
  return { root, registry, service, repository, failures, loads, memory, ask, done };
}

test("'none' loads every model at start under its version policy, with its labels and traffic, and refuses changes", async () => {
  const s = await setup('none');
  await writeConfig(s.root, 'a', jsonConfig());
  for (const v of ['1', '2', '10']) await writeVersion(s.root, 'a', v, { offset: Number(v) });
  await writeConfig(s.root, 'b', jsonConfig({ versionPolicy: 'all', labels: { stable: '1', canary: '2' }, traffic: { split: [{ label: 'canary', weight: 1 }] } }));
  await writeVersion(s.root, 'b', '1', { offset: 100 });
  await writeVersion(s.root, 'b', '2', { offset: 200 });
  await mkdir(path.join(s.root, 'not-a-model'));
  await s.repository.start();

  assert.deepEqual(s.registry.versions('a'), [{ version: '10', state: 'ready' }], 'latest 1 by number, not by name');
  assert.equal(await s.ask('a'), 10);
  assert.deepEqual(s.registry.labels('b'), { stable: '1', canary: '2' });
  assert.equal(await s.ask('b'), 200, 'the traffic split sends everything to the canary');
  assert.equal(await s.ask('b', { label: 'stable' }), 100);
  assert.deepEqual(s.loads.sort(), ['a:10', 'b:1', 'b:2']);
  await assert.rejects(s.repository.load('a'), (e: Error) => e instanceof InvalidInputError && /control mode is 'none'; load needs 'explicit'/.test(e.message));
  await assert.rejects(s.repository.unload('a'), InvalidInputError);
  await s.done();
});

test("'explicit' loads on request, reloads what changed, unloads, and reports why a load failed", async () => {
  const s = await setup('explicit', ['a']);
  await writeConfig(s.root, 'a', jsonConfig());
  await writeVersion(s.root, 'a', '1', { offset: 1 });
  await writeConfig(s.root, 'b', jsonConfig({ warmup: [{ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: [7, 8] } } }] }));
  await writeVersion(s.root, 'b', '1', { offset: 2 });
  await s.repository.start();
  assert.deepEqual(s.registry.names(), ['a']);
  assert.deepEqual([s.registry.has('a'), s.registry.has('b')], [true, false], 'b is in the repository, not yet in the registry');
  assert.deepEqual(await s.repository.index(), [
    { name: 'a', version: '1', state: 'READY' },
    { name: 'b', version: '1', state: 'UNAVAILABLE', reason: 'not loaded' },
  ]);

  await s.repository.load('b');
  assert.equal(await s.ask('b'), 2);
  assert.deepEqual(Array.from(s.memory.calls.find((c) => c.label === 'b:1')!.feeds.x!.data as Float32Array), [7, 8], 'warmed up on the config\'s request');

  // A new version that fails leaves the old one serving; the index says why.
  await writeVersion(s.root, 'b', '2', { offset: 3, fail: true });
  await assert.rejects(s.repository.load('b'), /the weights are corrupt/);
  assert.equal(await s.ask('b'), 2);
  assert.deepEqual((await s.repository.index()).filter((e) => e.name === 'b'), [
    { name: 'b', version: '1', state: 'READY' },
    { name: 'b', version: '2', state: 'UNAVAILABLE', reason: 'the weights are corrupt' },
  ]);
  await writeVersion(s.root, 'b', '2', { offset: 3 });
  await s.repository.load('b');
  assert.equal(await s.ask('b'), 3);
  assert.deepEqual(s.registry.versions('b'), [{ version: '2', state: 'ready' }]);

  // A config change reloads the versions in place.
  await writeConfig(s.root, 'b', jsonConfig({ backend: { name: 'json', scale: 10 } }));
  await s.repository.load('b');
  assert.equal(await s.ask('b'), 30);

  await s.repository.unload('b');
  assert.deepEqual(s.registry.names(), ['a']);
  await assert.rejects(s.repository.unload('b'), ModelNotFoundError);
  await assert.rejects(s.repository.load('nope'), (e: Error) => e instanceof ModelNotFoundError && /Model 'nope' not found in the repository/.test(e.message));
  assert.ok(s.failures.some((f) => f.startsWith('b:2: ') && f.includes('the weights are corrupt')), s.failures.join('\n'));
  await s.done();
});

test('a config whose traffic names a version that failed to load is reported, not thrown over the load\'s error, and applies once the version loads', async () => {
  const s = await setup('explicit', []);
  await writeConfig(s.root, 'c', jsonConfig({ versionPolicy: 'all', labels: { stable: '1' }, traffic: { split: [{ version: '1', weight: 1 }, { version: '2', weight: 1 }] } }));
  await writeVersion(s.root, 'c', '1', { offset: 1 });
  await writeVersion(s.root, 'c', '2', { offset: 2, fail: true });
  await s.repository.start();
  await assert.rejects(s.repository.load('c'), /the weights are corrupt/);
  assert.deepEqual(s.failures, ['c:2: the weights are corrupt', 'c: Expected `traffic.split[1].version` to name a version of model \'c\' (\'1\'), got "2" (string)']);
  assert.equal(s.registry.traffic('c'), undefined);
  assert.equal(await s.ask('c'), 1);

  await writeVersion(s.root, 'c', '2', { offset: 2 });
  await s.repository.load('c');
  assert.deepEqual(s.registry.traffic('c'), { split: [{ version: '1', weight: 1 }, { version: '2', weight: 1 }] });
  assert.equal(s.failures.length, 2);
  await s.done();
});

test('names from requests never reach outside the root', async () => {
  const s = await setup('explicit');
  const outside = await tempRoot();
  await writeConfig(outside.root, 'secret', jsonConfig());
  await writeVersion(outside.root, 'secret', '1', { offset: 666 });
  await symlink(path.join(outside.root, 'secret'), path.join(s.root, 'evil'));
  await writeConfig(s.root, 'a', jsonConfig({ handler: '../../../escape.mjs' }));
  await writeVersion(s.root, 'a', '1', { offset: 1 });
  await s.repository.start();

  for (const name of ['../secret', '..', '.', 'a/../a', `${outside.root}/secret`, '%2e%2e', '.hidden', '']) {
    await assert.rejects(s.repository.load(name), (e: Error) => e instanceof ModelNotFoundError && /is not a valid model name/.test(e.message), name);
  }
  await assert.rejects(s.repository.load('evil'), /Model 'evil' lies outside the repository/);
  assert.deepEqual((await s.repository.index()).map((e) => e.name), ['a'], 'a link leading outside is not listed');
  await assert.rejects(s.repository.load('a'), /config.json: Expected `handler.module` to name a file inside .*, got "..\/..\/..\/escape.mjs"/);
  assert.deepEqual(s.registry.names(), []);
  await outside.remove();
  await s.done();
});

test("'poll' loads a new version once its files stop changing, swaps it in, and unloads removed versions and models", async () => {
  const s = await setup('poll');
  await writeConfig(s.root, 'm', jsonConfig());
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await s.repository.start();
  assert.equal(await s.ask('m'), 1);

  // Half-written: the directory exists before its model file, then the file changes once more.
  await mkdir(path.join(s.root, 'm', '2'));
  await s.repository.poll();
  await writeFile(path.join(s.root, 'm', '2', 'model.json'), '{"offset": 2,');
  await s.repository.poll();
  assert.equal(await s.ask('m'), 1);
  await writeFile(path.join(s.root, 'm', '2', 'model.json'), '{"offset": 2, "padding": ".........."}');
  await s.repository.poll();
  assert.equal(await s.ask('m'), 1, 'changed since the previous look: not loaded yet');
  await s.repository.poll();
  assert.equal(await s.ask('m'), 2);
  assert.deepEqual(s.registry.versions('m'), [{ version: '2', state: 'ready' }]);

  // An invalid config is reported once and changes nothing; fixing it reloads.
  await writeConfig(s.root, 'm', '{"backend": "json", "modelFile": "model.json", "batching": {"maxBatchSize": -1}}');
  await s.repository.poll();
  await s.repository.poll();
  assert.equal(await s.ask('m'), 2);
  assert.equal(s.failures.filter((f) => f.includes('`batching.maxBatchSize`')).length, 1, s.failures.join('\n'));
  await writeConfig(s.root, 'm', jsonConfig({ batching: { maxBatchSize: 4 } }));
  await s.repository.poll();
  assert.equal(s.registry.get('m').metadata().maxBatchSize, 4);

  // Removing the newest version brings the previous one back before the newest is unloaded.
  await rm(path.join(s.root, 'm', '2'), { recursive: true });
  await s.repository.poll();
  assert.equal(await s.ask('m'), 1);
  assert.deepEqual(s.registry.versions('m'), [{ version: '1', state: 'ready' }]);

  await rm(path.join(s.root, 'm'), { recursive: true });
  await s.repository.poll();
  assert.deepEqual(s.registry.names(), []);
  await assert.rejects(s.repository.load('m'), InvalidInputError);
  await s.done();
});

test("'poll' reports no failure for a load called off by an unload or a close, and loads the version at the next look", async () => {
  const s = await setup('poll');
  await writeConfig(s.root, 'm', jsonConfig());
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await s.repository.start();
  await writeVersion(s.root, 'm', '2', { offset: 2 });
  await s.repository.poll();
  const unloading: Promise<void>[] = [];
  const callOff = (version: string, fn: () => Promise<void>) => {
    const listener = (e: { version: string }) => {
      if (e.version !== version) return;
      s.registry.off('loading', listener);
      unloading.push(fn());
    };
    s.registry.on('loading', listener);
  };
  callOff('2', () => s.registry.unload('m', '2'));
  await s.repository.poll();
  await Promise.all(unloading);
  assert.deepEqual([await s.ask('m'), s.failures], [1, []]);
  await s.repository.poll();
  assert.deepEqual([await s.ask('m'), s.registry.versions('m')], [2, [{ version: '2', state: 'ready' }]]);

  await writeVersion(s.root, 'm', '3', { offset: 3 });
  await s.repository.poll();
  callOff('3', () => s.registry.close());
  await s.repository.poll();
  await Promise.all(unloading);
  assert.deepEqual(s.failures, []);
  await s.done();
});

test('a handler module in the model directory is imported and used', async () => {
  const s = await setup('none');
  const servable = pathToFileURL(path.resolve('src/index.ts')).href;
  await writeConfig(s.root, 'h', jsonConfig({ handler: { module: 'handler.mjs', export: 'Plus', options: { add: 1000 } }, warmup: [] }));
  await writeVersion(s.root, 'h', '1', { offset: 1 });
  const source = `import { TensorHandler } from ${JSON.stringify(servable)};
export class Plus extends TensorHandler {
  constructor(options) { super(); this.add = options.add; }
  postprocess(outputs, requests) {
    return super.postprocess(outputs, requests).map((r) => ({ outputs: { y: { ...r.outputs.y, data: r.outputs.y.data.map((v) => v + this.add) } } }));
  }
}
export const notAHandler = 42;
`;
  await writeFile(path.join(s.root, 'h', 'handler.mjs'), source);
  await writeConfig(s.root, 'bad', jsonConfig({ handler: { module: 'handler.mjs', export: 'notAHandler' } }));
  await writeVersion(s.root, 'bad', '1', { offset: 1 });
  await writeFile(path.join(s.root, 'bad', 'handler.mjs'), source);
  await writeConfig(s.root, 'linked', jsonConfig({ handler: 'handler.mjs' }));
  await writeVersion(s.root, 'linked', '1', { offset: 1 });
  await symlink(path.join(s.root, 'h', 'handler.mjs'), path.join(s.root, 'linked', 'handler.mjs'));
  await s.repository.start();
  assert.equal(await s.ask('h'), 1001);
  assert.deepEqual(s.registry.names(), ['h']);
  assert.ok(s.failures.some((f) => /^bad:1: .*config.json: Expected `handler.export` "notAHandler" \(string\) of handler.mjs to be a Handler subclass, got 42 \(number\)/.test(f)), s.failures.join('\n'));
  assert.ok(s.failures.some((f) => /^linked: .*config.json: Expected `handler.module` to name a file inside .*, got "handler.mjs", which links outside it/.test(f)), s.failures.join('\n'));
  await s.done();
});

test('repository options are checked, quoting the bad value', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, mode: 'watch' as never }), /Expected `mode` to be one of "none", "explicit", "poll", got "watch" \(string\)/);
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, pollIntervalMs: 0 }), /Expected `pollIntervalMs` to be an integer between 1 and 2147483647, got 0 \(number\)/);
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, pollIntervalMs: 2 ** 31 }), /Expected `pollIntervalMs` to be an integer between 1 and 2147483647, got 2147483648 \(number\)/);
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, models: ['../x'] }), /Expected `models\[0\]` to be a model directory name, got "..\/x"/);
  assert.throws(() => new ModelRepository({ root: '', registry }), /Expected `root` to be a non-empty string/);
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, clock: 1000 as never }), /^TypeError: Expected `clock` to be a Clock \(\{now, setTimeout, clearTimeout\}\), got 1000 \(number\)$/);
  for (const [bad, message] of [
    [0, /^RangeError: Expected `loadConcurrency` to be an integer >= 1, got 0 \(number\)$/],
    [-1, /^RangeError: Expected `loadConcurrency` to be an integer >= 1, got -1 \(number\)$/],
    [1.5, /^TypeError: Expected `loadConcurrency` to be an integer, got 1.5 \(number\)$/],
    ['4', /^TypeError: Expected `loadConcurrency` to be an integer, got "4" \(string\)$/],
  ] as const) {
    assert.throws(() => new ModelRepository({ root: '/tmp', registry, mode: 'poll', loadConcurrency: bad as number }), message);
  }
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, pollIntervalMS: 10 } as never), /^TypeError: Unknown option `pollIntervalMS`; ModelRepository takes root, registry, mode, models, pollIntervalMs, loadConcurrency, backends, clock$/);
  await assert.rejects(new ModelRepository({ root: '/nonexistent/models', registry }).start(), /Expected `root` to be a directory, got "\/nonexistent\/models"/);
  const { root, remove } = await tempRoot();
  await writeConfig(root, 'm', { backend: { name: 'json', scael: 2 }, modelFile: 'model.json' });
  await writeVersion(root, 'm', '1', { offset: 1 });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', backends: jsonBackends().backends });
  await repository.start();
  await assert.rejects(repository.load('m'), /m\/config.json: Unknown option `backend.scael`; json takes scale/);
  await writeConfig(root, 'm', { backend: 'tensorflow', modelFile: 'model.json' });
  await assert.rejects(repository.load('m'), /m\/config.json: Expected `backend.name` to be one of 'json', got "tensorflow"/);
  await remove();
});

test("'poll' looks at the root every pollIntervalMs on the repository's clock", async () => {
  const { root, remove } = await tempRoot();
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 1000, clock, backends: jsonBackends().backends });
  await writeConfig(root, 'm', jsonConfig());
  await writeVersion(root, 'm', '1', { offset: 1 });
  await repository.start();
  await writeVersion(root, 'm', '2', { offset: 2 });
  let ready = false;
  registry.on('ready', () => (ready = true));
  let looks = 0;
  while (!ready && looks < 20) {
    await clock.advanceAsync(1000);
    looks++;
    await new Promise((r) => setTimeout(r, 20)); // the look reads the disk for real
  }
  assert.equal(ready, true);
  assert.ok(looks >= 2, 'a new version is loaded at the second look that finds it unchanged');
  assert.equal(registry.get('m').version, '2');
  await repository.close();
  await registry.close();
  await remove();
});

test("'poll' leaves a version the registry unloaded to make room to load on its next request, where every look loaded it again and evicted another", async () => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 2 });
  const repository = new ModelRepository({ root, registry, mode: 'poll', backends: jsonBackends(loads).backends });
  await writeModels(root, ['a', 'b', 'c']);
  await repository.start();
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1'], 'c evicted a');
  await repository.poll();
  await repository.poll();
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1']);
  assert.deepEqual(registry.versions('a'), [{ version: '1', state: 'unloaded' }]);
  const service = new InferenceService({ registry });
  assert.equal(offset(await service.infer('a', x(0, 0))), 1, 'a request loads it');
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1', 'a:1']);
  await repository.close();
  await registry.close();
  await remove();
});

test("'explicit' load loads a version the registry unloaded to make room", async () => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 1 });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', models: ['a', 'b'], backends: jsonBackends(loads).backends });
  await writeModels(root, ['a', 'b']);
  await repository.start();
  assert.equal(registry.isReady('a'), false, 'b evicted a');
  await repository.load('a');
  assert.deepEqual([registry.isReady('a'), registry.isReady('b')], [true, false]);
  assert.deepEqual(loads, ['a:1', 'b:1', 'a:1']);
  await repository.close();
  await registry.close();
  await remove();
});

/**
 * The json backend whose loads, once they read their file, wait until `open()` while `held`.
 * `read()` counts the loads that have read their file: `loads` counts them as they start reading,
 * and a file rewritten then may be read empty (half written) or new.
 */
function gatedJson(loads: string[]) {
  const { backends } = jsonBackends(loads);
  let gate: Promise<void> | undefined;
  let open = () => {};
  let read = 0;
  const json: BackendFactory = (options) => {
    const inner = backends.json!(options);
    return { ...inner, load: async (source, loadOptions) => {
      const session = await inner.load(source, loadOptions);
      read++;
      await gate;
      return session;
    } };
  };
  return { backends: { json }, hold: () => (gate = new Promise<void>((resolve) => (open = () => { gate = undefined; resolve(); }))), open: () => open(), read: () => read };
}

/** A registry counting the repository's calls to load and acquire (requests acquire through acquireHeld). */
class Watched extends ModelRegistry {
  calls = 0;
  override load<Req, Res>(config: ModelConfig<Req, Res>, options?: RegistryLoadOptions) {
    this.calls++;
    return super.load(config, options);
  }
  override acquire(name: string, options?: AcquireOptions) {
    this.calls++;
    return super.acquire(name, options);
  }
}

test("'explicit' load of a version a request is loading joins that load, and loads it again after when its files changed", async () => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const { backends, hold, open, read } = gatedJson(loads);
  const registry = new Watched({ backends: [memoryBackend()], maxLoadedVersions: 1 });
  const service = new InferenceService({ registry });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', models: ['a', 'b'], backends });
  const failures = failuresOf(repository);
  await writeModels(root, ['a', 'b']);
  await repository.start(); // b evicted a
  hold();
  const asked = service.infer('a', x(0, 0)); // loads a again, held open
  registry.calls = 0;
  const loaded = repository.load('a');
  await until(() => registry.calls > 0, 'the repository to load a');
  open();
  await loaded; // refused as "already loading", and reported, before
  assert.equal(offset(await asked), 1);
  assert.deepEqual([loads, failures, registry.isReady('a')], [['a:1', 'b:1', 'a:1'], [], true]);

  // Files changed: the load in flight (it read the old ones) is joined, then the version loads again with the new ones.
  await repository.load('b');
  hold();
  const old = service.infer('a', x(0, 0));
  await until(() => read() === 5, 'the request to read the old files of a');
  await writeVersion(root, 'a', '1', { offset: 5 });
  registry.calls = 0;
  const reloaded = repository.load('a');
  await until(() => registry.calls > 0, 'the repository to load a');
  open();
  await reloaded;
  assert.equal(offset(await old), 1);
  assert.equal(offset(await service.infer('a', x(0, 0))), 5);
  assert.deepEqual([loads, failures], [['a:1', 'b:1', 'a:1', 'b:1', 'a:1', 'a:1'], []]);
  await repository.close();
  await registry.close();
  await remove();
});

test("'poll' loads the new files of a version a request is loading once that load is done, where it was refused as already loading and reported as failed", async () => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const { backends, hold, open, read } = gatedJson(loads);
  const registry = new Watched({ backends: [memoryBackend()], maxLoadedVersions: 2 });
  const service = new InferenceService({ registry });
  const repository = new ModelRepository({ root, registry, mode: 'poll', backends, clock: new FakeClock() }); // polls only when told
  const failures = failuresOf(repository);
  await writeModels(root, ['a', 'b', 'c']);
  await repository.start(); // c evicted a
  hold();
  const old = service.infer('a', x(0, 0)); // loads a again (old files), held open
  await until(() => read() === 4, 'the request to read the old files of a');
  await writeVersion(root, 'a', '1', { offset: 5 });
  await repository.poll(); // the new files are seen once: not loaded before they stay the same
  registry.calls = 0;
  const polled = repository.poll();
  await until(() => registry.calls > 0, 'the poll to load a');
  open();
  await polled;
  assert.equal(offset(await old), 1);
  assert.equal(offset(await service.infer('a', x(0, 0))), 5);
  assert.deepEqual([loads.slice(3), failures], [['a:1', 'a:1'], []]);
  await repository.close();
  await registry.close();
  await remove();
});

test("a look waits for room for a version at most the registry's loadTimeoutMs, where one stuck behind a drain that never ends held that look, and every one after it, for good", async () => {
  const loads: string[] = [];
  const { root, remove, clock, registry, repository, failures } = await onFakeClock({ maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a', 'b'], backends: jsonBackends(loads).backends }, Watched);
  await writeModels(root, ['a', 'b']);
  await repository.start(); // b evicted a
  // As a request routed to b that never reaches its queue: b cannot finish draining, so a's load waits for room for good.
  const stuck = registry.get('b').hold();
  const asked = registry.acquire('a', { timeoutMs: 10 }).then(() => 'ready', (e: Error) => e.message);
  await until(() => registry.versions('a')[0]?.state === 'loading', "the request's load of a");
  const looks = [repository.load('a'), repository.load('a')].map((look) => look.then(() => 'loaded', (e: Error) => e.message));
  const settled: string[] = [];
  for (const look of looks) void look.then((outcome) => settled.push(outcome));
  registry.calls = 0;
  await until(() => registry.calls === 1, 'the first look to join the load');
  await clock.advanceAsync(10);
  assert.equal(await asked, "Model 'a' version '1' was not ready within 10 ms");
  await clock.advanceAsync(990); // the request's load gives up waiting for room: the look loads a itself
  await until(() => registry.calls === 2, 'the first look to load a');
  await clock.advanceAsync(1000);
  await until(() => settled.length === 1, 'the first look to give up');
  await until(() => registry.calls === 3, 'the second look to load a');
  await clock.advanceAsync(1000);
  await until(() => settled.length === 2, 'the second look to give up');
  const noRoom = "Cannot load 'a' version '1': no room within 1000 ms (`loadTimeoutMs`) while it waited for a version loading to be ready, or one draining to unload";
  assert.deepEqual([settled, failures, await repository.index()], [
    [noRoom, noRoom],
    [`a:1: ${noRoom}`],
    [{ name: 'a', version: '1', state: 'UNAVAILABLE', reason: noRoom }, { name: 'b', version: '1', state: 'UNLOADING' }],
  ]);

  stuck.release(); // b drains
  await until(() => registry.versions('b')[0]?.state === 'unloaded', 'b to unload');
  await repository.load('a');
  assert.deepEqual([registry.isReady('a'), loads, failures.length, clock.pending], [true, ['a:1', 'b:1', 'a:1'], 1, 0]);
  await repository.close();
  await registry.close();
  await remove();
});

test("a look waits for a request's load at most the registry's loadTimeoutMs, which may take that long for room and as long again to load: the version stays loading and the repository's, nothing is reported", async () => {
  const loads: string[] = [];
  const { backends, hold, open } = gatedJson(loads);
  const { root, remove, clock, registry, repository, failures } = await onFakeClock({ maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a', 'b'], backends }, Watched);
  await writeModels(root, ['a', 'b']);
  await repository.start(); // b evicted a
  const stuck = registry.get('b').hold(); // b drains only once released
  const asked = registry.acquire('a', { timeoutMs: 10 }).then(() => 'ready', (e: Error) => e.message);
  await until(() => registry.versions('a')[0]?.state === 'loading', "the request's load of a");
  registry.calls = 0;
  const look = repository.load('a').then(() => 'loaded', (e: Error) => e.message);
  await until(() => registry.calls === 1, 'the look to join the load');
  await clock.advanceAsync(10);
  assert.equal(await asked, "Model 'a' version '1' was not ready within 10 ms");
  hold();
  await clock.advanceAsync(490);
  stuck.release(); // a's load gets its room at 500, and its backend load hangs on the gate
  await until(() => loads.length === 3, "a's backend load");
  await clock.advanceAsync(500);
  assert.match(await look, /^Model 'a' version '1' is still loading \(a request's load\) after 1000 ms \(`loadTimeoutMs`\)/);
  assert.deepEqual([registry.versions('a'), failures], [[{ version: '1', state: 'loading' }], []]);
  open();
  await until(() => registry.isReady('a'), 'a to be ready');
  await repository.load('a'); // the files did not change: nothing to load
  assert.deepEqual([loads, registry.calls, failures], [['a:1', 'b:1', 'a:1'], 1, []]);
  await repository.close();
  await registry.close();
  await remove();
});

test("a look and an unload wait for a version's drain at most the registry's loadTimeoutMs, where one that never ended held them, and every change and close() after them, for good", async () => {
  const { root, remove, clock, registry, repository, failures } = await onFakeClock({ loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a', 'b'], backends: jsonBackends().backends }, ModelRegistry);
  const drains: string[] = [];
  registry.on('draining', (e) => drains.push(`${e.name}:${e.version} (${e.reason}) at ${clock.now()}`));
  await writeModels(root, ['a', 'b']);
  await repository.start();
  // As requests routed to a:1 and b:1 that never reach their queues (runs that never answer): neither can finish draining.
  const stuck = [registry.get('a').hold(), registry.get('b').hold()];
  await writeVersion(root, 'a', '2', { offset: 2 });
  const settled: string[] = [];
  const changes = { 'load a': repository.load('a'), 'unload b': repository.unload('b'), close: repository.close() };
  for (const [what, change] of Object.entries(changes)) void change.then(() => settled.push(`${what} at ${clock.now()}`), (e: Error) => settled.push(`${what}: ${e.message}`));
  await until(() => drains.length === 1, 'a:1 to drain');
  await clock.advanceAsync(1000);
  await until(() => drains.length === 2, 'b:1 to drain');
  await clock.advanceAsync(1000);
  await until(() => settled.length === 3, 'every change to settle');
  assert.deepEqual([settled, drains, failures], [
    ['load a at 1000', 'unload b at 2000', 'close at 2000'],
    ['a:1 (explicit) at 0', 'b:1 (explicit) at 1000'],
    [],
  ]);
  // Out of service, still draining; they unload once their runs answer.
  assert.deepEqual(await repository.index(), [
    { name: 'a', version: '1', state: 'UNLOADING' },
    { name: 'a', version: '2', state: 'READY' },
    { name: 'b', version: '1', state: 'UNLOADING' },
  ]);
  const unloads: string[] = [];
  registry.on('unload', (e) => unloads.push(`${e.name}:${e.version}`));
  for (const hold of stuck) hold.release();
  await until(() => unloads.length === 2, 'a:1 and b:1 to unload');
  await registry.close();
  assert.equal(clock.pending, 0);
  await remove();
});

test("'poll' loads again at the next look a version whose load found no room within loadTimeoutMs, reporting each distinct failure once, and leaves a version whose files failed until they change", async () => {
  const loads: string[] = [];
  const { root, remove, clock, registry, repository, failures } = await onFakeClock({ maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs: 3_600_000, backends: jsonBackends(loads).backends }, Watched);
  await writeModels(root, ['a', 'b']);
  await repository.start(); // b evicted a
  // As a request routed to b that never reaches its queue: b cannot finish draining, so a:2 waits for room for good.
  const stuck = registry.get('b').hold();
  await writeVersion(root, 'a', '2', { offset: 2 });
  await repository.poll(); // a:2 is seen once: not loaded before its files stay the same
  const noRoom = async () => {
    registry.calls = 0;
    const look = repository.poll();
    await until(() => registry.calls === 1 && clock.pending === 2, 'the look to wait for room for a:2');
    await clock.advanceAsync(1000);
    await look;
  };
  await noRoom(); // b is unloaded to make room, and never drains
  await noRoom(); // b is draining still: nothing to unload
  await noRoom(); // the same again: not reported again
  const prefix = "a:2: Cannot load 'a' version '2': no room within 1000 ms (`loadTimeoutMs`) while it waited for";
  assert.deepEqual(failures, [`${prefix} 'b' version '1' to finish draining (unloaded to make room)`, `${prefix} a version loading to be ready, or one draining to unload`]);

  stuck.release(); // b drains
  await until(() => registry.versions('b')[0]?.state === 'unloaded', 'b to unload');
  await repository.poll();
  assert.deepEqual([registry.get('a').version, loads, failures.length], ['2', ['a:1', 'b:1', 'a:2'], 2]);

  // Files at fault: reported once, not loaded again until they change.
  await writeVersion(root, 'a', '3', { offset: 3, fail: true });
  for (let i = 0; i < 4; i++) await repository.poll();
  assert.deepEqual([loads.slice(3), failures.slice(2)], [['a:3'], ['a:3: the weights are corrupt']]);
  await writeVersion(root, 'a', '3', { offset: 3 });
  await repository.poll();
  await repository.poll();
  assert.deepEqual([registry.get('a').version, loads.slice(3), failures.length], ['3', ['a:3', 'a:3'], 3]);
  await repository.close();
  await registry.close();
  await remove();
});

test("'poll' does not load again a version whose load took longer than loadTimeoutMs until its files change: it would take as long again", async () => {
  const loads: string[] = [];
  const { root, remove, clock, registry, repository, failures } = await onFakeClock({ loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs: 3_600_000, backends: jsonBackends(loads).backends }, ModelRegistry);
  await repository.start();
  await writeConfig(root, 'a', jsonConfig());
  await writeVersion(root, 'a', '1', { offset: 1, hang: true });
  await repository.poll(); // seen once: not loaded before its files stay the same
  for (let look = 0; look < 4; look++) {
    let done = false;
    const looking = repository.poll().then(() => (done = true));
    await until(() => done || loads.length > look, 'the look to load a:1 or end');
    if (!done) await clock.advanceAsync(1000);
    await looking;
  }
  assert.deepEqual([loads, failures], [['a:1'], ["a:1: Model 'a' version '1' did not load within 1000 ms (`loadTimeoutMs`)"]]);
  await writeVersion(root, 'a', '1', { offset: 1 });
  await repository.poll();
  await repository.poll();
  assert.deepEqual([registry.isReady('a', '1'), loads], [true, ['a:1', 'a:1']]);
  await repository.close();
  await registry.close();
  await remove();
});

test("the repository's waits run on the registry's clock when it is given none, where they ran on the system clock against the registry's loadTimeoutMs", async () => {
  const { root, remove, clock, registry, repository } = await onFakeClock({ loadTimeoutMs: 60_000 }, { mode: 'explicit', models: ['a'], backends: jsonBackends().backends }, ModelRegistry);
  await writeModels(root, ['a']);
  await repository.start();
  const stuck = registry.get('a').hold(); // a cannot finish draining
  let settled: number | undefined;
  const unloading = repository.unload('a').then(() => (settled = clock.now()));
  await until(() => clock.pending === 1, "the unload's wait for a's drain on the registry's clock");
  await clock.advanceAsync(60_000);
  await unloading;
  assert.deepEqual([settled, await repository.index()], [60_000, [{ name: 'a', version: '1', state: 'UNLOADING' }]]);
  stuck.release();
  await registry.close();
  assert.equal(clock.pending, 0);
  await remove();
});

test("'poll' leaves a model whose only versions are still being written as it is, reporting nothing, where it reported it had no version directory and unloaded what served", async () => {
  const { root, remove } = await tempRoot();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock: new FakeClock() }); // polls only when told
  const repository = new ModelRepository({ root, registry, mode: 'poll', backends: jsonBackends().backends });
  const failures = failuresOf(repository);
  await repository.start();
  await writeModels(root, ['m']);
  await repository.poll(); // m:1 is seen once: not loaded before its files stay the same
  assert.deepEqual([registry.names(), failures, await repository.index()], [[], [], [{ name: 'm', version: '1', state: 'UNAVAILABLE', reason: 'not loaded' }]]);
  await repository.poll();
  assert.deepEqual([registry.isReady('m', '1'), failures], [true, []]);
  // Version 1 removed while version 2 is being copied: version 1 serves until version 2 does.
  await rm(path.join(root, 'm', '1'), { recursive: true });
  await writeVersion(root, 'm', '2', { offset: 2 });
  await repository.poll();
  assert.deepEqual([registry.versions('m'), failures], [[{ version: '1', state: 'ready' }], []]);
  await repository.poll();
  assert.deepEqual([registry.versions('m'), failures], [[{ version: '2', state: 'ready' }], []]);
  await repository.close();
  await registry.close();
  await remove();
});

test("'poll' unloads a model whose wanted versions were removed, a version its policy does not keep being written meanwhile", async () => {
  const { root, remove } = await tempRoot();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock: new FakeClock() }); // polls only when told
  const repository = new ModelRepository({ root, registry, mode: 'poll', backends: jsonBackends().backends });
  const failures = failuresOf(repository);
  await writeConfig(root, 'm', jsonConfig({ versionPolicy: { specific: ['3'] } }));
  await writeVersion(root, 'm', '3', { offset: 3 });
  await repository.start();
  assert.deepEqual(registry.versions('m'), [{ version: '3', state: 'ready' }]);
  // Version 3 removed while version 2, which the policy never loads, is being copied: nothing to wait for.
  await rm(path.join(root, 'm', '3'), { recursive: true });
  await writeVersion(root, 'm', '2', { offset: 2 });
  await repository.poll();
  assert.deepEqual([registry.has('m'), failures], [false, ['m: Model \'m\' has no version directory holding model.json']]);
  await repository.close();
  await registry.close();
  await remove();
});

test("'poll' applies other models' changes while one model's load waits for room, at that look and at the next, where they waited behind it for up to loadTimeoutMs at every look", async () => {
  const loads: string[] = [];
  const { root, remove, clock, registry, repository, failures } = await roomLimited(2, 100, loads);
  await writeModels(root, ['a', 'b', 'c', 'd', 'e']);
  await repository.start(); // c evicted a, d evicted b, e evicted c
  // As requests routed to d and e that never reach their queues: neither can finish draining, so nothing can be unloaded to make room.
  const stuck = [registry.get('d').hold(), registry.get('e').hold()];
  await writeVersion(root, 'a', '2', { offset: 2 });
  await repository.poll(); // a:2 is seen once: not loaded before its files stay the same
  await rm(path.join(root, 'b'), { recursive: true });
  await clock.advanceAsync(100); // the timer's look loads a:2
  await until(() => registry.loadsWaitingForRoom === 1, 'a:2 to wait for room');
  await until(() => !registry.has('b'), 'b to be unloaded at the look that loads a:2');
  await rm(path.join(root, 'c'), { recursive: true });
  await until(() => clock.pending === 2, 'the next look to be scheduled, besides the wait for room');
  await clock.advanceAsync(100);
  await until(() => !registry.has('c'), 'c to be unloaded at the next look, a:2 still waiting for room');
  assert.deepEqual([clock.now(), registry.loadsWaitingForRoom, failures], [200, 1, []]);

  await clock.advanceAsync(900); // a:2 finds no room within loadTimeoutMs
  const noRoom = "a:2: Cannot load 'a' version '2': no room within 1000 ms (`loadTimeoutMs`) while it waited for 'd' version '1' to finish draining (unloaded to make room)";
  await until(() => failures.length === 1, 'the failure of a:2');
  assert.deepEqual(failures, [noRoom]);
  for (const hold of stuck) hold.release(); // d drains
  await until(() => registry.versions('d')[0]?.state === 'unloaded', 'd to unload');
  await repository.poll();
  assert.equal(registry.get('a').version, '2');
  assert.deepEqual([loads, failures], [['a:1', 'b:1', 'c:1', 'd:1', 'e:1', 'a:2'], [noRoom]]);
  await repository.close();
  await registry.close();
  assert.equal(clock.pending, 0);
  await remove();
});

test("repository.close() calls off a look's load waiting for room and returns at once, with nothing reported, before the registry closes", async () => {
  const { root, remove, clock, registry, repository, failures } = await roomLimited(2);
  await writeModels(root, ['a', 'b']);
  await repository.start();
  // As requests routed to a and b that never reach their queues: nothing can be unloaded to make room.
  const stuck = [registry.get('a').hold(), registry.get('b').hold()];
  await writeModels(root, ['c']);
  await repository.poll(); // c:1 is seen once: not loaded before its files stay the same
  const look = repository.poll();
  await until(() => registry.loadsWaitingForRoom === 1, 'c:1 to wait for room');
  await repository.close();
  await look;
  assert.deepEqual([clock.now(), registry.loadsWaitingForRoom, registry.has('c'), registry.names(), failures], [0, 0, false, ['a', 'b'], []]);
  for (const hold of stuck) hold.release();
  await registry.close();
  await remove();
});

test("repository.close() reports nothing of a change whose load it called off: no label naming the version called off, no routing applied", async () => {
  const { root, remove, clock, registry, repository, failures } = await roomLimited(3);
  await writeModels(root, ['a', 'b']);
  await repository.start();
  // As requests routed to each loaded version that never reach their queues: nothing can be unloaded to make room.
  const stuck = [registry.get('a').hold(), registry.get('b').hold()];
  const holdNew = (mv: { name: string; version: string }) => void (mv.name === 'c' && stuck.push(registry.get('c', mv.version).hold()));
  registry.on('ready', holdNew);
  await writeConfig(root, 'c', jsonConfig({ versionPolicy: 'all', labels: { stable: '2' } }));
  await writeVersion(root, 'c', '1', { offset: 1 });
  await writeVersion(root, 'c', '2', { offset: 2 });
  await repository.poll(); // c is seen once: not loaded before its files stay the same
  const look = repository.poll(); // c:1 loads in the last room, c:2 waits for room
  await until(() => registry.loadsWaitingForRoom === 1, 'c:2 to wait for room');
  await repository.close();
  await look;
  assert.deepEqual([clock.now(), registry.loadsWaitingForRoom, registry.labels('c'), failures], [0, 0, {}, []]);
  registry.off('ready', holdNew);
  for (const hold of stuck) hold.release();
  await registry.close();
  await remove();
});

test("repository.close() calls off a look waiting for a request's load of a changed version, and returns at once: the load goes on for the request", async () => {
  const { root, remove, clock, registry, repository, failures } = await onFakeClock({ maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs: 3_600_000, backends: jsonBackends().backends }, Watched);
  await writeModels(root, ['a', 'b']);
  await repository.start(); // b evicted a
  const stuck = registry.get('b').hold(); // b drains only once released
  const asked = registry.acquire('a'); // a request's load of a, waiting for room
  await until(() => registry.versions('a')[0]?.state === 'loading', "the request's load of a");
  await writeVersion(root, 'a', '1', { offset: 22 });
  await repository.poll(); // a's new files are seen once
  registry.calls = 0;
  const look = repository.poll(); // they stayed the same: the look joins the request's load
  await until(() => registry.calls === 1, 'the look to join the load');
  await repository.close();
  await look;
  assert.deepEqual([clock.now(), registry.versions('a'), registry.loadsWaitingForRoom, registry.calls, failures], [0, [{ version: '1', state: 'loading' }], 1, 1, []]);
  stuck.release();
  assert.equal((await asked).name, 'a');
  await registry.close();
  await remove();
});

test("'poll' loads at most loadConcurrency models at once, the others as slots free, while removed models and versions unload at once, where a look started every changed model's load together", async () => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock });
  const json = jsonBackends(loads).backends.json!;
  const held = new Set(['a:2', 'b:2', 'c:2', 'd:2']);
  const gates = new Map<string, () => void>();
  let loading = 0;
  let peak = 0;
  const gated: BackendFactory = (options) => {
    const inner = json(options);
    return {
      ...inner,
      async load(source, loadOptions) {
        const label = loadOptions?.label ?? '?';
        if (held.has(label)) {
          peak = Math.max(peak, ++loading);
          await new Promise<void>((resolve) => gates.set(label, resolve));
          loading--;
        }
        return inner.load(source, loadOptions);
      },
    };
  };
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 3_600_000, loadConcurrency: 2, backends: { json: gated } });
  const failures = failuresOf(repository);
  await writeModels(root, ['a', 'b', 'c', 'd', 'e']);
  await writeConfig(root, 'f', jsonConfig({ versionPolicy: 'all' }));
  for (const v of ['1', '3']) await writeVersion(root, 'f', v, { offset: Number(v) });
  await repository.start();
  for (const name of ['a', 'b', 'c', 'd']) await writeVersion(root, name, '2', { offset: 2 });
  await repository.poll(); // the new versions are seen once: not loaded before their files stay the same
  const look = repository.poll();
  await until(() => gates.size >= 2, 'two loads to start');
  // Both slots are busy: a removed model, and a removed version of another, unload all the same.
  await rm(path.join(root, 'e'), { recursive: true });
  await rm(path.join(root, 'f', '3'), { recursive: true });
  const next = repository.poll();
  await until(() => !registry.has('e') && registry.versions('f').length === 1, 'e and f:3 to unload while two loads hold both slots');
  assert.deepEqual([gates.size, loading], [2, 2], 'the other two loads wait for a slot');
  for (let opened = 0; opened < 4; opened++) {
    await until(() => gates.size >= Math.min(opened + 2, 4), 'a slot to be taken as one frees');
    [...gates.values()][opened]!(); // the loads in the order they started
  }
  await Promise.all([look, next]);
  assert.equal(peak, 2);
  assert.deepEqual(loads.slice(-4).sort(), ['a:2', 'b:2', 'c:2', 'd:2']);
  assert.deepEqual(['a', 'b', 'c', 'd'].map((name) => registry.get(name).version), ['2', '2', '2', '2']);
  assert.deepEqual([registry.has('e'), registry.versions('f'), failures], [false, [{ version: '1', state: 'ready' }], []]);
  await repository.close();
  await registry.close();
  await remove();
});

/** Json backends whose every load takes `ms` on `on.clock` (set once made), recording the loads started, those going on and the most at once. */
function slowBackends(ms: number) {
  const json = jsonBackends().backends.json!;
  const on = { clock: undefined as FakeClock | undefined, started: [] as string[], loading: 0, peak: 0 };
  const slow: BackendFactory = (options) => {
    const inner = json(options);
    return {
      ...inner,
      async load(source, loadOptions) {
        on.started.push(loadOptions?.label ?? '?');
        on.peak = Math.max(on.peak, ++on.loading);
        await new Promise<void>((resolve) => on.clock!.setTimeout(resolve, ms));
        on.loading--;
        return inner.load(source, loadOptions);
      },
    };
  };
  return { backends: { json: slow }, on };
}

test("start() loads up to loadConcurrency models at once, in both modes, where it loaded one at a time: 4 loads of 1000 ms, 2 at once, take 2000 ms (a model named twice loads once)", async () => {
  for (const mode of ['none', 'explicit'] as const) {
    const { backends, on } = slowBackends(1000);
    const { root, remove, clock, registry, repository, failures } = await onFakeClock({}, { mode, models: ['a', 'a', 'b', 'c', 'd'], loadConcurrency: 2, backends }, ModelRegistry);
    on.clock = clock;
    await writeModels(root, ['a', 'b', 'c', 'd']);
    await writeVersion(root, 'c', '1', { offset: 1, fail: true });
    let started = false;
    const starting = repository.start().then(() => (started = true));
    await until(() => on.loading === 2, 'two loads to go on at once');
    await clock.advanceAsync(1000);
    await until(() => on.started.length === 4 && on.loading === 2, 'the next two loads to start as the first two end');
    assert.equal(started, false);
    await clock.advanceAsync(1000);
    await starting;
    assert.deepEqual([mode, clock.now(), on.peak, on.started.sort(), registry.names().sort(), failures], [mode, 2000, 2, ['a:1', 'b:1', 'c:1', 'd:1'], ['a', 'b', 'd'], ['c:1: the weights are corrupt']]);
    await repository.close();
    await registry.close();
    await remove();
  }
});

test("start() under the registry's limits (maxLoadedVersions or maxLoadedBytes) loads one model at a time, in the listing's order, whatever loadConcurrency is: the first loaded are the first evicted", async () => {
  // Each model.json, {"offset":1}, is 12 bytes: both limits hold two of the four models.
  for (const limits of [{ maxLoadedVersions: 2 }, { maxLoadedBytes: 24 }]) {
    const { backends, on } = slowBackends(1000);
    const { root, remove, clock, registry, repository, failures } = await onFakeClock(limits, { loadConcurrency: 4, backends }, ModelRegistry);
    on.clock = clock;
    await writeModels(root, ['a', 'b', 'c', 'd']);
    const starting = repository.start();
    for (let i = 1; i <= 4; i++) {
      await until(() => on.loading === 1 && on.started.length === i, `load ${i} to go on alone`);
      await clock.advanceAsync(1000);
    }
    await starting;
    const ready = registry.names().filter((n) => registry.isReady(n));
    assert.deepEqual([limits, clock.now(), on.peak, on.started, ready, failures], [limits, 4000, 1, ['a:1', 'b:1', 'c:1', 'd:1'], ['c', 'd'], []]);
    await repository.close();
    await registry.close();
    await remove();
  }
});

test("close() during start() calls off its loads: those going on end first and are disposed, those not begun never start, and start() resolves, where close() waited for every model to load", async () => {
  const { backends, on } = slowBackends(1000);
  const { root, remove, clock, registry, repository, failures } = await onFakeClock({}, { mode: 'poll', pollIntervalMs: 100, loadConcurrency: 2, backends }, ModelRegistry);
  on.clock = clock;
  await writeModels(root, ['a', 'b', 'c', 'd']);
  const starting = repository.start();
  await until(() => on.loading === 2, 'two loads to go on');
  const closing = repository.close();
  await clock.advanceAsync(1000); // the two loads end, and are disposed
  await Promise.all([closing, starting]);
  // The two loads start together: which the backend sees first is left to the disk's reads.
  assert.deepEqual([clock.now(), on.started.sort(), registry.names(), failures], [1000, ['a:1', 'b:1'], [], []]);
  await clock.advanceAsync(100);
  assert.deepEqual([on.started.sort(), registry.names()], [['a:1', 'b:1'], []], 'no look after close()');
  await registry.close();
  await remove();
});

test("close() during start() calls off its load waiting for room at once, with nothing reported, where it waited for that load up to loadTimeoutMs", async () => {
  const { root, remove, clock, registry, repository, failures } = await roomLimited(1);
  await writeModels(root, ['a', 'b']);
  // As a request routed to a that never reaches its queue: nothing can be unloaded to make room for b.
  const stuck: { release(): void }[] = [];
  const holdA = (mv: { name: string; version: string }) => void (mv.name === 'a' && stuck.push(registry.get('a', mv.version).hold()));
  registry.on('ready', holdA);
  const starting = repository.start();
  await until(() => registry.loadsWaitingForRoom === 1, 'b:1 to wait for room');
  await repository.close();
  await starting;
  assert.deepEqual([clock.now(), registry.loadsWaitingForRoom, registry.names(), failures], [0, 0, ['a'], []]);
  registry.off('ready', holdA);
  for (const hold of stuck) hold.release();
  await registry.close();
  assert.equal(clock.pending, 0);
  await remove();
});

test("close() calls off the load going on and starts none of the loads waiting for their turn, where it waited for every one of them to load after it", async () => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const json = jsonBackends(loads).backends.json!;
  // The first model to take the turn loads its version 2; the others wait for theirs.
  let first: { label: string; open: () => void } | undefined;
  const gated: BackendFactory = (options) => {
    const inner = json(options);
    return {
      ...inner,
      async load(source, loadOptions) {
        const label = loadOptions?.label ?? '?';
        if (label.endsWith(':2') && !first) await new Promise<void>((resolve) => (first = { label, open: resolve }));
        return inner.load(source, loadOptions);
      },
    };
  };
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 3_600_000, loadConcurrency: 1, backends: { json: gated } });
  const failures = failuresOf(repository);
  await writeModels(root, ['a', 'b', 'c']);
  await repository.start();
  for (const name of ['a', 'b', 'c']) await writeVersion(root, name, '2', { offset: 2 });
  await repository.poll(); // the new versions are seen once: not loaded before their files stay the same
  const look = repository.poll();
  await until(() => first !== undefined, 'one model to load version 2, the others waiting for their turn');
  const closing = repository.close();
  first!.open();
  await Promise.all([closing, look]);
  const loaded = first!.label.split(':')[0]!;
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1', `${loaded}:2`]);
  // The backend's load ran to its end and was disposed (close() aborts its loads); the others never started.
  assert.deepEqual(['a', 'b', 'c'].map((name) => registry.get(name).version), ['1', '1', '1'], 'every model stays as it was');
  assert.deepEqual(failures, []);
  await registry.close();
  await remove();
});

test("a look loads no version removed while its model's change loaded another (or waited for its turn), reporting nothing, where the load failed on the missing files and was reported", async () => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const json = jsonBackends(loads).backends.json!;
  let open: (() => void) | undefined;
  const gated: BackendFactory = (options) => {
    const inner = json(options);
    return {
      ...inner,
      async load(source, loadOptions) {
        if (loadOptions?.label === 'f:2') await new Promise<void>((resolve) => (open = resolve));
        return inner.load(source, loadOptions);
      },
    };
  };
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 3_600_000, backends: { json: gated } });
  const failures = failuresOf(repository);
  await writeConfig(root, 'f', jsonConfig({ versionPolicy: 'all' }));
  await writeVersion(root, 'f', '1', { offset: 1 });
  await repository.start();
  for (const v of ['2', '3']) await writeVersion(root, 'f', v, { offset: Number(v) });
  await repository.poll(); // the new versions are seen once: not loaded before their files stay the same
  const look = repository.poll();
  await until(() => open !== undefined, 'f:2 to load, f:3 after it');
  await rm(path.join(root, 'f', '3'), { recursive: true });
  open!();
  await look;
  assert.deepEqual([loads, failures, registry.versions('f')], [['f:1', 'f:2'], [], [{ version: '2', state: 'ready' }, { version: '1', state: 'ready' }]]);
  await repository.poll();
  assert.deepEqual([loads, failures], [['f:1', 'f:2'], []]);
  await repository.close();
  await registry.close();
  await remove();
});

test('a closed repository refuses start(), poll(), load() and unload() with ClosedError (503), where poll() still unloaded removed models and loaded nothing, load() loaded, and start() loaded every model', async () => {
  const polled = await setup('poll');
  await writeModels(polled.root, ['a']);
  await polled.repository.start();
  await rm(path.join(polled.root, 'a'), { recursive: true });
  await polled.repository.close();
  await assert.rejects(polled.repository.poll(), (error: unknown) => error instanceof ClosedError && error.code === 'ERR_SERVABLE_CLOSED' && error.status === 503);
  assert.equal(polled.registry.has('a'), true, 'a closed repository changes nothing');
  await polled.done();

  const explicit = await setup('explicit', []);
  await writeModels(explicit.root, ['a', 'b']);
  await explicit.repository.start();
  await explicit.repository.load('a');
  await explicit.repository.close();
  await assert.rejects(explicit.repository.load('b'), ClosedError);
  await assert.rejects(explicit.repository.unload('a'), ClosedError);
  assert.deepEqual([explicit.registry.has('a'), explicit.registry.has('b'), explicit.loads], [true, false, ['a:1']]);
  await explicit.done();

  const unstarted = await setup('none');
  await writeModels(unstarted.root, ['a']);
  await unstarted.repository.close();
  await assert.rejects(unstarted.repository.start(), ClosedError);
  assert.deepEqual([unstarted.registry.names(), unstarted.loads], [[], []]);
  await unstarted.done();
});

test("a second start() while the first goes on is refused, where both loaded every model and each started a poll timer, one of them left running after close()", async () => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock });
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 1000, backends: jsonBackends(loads).backends });
  const failures = failuresOf(repository);
  await writeModels(root, ['a', 'b']);
  const [first, second] = await Promise.allSettled([repository.start(), repository.start()]);
  assert.equal(first.status, 'fulfilled');
  assert.ok(second.status === 'rejected' && second.reason instanceof InvalidInputError && second.reason.message === 'The repository was started already', String(second.status === 'rejected' ? second.reason : 'fulfilled'));
  assert.deepEqual([loads.sort(), failures, clock.pending], [['a:1', 'b:1'], [], 1]);
  await repository.close();
  assert.equal(clock.pending, 0, 'no poll timer left after close()');
  await registry.close();
  await remove();
});

test("'explicit' start() reports each name in models that is no model directory as a failure event, and loads the others", async () => {
  const s = await setup('explicit', ['nope', 'a', 'b', 'gone']);
  await writeModels(s.root, ['a', 'b', 'c']);
  await s.repository.start();
  assert.deepEqual([s.loads.sort(), s.registry.names().sort(), s.failures.sort()], [
    ['a:1', 'b:1'],
    ['a', 'b'],
    ["gone: Model 'gone' not found in the repository", "nope: Model 'nope' not found in the repository"],
  ]);
  await s.done();
});
