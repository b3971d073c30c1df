import { test } from 'node:test';
import assert from 'node:assert/strict';
import fsPromises, { mkdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidInputError, ModelNotFoundError, ModelRegistry, memoryBackend, type ServableError } from 'servable';
import { FakeClock } from 'servable/testing';
import { ModelRepository } from 'servable/repository';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeModels, writeVersion } from './fixtures.js';
import { failuresOf, onFakeClock, replaceExport, setup, closeAtEnd } from './harness.js';

// The control modes at start() and after, explicit loads and unloads, the index, names and options.

test("'none' loads every model at start under its version policy, with its labels and traffic, and refuses changes", async (t) => {
  const s = await setup(t, 'none');
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

test("'explicit' loads on request, reloads what changed, unloads, and reports why a load failed", async (t) => {
  const s = await setup(t, 'explicit', ['a']);
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

test('a config whose traffic names a version that failed to load is reported, not thrown over the load\'s error, and applies once the version loads', async (t) => {
  const s = await setup(t, 'explicit', []);
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

test("'poll' reports a config's label, or traffic target, once its version policy drops the version it names, with the config unchanged, where the label went without a word", async (t) => {
  const s = await setup(t, 'poll');
  await writeConfig(s.root, 'm', jsonConfig({ labels: { stable: '1' }, traffic: { split: [{ version: '1', weight: 1 }] } }));
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await s.repository.start();
  assert.deepEqual([s.registry.labels('m'), s.failures], [{ stable: '1' }, []]);

  // {latest: 1}, the default policy, keeps version 2 alone once it is seen twice.
  await writeVersion(s.root, 'm', '2', { offset: 2 });
  await s.repository.poll();
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual(s.registry.versions('m'), [{ version: '2', state: 'ready' }]);
  assert.deepEqual([s.registry.labels('m'), s.failures], [
    {},
    [
      "m:1: Label 'stable' of model 'm' names version 1, which is not loaded",
      'm: Expected `traffic.split[0].version` to name a version of model \'m\' (\'2\'), got "1" (string)',
    ],
  ]);
  await s.done();
});

test("'poll' reports a traffic target its version policy dropped once per config, not again at each version that loads after", async (t) => {
  const s = await setup(t, 'poll');
  await writeConfig(s.root, 'm', jsonConfig({ traffic: { split: [{ version: '1', weight: 1 }] } }));
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await s.repository.start();
  for (const version of ['2', '3']) {
    await writeVersion(s.root, 'm', version, { offset: Number(version) });
    for (let look = 0; look < 3; look++) await s.repository.poll();
  }
  assert.deepEqual(s.registry.versions('m'), [{ version: '3', state: 'ready' }]);
  assert.deepEqual(s.failures, ['m: Expected `traffic.split[0].version` to name a version of model \'m\' (\'2\'), got "1" (string)']);
  await s.done();
});

test('a model directory with no config.json, such as a Triton model with its config.pbtxt, is a 404 naming the file, not the file system\'s ENOENT', async (t) => {
  const s = await setup(t, 'explicit', ['triton', 'bare']);
  for (const name of ['triton', 'bare']) await writeVersion(s.root, name, '1', { offset: 1 });
  await writeFile(path.join(s.root, 'triton', 'config.pbtxt'), 'name: "triton"\nplatform: "onnxruntime_onnx"\n');
  await s.repository.start();
  const notFound = (pattern: RegExp) => (e: ServableError) => e instanceof ModelNotFoundError && e.code === 'ERR_SERVABLE_MODEL_NOT_FOUND' && pattern.test(e.message);
  await assert.rejects(s.repository.load('triton'), notFound(/^Model 'triton' has no config.json in the repository \(its config.pbtxt is Triton's, which servable does not read: see docs\/registry.md\)$/));
  await assert.rejects(s.repository.load('bare'), notFound(/^Model 'bare' has no config.json in the repository$/));
  // start() reads both at once: their events come in the order their reads end.
  assert.deepEqual(s.failures.slice().sort(), ["bare: Model 'bare' has no config.json in the repository", "triton: Model 'triton' has no config.json in the repository (its config.pbtxt is Triton's, which servable does not read: see docs/registry.md)"]);
  assert.deepEqual(s.registry.names(), []);
  await s.done();
});

test('a name that is a file, or a model directory whose config.json is a directory, is a 404 that quotes no server path', async (t) => {
  const s = await setup(t, 'explicit');
  await writeFile(path.join(s.root, 'README.md'), 'not a model\n');
  await mkdir(path.join(s.root, 'odd', 'config.json'), { recursive: true });
  await s.repository.start();
  const notFound = (pattern: RegExp) => (e: ServableError) => e instanceof ModelNotFoundError && pattern.test(e.message) && !e.message.includes(s.root);
  await assert.rejects(s.repository.load('README.md'), notFound(/^Model 'README.md' has no config.json in the repository$/));
  await assert.rejects(s.repository.load('odd'), notFound(/^Model 'odd' has no config.json in the repository$/));
  await s.done();
});

test('names from requests never reach outside the root', async (t) => {
  const s = await setup(t, 'explicit');
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
  await assert.rejects(s.repository.load('a'), { message: /config.json: Expected `handler.module` to name a file inside .*, got "..\/..\/..\/escape.mjs"/, code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.deepEqual(s.registry.names(), []);
  await outside.remove();
  await s.done();
});

test('a handler module in the model directory is imported and used', async (t) => {
  const s = await setup(t, 'none');
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

test('repository options are checked, quoting the bad value', async (t) => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, mode: 'watch' as never }), /Expected `mode` to be one of "none", "explicit", "poll", got "watch" \(string\)/);
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, pollIntervalMs: 0 }), /Expected `pollIntervalMs` to be an integer between 1 and 2147483647, got 0 \(number\)/);
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, pollIntervalMs: 2 ** 31 }), /Expected `pollIntervalMs` to be an integer between 1 and 2147483647, got 2147483648 \(number\)/);
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, models: ['../x'] }), { message: /Expected `models\[0\]` to be a model directory name, got "..\/x"/, code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => new ModelRepository({ root: '', registry }), /Expected `root` to be a non-empty string/);
  assert.throws(() => new ModelRepository({ root: '/tmp', registry: {} as never }), { message: /Expected `registry` to be a ModelRegistry, got \{\} \(object\)/, code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => new ModelRepository({ root: '/tmp', registry, models: 'a' as never }), { message: /Expected `models` to be an array of model names, got "a" \(string\)/, code: 'ERR_SERVABLE_INVALID_OPTION' });
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
  await assert.rejects(new ModelRepository({ root: '/nonexistent/models', registry }).start(), { message: /Expected `root` to be a directory, got "\/nonexistent\/models"/, code: 'ERR_SERVABLE_INVALID_OPTION' });
  const { root, remove } = await tempRoot();
  await writeConfig(root, 'm', { backend: { name: 'json', scael: 2 }, modelFile: 'model.json' });
  await writeVersion(root, 'm', '1', { offset: 1 });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', backends: jsonBackends().backends });
  closeAtEnd(t, repository, registry, remove);
  await repository.start();
  await assert.rejects(repository.load('m'), /m\/config.json: Unknown option `backend.scael`; json takes scale/);
  await writeConfig(root, 'm', { backend: 'tensorflow', modelFile: 'model.json' });
  await assert.rejects(repository.load('m'), /m\/config.json: Expected `backend.name` to be one of 'json', got "tensorflow"/);
  await remove();
});

test("a second start() while the first goes on is refused, where both loaded every model and each started a poll timer, one of them left running after close()", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock });
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 1000, backends: jsonBackends(loads).backends });
  closeAtEnd(t, repository, registry, remove);
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

