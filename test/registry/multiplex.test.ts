import { test } from 'node:test';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { BackendError, CancelledError, DeadlineExceededError, InferenceService, InvalidInputError, ModelNotReadyError, ModelRegistry, systemClock, TensorHandler, wasCalledOff, type Backend, type Clock, type InferenceResponse } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { doubler, flush, offsetOf, record, request } from './helpers.js';

/** A memory backend whose loads take `loadMs` on the clock, counting them by model label. */
function slowBackend(clock: Clock, loadMs = 0) {
  const inner = memoryBackend({ clock, concurrency: 4 });
  const loads: string[] = [];
  const backend: Backend = {
    name: 'memory',
    accepts: (source) => inner.accepts(source),
    async load(source, options) {
      loads.push(options?.label ?? '?');
      if (loadMs > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, loadMs));
      return inner.load(source, options);
    },
  };
  return { backend, loads };
}

function setup({ loadMs, ...limits }: { maxLoadedVersions?: number; maxLoadedBytes?: number; loadMs?: number }) {
  const clock = new FakeClock();
  const { backend, loads } = slowBackend(clock, loadMs);
  const registry = new ModelRegistry({ backends: [backend], clock, ...limits });
  const service = new InferenceService({ registry, clock });
  const unloads = record(registry, ['unload'], (_, p) => `${p.name}:${p.version} (${p.reason})`);
  return { clock, registry, service, loads, unloads };
}

/**
 * `clients` callers taking turns over `names` through one shared counter, `calls` requests each;
 * model i answers with offset i. `answered()` counts the right answers, `failures` the errors.
 */
function takingTurns(service: InferenceService, names: readonly string[], { clients, calls, timeoutMs }: { clients: number; calls: number; timeoutMs: number }) {
  const failures: string[] = [];
  let answered = 0;
  let turn = 0;
  const client = async () => {
    for (let k = 0; k < calls; k++) {
      const i = turn++ % names.length;
      try {
        assert.equal(offsetOf(await service.infer(names[i]!, request([0, 0]), { timeoutMs })), i);
        answered++;
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  };
  return { failures, answered: () => answered, clients: Promise.all(Array.from({ length: clients }, client)) };
}

test('at most maxLoadedVersions stay loaded: the least recently used idle one is unloaded, and loads again on demand', async () => {
  const { clock, registry, service, loads, unloads } = setup({ maxLoadedVersions: 2 });
  for (const [name, offset] of [['a', 1], ['b', 2], ['c', 3]] as const) registry.register({ name, source: doubler(offset) });
  const ask = async (name: string) => {
    clock.advance(1);
    return offsetOf(await service.infer(name, request([0, 0])));
  };
  assert.equal(await ask('a'), 1);
  assert.equal(await ask('b'), 2);
  assert.equal(await ask('a'), 1); // a is now more recent than b
  assert.equal(await ask('c'), 3);
  await flush();
  assert.deepEqual(unloads, ['b:1 (evicted)']);
  assert.deepEqual(registry.versions('b'), [{ version: '1', state: 'unloaded' }]);
  assert.equal(await ask('b'), 2);
  await flush();
  assert.deepEqual(unloads, ['b:1 (evicted)', 'a:1 (evicted)']);
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1', 'b:1']);
  assert.equal(registry.list().length, 2);
  await registry.close();
});

test('an idle version is unloaded before a busy one, even a more recently used one', async () => {
  const { clock, registry, service, unloads } = setup({ maxLoadedVersions: 2 });
  registry.register({ name: 'busy', source: doubler(1, 30), warmup: [] });
  registry.register({ name: 'idle', source: doubler(2) });
  registry.register({ name: 'new', source: doubler(3) });
  const slow = service.infer('busy', request([0, 0]));
  await flush();
  clock.advance(1);
  assert.equal(offsetOf(await service.infer('idle', request([0, 0]))), 2);
  assert.equal(offsetOf(await service.infer('new', request([0, 0]))), 3);
  await flush();
  assert.deepEqual(unloads, ['idle:1 (evicted)']);
  await clock.advanceAsync(30);
  assert.equal(offsetOf(await slow), 1);
  await registry.close();
});

test('maxLoadedBytes bounds the estimated bytes loaded; a version larger than the bound is refused with a ModelTooLargeError (507) saying its size, the bound and by how much', async () => {
  const { registry, service, unloads } = setup({ maxLoadedBytes: 100 });
  registry.register({ name: 'a', source: doubler(1), sizeBytes: 60 });
  registry.register({ name: 'b', source: doubler(2), sizeBytes: 30 });
  registry.register({ name: 'c', source: doubler(3), sizeBytes: 50 });
  registry.register({ name: 'huge', source: doubler(4), sizeBytes: 101 });
  await service.infer('a', request([0, 0]));
  await service.infer('b', request([0, 0]));
  assert.deepEqual(unloads, []);
  await service.infer('c', request([0, 0]));
  await flush();
  assert.deepEqual(unloads, ['a:1 (evicted)']);
  assert.deepEqual(registry.list().map((v) => v.sizeBytes).sort(), [30, 50]);
  // A request gets the 503 of a load that failed, the typed reason as its cause; the operator's registry.load() gets the reason itself.
  const tooLarge = {
    name: 'ModelTooLargeError',
    code: 'ERR_SERVABLE_MODEL_TOO_LARGE',
    status: 507,
    retryAfterMs: undefined,
    sizeBytes: 101,
    maxLoadedBytes: 100,
    message: "Model 'huge' version '1' is estimated at 101 bytes, more than `maxLoadedBytes` (100) by 1 byte: no room can be made for it, however many versions are unloaded",
  };
  await assert.rejects(service.infer('huge', request([0, 0])), (e: Error) => {
    assert.ok(e instanceof ModelNotReadyError, `a ModelNotReadyError, got ${e.name}`);
    const cause = e.cause as Record<string, unknown>;
    assert.deepEqual(Object.fromEntries(Object.keys(tooLarge).map((k) => [k, cause[k]])), tooLarge);
    return true;
  });
  await assert.rejects(registry.load({ name: 'huger', source: doubler(5), sizeBytes: 350 }), { ...tooLarge, sizeBytes: 350, message: /^Model 'huger' version '1' is estimated at 350 bytes, more than `maxLoadedBytes` \(100\) by 250 bytes: / });
  await registry.close();
});

test("a ModelTooLargeError's message says by how many whole bytes, rounded up, when maxLoadedBytes or sizeBytes is no whole number, where it printed the float subtraction's noise (by 500.19999999999993 bytes)", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()], maxLoadedBytes: 500.1 });
  const over = async (sizeBytes: number) =>
    registry.load({ name: `m${sizeBytes}`, source: doubler(1), sizeBytes }).then(
      () => 'loaded',
      (e: Error) => e.message.replace(/: no room .*/, ''),
    );
  assert.deepEqual(
    [await over(1000.3), await over(500.6), await over(501.1)],
    [
      "Model 'm1000.3' version '1' is estimated at 1000.3 bytes, more than `maxLoadedBytes` (500.1) by 501 bytes",
      "Model 'm500.6' version '1' is estimated at 500.6 bytes, more than `maxLoadedBytes` (500.1) by 1 byte",
      "Model 'm501.1' version '1' is estimated at 501.1 bytes, more than `maxLoadedBytes` (500.1) by 1 byte",
    ],
  );
  await registry.close();
});

