import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from 'servable/repository';

const FILE = '/models/cls/config.json';
const parse = (config: unknown) => parseConfig(FILE, typeof config === 'string' ? config : JSON.stringify(config));

test('a config is read with its defaults: onnx-node, model.onnx, latest 1', () => {
  const config = parse({});
  assert.deepEqual(config.backend, { name: 'onnx-node', options: {} });
  assert.equal(config.modelFile, 'model.onnx');
  assert.deepEqual(config.versionPolicy, { latest: 1 });
  assert.deepEqual(config.labels, {});
  assert.equal(config.warmup, undefined);

  const full = parse({
    backend: { name: 'onnx-node', devices: ['cuda', 'cpu'], instances: 2 },
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
    batching: { maxBatchSize: 16, maxQueueDelayMs: 2, maxQueueSize: 256, defaultTimeoutMs: 1000, priorityLevels: 2 },
    versionPolicy: { specific: ['1', '3'] },
    labels: { stable: '1', canary: '3' },
    traffic: { split: [{ label: 'stable', weight: 95 }, { label: 'canary', weight: 5 }] },
    warmup: [{ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: [1, 2] }, n: { datatype: 'INT64', shape: [1] } } }],
    handler: { module: 'handler.js', export: 'OcrHandler', options: { threshold: 0.9 } },
  });
  assert.deepEqual(full.backend, { name: 'onnx-node', options: { devices: ['cuda', 'cpu'], instances: 2 } });
  assert.deepEqual(full.handler, { module: 'handler.js', export: 'OcrHandler', options: { threshold: 0.9 } });
  assert.deepEqual(full.warmup, [{ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: [1, 2] }, n: { datatype: 'INT64', shape: [1] } } }], 'with a handler, warm-up requests stay JSON');
  const tensors = parse({ warmup: [{ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: [1, 2] }, n: { datatype: 'INT64', shape: [1] } } }] });
  const request = tensors.warmup![0] as { inputs: Record<string, { data: unknown }> };
  assert.deepEqual(request.inputs.x!.data, new Float32Array([1, 2]));
  assert.deepEqual(request.inputs.n!.data, new BigInt64Array([0n]));
});

test('an invalid config names the file, the field and the bad value', () => {
  const cases: [unknown, RegExp][] = [
    ['{"batching": ', /Error: \/models\/cls\/config.json: not valid JSON/],
    [[], /Error: \/models\/cls\/config.json: Expected `config` to be an object, got \[\] \(array\)/],
    [{ batchng: {} }, /Error: \/models\/cls\/config.json: Unknown field `batchng`; a model config has backend, modelFile/],
    [{ batching: { maxBatchSize: 0 } }, /Error: \/models\/cls\/config.json: Expected `batching.maxBatchSize` to be an integer >= 1, got 0 \(number\)/],
    [{ batching: { maxBatchSize: 4, priorityLevels: -1 } }, /Error: \/models\/cls\/config.json: Expected `batching.priorityLevels` to be an integer between 1 and 256, got -1 \(number\)/],
    [{ batching: { maxBatchSize: 4, maxDelay: 1 } }, /Error: \/models\/cls\/config.json: Unknown field `batching.maxDelay`/],
    [{ versionPolicy: { latest: 'two' } }, /Error: \/models\/cls\/config.json: Expected `versionPolicy.latest` to be an integer, got "two" \(string\)/],
    [{ versionPolicy: 'newest' }, /Error: \/models\/cls\/config.json: Expected `versionPolicy` to be 'all', \{latest: n\} or \{specific: \[versions\]\}, got "newest"/],
    [{ labels: { stable: 2 } }, /Error: \/models\/cls\/config.json: Expected `labels.stable` to be a version directory name \(digits\), got 2 \(number\)/],
    [{ traffic: { split: [{ label: 'stable', weight: '90%' }] } }, /Error: \/models\/cls\/config.json: Expected `traffic.split\[0\].weight` to be a finite number, got "90%" \(string\)/],
    [{ modelFile: '../../etc/passwd' }, /Error: \/models\/cls\/config.json: Expected `modelFile` to be a file name in the version directory, got "..\/..\/etc\/passwd"/],
    [{ inputs: [{ name: 'x', datatype: 'FLOAT', shape: [1] }] }, /Error: \/models\/cls\/config.json: Expected `inputs\[0\].datatype` to be one of BOOL, .*got "FLOAT" \(string\)/],
    [{ warmup: [{ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: [1] } } }] }, /Error: \/models\/cls\/config.json: Expected `warmup\[0\].inputs.x.data` to be an array of 2 values for shape \[1, 2\], got \[1\] \(array\)/],
    [{ handler: { module: 'h.js', exports: 'H' } }, /Error: \/models\/cls\/config.json: Unknown field `handler.exports`/],
    [{ backend: { name: '' } }, /Error: \/models\/cls\/config.json: Expected `backend.name` to be a non-empty string, got "" \(string\)/],
  ];
  for (const [config, message] of cases) assert.throws(() => parse(config), message, JSON.stringify(config));
});
