import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import { lstat, mkdir, readlink, realpath, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InferenceService, ModelRegistry, memoryBackend } from 'servable';
import { ModelRepository } from 'servable/repository';
import { jsonBackends, jsonConfig, tempRoot, writeConfig, writeVersion } from './fixtures.js';
import { closeAtEnd, failuresOf, offset, replaceExport, roomLimited, setup, x } from './harness.js';

// A root laid out as Kubernetes writes a ConfigMap or projected volume (its AtomicWriter): the files in a
// timestamped directory `..<time>`, a `..data` link to it swapped atomically, and each top-level
// entry a link through `..data`.

/** Publishes `files` (paths under the root) as the AtomicWriter does, removing the previous directory. */
async function project(root: string, stamp: string, files: Record<string, string>): Promise<void> {
  const dir = `..${stamp}`;
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, dir, file)), { recursive: true });
    await writeFile(path.join(root, dir, file), content);
  }
  const old = await readlink(path.join(root, '..data')).catch(() => undefined);
  await symlink(dir, path.join(root, '..data_tmp'));
  await rename(path.join(root, '..data_tmp'), path.join(root, '..data'));
  for (const top of new Set(Object.keys(files).map((f) => f.split('/')[0]!))) {
    if (!(await lstat(path.join(root, top)).catch(() => undefined))) await symlink(`..data/${top}`, path.join(root, top));
  }
  if (old) await rm(path.join(root, old), { recursive: true });
}

const model = (offset: number) => JSON.stringify({ offset });

test('a root laid out as a Kubernetes volume (entries linked through ..data into a ..<time> directory) is served', async (t) => {
  const s = await setup(t, 'poll');
  await project(s.root, '2026_12_04_20_00_00.1', { 'm/config.json': JSON.stringify(jsonConfig()), 'm/1/model.json': model(1) });
  // Links that lead out of the root are still refused, through ..data or with a name starting with '..'.
  const outside = await tempRoot();
  t.after(outside.remove);
  await writeConfig(outside.root, 'secret', jsonConfig());
  await writeVersion(outside.root, 'secret', '1', { offset: 666 });
  await symlink(path.join(outside.root, 'secret'), path.join(s.root, '..data', 'evil'));
  await symlink('..data/evil', path.join(s.root, 'evil'));
  await symlink(path.relative(s.root, path.join(outside.root, 'secret')), path.join(s.root, '..secret'));
  await symlink('..secret', path.join(s.root, 'relative'));
  await s.repository.start();
  assert.deepEqual(s.failures, []);
  assert.deepEqual(s.registry.names(), ['m']);
  assert.equal(await s.ask('m'), 1);
  assert.deepEqual(await s.repository.index(), [{ name: 'm', version: '1', state: 'READY' }], 'the links leading out are not listed');
  await s.done();
});

test('a Kubernetes volume update reloads only the versions whose bytes changed, though it rewrites every file', async (t) => {
  const s = await setup(t, 'poll');
  const config = JSON.stringify(jsonConfig({ versionPolicy: 'all' }));
  const other = JSON.stringify(jsonConfig());
  await project(s.root, '1', { 'm/config.json': config, 'm/1/model.json': model(1), 'o/config.json': other, 'o/1/model.json': model(7) });
  await s.repository.start();
  assert.deepEqual(s.loads.splice(0).sort(), ['m:1', 'o:1']);

  // A version added: version 1 and model o are rewritten as they were.
  await project(s.root, '2', { 'm/config.json': config, 'm/1/model.json': model(1), 'm/2/model.json': model(2), 'o/config.json': other, 'o/1/model.json': model(7) });
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual(s.loads.splice(0), ['m:2']);
  assert.equal(await s.ask('m', { version: '1' }), 1);
  assert.equal(await s.ask('m', { version: '2' }), 2);

  // A model file replaced by one of the same size: that version alone reloads.
  await project(s.root, '3', { 'm/config.json': config, 'm/1/model.json': model(3), 'm/2/model.json': model(2), 'o/config.json': other, 'o/1/model.json': model(7) });
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual(s.loads.splice(0), ['m:1']);
  assert.equal(await s.ask('m', { version: '1' }), 3);

  // A version removed, and nothing else changed: nothing loads; further looks load nothing either.
  await project(s.root, '4', { 'm/config.json': config, 'm/2/model.json': model(2), 'o/config.json': other, 'o/1/model.json': model(7) });
  for (let look = 0; look < 3; look++) await s.repository.poll();
  assert.deepEqual(s.loads, []);
  assert.deepEqual(s.registry.versions('m'), [{ version: '2', state: 'ready' }]);
  assert.deepEqual(s.failures, []);
  await s.done();
});

