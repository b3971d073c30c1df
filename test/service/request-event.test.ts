import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineExceededError, InferenceService, InvalidInputError, ModelRegistry, type Backend, type RequestEvent } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { doubler, request } from '../registry/helpers.js';

test("a request whose timeout runs out between routing and queueing is reported with the version it was routed to", async () => {
  // The registry loads on its own clock; the service's budget runs on another, spent during the load.
  const registryClock = new FakeClock();
  const inner = memoryBackend({ clock: registryClock });
  let loading!: () => void;
  const started = new Promise<void>((resolve) => (loading = resolve));
  const backend: Backend = {
    name: 'memory',
    accepts: (source) => inner.accepts(source),
    async load(source, options) {
      const loaded = new Promise<void>((resolve) => registryClock.setTimeout(resolve, 10));
      loading();
      await loaded;
      return inner.load(source, options);
    },
  };
  const registry = new ModelRegistry({ backends: [backend], clock: registryClock });
  registry.register({ name: 'm', version: '4', source: doubler(0), warmup: [] });
  const clock = new FakeClock();
  const service = new InferenceService({ registry, clock });
  const events: RequestEvent[] = [];
  service.on('request', (e) => events.push(e));
  try {
    const late = service.infer('m', request([0, 0]), { timeoutMs: 50 });
    await started;
    clock.advance(60);
    registryClock.advance(10);
    await assert.rejects(late, (e: Error) => e instanceof DeadlineExceededError && e.message === "Model 'm' did not answer within 50 ms");
    assert.deepEqual(events, [{ model: 'm', version: '4', outcome: 'timeout', durationMs: 60 }]);
  } finally {
    await registry.close();
  }
});

test("a service given no clock measures on its registry's, and refuses a clock that is not one, quoting it", async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'm', version: '1', source: doubler(0, 25), warmup: [] });
  assert.throws(() => new InferenceService({ registry, clock: Date as never }), /^TypeError: Expected `clock` to be a Clock \(\{now, setTimeout, clearTimeout\}\), got /);
  const service = new InferenceService({ registry });
  const events: RequestEvent[] = [];
  service.on('request', (e) => events.push(e));
  try {
    const answer = service.infer('m', request([1, 2]));
    await clock.advanceAsync(25);
    await answer;
    assert.deepEqual(events, [{ model: 'm', version: '1', outcome: 'success', durationMs: 25 }]);
  } finally {
    await registry.close();
  }
});

test('reportFailure counts a refused request with the version it names, without one by default, and refuses a version that is no string, quoting it', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend()], clock });
  const service = new InferenceService({ registry });
  const events: RequestEvent[] = [];
  service.on('request', (e) => events.push(e));
  try {
    const bad = new InvalidInputError('bad body');
    service.reportFailure('m', bad);
    service.reportFailure('m', bad, '3');
    assert.throws(() => service.reportFailure('m', bad, 3 as never), { name: 'TypeError', message: 'Expected `version` to be a string, got 3 (number)' });
    assert.deepEqual(events, [
      { model: 'm', version: '', outcome: 'invalid', durationMs: 0 },
      { model: 'm', version: '3', outcome: 'invalid', durationMs: 0 },
    ]);
  } finally {
    await registry.close();
  }
});