test("'explicit' start() reports each name in models that is no model directory as a failure event, and loads the others", async (t) => {
  const s = await setup(t, 'explicit', ['nope', 'a', 'b', 'gone']);
  await writeModels(s.root, ['a', 'b', 'c']);
  await s.repository.start();
  assert.deepEqual([s.loads.sort(), s.registry.names().sort(), s.failures.sort()], [
    ['a:1', 'b:1'],
    ['a', 'b'],
    ["gone: Model 'gone' not found in the repository", "nope: Model 'nope' not found in the repository"],
  ]);
  await s.done();
});

test("a start() that rejected (the root's listing failed: a mount not ready yet) leaves the repository as new, so start() may be called again and loads the models, where a second start() was refused", async (t) => {
  const s = await setup(t, 'poll');
  await writeModels(s.root, ['a', 'b']);
  // The root is a directory, but listing it fails once (as an NFS mount not ready yet: EIO).
  let failed = false;
  replaceExport(t, fsPromises, 'readdir', (real) => ((...args: Parameters<typeof real>) => {
    if (failed) return real(...args);
    failed = true;
    return Promise.reject(Object.assign(new Error(`EIO: i/o error, scandir '${String(args[0])}'`), { code: 'EIO' }));
  }) as typeof real);
  await assert.rejects(s.repository.start(), /^Error: EIO: i\/o error, scandir/);
  assert.deepEqual([s.registry.names(), s.loads, s.failures], [[], [], []]);
  await assert.rejects(s.repository.index(), (error: unknown) => error instanceof InvalidInputError && error.message === 'The repository is not started: call start() first');
  await s.repository.start();
  assert.deepEqual([s.registry.names().sort(), s.loads.sort(), s.failures], [['a', 'b'], ['a:1', 'b:1'], []]);
  await assert.rejects(s.repository.start(), (error: unknown) => error instanceof InvalidInputError && error.message === 'The repository was started already');
  await s.done();
});