test('a handler module rewritten as it was by a Kubernetes volume update reloads nothing; one whose bytes changed reloads the model', async (t) => {
  const s = await setup(t, 'poll');
  const servable = pathToFileURL(path.resolve('src/index.ts')).href;
  const handler = (add: number) => `import { TensorHandler } from ${JSON.stringify(servable)};
export class Plus extends TensorHandler {
  postprocess(outputs, requests) {
    return super.postprocess(outputs, requests).map((r) => ({ outputs: { y: { ...r.outputs.y, data: r.outputs.y.data.map((v) => v + ${add}) } } }));
  }
}
`;
  const files = (add: number) => ({ 'h/config.json': JSON.stringify(jsonConfig({ handler: { module: 'handler.mjs', export: 'Plus' }, warmup: [] })), 'h/handler.mjs': handler(add), 'h/1/model.json': model(1) });
  await project(s.root, '1', files(1000));
  await s.repository.start();
  assert.equal(await s.ask('h'), 1001);
  assert.deepEqual(s.loads.splice(0), ['h:1']);

  await project(s.root, '2', files(1000));
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual(s.loads.splice(0), []);

  await project(s.root, '3', files(2000));
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual(s.loads.splice(0), ['h:1']);
  assert.equal(await s.ask('h'), 2001);
  assert.deepEqual(s.failures, []);
  await s.done();
});

/** b evicts a, an update moves both to a new directory (the first removed; keeping the files' times or not), and a loads again on a request from there. */
async function loadsFromMovedDirectory(t: TestContext, keepTimes: boolean): Promise<void> {
  const loads: string[] = [];
  const { root, registry, repository, failures } = await roomLimited(t, 1, 3_600_000, loads);
  const service = new InferenceService({ registry });
  const files = { 'a/config.json': JSON.stringify(jsonConfig()), 'a/1/model.json': model(1), 'b/config.json': JSON.stringify(jsonConfig()), 'b/1/model.json': model(2) };
  const publish = async (stamp: string) => {
    await project(root, stamp, files);
    if (keepTimes) for (const file of Object.keys(files)) await utimes(path.join(root, '..data', file), 1_700_000_000, 1_700_000_000);
  };
  await publish('1');
  await repository.start(); // b evicted a
  await publish('2'); // the first directory, a's model file in it, removed
  await repository.poll();
  await repository.poll();
  assert.deepEqual(loads.splice(0), ['a:1', 'b:1']);
  assert.equal(offset(await service.infer('a', x(0, 0))), 1);
  assert.deepEqual([loads, failures], [['a:1'], []]);
}

test('a version evicted to make room loads on its next request from the directory a Kubernetes volume update moved it to', (t) => loadsFromMovedDirectory(t, false));