test('a request for an unloaded model waits for one shared load, bounded by its timeout', async () => {
  const { clock, registry, service, loads } = setup({ loadMs: 100 });
  registry.register({ name: 'm', source: doubler(7) });
  const impatient = assert.rejects(
    service.infer('m', request([0, 0]), { timeoutMs: 20 }),
    (e: Error) => e instanceof DeadlineExceededError && /Model 'm' version '1' was not ready within 20 ms/.test(e.message),
  );
  const patient = [1, 2, 3].map(() => service.infer('m', request([0, 0]), { timeoutMs: 500 }));
  await clock.advanceAsync(20);
  await impatient;
  await clock.advanceAsync(80);
  assert.deepEqual((await Promise.all(patient)).map(offsetOf), [7, 7, 7]);
  assert.deepEqual(loads, ['m:1']);

  // The time spent waiting for the load counts against the request's whole budget.
  registry.register({ name: 'n', source: doubler(8, 50), warmup: [] });
  const tight = assert.rejects(service.infer('n', request([0, 0]), { timeoutMs: 120 }), DeadlineExceededError);
  await clock.advanceAsync(100);
  await flush();
  await clock.advanceAsync(20);
  await tight;
  const closing = registry.close(); // waits for the batch still running (its result discarded)
  await clock.advanceAsync(50);
  await closing;
});

test('a request whose version fails to load gets a 503 with the load error as its cause, never the load\'s own 400 or plain Error', async () => {
  const { registry, service } = setup({});
  const failures = record(registry, ['failure'], (_, p) => `${p.name}: ${p.error.message}`);
  // A warm-up request that does not fit the model: the client's own request is fine.
  registry.register({ name: 'warm', source: doubler(1), warmup: [request([0, 0, 0])] });
  const tokenizer = new Error('tokenizer.json missing');
  registry.register({ name: 'init', source: doubler(2), handler: () => Object.assign(new TensorHandler(), { initialize: () => Promise.reject(tokenizer) }) });
  for (const [name, cause] of [['warm', InvalidInputError], ['init', Error]] as const) {
    await assert.rejects(service.infer(name, request([0, 0])), (e: Error) => {
      assert.ok(e instanceof ModelNotReadyError);
      assert.deepEqual([e.message, e.status, (e.cause as Error).constructor], [`Model '${name}' version '1' failed to load`, 503, cause]);
      return true;
    });
  }
  assert.equal(failures[1], 'init: tokenizer.json missing');
  assert.equal(failures[0], "warm: Input 'x': shape [1, 2] holds 2 elements, got 3");
  await registry.close();
});

test('a timeout longer than a timer can hold (about 24.8 days) does not cut short the wait for a load', async () => {
  // Real timers: Node arms a longer one for 1 ms, which a fake clock would not show.
  const { backend } = slowBackend(systemClock, 30);
  const registry = new ModelRegistry({ backends: [backend] });
  const service = new InferenceService({ registry });
  registry.register({ name: 'm', source: doubler(7) });
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { timeoutMs: 2 ** 31 })), 7);
  await registry.close();
});

test('a load that finds every loaded version still loading waits for one to be ready and answered, then unloads it: no 503, no overshoot', async () => {
  const { clock, registry, service, loads, unloads } = setup({ maxLoadedVersions: 1, loadMs: 10 });
  registry.register({ name: 'a', source: doubler(1) });
  registry.register({ name: 'b', source: doubler(2) });
  const answered: string[] = [];
  const ask = (name: string) => service.infer(name, request([0, 0]), { timeoutMs: 100 }).then((r) => answered.push(`${name}=${offsetOf(r)} at ${clock.now()}`));
  const both = Promise.all([ask('a'), ask('b')]);
  await clock.advanceAsync(5);
  assert.deepEqual(loads, ['a:1']); // b waits for room, it does not load beside a
  await clock.advanceAsync(5);
  // a is ready: b's load unloads it at once, but a first answers the request it was loaded for.
  assert.deepEqual(answered, ['a=1 at 10']);
  assert.deepEqual(unloads, ['a:1 (evicted)']);
  assert.deepEqual(loads, ['a:1', 'b:1']);
  await clock.advanceAsync(10);
  await both;
  assert.deepEqual(answered, ['a=1 at 10', 'b=2 at 20']);
  await registry.close();
});

test('waiting loads get room first come, first served', async () => {
  const { clock, registry, service, loads } = setup({ maxLoadedVersions: 1, loadMs: 10 });
  for (const [offset, name] of ['a', 'b', 'c', 'd', 'e'].entries()) registry.register({ name, source: doubler(offset) });
  const answered: string[] = [];
  const ask = (name: string) => service.infer(name, request([0, 0]), { timeoutMs: 100 }).then((r) => answered.push(`${name}=${offsetOf(r)} at ${clock.now()}`));
  const asks = ['a', 'b', 'c', 'd', 'b'].map(ask);
  const late = assert.rejects(service.infer('e', request([0, 0]), { timeoutMs: 15 }), DeadlineExceededError);
  await clock.advanceAsync(40);
  await Promise.all([...asks, late]);
  // The second 'b' shares the first one's load; 'e', given up in the queue, unloads nothing when its turn comes.
  assert.deepEqual(answered, ['a=0 at 10', 'b=1 at 20', 'b=1 at 20', 'c=2 at 30', 'd=3 at 40']);
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1', 'd:1']);
  await clock.advanceAsync(10);
  assert.deepEqual(registry.list().map((v) => v.name), ['d']);
  await registry.close();
});

