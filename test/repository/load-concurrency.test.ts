import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ModelRegistry, memoryBackend } from 'servable';
import { FakeClock } from 'servable/testing';
import { ModelRepository } from 'servable/repository';
import { until } from '../fixtures/until.js';
import { jsonConfig, tempRoot, writeConfig, writeModels, writeVersion } from './fixtures.js';
import { failuresOf, gatedJson, onFakeClock, slowBackends, closeAtEnd } from './harness.js';

// How many models poll changes and start() load at once (loadConcurrency).

test("'poll' loads at most loadConcurrency models at once, the others as slots free, while removed models and versions unload at once, where a look started every changed model's load together", async (t) => {
  const { root, remove } = await tempRoot();
  const loads: string[] = [];
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock });
  const held = new Set(['a:2', 'b:2', 'c:2', 'd:2']);
  const gates = new Map<string, () => void>();
  let loading = 0;
  let peak = 0;
  const backends = gatedJson(loads, async (label) => {
    if (!held.has(label)) return;
    peak = Math.max(peak, ++loading);
    await new Promise<void>((resolve) => gates.set(label, resolve));
    loading--;
  });
  const repository = new ModelRepository({ root, registry, mode: 'poll', pollIntervalMs: 3_600_000, loadConcurrency: 2, backends });
  closeAtEnd(t, repository, registry, remove);
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

test("start() loads up to loadConcurrency models at once, in both modes, where it loaded one at a time: 4 loads of 1000 ms, 2 at once, take 2000 ms (a model named twice loads once)", async (t) => {
  for (const mode of ['none', 'explicit'] as const) {
    const { backends, on } = slowBackends(1000);
    const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, {}, { mode, models: ['a', 'a', 'b', 'c', 'd'], loadConcurrency: 2, backends }, ModelRegistry);
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

test("start() under the registry's limits (maxLoadedVersions or maxLoadedBytes) loads one model at a time, in the listing's order, whatever loadConcurrency is: the first loaded are the first evicted", async (t) => {
  // Each model.json, {"offset":1}, is 12 bytes: both limits hold two of the four models.
  for (const limits of [{ maxLoadedVersions: 2 }, { maxLoadedBytes: 24 }]) {
    const { backends, on } = slowBackends(1000);
    const { root, remove, clock, registry, repository, failures } = await onFakeClock(t, limits, { loadConcurrency: 4, backends }, ModelRegistry);
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