test('a version that failed to load is not tried again, nor reported again, when a Kubernetes volume update rewrites its bytes as they were', async (t) => {
  const s = await setup(t, 'poll');
  const files = (two: string) => ({ 'm/config.json': JSON.stringify(jsonConfig({ versionPolicy: 'all' })), 'm/1/model.json': model(1), 'm/2/model.json': two });
  await project(s.root, '1', files('garbage'));
  await s.repository.start();
  const failure = `m:2: Unexpected token 'g', "garbage" is not valid JSON`;
  assert.deepEqual([s.loads.splice(0), s.failures.splice(0)], [['m:1', 'm:2'], [failure]]);
  for (const stamp of ['2', '3']) {
    await project(s.root, stamp, files('garbage'));
    await s.repository.poll();
    await s.repository.poll();
  }
  assert.deepEqual([s.loads.splice(0), s.failures], [[], []]);

  await project(s.root, '4', files(model(2)));
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual([s.loads, s.failures, await s.ask('m', { version: '2' })], [['m:2'], [], 2]);
  await s.done();
});

/** Publishes `files` as git-sync does: a worktree `.worktrees/<sha>` beside the root, the root a link to it swapped atomically, the previous worktree removed. */
async function gitSync(base: string, sha: string, files: Record<string, string>): Promise<void> {
  const tree = path.join(base, '.worktrees', sha);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(tree, file)), { recursive: true });
    await writeFile(path.join(tree, file), content);
  }
  const old = await readlink(path.join(base, 'root')).catch(() => undefined);
  await symlink(path.join('.worktrees', sha), path.join(base, 'root_tmp'));
  await rename(path.join(base, 'root_tmp'), path.join(base, 'root'));
  if (old) await rm(path.join(base, old), { recursive: true });
}

/** A poll repository whose root is `base/root`, the link {@link gitSync} swaps, with a service over its registry and a config keeping every version. */
function gitSyncRepository(t: TestContext, { root: base, remove }: { root: string; remove: () => Promise<void> }) {
  const loads: string[] = [];
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const repository = new ModelRepository({ root: path.join(base, 'root'), registry, mode: 'poll', backends: jsonBackends(loads).backends });
  const failures = failuresOf(repository);
  closeAtEnd(t, repository, registry, remove);
  const service = new InferenceService({ registry });
  const config = JSON.stringify(jsonConfig({ versionPolicy: 'all' }));
  return { base, loads, registry, repository, failures, service, config };
}

test("a root that is a link swapped to a new target (git-sync's layout) is looked at anew each look: a version added loads, one rewritten as it was does not, links out of the new target stay refused", async (t) => {
  const { base, loads, registry, repository, failures, service, config } = gitSyncRepository(t, await tempRoot());
  const ask = async (version: string) => offset(await service.infer('m', x(0, 0), { version }));
  await gitSync(base, 'aaa', { 'm/config.json': config, 'm/1/model.json': model(1), 'o/config.json': config, 'o/1/model.json': model(5) });
  await repository.start();
  assert.deepEqual(loads.splice(0).sort(), ['m:1', 'o:1']);

  // Version 2 added; o moved out of the tree, left reachable only by a link to the old worktree, outside the new root.
  await gitSync(base, 'bbb', { 'm/config.json': config, 'm/1/model.json': model(1), 'm/2/model.json': model(2) });
  await symlink('../aaa-kept/o', path.join(base, '.worktrees', 'bbb', 'o'));
  await mkdir(path.join(base, '.worktrees', 'aaa-kept', 'o', '1'), { recursive: true });
  await writeFile(path.join(base, '.worktrees', 'aaa-kept', 'o', 'config.json'), config);
  await writeFile(path.join(base, '.worktrees', 'aaa-kept', 'o', '1', 'model.json'), model(5));
  await repository.poll();
  await repository.poll();
  assert.deepEqual(loads.splice(0), ['m:2']);
  assert.deepEqual([await ask('1'), await ask('2')], [1, 2]);
  assert.deepEqual(registry.names(), ['m'], 'o, linked out of the root of the look, is unloaded');
  assert.deepEqual(await repository.index(), [
    { name: 'm', version: '1', state: 'READY' },
    { name: 'm', version: '2', state: 'READY' },
  ]);
  assert.deepEqual(failures, []);
});

