import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, ModelRegistry, type Backend, type RegistryEvents } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { createHttpHandler } from 'servable/protocol';
import { doubler, flush, offsetOf, record, request } from './helpers.js';

// A hot swap under maxLoadedBytes (tensorflow/serving#2017: a reload needs twice the memory, then OOM).

const lifecycle: (keyof RegistryEvents)[] = ['ready', 'swap', 'draining', 'unload', 'failure'];

function describeEvent(event: keyof RegistryEvents, p: any): string {
  if (event === 'swap') return `swap ${p.from}->${p.to}`;
  if (event === 'draining' || event === 'unload') return `${event} ${p.version} (${p.reason})`;
  if (event === 'failure') return `failure ${p.version}: ${p.error.message}`;
  return `${event} ${p.version}`;
}

/** A registry whose backend loads take 100 ms of fake time, logging each backend load among the registry's events with the bytes then loaded. */
function setup(maxLoadedBytes: number) {
  const clock = new FakeClock();
  const inner = memoryBackend({ clock });
  let log: string[] = [];
  let peak = 0;
  const registry: ModelRegistry = new ModelRegistry({
    clock,
    maxLoadedBytes,
    backends: [{
      name: 'memory',
      accepts: (source) => inner.accepts(source),
      async load(source, options) {
        const held = registry.list().reduce((sum, v) => sum + (v.sizeBytes ?? 0), 0);
        log.push(`backend load ${options?.label} (${held} bytes held)`);
        peak = Math.max(peak, held + 60);
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 100));
        return inner.load(source, options);
      },
    } satisfies Backend],
  });
  log = record(registry, lifecycle, describeEvent);
  const service = new InferenceService({ registry, clock });
  const http = createHttpHandler({ service });
  const readiness = async () => (await http.handle({ method: 'GET', path: '/v2/health/ready', headers: {} })).status;
  const config = (version: string, offset: number) => ({ name: 'm', version, source: doubler(offset), sizeBytes: 60, versionPolicy: { latest: 1 } as const });
  return { clock, registry, service, log, config, peak: () => peak, readiness };
}

test('a new version that fits beside the old one under maxLoadedBytes is swapped in while the old one serves: no request waits', async () => {
  const { clock, registry, service, log, config, peak, readiness } = setup(120);
  const first = registry.load(config('1', 100));
  await clock.advanceAsync(100);
  await first;
  const second = registry.load(config('2', 200));
  await flush();
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 100, 'the old version answers while the new one loads');
  assert.equal(await readiness(), 200, 'a version serves: the model is not starting');
  await clock.advanceAsync(100);
  await second;
  await flush();
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 200);
  assert.deepEqual(log, [
    'backend load m:1 (0 bytes held)', 'ready 1',
    'backend load m:2 (60 bytes held)', 'ready 2', 'swap 1->2', 'draining 1 (policy)', 'unload 1 (policy)',
  ]);
  assert.equal(peak(), 120);
  await registry.close();
});

test('a new version with no room beside the old one under maxLoadedBytes unloads the old one before the backend loads it: memory never doubles past the bound, and requests meanwhile wait for the new one instead of failing, and the swap is reported once it is ready', async () => {
  const { clock, registry, service, log, config, peak, readiness } = setup(100);
  const first = registry.load(config('1', 100));
  await clock.advanceAsync(100);
  await first;
  assert.equal(await readiness(), 200);
  const second = registry.load(config('2', 200));
  await flush();
  assert.deepEqual([registry.isStarting('m'), await readiness()], [true, 503], 'no version ready: the model counts as starting (docs/http.md)');
  const waiting = [service.infer('m', request([0, 0]), { timeoutMs: 1000 }), service.infer('m', request([0, 0]), { timeoutMs: 1000 })];
  await clock.advanceAsync(100);
  await second;
  assert.deepEqual((await Promise.all(waiting)).map(offsetOf), [200, 200]);
  assert.deepEqual([registry.isStarting('m'), await readiness()], [false, 200]);
  await flush();
  assert.deepEqual(log, [
    'backend load m:1 (0 bytes held)', 'ready 1',
    'draining 1 (evicted)', 'unload 1 (evicted)', 'backend load m:2 (0 bytes held)', 'ready 2', 'swap 1->2',
  ]);
  assert.equal(peak(), 60);
  assert.deepEqual(registry.versions('m'), [{ version: '2', state: 'ready' }]);

  // A forced reload of the same version (Triton#7013) under the same bound does the same.
  const reload = registry.load(config('2', 222));
  await flush();
  const meanwhile = service.infer('m', request([0, 0]), { timeoutMs: 1000 });
  await clock.advanceAsync(100);
  await reload;
  assert.equal(offsetOf(await meanwhile), 222);
  assert.equal(peak(), 60);
  await flush();
  assert.deepEqual(log.slice(7), ['draining 2 (replaced)', 'unload 2 (replaced)', 'backend load m:2 (0 bytes held)', 'ready 2'], 'the old instance drains as replaced; the same version loaded again is no swap');
  await registry.close();
});
