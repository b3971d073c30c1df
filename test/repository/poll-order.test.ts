import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setup } from './harness.js';
import { jsonConfig, writeConfig, writeVersion } from './fixtures.js';

// triton-inference-server/server#2076: in poll mode a changed model was unloaded before it was loaded again.

test("'poll' loads and warms what replaces a version before the version it replaces leaves: a new version, a changed config, a removed newest version", async (t) => {
  const s = await setup(t, 'poll');
  await writeConfig(s.root, 'm', jsonConfig());
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await s.repository.start();
  const log: string[] = [];
  s.registry.on('ready', (m) => log.push(`ready ${m.version}`));
  s.registry.on('draining', (e) => log.push(`draining ${e.version} (${e.reason})`));
  s.registry.on('swap', (e) => log.push(`swap ${e.from}->${e.to}`));
  const look = async () => {
    await s.repository.poll();
    await s.repository.poll(); // files unchanged since the previous look: loaded now
  };

  await writeVersion(s.root, 'm', '2', { offset: 2 });
  await look();
  assert.equal(await s.ask('m'), 2);
  assert.deepEqual(log.splice(0), ['ready 2', 'swap 1->2', 'draining 1 (explicit)']);

  await writeConfig(s.root, 'm', jsonConfig({ backend: { name: 'json', scale: 10 } }));
  await look();
  assert.equal(await s.ask('m'), 20);
  assert.deepEqual(log.splice(0), ['ready 2', 'swap 2->2', 'draining 2 (replaced)']);

  // Version 1's files are still there: removing version 2 loads it again, under latest 1.
  await rm(path.join(s.root, 'm', '2'), { recursive: true });
  await look();
  assert.equal(await s.ask('m'), 10);
  assert.deepEqual(log, ['ready 1', 'swap 2->1', 'draining 2 (explicit)']);
  assert.deepEqual(s.failures, []);
  await s.done();
});

test("'poll' loads a new version beside one the config's stable label pins, and requests without a version stay on the pinned one until config.json moves the label (pytorch/serve#43)", async (t) => {
  const s = await setup(t, 'poll');
  await writeConfig(s.root, 'm', jsonConfig({ versionPolicy: 'all', labels: { stable: '1' } }));
  await writeVersion(s.root, 'm', '1', { offset: 1 });
  await s.repository.start();
  const swaps: string[] = [];
  s.registry.on('swap', (e) => swaps.push(`${e.from}->${e.to}`));

  await writeVersion(s.root, 'm', '2', { offset: 2 });
  await s.repository.poll();
  await s.repository.poll();
  assert.deepEqual(s.registry.versions('m').map((v) => `${v.version}:${v.state}`).sort(), ['1:ready', '2:ready']);
  assert.deepEqual([await s.ask('m'), await s.ask('m', { version: '2' })], [1, 2]);
  assert.deepEqual(swaps, []);

  await writeConfig(s.root, 'm', jsonConfig({ versionPolicy: 'all', labels: { stable: '2' } }));
  await s.repository.poll();
  await s.repository.poll();
  assert.equal(await s.ask('m'), 2);
  assert.deepEqual(s.failures, []);
  await s.done();
});
