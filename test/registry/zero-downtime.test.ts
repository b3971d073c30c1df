import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { InferenceService, ModelRegistry, type Backend, type MemoryModel } from 'servable';
import { memoryBackend } from 'servable/testing';
import { doubler, offsetOf, request } from './helpers.js';

const CLIENTS = 32;
/** Versions 2 to 25 are loaded in turn, one every SWAP_EVERY_MS or so; every fifth one's warm-up fails. */
const LAST_VERSION = 25;
const SWAP_EVERY_MS = 120;

/** A memory backend on real timers whose loads take a few milliseconds, like opening a real session. */
function realisticBackend(): Backend {
  const inner = memoryBackend({ concurrency: 2 });
  return {
    name: 'memory',
    accepts: (source) => inner.accepts(source),
    async load(source, options) {
      await sleep(15);
      return inner.load(source, options);
    },
  };
}

test('versions swapped repeatedly under continuous load: no request fails, each is answered by a version live at the time, and a version leaves only once another is ready', async (t) => {
  const registry = new ModelRegistry({ backends: [realisticBackend()] });
  const service = new InferenceService({ registry });
  const readyAt = new Map<number, number>();
  const retiredAt = new Map<number, number>();
  registry.on('ready', (m) => readyAt.set(Number(m.version), performance.now()));
  // Triton#5757: the old version leaves only once another is ready, so the model never has none.
  const noneReady: string[] = [];
  registry.on('draining', (m) => {
    retiredAt.set(Number(m.version), performance.now());
    if (!registry.list('m').some((v) => v.state === 'ready')) noneReady.push(m.version);
  });
  const swaps: string[] = [];
  registry.on('swap', (s) => swaps.push(`${s.from}->${s.to}`));
  const failedLoads: string[] = [];
  registry.on('failure', (f) => failedLoads.push(f.version));

  const config = (version: number, source: MemoryModel = doubler(version * 100, 1)) => ({
    name: 'm',
    version: String(version),
    source,
    batching: { maxBatchSize: 8, maxQueueDelayMs: 1 },
    versionPolicy: { latest: 1 } as const,
  });
  await registry.load(config(1));

  const answers: { start: number; end: number; version: number }[] = [];
  const failures: unknown[] = [];
  // The clients keep asking until the last version is loaded: as many swaps however long each one takes.
  let swapping = true;
  const client = async () => {
    while (swapping) {
      const start = performance.now();
      try {
        const response = await service.infer('m', request([0, 0]), { timeoutMs: 2000 });
        answers.push({ start, end: performance.now(), version: offsetOf(response) / 100 });
      } catch (error) {
        failures.push(error);
      }
    }
  };
  const swapper = async () => {
    try {
      for (let version = 2; version <= LAST_VERSION; version++) {
        await sleep(SWAP_EVERY_MS);
        if (version % 5 === 0) {
          // A version whose warm-up fails leaves the current one serving.
          const broken: MemoryModel = { ...doubler(0), run: () => { throw new Error(`version ${version} is broken`); } };
          await assert.rejects(registry.load(config(version, broken)), /is broken/);
        } else {
          await registry.load(config(version));
        }
      }
    } finally {
      swapping = false;
    }
  };
  await Promise.all([swapper(), ...Array.from({ length: CLIENTS }, client)]);

  t.diagnostic(`${answers.length} requests from ${CLIENTS} clients, ${swaps.length} swaps, ${failedLoads.length} failed loads, ${failures.length} failed requests`);
  assert.deepEqual(failures, []);
  assert.deepEqual(noneReady, [], 'versions that left with no other version ready');
  assert.ok(answers.length > 1000, `only ${answers.length} requests ran`);
  assert.deepEqual([swaps.length, failedLoads], [19, ['5', '10', '15', '20', '25']], swaps.join(' '));
  for (const v of failedLoads) assert.equal(readyAt.has(Number(v)), false);
  let late = 0;
  for (const { start, end, version } of answers) {
    const ready = readyAt.get(version);
    assert.ok(ready !== undefined && ready <= end, `version ${version} answered before it was ready`);
    if ((retiredAt.get(version) ?? Infinity) < start) late++;
  }
  assert.equal(late, 0, 'a request that started after its version stopped taking traffic was answered by it');
  // Version 25's failure stays listed (TF-Serving's END, with why); those of 5 to 20 went as newer versions became ready.
  assert.deepEqual(registry.versions('m'), [{ version: '25', state: 'failed', error: 'version 25 is broken' }, { version: '24', state: 'ready' }]);
  await registry.close();
});
