import { test } from 'node:test';
import assert from 'node:assert/strict';
import fsPromises, { rm } from 'node:fs/promises';
import path from 'node:path';
import { ClosedError, ModelRegistry, memoryBackend } from 'servable';
import { ModelRepository } from 'servable/repository';
import { until } from '../fixtures/until.js';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeModels, writeVersion } from './fixtures.js';
import { failuresOf, gatedJson, onFakeClock, replaceExport, roomLimited, setup, Watched, slowBackends, closeAtEnd } from './harness.js';

// repository.close(): the loads it calls off, what it waits for, and what a closed repository refuses.

test("repository.close() calls off a look's load waiting for room and returns at once, with nothing reported, before the registry closes", async (t) => {
  const { root, remove, clock, registry, repository, failures } = await roomLimited(t, 2);
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

test("repository.close() reports nothing of a change whose load it called off: no label naming the version called off, no routing applied", async (t) => {
  const { root, remove, clock, registry, repository, failures } = await roomLimited(t, 3);
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

test("repository.close() calls off a look waiting for a request's load of a changed version, and returns at once: the load goes on for the request", async (t) => {
  const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, { maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs: 3_600_000, backends: jsonBackends().backends }, Watched);
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

test("close() during start() calls off its loads: those going on end first and are disposed, those not begun never start, and start() resolves, where close() waited for every model to load", async (t) => {
  const { backends, on } = slowBackends(1000);
  const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, {}, { mode: 'poll', pollIntervalMs: 100, loadConcurrency: 2, backends }, ModelRegistry);
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

test("close() during start() calls off its load waiting for room at once, with nothing reported, where it waited for that load up to loadTimeoutMs", async (t) => {
  const { root, remove, clock, registry, repository, failures } = await roomLimited(t, 1);
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

test("close() calls off the load going on and starts none of the loads waiting for their turn, where it waited for every one of them to load after it", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  // The first model to take the turn loads its version 2; the others wait for theirs.
  let first: { label: string; open: () => void } | undefined;
  const backends = gatedJson(loads, async (label) => {
    if (label.endsWith(':2') && !first) await new Promise<void>((resolve) => (first = { label, open: resolve }));
  });
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 3_600_000, loadConcurrency: 1, backends });
  closeAtEnd(t, repository, registry, remove);
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

test("close() calls off an explicit load() waiting for room at once: the load() rejects with ClosedError (503), nothing is loaded, waiting or reported, where close() waited for that load up to loadTimeoutMs", async (t) => {
  const loads: string[] = [];
  const { root, clock, registry, repository, failures } = await onFakeClock(t, { maxLoadedVersions: 1, loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a'], backends: jsonBackends(loads).backends }, ModelRegistry);
  await writeModels(root, ['a', 'b']);
  await repository.start();
  const stuck = registry.get('a').hold(); // as a request routed to a that never reaches its queue: nothing can be unloaded to make room for b
  const loading = repository.load('b').then(() => 'resolved', (error: unknown) => error);
  await until(() => registry.loadsWaitingForRoom === 1, 'b:1 to wait for room');
  let closed = false;
  void repository.close().then(() => (closed = true));
  await until(() => closed, 'close() to resolve');
  const error = await loading;
  assert.ok(error instanceof ClosedError && error.code === 'ERR_SERVABLE_CLOSED' && error.status === 503 && error.message === 'The repository is closed', String(error));
  assert.deepEqual([clock.now(), registry.loadsWaitingForRoom, registry.names(), registry.has('b'), loads, failures], [0, 0, ['a'], false, ['a:1'], []]);
  stuck.release();
  await registry.close();
  assert.equal(clock.pending, 0);
});

test("close() during an explicit load() the backend is running lets that load end, disposes it and rejects the load() with ClosedError, where it waited and left the version loaded", async (t) => {
  const { backends, on } = slowBackends(1000);
  const { root, clock, registry, repository, failures } = await onFakeClock(t, {}, { mode: 'explicit', backends }, ModelRegistry);
  on.clock = clock;
  await writeModels(root, ['a']);
  await repository.start();
  const loading = repository.load('a').then(() => 'resolved', (error: unknown) => error);
  await until(() => on.loading === 1, 'the backend to load a:1');
  const closing = repository.close();
  await clock.advanceAsync(1000); // the load ends, and is disposed
  await closing;
  const error = await loading;
  assert.ok(error instanceof ClosedError && error.message === 'The repository is closed', String(error));
  assert.deepEqual([clock.now(), on.started, registry.names(), failures], [1000, ['a:1'], [], []]);
});

test('a closed repository refuses start(), poll(), load() and unload() with ClosedError (503), where poll() still unloaded removed models and loaded nothing, load() loaded, and start() loaded every model', async (t) => {
  const polled = await setup(t, 'poll');
  await writeModels(polled.root, ['a']);
  await polled.repository.start();
  await rm(path.join(polled.root, 'a'), { recursive: true });
  await polled.repository.close();
  await assert.rejects(polled.repository.poll(), (error: unknown) => error instanceof ClosedError && error.code === 'ERR_SERVABLE_CLOSED' && error.status === 503);
  assert.equal(polled.registry.has('a'), true, 'a closed repository changes nothing');
  await polled.done();

  const explicit = await setup(t, 'explicit', []);
  await writeModels(explicit.root, ['a', 'b']);
  await explicit.repository.start();
  await explicit.repository.load('a');
  await explicit.repository.close();
  await assert.rejects(explicit.repository.load('b'), ClosedError);
  await assert.rejects(explicit.repository.unload('a'), ClosedError);
  assert.deepEqual([explicit.registry.has('a'), explicit.registry.has('b'), explicit.loads], [true, false, ['a:1']]);
  await explicit.done();

  const unstarted = await setup(t, 'none');
  await writeModels(unstarted.root, ['a']);
  await unstarted.repository.close();
  await assert.rejects(unstarted.repository.start(), ClosedError);
  assert.deepEqual([unstarted.registry.names(), unstarted.loads], [[], []]);
  await unstarted.done();
});

test("close() refuses an explicit unload() waiting for its turn at once: it rejects with ClosedError (503) and the model stays loaded, where close() ran it once the load ahead was called off and waited for its drain up to loadTimeoutMs", async (t) => {
  const { root, clock, registry, repository, failures } = await onFakeClock(t, { maxLoadedVersions: 2, loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a', 'c'], backends: jsonBackends().backends }, ModelRegistry);
  const drains: string[] = [];
  registry.on('draining', (e) => drains.push(`${e.name}:${e.version} (${e.reason})`));
  await writeModels(root, ['a', 'b', 'c']);
  await repository.start();
  // As requests routed to a and c that never reach their queues: no room for b, and neither would drain.
  const stuck = [registry.get('a').hold(), registry.get('c').hold()];
  const settle = (change: Promise<void>) => change.then(() => 'resolved', (error: unknown) => error);
  const loading = settle(repository.load('b'));
  await until(() => registry.loadsWaitingForRoom === 1, 'b:1 to wait for room');
  const unloading = settle(repository.unload('c')); // waits for its turn, behind the load of b
  let closed = false;
  void repository.close().then(() => (closed = true));
  await until(() => closed, 'close() to resolve');
  for (const error of [await loading, await unloading]) {
    assert.ok(error instanceof ClosedError && error.code === 'ERR_SERVABLE_CLOSED' && error.status === 503 && error.message === 'The repository is closed', String(error));
  }
  // a:1 was being unloaded to make room for b (the registry's doing); c was never unloaded.
  assert.deepEqual([clock.now(), registry.names(), registry.versions('c'), drains, failures], [0, ['a', 'c'], [{ version: '1', state: 'ready' }], ['a:1 (evicted)'], []]);
  for (const hold of stuck) hold.release();
  await registry.close();
  assert.equal(clock.pending, 0);
});

test("close() during a look's listing starts none of its changes: a removed model stays loaded and close() returns at once, where the look unloaded it after close() and close() waited for its drain up to loadTimeoutMs", async (t) => {
  const { root, clock, registry, repository, failures } = await onFakeClock(t, { loadTimeoutMs: 1000 }, { mode: 'poll', pollIntervalMs: 3_600_000, backends: jsonBackends().backends }, ModelRegistry);
  const drains: string[] = [];
  registry.on('draining', (e) => drains.push(`${e.name}:${e.version} (${e.reason})`));
  await writeModels(root, ['a', 'b']);
  await repository.start();
  const stuck = registry.get('b').hold(); // as a request routed to b that never reaches its queue: b would never drain
  await rm(path.join(root, 'b'), { recursive: true });
  const look = repository.poll(); // its listing waits for its turn
  let closed = false;
  void repository.close().then(() => (closed = true));
  await until(() => closed, 'close() to resolve');
  await look;
  assert.deepEqual([clock.now(), registry.names().sort(), registry.versions('b'), drains, failures], [0, ['a', 'b'], [{ version: '1', state: 'ready' }], [], []]);
  stuck.release();
  await registry.close();
  assert.equal(clock.pending, 0);
});

test("close() stops waiting at once for the drains of the unloads going on, which go on in the registry, and the unload() resolves, where close() waited for them up to loadTimeoutMs", async (t) => {
  const { root, clock, registry, repository, failures } = await onFakeClock(t, { loadTimeoutMs: 1000 }, { mode: 'explicit', models: ['a'], backends: jsonBackends().backends }, ModelRegistry);
  const drains: string[] = [];
  registry.on('draining', (e) => drains.push(`${e.name}:${e.version} (${e.reason}) at ${clock.now()}`));
  await writeModels(root, ['a']);
  await repository.start();
  const stuck = registry.get('a').hold(); // as a request routed to a that never reaches its queue: a:1 never drains
  const unloading = repository.unload('a').then(() => `resolved at ${clock.now()}`, (error: unknown) => error);
  await until(() => drains.length === 1, 'a:1 to drain');
  let closed = false;
  void repository.close().then(() => (closed = true));
  await until(() => closed, 'close() to resolve');
  assert.deepEqual([await unloading, clock.now(), registry.versions('a'), drains, failures], ['resolved at 0', 0, [{ version: '1', state: 'draining' }], ['a:1 (explicit) at 0'], []]);
  stuck.release();
  await registry.close();
  assert.deepEqual([registry.names(), clock.pending], [[], 0]);
});

test("close() while a change reads a model with no version left unloads nothing: the load() rejects with ClosedError and the model stays loaded, where the change unloaded it after close()", async (t) => {
  const s = await setup(t, 'explicit', ['a']);
  await writeModels(s.root, ['a']);
  await s.repository.start();
  await rm(path.join(s.root, 'a', '1'), { recursive: true });
  // close() comes while the load lists a's version directories.
  replaceExport(t, fsPromises, 'readdir', (real) => ((...args: Parameters<typeof real>) => {
    if (String(args[0]).endsWith(`${path.sep}a`)) void s.repository.close();
    return real(...args);
  }) as typeof real);
  const error = await s.repository.load('a').then(() => 'resolved', (e: unknown) => e);
  assert.ok(error instanceof ClosedError && error.message === 'The repository is closed', String(error));
  assert.deepEqual([s.registry.versions('a'), s.failures], [[{ version: '1', state: 'ready' }], []]);
  await s.done();
});
