import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry } from 'servable';
import { createHttpHandler } from 'servable/protocol';
import { until } from '../fixtures/until.js';
import { writeModels, writeVersion } from './fixtures.js';
import { onFakeClock, slowBackends } from './harness.js';

// Server readiness (GET /v2/health/ready) while start() loads the repository's models (docs/http.md, docs/registry.md's Kubernetes recipe).

/** Three models a, b, c loaded one at a time, each load taking 1000 ms on the fake clock, with the readiness route over their registry. */
async function threeOneAtATime(t: TestContext) {
  const { backends, on } = slowBackends(1000);
  const made = await onFakeClock(t, {}, { loadConcurrency: 1, backends }, ModelRegistry);
  on.clock = made.clock;
  await writeModels(made.root, ['a', 'b', 'c']);
  const http = createHttpHandler({ service: new InferenceService({ registry: made.registry }) });
  const readiness = async () => (await http.handle({ method: 'GET', path: '/v2/health/ready', headers: {} })).status;
  return { ...made, on, readiness };
}

test('with loadConcurrency 1, readiness stays 503 while start() loads three models, between their loads too, and is 200 once the third is ready, where it answered 200 whenever one was ready and the next not yet loading', async (t) => {
  const { clock, registry, repository, on, readiness, failures } = await threeOneAtATime(t);
  const starting = repository.start();
  await until(() => on.loading === 1, 'the first load to start');
  const seen: string[] = [];
  const end = Date.now() + 5000;
  for (const name of ['a', 'b', 'c']) {
    while (!registry.isReady(name)) {
      if (Date.now() > end) throw new Error(`Timed out waiting for ${name} to be ready (failures: ${failures.join('; ')})`);
      seen.push(`${name} not ready: ${await readiness()}`);
      // The clock moves only while a load waits on it; between loads the next model's turn (reading its files) goes on in real time.
      if (on.loading === 1) await clock.advanceAsync(250);
      else await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // Ready, the next model not loading yet: it waits for its turn.
    if (name !== 'c') seen.push(`${name} ready: ${await readiness()}`);
  }
  assert.ok(seen.length >= 10, `readiness asked at ${seen.length} points`);
  assert.deepEqual(seen.filter((s) => !s.endsWith(': 503')), [], 'readiness 503 at every point before the third model is ready');
  await starting;
  assert.deepEqual([await readiness(), registry.starting(), failures], [200, [], []]);
});

test('a model whose load fails at start() stops holding readiness once it has failed: readiness is 503 while the others load, then 200 with the failed model not ready', async (t) => {
  const { clock, root, registry, repository, on, readiness, failures } = await threeOneAtATime(t);
  await writeVersion(root, 'a', '1', { offset: 1, fail: true });
  const starting = repository.start();
  await until(() => on.loading === 1, 'the first load to start');
  await clock.advanceAsync(1000);
  await until(() => failures.length === 1, "a's load to fail");
  assert.deepEqual([registry.isStarting('a'), registry.starting(), await readiness()], [false, ['b', 'c'], 503]);
  await until(() => on.started.length === 2 && on.loading === 1, "b's load to start");
  await clock.advanceAsync(1000);
  await until(() => on.started.length === 3 && on.loading === 1, "c's load to start");
  assert.deepEqual([registry.isReady('b'), registry.starting(), await readiness()], [true, ['c'], 503]);
  await clock.advanceAsync(1000);
  await starting;
  assert.deepEqual([registry.isReady('a'), registry.isReady('c'), registry.starting(), await readiness(), failures], [false, true, [], 200, ['a:1: the weights are corrupt']]);
});

test('repository.close() during start() stops the models still waiting for their turn from counting as starting at once; the load going on counts until it ends', async (t) => {
  const { clock, registry, repository, on, readiness } = await threeOneAtATime(t);
  const starting = repository.start();
  await until(() => on.loading === 1, 'the first load to start');
  assert.deepEqual([registry.starting(), await readiness()], [['a', 'b', 'c'], 503]);
  const closing = repository.close();
  assert.deepEqual([registry.starting(), await readiness()], [['a'], 503], "a's load goes on: it ends first (docs/registry.md)");
  await clock.advanceAsync(1000);
  await Promise.all([closing, starting]);
  assert.deepEqual([registry.starting(), await readiness(), registry.isReady('b')], [[], 200, false]);
});

test("registry.close() during start() clears what the repository's start() said it would load", async (t) => {
  const { clock, registry, repository, on } = await threeOneAtATime(t);
  const starting = repository.start();
  await until(() => on.loading === 1, 'the first load to start');
  const closing = registry.close();
  assert.deepEqual([registry.isStarting('b'), registry.isStarting('c'), registry.starting().includes('b')], [false, false, false]);
  await clock.advanceAsync(1000);
  await Promise.all([closing, starting]);
  assert.deepEqual(registry.starting(), []);
});
