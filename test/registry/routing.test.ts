import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService, InvalidInputError, ModelNotFoundError, ModelNotReadyError, ModelRegistry, Router, systemClock, type InferenceResponse, type MemoryModel, type ShadowEvent } from 'servable';
import { FakeClock, memoryBackend } from 'servable/testing';
import { catchingUncaught } from '../fixtures/uncaught.js';
import { doubler, flush, offsetOf, request } from './helpers.js';

async function threeVersions(clock?: FakeClock) {
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'm', version: '1', source: doubler(100), labels: ['stable'] });
  await registry.load({ name: 'm', version: '2', source: doubler(200), labels: ['canary'] });
  await registry.load({ name: 'm', version: '3', source: doubler(300) });
  return registry;
}

test('a weighted split sends about its share to each version, the same key always to the same one', async () => {
  const registry = await threeVersions();
  const service = new InferenceService({ registry });
  registry.setTraffic('m', { split: [{ label: 'stable', weight: 90 }, { label: 'canary', weight: 10 }] });

  const firstPass = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const key = `user-${i}`;
    firstPass.set(key, offsetOf(await service.infer('m', request([0, 0]), { routingKey: key })));
  }
  const canary = [...firstPass.values()].filter((o) => o === 200).length;
  assert.ok(canary >= 70 && canary <= 130, `the canary got ${canary} of 1000 keys`);
  assert.equal([...firstPass.values()].filter((o) => o !== 100 && o !== 200).length, 0);
  for (const [key, offset] of firstPass) {
    assert.equal(offsetOf(await service.infer('m', request([0, 0]), { routingKey: key })), offset, `key ${key} moved`);
  }

  // An explicit version or label bypasses the split; moving the canary label moves its share.
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { version: '3' })), 300);
  registry.setLabel('m', 'canary', '3');
  const moved = [...firstPass].filter(([, o]) => o === 200).map(([key]) => key);
  for (const key of moved) assert.equal(offsetOf(await service.infer('m', request([0, 0]), { routingKey: key })), 300);
  await registry.close();
});

test('a routing key lands at its own point on each model, where every model put it at one point and two 10% canaries got the same users', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  for (const name of ['a', 'b']) {
    await registry.load({ name, version: '1', source: doubler(100), labels: ['stable'] });
    await registry.load({ name, version: '2', source: doubler(200), labels: ['canary'] });
    registry.setTraffic(name, { split: [{ label: 'stable', weight: 90 }, { label: 'canary', weight: 10 }] });
  }
  const service = new InferenceService({ registry });
  const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
  const canaryOf = (model: string) => new Set(keys.filter((key) => service.splitTarget(model, key)?.label === 'canary'));
  const [a, b] = [canaryOf('a'), canaryOf('b')];
  for (const users of [a, b]) assert.ok(users.size >= 70 && users.size <= 130, `a canary got ${users.size} of 1000 keys`);
  const both = [...a].filter((key) => b.has(key)).length;
  // Independent draws share about 10% of 10%: 10 keys; one point per key shared them all.
  assert.ok(both < 30, `${both} keys went to both canaries`);
  assert.deepEqual(canaryOf('a'), a, 'a key stays on its version of one model');
  await registry.close();
});

test('without a key the split draws at random; a target that is not ready gives its share to the others', async () => {
  const registry = await threeVersions();
  let draw = 0.95;
  const service = new InferenceService({ registry, random: () => draw });
  registry.setTraffic('m', { split: [{ version: '1', weight: 1 }, { version: '2', weight: 1 }] });
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 200);
  draw = 0.2;
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 100);
  await registry.unload('m', '1');
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 200);
  registry.setTraffic('m', undefined);
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 300);
  await registry.close();
});

test('a split none of whose targets the registry still has sends requests to the default version, where they got a 404 for a model it serves', async () => {
  const registry = await threeVersions();
  const service = new InferenceService({ registry });
  registry.setTraffic('m', { split: [{ version: '2', weight: 1 }, { label: 'canary', weight: 1 }] });
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { routingKey: 'u' })), 200);
  await registry.unload('m', '2'); // and its label 'canary' with it
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { routingKey: 'u' })), 100, 'the stable label');
  assert.equal(service.splitTarget('m', 'u'), undefined);

  // A known target that is not loaded is still loaded for its requests.
  registry.register({ name: 'm', version: '2', source: doubler(222) });
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { routingKey: 'u' })), 222);
  await registry.close();
});

