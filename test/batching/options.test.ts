import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatcherOptions } from '../../src/batching/index.js';
import { InvalidInputError } from '../../src/core/index.js';
import { FakeClock, track } from './helpers.js';

const execute = async (xs: readonly number[]) => xs;
const make = (extra: Record<string, unknown>) => () =>
  new DynamicBatcher<number, number>({ execute, maxBatchSize: 8, ...extra } as BatcherOptions<number, number>);

test('every option is validated at construction, quoting the bad value, with a stable code', () => {
  const cases: [Record<string, unknown>, ErrorConstructor, string][] = [
    [{ execute: undefined }, TypeError, 'Expected `execute` to be a function, got undefined (undefined)'],
    [{ maxBatchSize: 0 }, RangeError, 'Expected `maxBatchSize` to be an integer >= 1, got 0 (number)'],
    [{ maxBatchSize: '8' }, TypeError, 'Expected `maxBatchSize` to be an integer, got "8" (string)'],
    [{ maxQueueDelayMs: -1 }, RangeError, 'Expected `maxQueueDelayMs` to be a number >= 0, got -1 (number)'],
    [{ maxQueueSize: 0 }, RangeError, 'Expected `maxQueueSize` to be an integer >= 1, got 0 (number)'],
    [{ concurrency: 1.5 }, TypeError, 'Expected `concurrency` to be an integer, got 1.5 (number)'],
    [{ sizeOf: 3 }, TypeError, 'Expected `sizeOf` to be a function, got 3 (number)'],
    [{ defaultTimeoutMs: 0 }, RangeError, 'Expected `defaultTimeoutMs` to be a number > 0, got 0 (number)'],
    [{ defaultTimeoutMs: -1 }, RangeError, 'Expected `defaultTimeoutMs` to be a number > 0, got -1 (number)'],
    [{ splitOnFailure: 'yes' }, TypeError, 'Expected `splitOnFailure` to be a boolean, got "yes" (string)'],
    [{ clock: {} }, TypeError, 'Expected `clock` to be a Clock ({now, setTimeout, clearTimeout}), got {} (object)'],
    [{ timeoutAction: 'drop' }, TypeError, 'Expected `timeoutAction` to be one of "reject", "delay", got "drop" (string)'],
    [{ allowTimeoutOverride: 1 }, TypeError, 'Expected `allowTimeoutOverride` to be a boolean, got 1 (number)'],
    [{ priorityLevels: 0 }, RangeError, 'Expected `priorityLevels` to be an integer between 1 and 256, got 0 (number)'],
    [{ priorityLevels: 2, defaultPriority: 3 }, RangeError, 'Expected `defaultPriority` to be an integer between 1 and 2, got 3 (number)'],
    [{ priorityLevels: 2, queuePolicies: { 3: {} } }, RangeError, 'Expected `queuePolicies` keys to be priority levels between 1 and 2, got "3" (string)'],
    [{ priorityLevels: 2, queuePolicies: { 2: { maxQueueSize: -4 } } }, RangeError, 'Expected `queuePolicies[2].maxQueueSize` to be an integer >= 1, got -4 (number)'],
    [{ priorityLevels: 2, queuePolicies: { 1: null } }, TypeError, 'Expected `queuePolicies[1]` to be an object, got null (null)'],
    [{ agingMs: 0 }, RangeError, 'Expected `agingMs` to be a number > 0, got 0 (number)'],
    [{ preferredBatchSizes: 4 }, TypeError, 'Expected `preferredBatchSizes` to be an array of integers, got 4 (number)'],
    [{ preferredBatchSizes: [2, 9] }, RangeError, 'Expected `preferredBatchSizes[1]` to be an integer between 1 and 8, got 9 (number)'],
    [{ preferredBatchSizes: Array(1) }, TypeError, 'Expected `preferredBatchSizes[0]` to be an integer, got undefined (undefined)'],
    [{ maxLatencyMs: Number.NaN }, TypeError, 'Expected `maxLatencyMs` to be a finite number, got NaN (number)'],
    [{ batchKey: 'width' }, TypeError, 'Expected `batchKey` to be a function, got "width" (string)'],
    [{ split: (r: number) => [r] }, TypeError, 'Expected `split` and `merge` to be given together, got only `split`'],
    [{ maxQueueDelay: 5 }, TypeError,
      'Unknown option `maxQueueDelay`; DynamicBatcher takes execute, maxBatchSize, maxQueueDelayMs, maxQueueSize, concurrency, sizeOf, ' +
        'defaultTimeoutMs, timeoutAction, allowTimeoutOverride, priorityLevels, defaultPriority, queuePolicies, agingMs, ' +
        'preferredBatchSizes, maxLatencyMs, batchKey, split, merge, maxRequestItems, splitOnFailure, clock'],
    [{ maxRequestItems: 2 }, RangeError, 'Expected `maxRequestItems` to be an integer >= 8, got 2 (number)'],
    [{ priorityLevels: 2, queuePolicies: { 1: { maxQueueSise: 3 } } }, TypeError,
      'Unknown option `queuePolicies[1].maxQueueSise`; a queue policy takes maxQueueSize, defaultTimeoutMs, timeoutAction, allowTimeoutOverride'],
    [{ priorityLevels: 2, queuePolicies: { ' 1': {} } }, RangeError, 'Expected `queuePolicies` keys to be priority levels between 1 and 2, got " 1" (string)'],
    [{ priorityLevels: 2, queuePolicies: { '0x1': {} } }, RangeError, 'Expected `queuePolicies` keys to be priority levels between 1 and 2, got "0x1" (string)'],
    // Options that are each valid but mean nothing together: refused naming both, quoting both values.
    [{ preferredBatchSizes: [4, 2, 4] }, RangeError, 'Expected `preferredBatchSizes` to hold each size once, got [4,2,4] (array)'],
    [{ agingMs: 50 }, RangeError,
      'Expected `agingMs` only with `priorityLevels` above 1 (aging lifts a request to a higher level), got agingMs 50 (number) with priorityLevels left out (1 level)'],
    [{ agingMs: 50, priorityLevels: 1 }, RangeError,
      'Expected `agingMs` only with `priorityLevels` above 1 (aging lifts a request to a higher level), got agingMs 50 (number) with priorityLevels 1 (number)'],
    [{ maxLatencyMs: 10, maxQueueDelayMs: 20 }, RangeError,
      'Expected `maxQueueDelayMs` to be below `maxLatencyMs` (adaptive mode ends every wait before the objective, so a cap at or above it never ends one), got maxQueueDelayMs 20 (number) with maxLatencyMs 10 (number)'],
    [{ maxLatencyMs: 10, maxQueueDelayMs: 10 }, RangeError,
      'Expected `maxQueueDelayMs` to be below `maxLatencyMs` (adaptive mode ends every wait before the objective, so a cap at or above it never ends one), got maxQueueDelayMs 10 (number) with maxLatencyMs 10 (number)'],
  ];
  for (const [extra, type, message] of cases) {
    assert.throws(make(extra), (error: Error) => {
      assert.equal(error.constructor, type, `${JSON.stringify(extra)} threw ${error.name}: ${error.message}`);
      assert.equal(error.message, message);
      assert.equal((error as { code?: unknown }).code, 'ERR_SERVABLE_INVALID_OPTION', `${JSON.stringify(extra)} threw without the code`);
      return true;
    });
  }
  assert.throws(() => new DynamicBatcher(null as never), { message: 'Expected `options` to be an object, got null (null)', code: 'ERR_SERVABLE_INVALID_OPTION' });
  // Valid edge values construct.
  make({ maxQueueSize: Infinity, maxQueueDelayMs: 0, priorityLevels: 256 })();
  // Preferred sizes in any order, as Triton takes them; [] is none, as Triton reads an empty preferred_batch_size.
  make({ preferredBatchSizes: [8, 2] })();
  make({ preferredBatchSizes: [] })();
  make({ priorityLevels: 2, agingMs: 50 })();
  make({ maxLatencyMs: 10, maxQueueDelayMs: 9.5 })();
  make({ maxLatencyMs: 10, maxQueueDelayMs: 0 })();
  // maxRequestItems' default (maxBatchSize × 1024) must not outgrow what it is checked against.
  make({ maxBatchSize: Number.MAX_SAFE_INTEGER })();
});

