import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Histogram, Registry } from 'prom-client';
import { InferenceService, ModelRegistry } from 'servable';
import { InferenceStatistics, ServingMetrics, timed, type ServingMetricsOptions } from 'servable/metrics';
import { memoryBackend } from 'servable/testing';
import { nullsTaken } from '../fixtures/null-options.js';

test('the metrics refuse null for every option, naming it and quoting null, where before those read with ?? took it as their default', async () => {
  const service = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  const serving = (extra: Record<string, unknown>) => new ServingMetrics({ promRegistry: new Registry(), caches: { c: new EventEmitter() }, ...extra } as unknown as ServingMetricsOptions);
  const keys = ['promRegistry', 'registry', 'service', 'batchers', 'caches', 'prefix', 'buckets'];
  assert.deepEqual(await nullsTaken(keys, (key) => serving({ [key]: null })), [], 'ServingMetrics');
  assert.deepEqual(await nullsTaken(['seconds', 'batchSize'], (key) => serving({ buckets: { [key]: null } }), 'buckets.'), [], 'buckets');
  assert.deepEqual(await nullsTaken(['service', 'registry', 'caches', 'now'], (key) => new InferenceStatistics({ service, [key]: null } as never)), [], 'InferenceStatistics');
  const seconds = new Histogram({ name: 'null_seconds', help: 'h', labelNames: ['outcome', 'fn'], registers: [new Registry()] });
  assert.deepEqual(await nullsTaken(['labels', 'outcomeLabel', 'methodLabel', 'clock'], (key) => timed(() => 1, seconds, { [key]: null } as never)), [], 'timed');
});
