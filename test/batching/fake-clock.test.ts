import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/testing/fake-clock.js';

test('fires due timers in time order, ties in the order they were set', () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 10);
  clock.setTimeout(() => fired.push(`late@${clock.now()}`), 31);
  assert.equal(clock.pending, 4);
  assert.equal(clock.nextAt, 10);
  clock.advance(30);
  assert.deepEqual(fired, ['a@10', 'b@10', 'c@30']);
  assert.equal(clock.now(), 30);
  assert.equal(clock.pending, 1);
  assert.equal(clock.nextAt, 31);
});

test('clearTimeout cancels; negative, NaN and infinite delays count as 0', () => {
  const clock = new FakeClock(100);
  const fired: number[] = [];
  const handle = clock.setTimeout(() => fired.push(1), 5);
  clock.setTimeout(() => fired.push(2), -5);
  clock.setTimeout(() => fired.push(3), Number.NaN);
  clock.clearTimeout(handle);
  clock.clearTimeout('not a handle');
  assert.equal(clock.pending, 2);
  clock.advance(0);
  assert.deepEqual(fired, [2, 3]);
  clock.advance(10);
  assert.deepEqual(fired, [2, 3]);
  assert.equal(clock.now(), 110);
  assert.equal(clock.nextAt, undefined);
});

test('advance fires timers set by callbacks inside the window, synchronously', () => {
  const clock = new FakeClock();
  const fired: number[] = [];
  clock.setTimeout(() => {
    fired.push(clock.now());
    clock.setTimeout(() => fired.push(clock.now()), 5);
  }, 10);
  clock.advance(15);
  assert.deepEqual(fired, [10, 15]);
});

test('advanceAsync lets promise callbacks run between timers, so awaited chains are timed exactly', async () => {
  const clock = new FakeClock();
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  const seen: number[] = [];
  const chain = (async () => {
    for (let i = 0; i < 3; i++) {
      await sleep(10);
      seen.push(clock.now());
    }
  })();
  await clock.advanceAsync(25);
  assert.deepEqual(seen, [10, 20]);
  await clock.advanceAsync(5);
  await chain;
  assert.deepEqual(seen, [10, 20, 30]);

  // The synchronous advance cannot see a timer set after an await inside the window.
  const sync = new FakeClock();
  const seenSync: number[] = [];
  void (async () => {
    await new Promise<void>((resolve) => sync.setTimeout(resolve, 10));
    seenSync.push(sync.now());
    await new Promise<void>((resolve) => sync.setTimeout(resolve, 10));
    seenSync.push(sync.now());
  })();
  sync.advance(25);
  await sync.flush();
  assert.deepEqual(seenSync, [25]);
});

test('next() jumps to the next timer; runAll() runs them all and stops runaway re-arming', async () => {
  const clock = new FakeClock();
  const fired: number[] = [];
  clock.setTimeout(() => fired.push(clock.now()), 40);
  clock.setTimeout(() => fired.push(clock.now()), 7);
  assert.equal(await clock.next(), true);
  assert.deepEqual(fired, [7]);
  assert.equal(clock.now(), 7);
  assert.equal(await clock.runAll(), 1);
  assert.deepEqual(fired, [7, 40]);
  assert.equal(await clock.next(), false);

  const loop = () => clock.setTimeout(loop, 1);
  loop();
  await assert.rejects(clock.runAll(50), /stopped after 50 rounds/);
});

test('rejects bad arguments and overlapping advances', async () => {
  const clock = new FakeClock();
  assert.throws(() => clock.advance(-1), RangeError);
  assert.throws(() => clock.advance(Number.NaN), /finite number >= 0, got NaN/);
  assert.throws(() => new FakeClock(Number.POSITIVE_INFINITY), TypeError);
  const running = clock.advanceAsync(10);
  assert.throws(() => clock.advance(1), /already advancing/);
  await running;
  clock.setTimeout(() => clock.advance(1), 1);
  assert.throws(() => clock.advance(5), /already advancing/);
});
