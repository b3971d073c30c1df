import { test } from 'node:test';
import assert from 'node:assert/strict';
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