test('registry.loadsWaitingForRoom counts the loads waiting for room, queued ones included, until each has room or is called off, a queued one at once', async () => {
  const { clock, registry, service } = setup({ maxLoadedVersions: 1, loadMs: 10 });
  for (const [offset, name] of ['a', 'b', 'c', 'd'].entries()) registry.register({ name, source: doubler(offset) });
  const ask = (name: string) => service.infer(name, request([0, 0]), { timeoutMs: 100 });
  const asks = [ask('a'), ask('b'), ask('c')];
  const late = assert.rejects(service.infer('d', request([0, 0]), { timeoutMs: 5 }), DeadlineExceededError);
  const waiting: number[] = [registry.loadsWaitingForRoom];
  await flush();
  waiting.push(registry.loadsWaitingForRoom); // a loads; b waits for it, c and d are queued behind
  await clock.advanceAsync(5);
  await late;
  waiting.push(registry.loadsWaitingForRoom); // d gave up, and left the queue at once, called off
  await clock.advanceAsync(10);
  waiting.push(registry.loadsWaitingForRoom); // b got a's room and loads; c waits for it
  await clock.advanceAsync(10);
  waiting.push(registry.loadsWaitingForRoom); // c got b's room and loads
  await clock.advanceAsync(10);
  await Promise.all(asks);
  waiting.push(registry.loadsWaitingForRoom);
  assert.deepEqual(waiting, [0, 3, 2, 1, 0, 0]);
  await registry.close();
});

test('under maxLoadedBytes a config whose size the registry cannot tell (no sizeBytes, a source not given as bytes, a backend with no estimateBytes) is refused, quoting the source, where it counted as 0 bytes and the bound held nothing back', async () => {
  const { registry, service } = setup({ maxLoadedBytes: 100 });
  const refused = /^Expected `sizeBytes` for model 'a' version '1': the registry has `maxLoadedBytes` \(100\) and the memory backend measures only a source given as bytes, so \{"inputs":\[\{"name":"x",.* \(object\) would count as 0 bytes; give its estimated memory \(the model file's size, say\)$/;
  assert.throws(() => registry.register({ name: 'a', source: doubler(1) }), (e: Error & { code?: unknown }) => e instanceof TypeError && refused.test(e.message) && e.code === 'ERR_SERVABLE_INVALID_OPTION');
  await assert.rejects(registry.load({ name: 'a', source: doubler(1) }), (e: Error & { code?: unknown }) => e instanceof TypeError && refused.test(e.message) && e.code === 'ERR_SERVABLE_INVALID_OPTION');
  assert.deepEqual(registry.names(), []);
  // A size given, 0 included, is the caller's estimate.
  registry.register({ name: 'a', source: doubler(1), sizeBytes: 0 });
  await registry.load({ name: 'b', source: doubler(2), sizeBytes: 60 });
  assert.equal(offsetOf(await service.infer('a', request([0, 0]))), 1);
  await registry.close();

  // Without the bound, nothing needs a size.
  const unbounded = setup({});
  await unbounded.registry.load({ name: 'a', source: doubler(1) });
  assert.equal(unbounded.registry.get('a').metadata().sizeBytes, 0);
  await unbounded.registry.close();
});

/**
 * A backend for `.json` files holding `{"offset": n}`, that measures a source by its file's size
 * on disk as onnx-node does (undefined for what is no file, the read's error for a missing one).
 */
function jsonFiles(clock: Clock, estimate?: Backend['estimateBytes']) {
  const memory = memoryBackend({ clock });
  const loads: string[] = [];
  const backend: Backend = {
    name: 'json',
    accepts: (source) => typeof source === 'string' && source.endsWith('.json'),
    async load(source, options) {
      loads.push(options?.label ?? '?');
      const { offset } = JSON.parse(await readFile(source as string, 'utf8')) as { offset: number };
      return memory.load(doubler(offset), options);
    },
    estimateBytes:
      estimate ??
      (async (source) => {
        const info = await stat(source as string);
        return info.isFile() ? info.size : undefined;
      }),
  };
  return { backend, loads };
}

/** Writes `<dir>/<name>.json` of `{"offset": offset}` padded with spaces to `bytes`. */
async function jsonFile(dir: string, name: string, offset: number, bytes: number): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ offset }).padEnd(bytes, ' '));
  return file;
}

test('under maxLoadedBytes a model file given by its path, with no sizeBytes, counts as its size on disk as its backend measures it: the least recently used is unloaded for a third, and versions report the files\' sizes', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'servable-sizes-'));
  const clock = new FakeClock();
  const { backend, loads } = jsonFiles(clock);
  // Three cls-sized files (the cls model is 579 kB); any two fit, three do not.
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedBytes: 1_200_000 });
  const service = new InferenceService({ registry, clock });
  const unloads = record(registry, ['unload'], (_, p) => `${p.name}:${p.version} (${p.reason})`);
  const sizes = { a: 570_000, b: 580_000, c: 590_000 };
  for (const [name, offset] of [['a', 1], ['b', 2], ['c', 3]] as const) {
    registry.register({ name, source: await jsonFile(dir, name, offset, sizes[name]) });
  }
  const ask = async (name: string) => {
    clock.advance(1);
    return offsetOf(await service.infer(name, request([0, 0])));
  };
  assert.equal(await ask('a'), 1);
  assert.equal(await ask('b'), 2);
  assert.equal(await ask('a'), 1);
  assert.equal(await ask('c'), 3);
  await flush();
  assert.deepEqual(unloads, ['b:1 (evicted)']);
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1']);
  assert.deepEqual(registry.list().map((m) => [m.name, m.sizeBytes]).sort(), [['a', 570_000], ['c', 590_000]]);
  await registry.close();

  // Without a bound nothing needs the size, and nothing is measured.
  const unbounded = new ModelRegistry({ backends: [jsonFiles(clock).backend], clock });
  await unbounded.load({ name: 'a', source: path.join(dir, 'a.json') });
  assert.equal(unbounded.get('a').metadata().sizeBytes, 0);
  await unbounded.close();
  await rm(dir, { recursive: true, force: true });
});

test('under maxLoadedBytes a path the backend cannot measure fails to load with a TypeError asking for sizeBytes; a missing file fails with the read\'s own error; without the bound both load on as before', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'servable-sizes-'));
  const clock = new FakeClock();
  const failures: string[] = [];
  const { backend } = jsonFiles(clock, async (source) => (String(source).startsWith('https:') ? undefined : (await stat(source as string)).size));
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedBytes: 1_000_000 });
  registry.on('failure', (e) => failures.push(`${e.name}: ${e.error.constructor.name}`));
  await assert.rejects(
    registry.load({ name: 'url', source: 'https://example.com/m.json' }),
    (e: Error) =>
      e instanceof TypeError &&
      e.message === "Expected `sizeBytes` for model 'url' version '1': the registry has `maxLoadedBytes` (1000000) and the json backend cannot measure \"https://example.com/m.json\" (string), which would count as 0 bytes; give its estimated memory (the model file's size, say)",
  );
  const missing = path.join(dir, 'missing.json');
  await assert.rejects(registry.load({ name: 'missing', source: missing }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.message.endsWith(`stat '${missing}'`));
  assert.deepEqual(failures, ['url: TypeError', 'missing: Error']);
  assert.deepEqual(registry.list(), []);
  await registry.close();

  // A custom backend's estimate that is no number of bytes is refused, quoting it.
  const odd = new ModelRegistry({ backends: [jsonFiles(clock, async () => -1).backend], clock, maxLoadedBytes: 1_000_000 });
  await assert.rejects(
    odd.load({ name: 'a', source: 'a.json' }),
    (e: Error) => e instanceof TypeError && e.message === "Expected the json backend's estimateBytes to give a number of bytes >= 0 or undefined for model 'a' version '1', got -1 (number)",
  );
  await odd.close();

  // Unbounded, nothing needs the size: an unmeasurable source counts as 0 bytes, and a missing file meets the backend's load.
  const unbounded = new ModelRegistry({ backends: [jsonFiles(clock, async () => undefined).backend], clock });
  await unbounded.load({ name: 'a', source: await jsonFile(dir, 'a', 1, 100) });
  assert.equal(unbounded.get('a').metadata().sizeBytes, 0);
  await unbounded.close();
  const measuring = new ModelRegistry({ backends: [jsonFiles(clock).backend], clock });
  await assert.rejects(measuring.load({ name: 'missing', source: missing }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.message.endsWith(`open '${missing}'`));
  await measuring.close();
  await rm(dir, { recursive: true, force: true });
});