test('a routing key that is not a string is a 400 quoting it, where every number landed on the same version and null failed with a 500', async () => {
  const registry = await threeVersions();
  const service = new InferenceService({ registry });
  registry.setTraffic('m', { split: [{ version: '1', weight: 1 }, { version: '2', weight: 1 }] });
  for (const [key, shown] of [[42, '42 (number)'], [null, 'null (null)'], [{ id: 1 }, '{"id":1} (object)']] as const) {
    await assert.rejects(service.infer('m', request([0, 0]), { routingKey: key as never }), (e: Error) => e instanceof InvalidInputError && e.message === `Expected \`routingKey\` to be a string, got ${shown}`);
    assert.throws(() => service.splitTarget('m', key as never), InvalidInputError);
  }
  assert.ok([100, 200].includes(offsetOf(await service.infer('m', request([0, 0]), { routingKey: '42' }))));
  await registry.close();
});

test('a version or label that is not a string is a 400 quoting it, where version 2 was a 404 while version \'2\' served', async () => {
  const registry = await threeVersions();
  const service = new InferenceService({ registry });
  await assert.rejects(service.infer('m', request([0, 0]), { version: 2 as never }), (e: Error) => e instanceof InvalidInputError && e.message === 'Expected `version` to be a string, got 2 (number)');
  await assert.rejects(service.infer('m', request([0, 0]), { label: null as never }), (e: Error) => e instanceof InvalidInputError && e.message === 'Expected `label` to be a string, got null (null)');
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { version: '2' })), 200);
  await registry.close();
});

test('traffic policies are checked, quoting the bad value', async () => {
  const registry = await threeVersions();
  assert.throws(() => registry.setTraffic('m', { split: [] }), /Expected `traffic.split` to be a non-empty array of \{version \| label, weight\}, got \[\] \(array\)/);
  assert.throws(() => registry.setTraffic('m', { split: [{ version: '1', weight: -1 }] }), /Expected `traffic.split\[0\].weight` to be a number >= 0, got -1 \(number\)/);
  assert.throws(() => registry.setTraffic('m', { split: [{ weight: 1 }] }), /Expected `traffic.split\[0\]` to name a version or a label \(one of them\)/);
  assert.throws(() => registry.setTraffic('m', { split: [{ version: '1', weight: 0 }] }), /add up to a finite number more than 0, got 0/);
  assert.throws(() => registry.setTraffic('m', { split: [{ version: '1', weight: 1e308 }, { version: '2', weight: 1e308 }] }), /add up to a finite number more than 0, got Infinity/);
  assert.throws(() => registry.setTraffic('m', { shadow: { version: '2', fraction: 2 } }), /Expected `traffic.shadow.fraction` to be a number between 0 and 1, got 2 \(number\)/);
  assert.throws(() => registry.setTraffic('m', { mirror: {} } as never), /Unknown field `traffic.mirror`/);
  assert.throws(() => new InferenceService({ registry, random: 0.5 as never }), /Expected `random` to be a function, got 0.5 \(number\)/);
  await registry.close();
});

