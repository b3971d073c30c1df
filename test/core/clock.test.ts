import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMER_MS, resolvesWithin } from '../../src/core/index.js';
import { FakeClock } from 'servable/testing';

test('resolvesWithin answers true when the promise resolves in time, and clears its timer', async () => {
  const clock = new FakeClock();
  let resolve!: () => void;
  const waited = resolvesWithin(new Promise<void>((r) => (resolve = r)), 100, clock);
  await clock.advanceAsync(99);
  resolve();
  assert.equal(await waited, true);
  assert.equal(clock.pending, 0);
});

test('resolvesWithin answers false once timeoutMs passes on the clock first; the promise goes on', async () => {
  const clock = new FakeClock();
  let resolve!: (value: string) => void;
  const promise = new Promise<string>((r) => (resolve = r));
  const waited = resolvesWithin(promise, 100, clock);
  await clock.advanceAsync(100);
  assert.equal(await waited, false);
  resolve('later');
  assert.equal(await promise, 'later');
});

test('resolvesWithin rejects with the promise\'s error, and clears its timer', async () => {
  const clock = new FakeClock();
  const error = new Error('unload failed');
  await assert.rejects(resolvesWithin(Promise.reject(error), 100, clock), (e) => e === error);
  assert.equal(clock.pending, 0);
});

test('resolvesWithin arms no timer for a timeout longer than a timer can hold: it waits for ever', async () => {
  const clock = new FakeClock();
  let resolve!: () => void;
  const waited = resolvesWithin(new Promise<void>((r) => (resolve = r)), MAX_TIMER_MS + 1, clock);
  assert.equal(clock.pending, 0);
  resolve();
  assert.equal(await waited, true);
});

test('FakeClock refuses a bad start or advance with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => new FakeClock(NaN), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => new FakeClock().advance(-1), { name: 'RangeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
