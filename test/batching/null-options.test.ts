import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatcherOptions } from '../../src/batching/index.js';
import { nullsTaken } from '../fixtures/null-options.js';

const OPTIONS = [
  'execute', 'maxBatchSize', 'maxQueueDelayMs', 'maxQueueSize', 'concurrency', 'sizeOf', 'defaultTimeoutMs', 'timeoutAction', 'allowTimeoutOverride',
  'priorityLevels', 'defaultPriority', 'queuePolicies', 'agingMs', 'preferredBatchSizes', 'maxLatencyMs', 'batchKey', 'split', 'merge',
  'maxRequestItems', 'splitOnFailure', 'clock',
];
const POLICY = ['maxQueueSize', 'defaultTimeoutMs', 'timeoutAction', 'allowTimeoutOverride'];

const make = (extra: Record<string, unknown>): DynamicBatcher<number, number> =>
  new DynamicBatcher<number, number>({ execute: async (xs: readonly number[]) => [...xs], maxBatchSize: 8, ...extra } as BatcherOptions<number, number>);

test('DynamicBatcher refuses null for every option and queue policy field, naming it and quoting null, where before those read with ?? took it as their default', async () => {
  assert.deepEqual(await nullsTaken(OPTIONS, (key) => make({ [key]: null })), []);
  assert.deepEqual(await nullsTaken(POLICY, (key) => make({ priorityLevels: 2, queuePolicies: { 1: { [key]: null } } }), 'queuePolicies[1].'), []);
});