test('setTraffic refuses a split or shadow target naming a version or label the model does not have, quoting it, and keeps the policy it had', async () => {
  const registry = await threeVersions();
  registry.setTraffic('m', { split: [{ label: 'stable', weight: 1 }] });
  const refused = (message: string) => (e: Error) => e instanceof ModelNotFoundError && e.code === 'ERR_SERVABLE_MODEL_NOT_FOUND' && e.message === message;
  const versions = "of model 'm' ('1', '2', '3')";
  assert.throws(() => registry.setTraffic('m', { split: [{ version: '1', weight: 9 }, { version: '9', weight: 1 }] }), refused(`Expected \`traffic.split[1].version\` to name a version ${versions}, got "9" (string)`));
  assert.throws(() => registry.setTraffic('m', { split: [{ label: 'canry', weight: 1 }] }), refused("Expected `traffic.split[0].label` to name a label of model 'm' ('canary', 'stable'), got \"canry\" (string)"));
  assert.throws(() => registry.setTraffic('m', { shadow: { version: '4', fraction: 0.1 } }), refused(`Expected \`traffic.shadow.version\` to name a version ${versions}, got "4" (string)`));
  assert.throws(() => registry.setTraffic('m', { shadow: { label: 'next', fraction: 0.1 } }), refused("Expected `traffic.shadow.label` to name a label of model 'm' ('canary', 'stable'), got \"next\" (string)"));
  assert.deepEqual(registry.traffic('m'), { split: [{ label: 'stable', weight: 1 }] });

  // A registered version is known (the split loads it on demand); a label only its config declares points nowhere yet, and would send its share elsewhere.
  registry.register({ name: 'm', version: '4', source: doubler(400), labels: ['next'] });
  assert.throws(() => registry.setTraffic('m', { split: [{ label: 'next', weight: 1 }] }), ModelNotFoundError);
  registry.setTraffic('m', { split: [{ version: '4', weight: 1 }], shadow: { label: 'canary', fraction: 0 } });
  const service = new InferenceService({ registry });
  assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 400);
  await registry.close();
});

test('shadow traffic is compared after the client has its answer, and counted', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'm', version: '1', source: doubler(0) });
  await registry.load({ name: 'm', version: '2', source: doubler(0, 50), labels: ['same'], warmup: [] });
  await registry.load({ name: 'm', version: '3', source: doubler(0.5, 50), labels: ['close'], warmup: [] });
  const failing: MemoryModel = { ...doubler(0), run: () => { throw new Error('shadow broke'); } };
  await registry.load({ name: 'm', version: '4', source: failing, labels: ['broken'], warmup: [] });
  registry.setLabel('m', 'stable', '1');
  const service = new InferenceService({ registry, clock });
  const events: ShadowEvent[] = [];
  service.on('shadow', (e) => events.push(e));

  const ask = async (shadow: object, then?: () => void) => {
    registry.setTraffic('m', { shadow: { fraction: 1, ...shadow } });
    then?.();
    const before = events.length;
    const answer = await service.infer('m', request([1, 2]));
    assert.deepEqual(Array.from(answer.outputs.y!.data as Float32Array), [2, 4], 'the client always gets the primary answer');
    assert.ok(events.slice(before).every((e) => e.result === 'skipped'), 'nothing is compared before the client has its answer');
    await clock.advanceAsync(50);
    await flush();
    return events.slice(before);
  };
  // The client's answer came before the shadow (50 ms on the fake clock) had run.
  assert.deepEqual((await ask({ label: 'same' })).map((e) => [e.primary, e.shadow, e.result, e.durationMs]), [['1', '2', 'agree', 50]]);
  assert.deepEqual((await ask({ label: 'close' })).map((e) => [e.shadow, e.result]), [['3', 'disagree']]);
  assert.deepEqual((await ask({ label: 'close', tolerance: 0.5 })).map((e) => [e.shadow, e.result]), [['3', 'agree']]);
  assert.deepEqual((await ask({ label: 'broken' })).map((e) => [e.shadow, e.result, e.reason]), [['4', 'error', 'ERR_SERVABLE_BACKEND']]);
  registry.setLabel('m', 'gone', '2');
  const removed = await ask({ label: 'gone' }, () => registry.removeLabel('m', 'gone'));
  assert.deepEqual(removed.map((e) => [e.shadow, e.result, e.reason]), [["label 'gone'", 'skipped', 'ERR_SERVABLE_MODEL_NOT_FOUND']]);
  assert.deepEqual(await ask({ version: '1' }), [], 'no shadow when it is the primary itself');
  assert.deepEqual(await ask({ label: 'same', fraction: 0 }), []);
  await registry.close();
});

test('shadow copies in flight are bounded; the excess is skipped as busy', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock, concurrency: 4 })], clock });
  await registry.load({ name: 'm', version: '1', source: doubler(0), labels: ['stable'] });
  await registry.load({ name: 'm', version: '2', source: doubler(0, 100), warmup: [] });
  registry.setTraffic('m', { shadow: { version: '2', fraction: 1, maxInFlight: 2 } });
  const service = new InferenceService({ registry, clock });
  const events: ShadowEvent[] = [];
  service.on('shadow', (e) => events.push(e));
  for (let i = 0; i < 4; i++) await service.infer('m', request([i, i]));
  assert.deepEqual(events.map((e) => `${e.result}:${e.reason ?? ''}`), ['skipped:busy', 'skipped:busy']);
  await clock.advanceAsync(100);
  await flush();
  assert.deepEqual(events.map((e) => e.result), ['skipped', 'skipped', 'agree', 'agree']);
  await registry.close();
});