test('measuring a model file counts against loadTimeoutMs: one that never ends fails the load, aborting the measure', async () => {
  const clock = new FakeClock();
  let aborted: unknown;
  const { backend, loads } = jsonFiles(clock, (_, options) => new Promise((_resolve, reject) => options!.signal!.addEventListener('abort', () => reject((aborted = options!.signal!.reason)))));
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedBytes: 1_000, loadTimeoutMs: 500 });
  const load = registry.load({ name: 'a', source: 'nfs/a.json' });
  await flush();
  clock.advance(500);
  await assert.rejects(load, (e: Error) => e instanceof ModelNotReadyError && e.message === "Model 'a' version '1' was not measured within 500 ms (`loadTimeoutMs`)");
  assert.equal(aborted instanceof ModelNotReadyError, true);
  assert.deepEqual(loads, []);
  await registry.close();
});

test('under maxLoadedBytes a load that would fit waits behind an earlier one that does not, and goes as soon as that one is given up', async () => {
  const { clock, registry, service, loads, unloads } = setup({ maxLoadedBytes: 100, loadMs: 10 });
  registry.register({ name: 'a', source: doubler(1), sizeBytes: 50 });
  registry.register({ name: 'b', source: doubler(2), sizeBytes: 60 });
  registry.register({ name: 'c', source: doubler(3), sizeBytes: 40 });
  const answered: string[] = [];
  const ask = (name: string) => service.infer(name, request([0, 0]), { timeoutMs: 100 }).then((r) => answered.push(`${name}=${offsetOf(r)} at ${clock.now()}`));
  const a = ask('a');
  const b = assert.rejects(service.infer('b', request([0, 0]), { timeoutMs: 3 }), DeadlineExceededError);
  const c = ask('c');
  await clock.advanceAsync(2);
  assert.deepEqual(loads, ['a:1']); // c would fit beside a, but b came first
  await clock.advanceAsync(1);
  await b;
  assert.deepEqual(loads, ['a:1', 'c:1']);
  await clock.advanceAsync(10);
  await Promise.all([a, c]);
  assert.deepEqual([answered, unloads], [['a=1 at 10', 'c=3 at 13'], []]);
  await registry.close();
});

test('a load whose callers all gave up while it was queued for room leaves the queue, called off, and does not load when room is free later', async () => {
  const { clock, registry, service, loads, unloads } = setup({ maxLoadedBytes: 100, loadMs: 10 });
  registry.register({ name: 'a', source: doubler(1), sizeBytes: 60 });
  registry.register({ name: 'c', source: doubler(3), sizeBytes: 50 });
  registry.register({ name: 'd', source: doubler(4), sizeBytes: 10 });
  const a = service.infer('a', request([0, 0]));
  const c = service.infer('c', request([0, 0]), { timeoutMs: 100 }); // waits for a to be ready, then unloads it
  const d = assert.rejects(service.infer('d', request([0, 0]), { timeoutMs: 5 }), DeadlineExceededError); // queued behind c
  await clock.advanceAsync(5);
  await d;
  await clock.advanceAsync(15);
  assert.deepEqual([offsetOf(await a), offsetOf(await c)], [1, 3]);
  await flush();
  // d would have had its turn with c's 50 bytes loaded and room for its 10: it loaded for nobody before.
  assert.deepEqual([loads, unloads], [['a:1', 'c:1'], ['a:1 (evicted)']]);
  assert.deepEqual([registry.versions('d'), registry.loadsWaitingForRoom], [[{ version: '1', state: 'unloaded' }], 0]);
  await registry.close();
});

test('a load waiting for room waits while any of its callers does: called off, not failed, once the last gives up', async () => {
  const { clock, registry, service, loads, unloads } = setup({ maxLoadedVersions: 1, loadMs: 10 });
  const failures = record(registry, ['failure'], (_, p) => `${p.name}: ${p.error.message}`);
  registry.register({ name: 'a', source: doubler(1) });
  registry.register({ name: 'b', source: doubler(2) });
  const a = service.infer('a', request([0, 0]));
  const impatient = assert.rejects(service.infer('b', request([0, 0]), { timeoutMs: 4 }), (e: Error) =>
    e instanceof DeadlineExceededError && e.message === "Model 'b' version '1' was not ready within 4 ms");
  const aborted = new AbortController();
  const abandoned = assert.rejects(service.infer('b', request([0, 0]), { signal: aborted.signal }), { name: 'CancelledError' });
  const patient = assert.rejects(service.infer('b', request([0, 0]), { timeoutMs: 8 }), DeadlineExceededError);
  await clock.advanceAsync(4);
  await impatient;
  aborted.abort();
  await abandoned;
  await clock.advanceAsync(4);
  await patient;
  // Nobody waits for 'b' any more: a is not unloaded for it when it is ready, and b never loads.
  await clock.advanceAsync(2);
  assert.equal(offsetOf(await a), 1);
  await flush();
  assert.deepEqual([loads, unloads, failures], [['a:1'], [], []]);
  assert.deepEqual(registry.versions('b'), [{ version: '1', state: 'unloaded' }]);
  assert.equal(registry.list()[0]?.name, 'a');

  // One caller still waiting is enough: the load goes on once the others gave up.
  registry.register({ name: 'c', source: doubler(3) });
  const c = service.infer('c', request([0, 0])); // unloads the idle a, loads for 10 ms
  const short = assert.rejects(service.infer('b', request([0, 0]), { timeoutMs: 5 }), DeadlineExceededError);
  const long = service.infer('b', request([0, 0]), { timeoutMs: 50 });
  await clock.advanceAsync(5);
  await short;
  await clock.advanceAsync(15);
  assert.deepEqual([offsetOf(await c), offsetOf(await long)], [3, 2]);
  assert.deepEqual([loads, unloads, failures], [['a:1', 'c:1', 'b:1'], ['a:1 (evicted)', 'c:1 (evicted)'], []]);
  await registry.close();
});

