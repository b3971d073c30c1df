import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, ModelRegistry, type Backend } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { doubler, flush } from './helpers.js';

/**
 * A backend whose estimate never ends and ignores its signal, as a `stat` on a lost network mount
 * does; `signals` holds the signal of each estimate, `loads` the loads that got as far as the backend.
 */
function hungMount(clock: FakeClock) {
  const memory = memoryBackend({ clock });
  const signals: AbortSignal[] = [];
  const loads: string[] = [];
  const backend: Backend = {
    name: 'nfs',
    accepts: (source) => typeof source === 'string',
    async load(_source, options) {
      loads.push(options?.label ?? '?');
      return memory.load(doubler(1), options);
    },
    estimateBytes: (_source, options) => {
      signals.push(options!.signal!);
      return new Promise(() => {});
    },
  };
  return { backend, signals, loads };
}

/** Whether `promise` has settled, after the pending callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await flush();
  return done;
}

test('under maxLoadedBytes a load called off while its model file is measured ends at once, aborting the measure, and is no failure: registry.load()\'s signal, its one request\'s signal, unload(), close()', async () => {
  const clock = new FakeClock();
  const { backend, signals, loads } = hungMount(clock);
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedBytes: 1_000, loadTimeoutMs: 500 });
  const failures: string[] = [];
  registry.on('failure', (e) => failures.push(e.error.message));

  const controller = new AbortController();
  const load = registry.load({ name: 'a', source: 'nfs/a.json' }, { signal: controller.signal });
  load.catch(() => {});
  await flush();
  assert.equal(signals.length, 1);
  controller.abort();
  assert.equal(await settled(load), true, 'registry.load() ended on its abort');
  await assert.rejects(load, CancelledError);
  assert.equal(signals.at(-1)!.aborted, true);
  assert.equal(clock.pending, 0, 'no loadTimeoutMs timer left armed');

  registry.register({ name: 'b', source: 'nfs/b.json' });
  const leaving = new AbortController();
  const acquire = registry.acquire('b', { signal: leaving.signal });
  acquire.catch(() => {});
  await flush();
  leaving.abort();
  await assert.rejects(acquire, CancelledError);
  await flush();
  assert.equal(signals.at(-1)!.aborted, true, 'the last request gone aborts the measure');
  assert.deepEqual(registry.versions('b'), [{ version: '1', state: 'unloaded' }]);

  const waiting = registry.acquire('b');
  waiting.catch(() => {});
  await flush();
  assert.equal(await settled(registry.unload('b')), true, 'unload() ends without waiting for the measure');
  assert.equal(signals.at(-1)!.aborted, true);
  assert.equal(await settled(waiting), true);

  registry.register({ name: 'c', source: 'nfs/c.json' });
  registry.acquire('c').catch(() => {});
  await flush();
  assert.equal(await settled(registry.close()), true, 'close() ends without waiting for the measure');
  assert.equal(signals.at(-1)!.aborted, true);

  assert.deepEqual(failures, []);
  assert.deepEqual(loads, []);
});

test('an estimate that ends first leaves no loadTimeoutMs timer armed, and what it gives is reserved and reported', async () => {
  const clock = new FakeClock();
  const memory = memoryBackend({ clock });
  const backend: Backend = { name: 'sized', accepts: () => true, load: (_source, options) => memory.load(doubler(1), options), estimateBytes: async () => 600 };
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedBytes: 1_000, loadTimeoutMs: 500 });
  await registry.load({ name: 'a', source: 'a.bin' });
  assert.equal(clock.pending, 0);
  assert.equal(registry.get('a').sizeBytes, 600);
  // 600 reserved: 500 more do not fit, and 'a' makes room.
  await registry.load({ name: 'b', source: 'b.bin', sizeBytes: 500 });
  assert.deepEqual([registry.isReady('a'), registry.isReady('b')], [false, true]);
  await registry.close();
});

test('a backend whose estimateBytes is no function is refused when it is given, in `backends` or as a config\'s `backend`, quoting it', () => {
  const memory = memoryBackend();
  const odd = { name: 'odd', accepts: () => true, load: memory.load.bind(memory), estimateBytes: 5 } as unknown as Backend;
  assert.throws(
    () => new ModelRegistry({ backends: [memory, odd] }),
    (e: Error) => e instanceof TypeError && e.message === 'Expected `backends[1].estimateBytes` to be a function when given, got 5 (number)',
  );
  const registry = new ModelRegistry({ backends: [memory] });
  assert.throws(
    () => registry.register({ name: 'a', source: 'a.bin', backend: odd }),
    (e: Error) => e instanceof TypeError && e.message === 'Expected `backend.estimateBytes` to be a function when given, got 5 (number)',
  );
  assert.deepEqual(registry.names(), []);
});

test('without maxLoadedBytes nothing is measured: a version reports the size its config declares, and an estimate that would never end holds no load up', async () => {
  const clock = new FakeClock();
  const { backend, signals, loads } = hungMount(clock);
  const registry = new ModelRegistry({ backends: [backend], clock, loadTimeoutMs: 500 });
  await registry.load({ name: 'a', source: 'nfs/a.json' });
  await registry.load({ name: 'b', source: 'nfs/b.json', sizeBytes: 321 });
  assert.deepEqual([registry.get('a').sizeBytes, registry.get('b').sizeBytes, signals.length, loads], [0, 321, 0, ['a:1', 'b:1']]);
  await registry.close();
  assert.equal(clock.pending, 0);
});

test('under maxLoadedBytes an estimate that is no number of bytes fails the load with a TypeError quoting it', async () => {
  const memory = memoryBackend();
  const backend: Backend = { name: 'odd', accepts: () => true, load: (_source, options) => memory.load(doubler(1), options), estimateBytes: async () => Number.NaN };
  const registry = new ModelRegistry({ backends: [backend], maxLoadedBytes: 1_000 });
  await assert.rejects(
    registry.load({ name: 'a', source: 'a.bin' }),
    (e: Error) => e instanceof TypeError && e.message === "Expected the odd backend's estimateBytes to give a number of bytes >= 0 or undefined for model 'a' version '1', got NaN (number)",
  );
  await registry.close();
});