test('Router refuses an unknown option by name', () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  assert.throws(() => new Router({ registry, clock: systemClock, onShadow: () => {}, randomness: Math.random } as never), /^TypeError: Unknown option `randomness`; Router takes registry, clock, onShadow, random$/);
});

test('Router.route() and service.runner() refuse an unknown option by name, and a bad timeoutMs quoting it', async () => {
  const registry = await threeVersions();
  const router = new Router({ registry, clock: systemClock, onShadow: () => {} });
  // A misspelt option was dropped: the default version where version 2 was asked for, or no deadline.
  await assert.rejects(router.route('m', { verison: '2' } as never), {
    name: 'TypeError',
    message: 'Unknown option `verison`; Router.route() takes version, label, signal, timeoutMs, routingKey',
  });
  await assert.rejects(router.route('m', { timeoutMs: Number.NaN }), { name: 'TypeError', message: 'Expected `timeoutMs` to be a finite number, got NaN (number)' });
  await assert.rejects(router.route('m', { timeoutMs: -1 }), { name: 'RangeError', message: 'Expected `timeoutMs` to be a number >= 0, got -1 (number)' });
  await assert.rejects(router.route('m', null as never), { name: 'TypeError', message: 'Expected `options` to be an object, got null (null)' });
  // Loaded or not, as registry.acquire checks it: a string where a signal was meant would never cancel the wait for a load.
  await assert.rejects(router.route('m', { signal: 'stop' as never }), { name: 'TypeError', message: 'Expected `signal` to be an AbortSignal, got "stop" (string)' });
  assert.equal((await router.route('m', { version: '2', timeoutMs: 100 })).version, '2');
  const service = new InferenceService({ registry });
  // Refused when the runner is made, not at each of its calls; the signal is each call's.
  assert.throws(() => service.runner('m', { lable: 'canary' } as never), {
    name: 'TypeError',
    message: 'Unknown option `lable`; runner() takes version, label, timeoutMs, routingKey, noCache, noStore, tenant, priority, onVersion',
  });
  assert.throws(() => service.runner('m', { signal: AbortSignal.abort() } as never), { name: 'TypeError', message: /^Unknown option `signal`/ });
  assert.throws(() => service.runner('m', null as never), { name: 'TypeError', message: 'Expected `options` to be an object, got null (null)' });
  const outputs = await service.runner('m', { label: 'canary' })(request([0, 0]).inputs);
  assert.deepEqual(Array.from(outputs.y!.data as Float32Array), [200, 200]);
  await registry.close();
});

test('shadow copies are bounded among concurrent requests too: a place is taken when sampled, and freed when the primary fails', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock, concurrency: 64 })], clock });
  await registry.load({ name: 'm', version: '1', source: doubler(0, 10), labels: ['stable'], batching: { maxBatchSize: 1 }, warmup: [] });
  await registry.load({ name: 'm', version: '2', source: doubler(0, 100), batching: { maxBatchSize: 1 }, warmup: [] });
  registry.setTraffic('m', { shadow: { version: '2', fraction: 1, maxInFlight: 2 } });
  const service = new InferenceService({ registry, clock });
  const events: ShadowEvent[] = [];
  service.on('shadow', (e) => events.push(e));
  const answers = Array.from({ length: 6 }, (_, i) => service.infer('m', request([i, i])));
  await clock.advanceAsync(10);
  await Promise.all(answers);
  assert.equal(registry.queues().find((q) => q.version === '2')!.inFlight, 2, 'only maxInFlight copies reach the shadow');
  await clock.advanceAsync(100);
  await flush();
  assert.deepEqual(events.map((e) => e.result).sort(), ['agree', 'agree', 'skipped', 'skipped', 'skipped', 'skipped']);

  // A primary that fails gives its place back: the next requests are mirrored.
  const cancelled = new AbortController();
  const failed = service.infer('m', request([0, 0]), { signal: cancelled.signal });
  cancelled.abort();
  await assert.rejects(failed);
  events.length = 0;
  await Promise.all([service.infer('m', request([1, 1])), service.infer('m', request([2, 2])), clock.advanceAsync(10)]);
  await clock.advanceAsync(100);
  await flush();
  assert.deepEqual(events.map((e) => e.result), ['agree', 'agree']);
  await registry.close();
});