test('a load that never settles fails after loadTimeoutMs, aborting the backend\'s load and giving its room to the loads waiting for it', async () => {
  const clock = new FakeClock();
  const { backend: slow, loads } = slowBackend(clock, 10);
  const aborted: string[] = [];
  const backend: Backend = {
    ...slow,
    load: (source, options) => {
      if (options?.label !== 'hung:1') return slow.load(source, options);
      options.signal?.addEventListener('abort', () => aborted.push(`${options.label} at ${clock.now()}`));
      return new Promise(() => {}); // ignores the abort, too
    },
  };
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedVersions: 1, loadTimeoutMs: 50 });
  const service = new InferenceService({ registry, clock });
  const failures = record(registry, ['failure'], (_, p) => `${p.name}: ${p.error.message} at ${clock.now()}`);
  registry.register({ name: 'hung', source: doubler(0) });
  registry.register({ name: 'b', source: doubler(2) });
  const hung = assert.rejects(service.infer('hung', request([0, 0])), (e: Error) =>
    e instanceof ModelNotReadyError && e.message === "Model 'hung' version '1' did not load within 50 ms (`loadTimeoutMs`)");
  const b = service.infer('b', request([0, 0]), { timeoutMs: 1000 }); // waits for the hung load's room
  await clock.advanceAsync(20);
  const c = registry.load({ name: 'c', source: doubler(3) }); // queued behind b, waiting for room at most loadTimeoutMs
  await clock.advanceAsync(30);
  await hung;
  assert.deepEqual([failures, aborted], [["hung: Model 'hung' version '1' did not load within 50 ms (`loadTimeoutMs`) at 50"], ['hung:1 at 50']]);
  assert.deepEqual(registry.versions('hung'), [{ version: '1', state: 'failed', error: "Model 'hung' version '1' did not load within 50 ms (`loadTimeoutMs`)" }]);
  await clock.advanceAsync(10);
  assert.equal(offsetOf(await b), 2);
  await clock.advanceAsync(10);
  assert.equal((await c).name, 'c');
  assert.deepEqual(loads, ['b:1', 'c:1']);
  assert.equal(clock.pending, 0, 'no load timer left behind');
  await registry.unload('hung'); // returns: nothing loads it any more
  await registry.close();
});

test('a backend load that answers after loadTimeoutMs, ignoring the abort, is disposed at once: no initialize or warm-up runs on it', async () => {
  const clock = new FakeClock();
  const { backend: slow } = slowBackend(clock);
  const runs: string[] = [];
  let disposed = false;
  const backend: Backend = {
    ...slow,
    load: async (source, options) => {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 80)); // ignores the abort at 50
      const session = await slow.load(source, options);
      const run = session.run.bind(session);
      const dispose = session.dispose.bind(session);
      Object.assign(session, {
        run: (...args: Parameters<typeof run>) => (runs.push(`run at ${clock.now()}`), run(...args)),
        dispose: () => ((disposed = true), dispose()),
      });
      return session;
    },
  };
  const registry = new ModelRegistry({ backends: [backend], clock, loadTimeoutMs: 50 });
  const loading = assert.rejects(registry.load({ name: 'late', source: doubler(0) }), /did not load within 50 ms/);
  await clock.advanceAsync(50);
  await loading;
  await clock.advanceAsync(100);
  await flush();
  assert.deepEqual([runs, disposed], [[], true]);
  await registry.close();
});

test('registry.load() waits for room too, and is called off, not failed, by an unload or close() meanwhile', async () => {
  const { clock, registry, service, loads } = setup({ maxLoadedVersions: 1, loadMs: 10 });
  const failures = record(registry, ['failure'], (_, p) => `${p.name}: ${p.error.message}`);
  registry.register({ name: 'a', source: doubler(1) });
  const a = service.infer('a', request([0, 0]));
  const b = registry.load({ name: 'b', source: doubler(2) });
  await clock.advanceAsync(20);
  assert.equal(offsetOf(await a), 1);
  assert.equal(offsetOf((await (await b).infer(request([0, 0]))) as InferenceResponse), 2);

  const calledOff = (err: Error) => wasCalledOff(err) && err instanceof ModelNotReadyError;
  const c = assert.rejects(registry.load({ name: 'c', source: doubler(3) }), /'c' version '1' was unloaded while it loaded/);
  const d = assert.rejects(registry.load({ name: 'd', source: doubler(4) }), calledOff);
  await flush();
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1']); // c took the idle b's room; d waits for c
  await registry.unload('d'); // at once, without waiting for c
  await d;
  const e = assert.rejects(registry.load({ name: 'e', source: doubler(5) }), calledOff);
  await flush();
  const closed = registry.close();
  await e; // at once too
  await clock.advanceAsync(10);
  await Promise.all([closed, c]);
  assert.deepEqual(loads, ['a:1', 'b:1', 'c:1']);
  assert.deepEqual(failures, []);
});

test('registry.load() aborted while it waits for room rejects at once with the signal\'s reason, leaves the queue and the registry as it was but for the version its turn unloads, and the version loads later', async () => {
  const { clock, registry, loads } = setup({ maxLoadedVersions: 1, loadMs: 10 });
  const failures = record(registry, ['failure'], (_, p) => `${p.name}: ${p.error.message}`);
  const a = registry.load({ name: 'a', source: doubler(1) });
  await clock.advanceAsync(10);
  const hold = (await a).hold(); // a request routed to a, on its way to its queue: a cannot drain
  const [first, second] = [new AbortController(), new AbortController()];
  const b = registry.load({ name: 'b', source: doubler(2) }, { signal: first.signal }); // its turn: unloads a, waits for the drain
  const c = registry.load({ name: 'c', source: doubler(3) }, { signal: second.signal }); // queued behind b
  await flush();
  const waiting = [registry.loadsWaitingForRoom];
  const reason = new Error('shutting down');
  second.abort(reason);
  await assert.rejects(c, (e) => e === reason);
  waiting.push(registry.loadsWaitingForRoom);
  first.abort();
  await assert.rejects(b, (e: Error) => e instanceof CancelledError && e.code === 'ERR_SERVABLE_CANCELLED');
  waiting.push(registry.loadsWaitingForRoom);
  assert.deepEqual([waiting, clock.now(), registry.names(), failures, loads], [[2, 1, 0], 10, ['a'], [], ['a:1']]);
  assert.deepEqual(registry.versions('a'), [{ version: '1', state: 'draining' }]); // b's turn began unloading it: it still goes
  hold.release();
  const again = registry.load({ name: 'c', source: doubler(3) });
  await clock.advanceAsync(10);
  assert.equal(offsetOf((await (await again).infer(request([0, 0]))) as InferenceResponse), 3);
  assert.deepEqual([loads, failures], [['a:1', 'c:1'], []]);
  await registry.close();
});

