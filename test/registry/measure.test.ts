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

test('a load called off while its model file is measured ends at once, aborting the measure, and is no failure: registry.load()\'s signal, unload(), close(), and under maxLoadedBytes its one request\'s signal', async () => {
  for (const bound of [1_000, undefined]) {
    const clock = new FakeClock();
    const { backend, signals, loads } = hungMount(clock);
    const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedBytes: bound, loadTimeoutMs: 500 });
    const failures: string[] = [];
    registry.on('failure', (e) => failures.push(e.error.message));

    const controller = new AbortController();
    const load = registry.load({ name: 'a', source: 'nfs/a.json' }, { signal: controller.signal });
    load.catch(() => {});
    await flush();
    assert.equal(signals.length, 1);
    controller.abort();
    assert.equal(await settled(load), true, `registry.load() ended on its abort (maxLoadedBytes ${bound})`);
    await assert.rejects(load, CancelledError);
    assert.equal(signals.at(-1)!.aborted, true);
    assert.equal(clock.pending, 0, 'no loadTimeoutMs timer left armed');

    registry.register({ name: 'b', source: 'nfs/b.json' });
    // Without the bound a load its requests left goes on, as a backend's load does (below).
    if (bound !== undefined) {
      const leaving = new AbortController();
      const acquire = registry.acquire('b', { signal: leaving.signal });
      acquire.catch(() => {});
      await flush();
      leaving.abort();
      await assert.rejects(acquire, CancelledError);
      await flush();
      assert.equal(signals.at(-1)!.aborted, true, 'the last request gone aborts the measure');
      assert.deepEqual(registry.versions('b'), [{ version: '1', state: 'unloaded' }]);
    }

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
    // Without the bound the backend loaded each alongside its measure, and what it opened was disposed.
    assert.deepEqual(loads, bound === undefined ? ['a:1', 'b:1', 'c:1'] : []);
  }
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

test('without maxLoadedBytes the backend loads a version while its source is measured, and the version reports the estimate once both have ended; a measure that never ends fails the load at its loadTimeoutMs, not twice that', async () => {
  const clock = new FakeClock();
  const memory = memoryBackend({ clock });
  const loads: string[] = [];
  let give: (bytes: number) => void = () => {};
  const backend: Backend = {
    name: 'slowfs',
    accepts: () => true,
    async load(_source, options) {
      loads.push(options?.label ?? '?');
      return memory.load(doubler(1), options);
    },
    estimateBytes: () => new Promise((resolve) => (give = resolve)),
  };
  const registry = new ModelRegistry({ backends: [backend], clock, loadTimeoutMs: 500 });
  const failures: string[] = [];
  registry.on('failure', (e) => failures.push(e.error.message));
  registry.register({ name: 'a', source: 'a.bin' });
  const acquired = registry.acquire('a');
  await flush();
  assert.deepEqual(loads, ['a:1'], 'the backend loads without waiting for the measure');
  assert.equal(registry.isReady('a'), false);
  give(321);
  assert.equal((await acquired).sizeBytes, 321);

  registry.register({ name: 'b', source: 'b.bin' });
  const hung = registry.acquire('b');
  hung.catch(() => {});
  await flush();
  assert.deepEqual(loads, ['a:1', 'b:1']);
  clock.advance(500);
  await assert.rejects(hung, (e: Error) => e.message === "Model 'b' version '1' did not load within 500 ms (`loadTimeoutMs`)");
  assert.deepEqual(failures, ["Model 'b' version '1' did not load within 500 ms (`loadTimeoutMs`)"]);
  await registry.close();
  assert.equal(clock.pending, 0);
});

test('an estimate that is no number of bytes fails the load with a TypeError quoting it, with or without maxLoadedBytes', async () => {
  for (const bound of [1_000, undefined]) {
    const memory = memoryBackend();
    const backend: Backend = { name: 'odd', accepts: () => true, load: (_source, options) => memory.load(doubler(1), options), estimateBytes: async () => Number.NaN };
    const registry = new ModelRegistry({ backends: [backend], maxLoadedBytes: bound });
    await assert.rejects(
      registry.load({ name: 'a', source: 'a.bin' }),
      (e: Error) => e instanceof TypeError && e.message === "Expected the odd backend's estimateBytes to give a number of bytes >= 0 or undefined for model 'a' version '1', got NaN (number)",
    );
    await registry.close();
  }
});