test('a shadow listener that throws never fails the client\'s request, and its error is rethrown later, once', async () => {
  const clock = new FakeClock();
  const registry = new ModelRegistry({ backends: [memoryBackend({ clock })], clock });
  await registry.load({ name: 'm', version: '1', source: doubler(0), labels: ['stable'] });
  await registry.load({ name: 'm', version: '2', source: doubler(0), warmup: [] });
  const service = new InferenceService({ registry, clock });
  const seen: string[] = [];
  service.on('shadow', (e) => {
    seen.push(e.result);
    throw new Error(`listener broke on ${e.result}`);
  });
  await catchingUncaught(async (uncaught) => {
    registry.setLabel('m', 'gone', '2');
    registry.setTraffic('m', { shadow: { label: 'gone', fraction: 1 } });
    registry.removeLabel('m', 'gone');
    assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 0);
    registry.setTraffic('m', { shadow: { version: '2', fraction: 1 } });
    assert.equal(offsetOf(await service.infer('m', request([0, 0]))), 0);
    await flush();
    assert.deepEqual(seen, ['skipped', 'agree']);
    assert.deepEqual(uncaught.map((e) => (e as Error).message), ['listener broke on skipped', 'listener broke on agree']);
  });
  await registry.close();
});

/** A Router on a registry serving version 1 of 'm' (offset 100) under `latest: 1`: each new version swaps it out. */
async function routerOnVersion1() {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: doubler(100), versionPolicy: { latest: 1 } });
  return { registry, router: new Router({ registry, clock: systemClock, onShadow: () => {} }) };
}

test('a call that queues its request without the hold, on a version swapped out before it queued, is routed again to the new one', async () => {
  const { registry, router } = await routerOnVersion1();
  const tried: string[] = [];
  const answer = await router.run('m', request([0, 0]), {}, async (version, options) => {
    tried.push(version.version);
    if (tried.length === 1) await registry.load({ name: 'm', version: '2', source: doubler(200) });
    return version.infer(request([0, 0]), options) as Promise<InferenceResponse>;
  });
  assert.deepEqual(tried, ['1', '2']);
  assert.equal(offsetOf(answer), 200);
  await flush();
  assert.deepEqual(registry.list('m').map((v) => `${v.version}:${v.state}`), ['2:ready']);
  await registry.close();
});

test('a call that queued its request is not routed again when it fails as not ready, nor is one swapped out at every try past the third', async () => {
  const { registry, router } = await routerOnVersion1();
  const queued: string[] = [];
  await assert.rejects(
    router.run('m', request([0, 0]), {}, async (version, options, hold) => {
      queued.push(version.version);
      await version.infer(request([0, 0]), options, hold);
      await registry.unload('m', version.version);
      throw new ModelNotReadyError('a later step is not ready');
    }),
    /a later step is not ready/,
  );
  assert.deepEqual(queued, ['1']);
  await registry.load({ name: 'm', version: '2', source: doubler(200), versionPolicy: { latest: 1 } });
  const tried: string[] = [];
  await assert.rejects(
    router.run('m', request([0, 0]), {}, async (version, options) => {
      tried.push(version.version);
      await registry.load({ name: 'm', version: String(Number(version.version) + 1), source: doubler(0) });
      return version.infer(request([0, 0]), options) as Promise<InferenceResponse>;
    }),
    /Model 'm' version '4' is draining/,
  );
  assert.deepEqual(tried, ['2', '3', '4']);
  await registry.close();
});

