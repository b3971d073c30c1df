import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError, ModelRegistry, memoryBackend } from 'servable';
import { FakeClock } from 'servable/testing';
import { ModelRepository } from 'servable/repository';
import { until } from '../fixtures/until.js';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeModels, writeVersion } from './fixtures.js';
import { failuresOf, gatedJson, setup, closeAtEnd } from './harness.js';

// 'poll' mode's looks: new, changed and removed versions and models, files still being written.

test("'poll' loads a new version once its files stop changing, swaps it in, and unloads removed versions and models", async (t) => {
  const s = await setup(t, 'poll');
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

test("'poll' reports no failure for a load called off by an unload or a close, and loads the version at the next look", async (t) => {
  const s = await setup(t, 'poll');
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

test("'poll' looks at the root every pollIntervalMs on the repository's clock", async (t) => {
  const { root, remove } = await tempRoot();
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 1000, clock, backends: jsonBackends().backends });
  closeAtEnd(t, repository, registry, remove);
  await writeConfig(root, 'm', jsonConfig());
  await writeVersion(root, 'm', '1', { offset: 1 });
  await repository.start();
  assert.deepEqual([clock.pending, clock.nextAt], [1, 1000], 'the next look is set pollIntervalMs on, on the repository\'s clock');
  await writeVersion(root, 'm', '2', { offset: 2 });
  let ready = false;
  registry.on('ready', () => (ready = true));
  // A look of the test's own, ended with its change: version 2 is seen once, and may still be being written.
  await repository.poll();
  assert.equal(ready, false);
  await clock.advanceAsync(999);
  assert.deepEqual([clock.nextAt, ready], [1000, false]);
  // The timer's look finds version 2 unchanged and loads it (reading the disk for real), then sets the next look.
  await clock.advanceAsync(1);
  await until(() => ready && clock.pending === 1, 'version 2 to be ready and the next look set');
  assert.equal(clock.nextAt, 2000);
  assert.equal(registry.get('m').version, '2');
  await repository.close();
  await registry.close();
  await remove();
});

test("'poll' leaves a model whose only versions are still being written as it is, reporting nothing, where it reported it had no version directory and unloaded what served", async (t) => {
  const { root, remove } = await tempRoot();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock: new FakeClock() }); // polls only when told
  const repository = new ModelRepository({ root, registry, mode: 'poll', backends: jsonBackends().backends });
  closeAtEnd(t, repository, registry, remove);
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

test("'poll' unloads a model whose wanted versions were removed, a version its policy does not keep being written meanwhile", async (t) => {
  const { root, remove } = await tempRoot();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock: new FakeClock() }); // polls only when told
  const repository = new ModelRepository({ root, registry, mode: 'poll', backends: jsonBackends().backends });
  closeAtEnd(t, repository, registry, remove);
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

test("a look loads no version removed while its model's change loaded another (or waited for its turn), reporting nothing, where the load failed on the missing files and was reported", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  let open: (() => void) | undefined;
  const backends = gatedJson(loads, async (label) => {
    if (label === 'f:2') await new Promise<void>((resolve) => (open = resolve));
  });
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 3_600_000, backends });
  closeAtEnd(t, repository, registry, remove);
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

test("'poll' moves a label or a traffic split that config.json changes without reloading any version; another change reloads them", async (t) => {
  const s = await setup(t, 'poll');
  await writeConfig(s.root, 'm', jsonConfig({ versionPolicy: 'all', labels: { stable: '1' } }));
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await writeVersion(s.root, 'm', '2', { offset: 2 });
  await s.repository.start();
  assert.deepEqual([s.loads.splice(0), await s.ask('m')], [['m:1', 'm:2'], 1]);

  await writeConfig(s.root, 'm', jsonConfig({ versionPolicy: 'all', labels: { stable: '2' }, traffic: { split: [{ label: 'stable', weight: 1 }] } }));
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual([s.loads.splice(0), await s.ask('m'), s.registry.labels('m')], [[], 2, { stable: '2' }]);

  await writeConfig(s.root, 'm', jsonConfig({ versionPolicy: 'all', labels: { stable: '2' }, batching: { maxBatchSize: 4 } }));
  await s.repository.poll();
  assert.deepEqual([s.loads.splice(0).sort(), s.registry.get('m').metadata().maxBatchSize], [['m:1', 'm:2'], 4]);
  assert.deepEqual(s.failures, []);
  await s.done();
});

test("'poll' moves a label to a version still being written once it loads, reporting nothing, where it reported that the label named a version not loaded", async (t) => {
  const { root, registry, repository, failures, done } = await setup(t, 'poll');
  await writeConfig(root, 'm', jsonConfig({ labels: { stable: '1' } }));
  await writeVersion(root, 'm', '1', { offset: 1 });
  await repository.start();
  // A rolling update: version 2 published (as if renamed into place) and stable pointed at it in one step.
  await writeVersion(root, 'm', '2', { offset: 2 });
  await writeConfig(root, 'm', jsonConfig({ labels: { stable: '2' } }));
  await repository.poll(); // m:2 is seen once: not loaded yet, and stable stays on 1
  assert.deepEqual([registry.versions('m'), registry.labels('m'), failures], [[{ version: '1', state: 'ready' }], { stable: '1' }, []]);
  await repository.poll();
  assert.deepEqual([registry.versions('m'), registry.labels('m'), failures], [[{ version: '2', state: 'ready' }], { stable: '2' }, []]);
  await done();
});

test("'poll' still reports a label naming a version that never appears (a typo) once, at the look that reads the config, while another version is being written", async (t) => {
  const { root, registry, repository, failures, done } = await setup(t, 'poll');
  await writeConfig(root, 'm', jsonConfig({ labels: { stable: '1' } }));
  await writeVersion(root, 'm', '1', { offset: 1 });
  await repository.start();
  await writeVersion(root, 'm', '2', { offset: 2 });
  await writeConfig(root, 'm', jsonConfig({ labels: { stable: '22' } }));
  for (let look = 0; look < 3; look++) await repository.poll();
  assert.deepEqual([registry.versions('m'), registry.labels('m'), failures], [[{ version: '2', state: 'ready' }], {}, ["m:22: Label 'stable' of model 'm' names version 22, which is not loaded"]]);
  await done();
});

test("'poll': a version that failed to load is listed failed with why by the registry (TF-Serving status END) as in the index, and forgotten once its directory goes", async (t) => {
  const s = await setup(t, 'poll');
  await writeModels(s.root, ['m']);
  await s.repository.start();
  await writeVersion(s.root, 'm', '2', { offset: 2, fail: true });
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual(s.registry.versions('m'), [{ version: '2', state: 'failed', error: 'the weights are corrupt' }, { version: '1', state: 'ready' }]);
  assert.deepEqual(await s.repository.index(), [
    { name: 'm', version: '1', state: 'READY' },
    { name: 'm', version: '2', state: 'UNAVAILABLE', reason: 'the weights are corrupt' },
  ]);
  await rm(path.join(s.root, 'm', '2'), { recursive: true });
  await s.repository.poll();
  assert.deepEqual([s.registry.versions('m'), s.failures], [[{ version: '1', state: 'ready' }], ['m:2: the weights are corrupt']]);
  await s.done();
});