test("while start() lists the root, index() and poll() refuse with UnavailableError (503: a retry loop retries) saying the repository is starting, where before start() they refuse with InvalidInputError (400); the retried start() leaves one poll timer", async (t) => {
  const { root, clock, repository } = await onFakeClock(t, {}, { mode: 'poll', pollIntervalMs: 1000, backends: jsonBackends().backends }, ModelRegistry);
  await writeModels(root, ['a']);
  const rootDir = await realpath(root);
  const refusals: string[] = [];
  const refused = (e: unknown) => refusals.push(`${(e as Error).constructor.name} ${(e as ServableError).status}: ${(e as Error).message}`);
  // The calls come while start() lists the root, the first listing failing (EIO), the second going on.
  let listings = 0;
  replaceExport(t, fsPromises, 'readdir', (real) => (async (...args: Parameters<typeof real>) => {
    if (String(args[0]) === rootDir && listings++ < 2) {
      await repository.index().then(() => refusals.push('index answered'), refused);
      await repository.poll().then(() => refusals.push('poll resolved'), refused);
      if (listings === 1) throw Object.assign(new Error(`EIO: i/o error, scandir '${String(args[0])}'`), { code: 'EIO' });
    }
    return real(...args);
  }) as typeof real);
  await assert.rejects(repository.start(), /^Error: EIO/);
  await repository.start();
  const starting = 'UnavailableError 503: The repository is starting: call again once start() has listed its root';
  assert.deepEqual([refusals, clock.pending], [[starting, starting, starting, starting], 1]);
});

test("'poll' reports a model directory with no config.json (a Triton config.pbtxt, or config-less versions) once as a failure, as an explicit load refuses it, lists it in the index as UNAVAILABLE with that reason, and reports it again only when it changes", async (t) => {
  const s = await setup(t, 'poll');
  await writeModels(s.root, ['a']);
  for (const name of ['triton', 'bare']) await writeVersion(s.root, name, '1', { offset: 1 });
  await writeFile(path.join(s.root, 'triton', 'config.pbtxt'), 'name: "triton"\nplatform: "onnxruntime_onnx"\n');
  await mkdir(path.join(s.root, 'notes'));
  await s.repository.start();
  const triton = "triton: Model 'triton' has no config.json in the repository (its config.pbtxt is Triton's, which servable does not read: see docs/registry.md)";
  const bare = "bare: Model 'bare' has no config.json in the repository";
  assert.deepEqual(s.failures.slice().sort(), [bare, triton]);
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual(s.failures.length, 2, s.failures.join('\n'));
  const index = await s.repository.index();
  assert.deepEqual(index.filter((e) => e.name !== 'a'), [
    { name: 'bare', state: 'UNAVAILABLE', reason: "Model 'bare' has no config.json in the repository" },
    { name: 'triton', state: 'UNAVAILABLE', reason: triton.slice('triton: '.length) },
  ]);
  // A config.pbtxt added changes the message: reported again; a config.json makes it a model.
  await writeFile(path.join(s.root, 'bare', 'config.pbtxt'), 'name: "bare"\n');
  await s.repository.poll();
  assert.equal(s.failures[2], `bare: Model 'bare' has no config.json in the repository (its config.pbtxt is Triton's, which servable does not read: see docs/registry.md)`);
  await writeConfig(s.root, 'triton', jsonConfig());
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual([s.failures.length, s.registry.isReady('triton')], [3, true]);
  // Gone and back: reported again. A model losing its config.json is unloaded, as a removed one is, and reported.
  await rm(path.join(s.root, 'bare'), { recursive: true });
  await s.repository.poll();
  await writeVersion(s.root, 'bare', '1', { offset: 1 });
  await writeFile(path.join(s.root, 'bare', 'config.pbtxt'), 'name: "bare"\n');
  await rm(path.join(s.root, 'triton', 'config.json'));
  await s.repository.poll();
  assert.deepEqual([s.failures.slice(3).sort(), s.registry.has('triton')], [[s.failures[2], triton], false]);
  await s.done();
});

test("'none' start() reports a config-less model directory named in models, where it passed it by", async (t) => {
  const s = await setup(t, 'none', ['a', 'bare']);
  await writeModels(s.root, ['a']);
  await writeVersion(s.root, 'bare', '1', { offset: 1 });
  await s.repository.start();
  assert.deepEqual([s.registry.names(), s.failures], [['a'], ["bare: Model 'bare' has no config.json in the repository"]]);
  await s.done();
});