test('registry.load() aborted while requests wait for the same load rejects alone: the load goes on for them', async () => {
  const { clock, registry, service, loads } = setup({ maxLoadedVersions: 1, loadMs: 10 });
  const a = registry.load({ name: 'a', source: doubler(1) });
  await clock.advanceAsync(10);
  const hold = (await a).hold();
  const controller = new AbortController();
  const b = registry.load({ name: 'b', source: doubler(2) }, { signal: controller.signal });
  const asked = service.infer('b', request([0, 0])); // joins b's load
  await flush();
  controller.abort();
  await assert.rejects(b, CancelledError);
  assert.equal(registry.loadsWaitingForRoom, 1);
  hold.release();
  await clock.advanceAsync(10);
  assert.equal(offsetOf(await asked), 2);
  assert.deepEqual([loads, registry.versions('b')], [['a:1', 'b:1'], [{ version: '1', state: 'ready' }]]);
  await registry.close();
});

test('registry.load() aborted once the backend loads rejects when that load ends, disposing what it opened: the version it would replace keeps serving', async () => {
  const { clock, registry, loads } = setup({ loadMs: 10 });
  const events = record(registry, ['ready', 'failure'], (event, p) => `${event} ${p.name}:${p.version} at ${clock.now()}`);
  const v1 = registry.load({ name: 'a', source: doubler(1) });
  await clock.advanceAsync(10);
  await v1;
  const controller = new AbortController();
  const settled: string[] = [];
  const reload = registry.load({ name: 'a', source: doubler(2) }, { signal: controller.signal }).catch((e: Error) => settled.push(`${e.name} at ${clock.now()}`));
  await clock.advanceAsync(5);
  controller.abort();
  await flush();
  assert.deepEqual(settled, []);
  await clock.advanceAsync(5);
  await reload;
  assert.deepEqual([settled, events, loads], [['CancelledError at 20'], ['ready a:1 at 10'], ['a:1', 'a:1']]);
  assert.deepEqual(registry.versions('a'), [{ version: '1', state: 'ready' }]);
  assert.equal(offsetOf((await registry.get('a').infer(request([0, 0]))) as InferenceResponse), 1);
  await registry.close();
});

test('registry.load() aborted while it waits for a draining version to give back its handler never queues for room: it rejects once the handler is free', async () => {
  const { clock, registry } = setup({ maxLoadedBytes: 100, loadMs: 10 });
  const handler = new TensorHandler();
  const loaded = [
    registry.load({ name: 'a', source: doubler(1), sizeBytes: 10, handler }),
    registry.load({ name: 'b', source: doubler(2), sizeBytes: 45 }),
    registry.load({ name: 'e', source: doubler(3), sizeBytes: 45 }),
  ];
  await clock.advanceAsync(10);
  const holds = (await Promise.all(loaded)).map((mv) => mv.hold()); // requests on their way: nothing drains
  const unloading = registry.unload('a', '1'); // a drains, its handler and its room held until then
  const c = registry.load({ name: 'c', source: doubler(4), sizeBytes: 50 }); // its turn: unloads b, waits for the drain
  const controller = new AbortController();
  const settled: string[] = [];
  const d = registry.load({ name: 'a', version: '2', source: doubler(5), sizeBytes: 10, handler }, { signal: controller.signal }).catch((e: Error) => void settled.push(e.name));
  await flush();
  controller.abort(); // while d waits for a's handler
  holds[0]!.release();
  await unloading;
  await flush();
  assert.deepEqual([settled, registry.loadsWaitingForRoom], [['CancelledError'], 1]);
  holds[1]!.release();
  await clock.advanceAsync(10);
  await Promise.all([c, d]);
  holds[2]!.release();
  await registry.close();
});

test('registry.load() aborted once its version has taken traffic, before the call settles, resolves with it: the version keeps its config and serves', async () => {
  const { clock, registry, loads } = setup({ maxLoadedVersions: 1, loadMs: 10 });
  const controller = new AbortController();
  const abortOnReady = () => controller.abort(); // as the version commits, while the call has yet to settle
  registry.on('ready', abortOnReady);
  const loading = registry.load({ name: 'a', source: doubler(1) }, { signal: controller.signal }).then((mv) => mv.version, (e: Error) => e.name);
  await clock.advanceAsync(10);
  registry.off('ready', abortOnReady);
  assert.deepEqual([await loading, registry.versions('a')], ['1', [{ version: '1', state: 'ready' }]]);
  const b = registry.load({ name: 'b', source: doubler(2) }); // evicts a, which stays known and loads again on demand
  await clock.advanceAsync(10);
  await b;
  await flush();
  assert.deepEqual(registry.versions('a'), [{ version: '1', state: 'unloaded' }]);
  const asked = registry.acquire('a');
  await clock.advanceAsync(10);
  assert.deepEqual([(await asked).version, loads], ['1', ['a:1', 'b:1', 'a:1']]);
  await registry.close();
});

test('a version loaded for waiting requests is busy until they reach its queue: clients taking turns over more models than fit are all answered', async () => {
  const { registry, service, loads } = setup({ maxLoadedVersions: 2 });
  const names = ['a', 'b', 'c'];
  for (const [offset, name] of names.entries()) registry.register({ name, source: doubler(offset) });
  const { failures, answered, clients } = takingTurns(service, names, { clients: 3, calls: 40, timeoutMs: 5000 });
  await clients;
  // The very first 'c', asked while 'a' and 'b' were both still loading, waits for room; a version
  // just loaded is not evicted before its waiting requests are queued (293 loads, 93 failures).
  assert.deepEqual(failures, []);
  assert.equal(answered(), 120);
  assert.ok(loads.length <= 120, `${loads.length} loads for 120 requests`);
  await registry.close();
});

test('clients taking turns over more models than fit, with loads that take time, wait for room within their timeout and are all answered', async () => {
  const { clock, registry, service, loads } = setup({ maxLoadedVersions: 2, loadMs: 10 });
  const names = Array.from({ length: 5 }, (_, i) => `m${i}`);
  for (const [offset, name] of names.entries()) registry.register({ name, source: doubler(offset) });
  const { failures, answered, clients } = takingTurns(service, names, { clients: 8, calls: 5, timeoutMs: 1000 });
  let done = false;
  void clients.then(() => (done = true));
  while (!done) await clock.advanceAsync(1);
  await clients;
  // Before, 16 of the 40 were refused at once with "none is ready to be unloaded" (10 loads).
  assert.deepEqual(failures, []);
  assert.equal(answered(), 40);
  assert.equal(loads.length, 20);
  assert.equal(clock.now(), 100); // 20 loads of 10 ms, two at a time: room never stands empty
  await registry.close();
});

