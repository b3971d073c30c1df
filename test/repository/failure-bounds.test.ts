import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ModelNotFoundError, ModelRegistry, memoryBackend } from 'servable';
import { FakeClock } from 'servable/testing';
import { BackendCache } from '../../src/repository/backends.js';
import { ModelSync } from '../../src/repository/sync.js';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeVersion } from './fixtures.js';
import { setup } from './harness.js';

// What the repository keeps of failed loads stays bounded by the directories under its root.

test("an explicit load of a name with no directory keeps nothing of its failure: the names tried over HTTP do not pile up, and each is reported", async (t) => {
  const { root, remove } = await tempRoot();
  t.after(remove);
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  t.after(() => registry.close());
  const reported: string[] = [];
  const sync = new ModelSync(registry, new BackendCache(jsonBackends().backends), (name, _v, error) => reported.push(`${name}: ${error.message}`), new FakeClock(), new AbortController().signal);
  const options = { root, currentRoot: async () => root, stable: false, retryFailed: true };
  for (const name of ['nope-1', 'nope-2', 'nope-1', '../bad name']) await assert.rejects(sync.sync(name, options), ModelNotFoundError);
  assert.deepEqual(['nope-1', 'nope-2', '../bad name'].map((name) => sync.failure(name)), [undefined, undefined, undefined], 'no failure kept for a name with no directory');
  assert.equal(reported.length, 4, reported.join('\n'));

  // A directory that exists (its config.json missing) is kept, as the index lists it with why.
  await writeVersion(root, 'present', '1', { offset: 1 });
  await assert.rejects(sync.sync('present', options), ModelNotFoundError);
  assert.match(sync.failure('present') ?? '', /has no config\.json/);
});

test("repository.load() of a missing name twice reports it twice, where the second was silent behind a failure kept for good", async (t) => {
  const s = await setup(t, 'explicit', []);
  await writeConfig(s.root, 'a', jsonConfig());
  await writeVersion(s.root, 'a', '1', { offset: 1 });
  await s.repository.start();
  await assert.rejects(s.repository.load('ghost'), ModelNotFoundError);
  await assert.rejects(s.repository.load('ghost'), ModelNotFoundError);
  assert.deepEqual(s.failures, ["ghost: Model 'ghost' not found in the repository", "ghost: Model 'ghost' not found in the repository"]);
  await s.done();
});

test("a version directory that goes takes its failure with it, where the failure of every version that ever failed stayed for good", async (t) => {
  const { root, remove } = await tempRoot();
  t.after(remove);
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  t.after(() => registry.close());
  const sync = new ModelSync(registry, new BackendCache(jsonBackends().backends), () => {}, new FakeClock(), new AbortController().signal);
  const options = { root, currentRoot: async () => root, stable: false, retryFailed: false };
  await writeConfig(root, 'a', jsonConfig({ versionPolicy: 'all' }));
  await writeVersion(root, 'a', '1', { offset: 1 });
  await writeVersion(root, 'a', '2', { offset: 2, fail: true });
  await assert.rejects(sync.sync('a', options), /the weights are corrupt/);
  assert.equal(sync.failure('a', '2'), 'the weights are corrupt');
  await rm(path.join(root, 'a', '2'), { recursive: true });
  await sync.sync('a', options);
  assert.equal(sync.failure('a', '2'), undefined, "version 2's directory went");
  assert.deepEqual(registry.versions('a'), [{ version: '1', state: 'ready' }], 'nor is it listed failed by the registry');
});
