import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { jsonConfig } from './fixtures.js';
import { setup } from './harness.js';

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
  await s.repository.start();
  assert.deepEqual(s.failures, []);
  assert.equal(await s.ask('m'), 1);
  assert.deepEqual(await s.repository.index(), [{ name: 'm', version: '1', state: 'READY' }]);
  await s.done();
});