test("a version whose bytes changed is read once to digest it at the look that reloads it, where it was read twice (to compare, then before the load)", async (t) => {
  const s = await setup(t, 'poll');
  await writeConfig(s.root, 'm', jsonConfig());
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await s.repository.start();
  const modelFile = path.join(await realpath(s.root), 'm', '1', 'model.json');
  const reads: string[] = [];
  replaceExport(t, fs, 'createReadStream', (real) => (...args) => {
    reads.push(String(args[0]));
    return real(...args);
  });
  await writeVersion(s.root, 'm', '1', { offset: 2 });
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual([s.loads, reads.filter((r) => r === modelFile).length, await s.ask('m')], [['m:1', 'm:1'], 1, 2]);
  await s.done();
});

test('a version evicted to make room loads on its next request from the directory an update moved it to, when the update kept the files\' times (a copy that preserves them, then a swap)', (t) => loadsFromMovedDirectory(t, true));

test('a link in a version directory back to a directory above it is digested once, where the digest read the model file again at each of its 8 levels', async (t) => {
  const s = await setup(t, 'poll');
  await writeConfig(s.root, 'm', jsonConfig());
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await symlink('.', path.join(s.root, 'm', '1', 'again'));
  const modelFile = path.join(await realpath(s.root), 'm', '1', 'model.json');
  const reads: string[] = [];
  replaceExport(t, fs, 'createReadStream', (real) => (...args) => {
    reads.push(String(args[0]));
    return real(...args);
  });
  await s.repository.start();
  assert.deepEqual([s.loads, reads.filter((r) => path.resolve(r) === modelFile || (r.endsWith('model.json') && r.includes(`${path.sep}again${path.sep}`))).length, await s.ask('m')], [['m:1'], 1, 1]);
  await s.done();
});

test("a root link missing at a look (removed between two polls, as a swap's rename race could leave it) fails that look and unloads nothing; the next look with the link back serves its target", async (t) => {
  const { base, loads, registry, repository, failures, service, config } = gitSyncRepository(t, await tempRoot());
  await gitSync(base, 'aaa', { 'm/config.json': config, 'm/1/model.json': model(1) });
  await repository.start();
  await rm(path.join(base, 'root'));
  await repository.poll().catch(() => {});
  await repository.poll().catch(() => {});
  assert.deepEqual([registry.names(), registry.isReady('m', '1'), offset(await service.infer('m', x(0, 0)))], [['m'], true, 1]);
  await symlink(path.join('.worktrees', 'aaa'), path.join(base, 'root'));
  await gitSync(base, 'bbb', { 'm/config.json': config, 'm/1/model.json': model(1), 'm/2/model.json': model(2) });
  await repository.poll();
  await repository.poll();
  assert.deepEqual([loads, registry.isReady('m', '1'), failures], [['m:1', 'm:2'], true, []]);
});

test("a look that resolved the root before a swap, whose old target is removed while it lists a model's versions, unloads nothing: the next look serves the new target", async (t) => {
  const { base, loads, registry, repository, failures, service, config } = gitSyncRepository(t, await tempRoot());
  const files = { 'm/config.json': config, 'm/1/model.json': model(1) };
  await gitSync(base, 'aaa', files);
  await repository.start();
  const oldModelDir = path.join(await realpath(base), '.worktrees', 'aaa', 'm');
  let swapped = false;
  replaceExport(t, fsPromises, 'readdir', (real) => (async (...args: Parameters<typeof real>) => {
    const entries = await real(...args);
    // git-sync swaps the link and removes the old worktree while the look reads its model's directory.
    if (!swapped && String(args[0]) === oldModelDir) {
      swapped = true;
      await gitSync(base, 'bbb', files);
    }
    return entries;
  }) as typeof real);
  await repository.poll().catch(() => {});
  assert.deepEqual([swapped, registry.names(), failures], [true, ['m'], []], 'the look of the removed target unloads nothing');
  await repository.poll();
  assert.deepEqual([loads, offset(await service.infer('m', x(0, 0))), failures], [['m:1'], 1, []]);
});