test('a version evicted while a request routed to it is on its way to the queue still answers it, and only it', async () => {
  const { registry, unloads } = setup({ maxLoadedVersions: 1 });
  registry.register({ name: 'a', source: doubler(1) });
  registry.register({ name: 'b', source: doubler(2) });
  const hold = await registry.acquireHeld('a');
  const version = hold.version;
  assert.equal(version.held, 1);
  const b = registry.acquire('b'); // no idle version: the held one drains for b
  await flush();
  assert.equal(version.state, 'draining');
  await assert.rejects(version.infer(request([0, 0])), /Model 'a' version '1' is draining/);
  const answer = version.infer(request([0, 0]), {}, hold);
  assert.equal(version.held, 0);
  await assert.rejects(version.infer(request([0, 0]), {}, hold), /Model 'a' version '1' is draining/);
  assert.equal(offsetOf((await answer) as InferenceResponse), 1);
  assert.equal(offsetOf((await (await b).infer(request([0, 0]))) as InferenceResponse), 2);
  assert.deepEqual(unloads, ['a:1 (evicted)']);
  await registry.close();
});

test('a version refuses a hold on another version or instance, naming both, and leaves that hold as it was', async () => {
  const { registry } = setup({});
  await registry.load({ name: 'a', source: doubler(1) });
  await registry.load({ name: 'b', source: doubler(2) });
  const a = registry.resolve('a');
  const onB = await registry.acquireHeld('b');
  await assert.rejects(a.infer(request([0, 0]), {}, onB), (e: Error) => {
    assert.ok(e instanceof TypeError);
    assert.equal(e.message, "Expected `hold` to be a hold on model 'a' version '1', got a hold on model 'b' version '1'");
    assert.equal((e as Error & { code?: unknown }).code, 'ERR_SERVABLE_INVALID_OPTION');
    return true;
  });
  assert.deepEqual([onB.released, onB.version.held], [false, 1]);
  const onOldA = await registry.acquireHeld('a');
  const reloaded = await registry.load({ name: 'a', source: doubler(3) });
  await assert.rejects(reloaded.infer(request([0, 0]), {}, onOldA), {
    name: 'TypeError',
    message: "Expected `hold` to be a hold on model 'a' version '1', got a hold on another instance of it",
    code: 'ERR_SERVABLE_INVALID_OPTION',
  });
  assert.deepEqual([onOldA.released, a.state], [false, 'draining']);
  assert.equal(offsetOf((await a.infer(request([0, 0]), {}, onOldA)) as InferenceResponse), 1);
  onB.release();
  await registry.close();
});

test('a version releases the hold passed with a request it refuses as invalid, so a drain does not wait for it', async () => {
  const { registry } = setup({});
  await registry.load({ name: 'a', source: doubler(1) });
  const hold = await registry.acquireHeld('a');
  await assert.rejects(hold.version.infer(request([0, 0, 0]), {}, hold), InvalidInputError);
  assert.deepEqual([hold.released, hold.version.held], [true, 0]);
  await registry.unload('a');
  await registry.close();
});

test('an unloaded version sends what is queued at once when nothing routed to it is still on its way, and a request still on its way is answered first', async () => {
  const { clock, registry, service } = setup({});
  await registry.load({ name: 'a', source: doubler(1), batching: { maxBatchSize: 4, maxQueueDelayMs: 1000 }, warmup: [] });
  const answered: number[] = [];
  const queued = service.infer('a', request([0, 0])).then((r) => answered.push(offsetOf(r)));
  const onItsWay = registry.acquireHeld('a');
  await flush();
  const unloaded = registry.unload('a');
  await clock.advanceAsync(1);
  assert.deepEqual(answered, []); // the held request has not reached the queue yet
  const hold = await onItsWay;
  const late = hold.version.infer(request([0, 0]), {}, hold);
  await clock.advanceAsync(1);
  await queued;
  assert.equal(offsetOf((await late) as InferenceResponse), 1);
  assert.deepEqual(answered, [1]);
  await unloaded;
  await registry.close();
});

test('a version evicted while its run hangs drains once the run fails (as onnx-node fails it after runTimeoutMs), and the load waiting for its room goes on', async () => {
  const { registry, service, loads, unloads } = setup({ maxLoadedVersions: 1 });
  let fail: (error: Error) => void = () => {};
  registry.register({ name: 'a', source: { ...doubler(1), run: () => new Promise((_, reject) => (fail = reject)) }, warmup: [] });
  registry.register({ name: 'b', source: doubler(2) });
  const a = service.infer('a', request([0, 0])).catch((e: unknown) => e);
  await flush();
  const drains = record(registry, ['draining'], (_, p) => `${p.name}:${p.version} (${p.reason})`);
  const b = service.infer('b', request([0, 0]));
  await flush();
  // a drains for b, which waits for its room: for good while the run hangs.
  assert.deepEqual([drains, unloads, registry.loadsWaitingForRoom], [['a:1 (evicted)'], [], 1]);
  assert.deepEqual(registry.versions('a'), [{ version: '1', state: 'draining' }], 'still answering its run, not unloaded yet');
  fail(new BackendError('onnx-node a:1: a run took longer than runTimeoutMs (120000 ms): its worker was stopped and is being replaced'));
  assert.ok((await a) instanceof BackendError);
  assert.equal(offsetOf(await b), 2);
  assert.deepEqual([loads, unloads, registry.loadsWaitingForRoom], [['a:1', 'b:1'], ['a:1 (evicted)'], 0]);
  assert.deepEqual(registry.versions('a'), [{ version: '1', state: 'unloaded' }]);
  await registry.close();
});

test('a load waiting for room gives up after loadTimeoutMs behind a drain that never ends, naming what it waited for, and the loads queued behind it go on', async () => {
  const clock = new FakeClock();
  const { backend, loads } = slowBackend(clock);
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedVersions: 1, loadTimeoutMs: 100 });
  const failures = record(registry, ['failure'], (_, p) => `${p.name}: ${p.error.message} at ${clock.now()}`);
  await registry.load({ name: 'a', source: doubler(1) });
  // As a request routed to a that never reaches its queue (a run that never answers): a cannot finish draining.
  const stuck = registry.get('a').hold();
  const b = registry.load({ name: 'b', source: doubler(2) }).then((v) => v.name, (e: Error) => e);
  await clock.advanceAsync(50);
  const c = registry.load({ name: 'c', source: doubler(3) }).then((v) => v.name, (e: Error) => e);
  await clock.advanceAsync(50);
  const refused = await b;
  assert.ok(refused instanceof ModelNotReadyError && !wasCalledOff(refused));
  const message = "Cannot load 'b' version '1': no room within 100 ms (`loadTimeoutMs`) while it waited for 'a' version '1' to finish draining (unloaded to make room)";
  assert.deepEqual([refused.message, failures, registry.loadsWaitingForRoom], [message, [`b: ${message} at 100`], 1]);
  stuck.release(); // a drains: c, next in the queue, gets its room
  assert.equal(await c, 'c');
  assert.deepEqual([loads, registry.loadsWaitingForRoom, clock.pending], [['a:1', 'c:1'], 0, 0]);
  await registry.close();
});

