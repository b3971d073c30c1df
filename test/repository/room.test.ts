import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { InferenceService, LruStore, ModelRegistry, ResultCache, memoryBackend } from 'servable';
import { FakeClock } from 'servable/testing';
import { ModelRepository, type BackendFactory } from 'servable/repository';
import { until } from '../fixtures/until.js';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeModels, writeVersion } from './fixtures.js';
import { x, offset, failuresOf, onFakeClock, roomLimited, Watched, closeAtEnd } from './harness.js';

// Registries with maxLoadedVersions or maxLoadedBytes, requests' loads the repository joins, and its waits bounded by loadTimeoutMs.

test("'poll' leaves a version the registry unloaded to make room to load on its next request, where every look loaded it again and evicted another", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 2 });
  const repository = new ModelRepository({ root, registry, mode: 'poll', backends: jsonBackends(loads).backends });
  closeAtEnd(t, repository, registry, remove);
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

test("'explicit' load loads a version the registry unloaded to make room", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 1 });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', models: ['a', 'b'], backends: jsonBackends(loads).backends });
  closeAtEnd(t, repository, registry, remove);
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

test("'explicit' load of a version a request is loading joins that load, and loads it again after when its files changed", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const { backends, hold, open, read } = gatedJson(loads);
  const registry = new Watched({ backends: [memoryBackend()], maxLoadedVersions: 1 });
  const service = new InferenceService({ registry });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', models: ['a', 'b'], backends });
  closeAtEnd(t, repository, registry, remove);
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

test("'poll' loads the new files of a version a request is loading once that load is done, where it was refused as already loading and reported as failed", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const { backends, hold, open, read } = gatedJson(loads);
  const registry = new Watched({ backends: [memoryBackend()], maxLoadedVersions: 2 });
  const service = new InferenceService({ registry });
  const repository = new ModelRepository({ root, registry, mode: 'poll', backends, clock: new FakeClock() }); // polls only when told
  closeAtEnd(t, repository, registry, remove);
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

test("a look waits for room for a version at most the registry's loadTimeoutMs, where one stuck behind a drain that never ends held that look, and every one after it, for good", async (t) => {
  const loads: string[] = [];
  const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, { maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a', 'b'], backends: jsonBackends(loads).backends }, Watched);
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

test("a look waits for a request's load at most the registry's loadTimeoutMs, which may take that long for room and as long again to load: the version stays loading and the repository's, nothing is reported", async (t) => {
  const loads: string[] = [];
  const { backends, hold, open } = gatedJson(loads);
  const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, { maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a', 'b'], backends }, Watched);
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

test("a look and an unload wait for a version's drain at most the registry's loadTimeoutMs, where one that never ended held them, and every change after them, for good", async (t) => {
  const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, { loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a', 'b'], backends: jsonBackends().backends }, ModelRegistry);
  const drains: string[] = [];
  registry.on('draining', (e) => drains.push(`${e.name}:${e.version} (${e.reason}) at ${clock.now()}`));
  await writeModels(root, ['a', 'b']);
  await repository.start();
  // As requests routed to a:1 and b:1 that never reach their queues (runs that never answer): neither can finish draining.
  const stuck = [registry.get('a').hold(), registry.get('b').hold()];
  await writeVersion(root, 'a', '2', { offset: 2 });
  const settled: string[] = [];
  const settle = (what: string, change: Promise<void>) => void change.then(() => settled.push(`${what} at ${clock.now()}`), (e: Error) => settled.push(`${what}: ${e.message}`));
  settle('load a', repository.load('a'));
  settle('unload b', repository.unload('b'));
  await until(() => drains.length === 1, 'a:1 to drain');
  await clock.advanceAsync(1000);
  await until(() => drains.length === 2, 'b:1 to drain');
  await clock.advanceAsync(1000);
  await until(() => settled.length === 2, 'both changes to settle');
  settle('close', repository.close());
  await until(() => settled.length === 3, 'close() to settle');
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

test("'poll' loads again at the next look a version whose load found no room within loadTimeoutMs, reporting each distinct failure once, and leaves a version whose files failed until they change", async (t) => {
  const loads: string[] = [];
  const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, { maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs: 3_600_000, backends: jsonBackends(loads).backends }, Watched);
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

test("'poll' does not load again a version whose load took longer than loadTimeoutMs until its files change: it would take as long again", async (t) => {
  const loads: string[] = [];
  const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, { loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs: 3_600_000, backends: jsonBackends(loads).backends }, ModelRegistry);
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

test("the repository's waits run on the registry's clock when it is given none, where they ran on the system clock against the registry's loadTimeoutMs", async (t) => {
  const { root, remove, clock, registry, repository } = await onFakeClock(t, { loadTimeoutMs: 60_000 }, { mode: 'explicit', models: ['a'], backends: jsonBackends().backends }, ModelRegistry);
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

test("'poll' applies other models' changes while one model's load waits for room, at that look and at the next, where they waited behind it for up to loadTimeoutMs at every look", async (t) => {
  const loads: string[] = [];
  const { root, remove, clock, registry, repository, failures } = await roomLimited(t, 2, 100, loads);
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

test("a label config.json moved without a reload stays where it moved when a version evicted to make room loads again on a request, where the version's load took the label back to it", async (t) => {
  const loads: string[] = [];
  const { root, registry, repository, failures } = await roomLimited(t, 1, 3_600_000, loads);
  const service = new InferenceService({ registry });
  await writeConfig(root, 'm', jsonConfig({ versionPolicy: 'all', labels: { stable: '1' } }));
  await writeVersion(root, 'm', '1', { offset: 1 });
  await writeVersion(root, 'm', '2', { offset: 2 });
  await repository.start(); // 2 evicted 1
  await writeConfig(root, 'm', jsonConfig({ versionPolicy: 'all', labels: { stable: '2' } }));
  await repository.poll();
  assert.deepEqual([loads.splice(0), registry.labels('m')], [['m:1', 'm:2'], { stable: '2' }]);
  assert.equal(offset(await service.infer('m', x(0, 0), { version: '1' })), 1); // 1 loads again, evicting 2
  assert.deepEqual([loads, registry.labels('m'), failures], [['m:1'], { stable: '2' }, []]);
});

test("'explicit' load of a version the registry unloaded to make room keeps its cached answers when its bytes are those it had, and clears them (the registry's replace) when they changed: the new bytes answer", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 1 });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', models: ['a', 'b'], backends: jsonBackends(loads).backends });
  closeAtEnd(t, repository, registry, remove);
  const replaced: string[] = [];
  registry.on('replace', (e) => replaced.push(`${e.name}:${e.version}`));
  const result = new ResultCache({ store: new LruStore({ maxBytes: 1 << 20 }) });
  let hits = 0;
  result.on('hit', () => hits++);
  const service = new InferenceService({ registry, caches: { a: { result } } });
  await writeModels(root, ['a', 'b']);
  await repository.start();
  assert.equal(offset(await service.infer('a', x(0, 0))), 1, 'a request loads a, evicting b');
  await result.idle();
  await repository.load('b');
  await repository.load('a');
  assert.deepEqual([registry.isReady('a'), loads, replaced], [true, ['a:1', 'b:1', 'a:1', 'b:1', 'a:1'], []], 'loaded again with the bytes it had: no replace');
  assert.equal(offset(await service.infer('a', x(0, 0))), 1);
  assert.equal(hits, 1, 'answered from the cache');

  await repository.load('b');
  await writeVersion(root, 'a', '1', { offset: 25 });
  await repository.load('a');
  await result.idle();
  assert.deepEqual([registry.isReady('a'), replaced], [true, ['a:1']], 'loaded with new bytes: replaced');
  assert.equal(offset(await service.infer('a', x(0, 0))), 25, 'the new bytes answer');
  await repository.close();
  await registry.close();
  await remove();
});

test("'explicit' load of a version the registry unloaded to make room, its bytes as they were, rejects with its load's error when that load fails, and reports it", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const { backends } = jsonBackends(loads);
  let failing = false;
  const flaky: BackendFactory = (options) => {
    const backend = backends.json!(options);
    return { ...backend, load: (source, loadOptions) => (failing ? Promise.reject(new Error('device lost')) : backend.load(source, loadOptions)) };
  };
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedVersions: 1 });
  const repository = new ModelRepository({ root, registry, mode: 'explicit', models: ['a', 'b'], backends: { json: flaky } });
  closeAtEnd(t, repository, registry, remove);
  const failures = failuresOf(repository);
  await writeModels(root, ['a', 'b']);
  await repository.start();
  await repository.load('b');
  assert.deepEqual([registry.isReady('a'), registry.isReady('b')], [false, true]);
  failing = true;
  await assert.rejects(repository.load('a'), { message: 'device lost' });
  assert.deepEqual(failures, ['a:1: device lost']);
  failing = false;
  await repository.load('a');
  assert.deepEqual([registry.isReady('a'), failures], [true, ['a:1: device lost']]);
});