test('a request whose version is swapped out between routing and queuing is still answered by it, which drains after', async () => {
  const { registry, router } = await routerOnVersion1();
  const tried: string[] = [];
  const answer = await router.run('m', request([0, 0]), {}, async (version, options, hold) => {
    tried.push(version.version);
    // Something slow between routing and queuing (a cache lookup, say) while version 2 takes over.
    if (tried.length === 1) await registry.load({ name: 'm', version: '2', source: doubler(200) });
    return version.infer(request([0, 0]), options, hold) as Promise<InferenceResponse>;
  });
  assert.deepEqual(tried, ['1']);
  assert.equal(offsetOf(answer), 100);
  await flush();
  assert.deepEqual(registry.list('m').map((v) => `${v.version}:${v.state}`), ['2:ready']);
  await registry.close();
});

test('a request given a hold runs on the held version, though its label moved and a swap retired it, and the hold is released after', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'm', version: '1', source: doubler(100), labels: ['canary'], versionPolicy: { latest: 1 } });
  const service = new InferenceService({ registry });
  registry.setTraffic('m', { split: [{ label: 'canary', weight: 1 }] });
  const hold = registry.peek('m', { label: 'canary' })!.hold();
  await registry.load({ name: 'm', version: '2', source: doubler(200), labels: ['canary'] });
  assert.equal(registry.peek('m', { label: 'canary' })?.version, '2');
  assert.equal(offsetOf(await service.infer('m', request([0, 0]), { hold })), 100);
  assert.equal(hold.released, true);
  await flush();
  assert.deepEqual(registry.list('m').map((v) => `${v.version}:${v.state}`), ['2:ready']);
  await registry.close();
});

test('a hold is refused with a TypeError beside a routing option (and released), or on another model (and left live); released when the request fails', async () => {
  const registry = await threeVersions();
  await registry.load({ name: 'other', version: '1', source: doubler(0) });
  const service = new InferenceService({ registry });
  const held = () => registry.peek('m', { version: '1' })!.hold();
  for (const [option, shown] of [[{ version: '2' }, 'version'], [{ label: 'canary' }, 'label'], [{ routingKey: 'u' }, 'routingKey']] as const) {
    const hold = held();
    await assert.rejects(service.infer('m', request([0, 0]), { hold, ...option }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION', message: new RegExp(`Expected no \`${shown}\` beside \`hold\``) });
    assert.equal(hold.released, true, shown);
  }
  const foreign = registry.peek('other')!.hold();
  await assert.rejects(service.infer('m', request([0, 0]), { hold: foreign }), {
    name: 'TypeError',
    code: 'ERR_SERVABLE_INVALID_OPTION',
    message: "Expected `hold` to be a hold on model 'm', got a hold on model 'other' version '1'",
  });
  assert.equal(foreign.released, false);
  foreign.release();
  await assert.rejects(service.infer('m', request([0, 0]), { hold: 'v1' as never }), {
    name: 'TypeError',
    code: 'ERR_SERVABLE_INVALID_OPTION',
    message: 'Expected `hold` to be a VersionHold, got "v1" (string)',
  });
  for (const options of [{ timeoutMs: '5' as never }, { timeoutMs: 0 }, {}]) {
    const hold = held();
    const rows = 'timeoutMs' in options ? request([0, 0]) : { inputs: {} };
    await assert.rejects(service.infer('m', rows, { hold, ...options }));
    assert.equal(hold.released, true, JSON.stringify(options));
  }
  await registry.close();
});

test('Router.run refuses an onRouted that is not a function, quoting it, before it routes or calls (releasing a hold), where it failed after routing with "options.onRouted is not a function"', async () => {
  const { registry, router } = await routerOnVersion1();
  const called: string[] = [];
  const hold = registry.peek('m')!.hold();
  for (const options of [{ onRouted: 'log' }, { onRouted: 'log', hold }] as never[]) {
    await assert.rejects(
      router.run('m', request([0, 0]), options, async (version) => {
        called.push(version.version);
        return {} as InferenceResponse;
      }),
      { name: 'TypeError', message: 'Expected `onRouted` to be a function, got "log" (string)' },
    );
  }
  assert.deepEqual(called, []);
  assert.equal(hold.released, true, 'the hold is the router\'s from the call on');
  const routed: string[] = [];
  await router.run('m', request([0, 0]), { onRouted: (v) => routed.push(v.version) }, (version, options, held) => version.infer(request([0, 0]), options, held) as Promise<InferenceResponse>);
  assert.deepEqual(routed, ['1']);
  await registry.close();
});