test('a load waiting for room with nothing to unload gives up after loadTimeoutMs, saying so', async () => {
  const clock = new FakeClock();
  const { backend } = slowBackend(clock, 1000);
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedVersions: 1, loadTimeoutMs: 1200 });
  const a = registry.load({ name: 'a', source: doubler(1) });
  const b = registry.load({ name: 'b', source: doubler(2) }).then((v) => v.name, (e: Error) => e.message);
  await clock.advanceAsync(500);
  const c = registry.load({ name: 'c', source: doubler(3) }).then((v) => v.name, (e: Error) => e.message);
  await clock.advanceAsync(500); // a is ready: b unloads it and loads, c waits for b
  assert.equal((await a).name, 'a');
  await clock.advanceAsync(700);
  assert.equal(await c, "Cannot load 'c' version '1': no room within 1200 ms (`loadTimeoutMs`) while it waited for a version loading to be ready, or one draining to unload");
  await clock.advanceAsync(300);
  assert.deepEqual([await b, registry.loadsWaitingForRoom, clock.pending], ['b', 0, 0]);
  await registry.close();
});

test('a load waiting for room whose callers have all given up is called off at loadTimeoutMs, not failed', async () => {
  const clock = new FakeClock();
  const { backend, loads } = slowBackend(clock);
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedVersions: 1, loadTimeoutMs: 100 });
  const failures = record(registry, ['failure'], (_, p) => `${p.name}: ${p.error.message}`);
  await registry.load({ name: 'a', source: doubler(1) });
  const stuck = registry.get('a').hold(); // a cannot finish draining
  registry.register({ name: 'b', source: doubler(2) });
  const asked = registry.acquire('b', { timeoutMs: 10 }).then(() => 'ready', (e: Error) => e.message);
  await clock.advanceAsync(10);
  assert.equal(await asked, "Model 'b' version '1' was not ready within 10 ms");
  await clock.advanceAsync(90);
  assert.deepEqual([failures, registry.versions('b'), registry.loadsWaitingForRoom, loads, clock.pending], [[], [{ version: '1', state: 'unloaded' }], 0, ['a:1'], 0]);
  stuck.release();
  await registry.close();
});

test('a load whose turn for room comes only at its loadTimeoutMs fails then, unloading nothing for it', async () => {
  const clock = new FakeClock();
  const { backend } = slowBackend(clock);
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedVersions: 2, loadTimeoutMs: 100 });
  const drains = record(registry, ['draining'], (_, p) => `${p.name}:${p.version} (${p.reason})`);
  await registry.load({ name: 'a', source: doubler(1) });
  await registry.load({ name: 'x', source: doubler(9) });
  // Both busy; a, used longer ago, is unloaded for b and never finishes draining.
  const holds = [registry.get('a').hold(), registry.get('x').hold()];
  const b = registry.load({ name: 'b', source: doubler(2) }).then((v) => v.name, (e: Error) => e.message);
  const c = registry.load({ name: 'c', source: doubler(3) }).then((v) => v.name, (e: Error) => e.message);
  await clock.advanceAsync(100);
  assert.deepEqual([await b, await c, drains, registry.isReady('x')], [
    "Cannot load 'b' version '1': no room within 100 ms (`loadTimeoutMs`) while it waited for 'a' version '1' to finish draining (unloaded to make room)",
    "Cannot load 'c' version '1': no room within 100 ms (`loadTimeoutMs`) while it waited for its turn",
    ['a:1 (evicted)'],
    true,
  ]);
  for (const hold of holds) hold.release();
  await registry.close();
});

test('registry.unload() of a version whose load waits for a version unloaded to make room to finish draining calls that load off at once, unloading nothing more', async () => {
  const clock = new FakeClock();
  const { backend, loads } = slowBackend(clock);
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedVersions: 1, loadTimeoutMs: 100 });
  const failures = record(registry, ['failure'], (_, p) => `${p.name}: ${p.error.message}`);
  await registry.load({ name: 'a', source: doubler(1) });
  const stuck = registry.get('a').hold(); // a, unloaded for b, cannot finish draining
  const b = registry.load({ name: 'b', source: doubler(2) }).then((v) => v.name, (e: Error) => `${wasCalledOff(e) ? 'called off' : 'failed'} at ${clock.now()}`);
  await clock.advanceAsync(10);
  const unloaded = registry.unload('b').then(() => `unloaded at ${clock.now()}`);
  const settled: string[] = [];
  for (const outcome of [b, unloaded]) void outcome.then((s) => settled.push(s));
  await clock.advanceAsync(0);
  assert.deepEqual([settled, failures, registry.loadsWaitingForRoom], [['called off at 10', 'unloaded at 10'], [], 0]);
  stuck.release();
  await flush();
  assert.deepEqual([loads, registry.versions('a'), clock.pending], [['a:1'], [{ version: '1', state: 'unloaded' }], 0]);
  await registry.close();
});

test('a load waiting for a version unloaded to make room to finish draining takes room released meanwhile by another', async () => {
  const clock = new FakeClock();
  const { backend, loads } = slowBackend(clock);
  const registry = new ModelRegistry({ backends: [backend], clock, maxLoadedVersions: 2, loadTimeoutMs: 100 });
  await registry.load({ name: 'a', source: doubler(1) });
  await registry.load({ name: 'x', source: doubler(9) });
  const [a, x] = [registry.get('a').hold(), registry.get('x').hold()]; // a, used longer ago, is unloaded for b and does not finish draining
  const b = registry.load({ name: 'b', source: doubler(2) }).then((v) => `${v.name} at ${clock.now()}`, (e: Error) => e.message);
  await clock.advanceAsync(10);
  const unloaded = registry.unload('x');
  x.release(); // x drains: its room is b's
  await clock.advanceAsync(0);
  assert.deepEqual([await b, loads, registry.versions('a')], ['b at 10', ['a:1', 'x:1', 'b:1'], [{ version: '1', state: 'draining' }]]);
  await unloaded;
  a.release();
  await registry.close();
});