test('bad per-request values reject with InvalidInputError (400) saying what was wrong', async () => {
  const clock = new FakeClock();
  const batcher = new DynamicBatcher<number[], number>({ clock, maxBatchSize: 4, sizeOf: (r) => r.length, priorityLevels: 3, execute: async (rs) => rs.map((r) => r.length) });
  const cases: [Promise<number>, RegExp][] = [
    [batcher.submit([1, 2, 3, 4, 5]), /The request holds 5 items, more than maxBatchSize \(4\)/],
    [batcher.submit([]), /Expected sizeOf\(request\) to be a positive integer number of items, got 0 \(number\)/],
    [batcher.submit([1], { priority: 0 }), /Expected `priority` to be an integer between 1 and 3, got 0 \(number\)/],
    [batcher.submit([1], { priority: 1.5 }), /got 1.5 \(number\)/],
    [batcher.submit([1], { timeoutMs: -5 }), /Expected `timeoutMs` to be a number > 0, got -5 \(number\)/],
    [batcher.submit([1], { timeoutMs: Number.NaN }), /Expected `timeoutMs` to be a number > 0/],
  ];
  for (const [promise, message] of cases) {
    await assert.rejects(promise, (error: Error) => {
      assert.ok(error instanceof InvalidInputError, error.message);
      assert.equal(error.status, 400);
      assert.match(error.message, message);
      return true;
    });
  }
  await assert.rejects(batcher.submit([1], { signal: 'stop' as never }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  // A misspelt option is refused, not ignored: `timeoutMS` would have left the request without a timeout.
  await assert.rejects(batcher.submit([1], { timeoutMS: 5 } as never), {
    name: 'TypeError',
    message: 'Unknown option `timeoutMS`; submit() takes signal, timeoutMs, priority',
    code: 'ERR_SERVABLE_INVALID_OPTION',
  });
  await assert.rejects(batcher.submit([1], null as never), {
    name: 'TypeError',
    message: 'Expected `options` to be an object, got null (null)',
    code: 'ERR_SERVABLE_INVALID_OPTION',
  });
  const fine = track(batcher.submit([1, 2], { priority: 3, timeoutMs: Infinity }));
  await clock.advanceAsync(0);
  assert.equal(fine.value, 2);
  assert.equal(batcher.queued, 0);
});
