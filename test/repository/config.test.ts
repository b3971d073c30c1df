import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseConfig } from 'servable/repository';
import { resolveOptions } from '../../src/batching/options.js';
import { TensorHandler } from '../../src/handler/index.js';
import { digestHandler, loadHandler } from '../../src/repository/handler-module.js';
import { jsonConfig, writeConfig, writeVersion } from './fixtures.js';
import { setup } from './harness.js';

const FILE = '/models/cls/config.json';
const parse = (config: unknown) => parseConfig(FILE, typeof config === 'string' ? config : JSON.stringify(config));

test('a config is read with its defaults: onnx-node, model.onnx, latest 1', () => {
  const config = parse({});
  assert.deepEqual(config.backend, { name: 'onnx-node', options: {} });
  assert.equal(config.modelFile, 'model.onnx');
  assert.deepEqual(config.versionPolicy, { latest: 1 });
  assert.deepEqual(config.labels, {});
  assert.equal(config.warmup, undefined);
  assert.equal(config.warmupBatchSizes, undefined);
  assert.deepEqual(parse({ batching: { maxBatchSize: 8 }, warmupBatchSizes: [1, 4, 8] }).warmupBatchSizes, [1, 4, 8]);

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
    [{ batching: { maxBatchSize: 4, maxLatencyMs: 10, maxQueueDelayMs: 20 } },
      /Error: \/models\/cls\/config.json: Expected `batching.maxQueueDelayMs` to be below `batching.maxLatencyMs` .*got maxQueueDelayMs 20 \(number\) with maxLatencyMs 10 \(number\)/],
    // Only the option names are prefixed: a bad value holding a backtick is quoted as given.
    [{ batching: { maxBatchSize: 4, timeoutAction: '`x`' } }, /Error: \/models\/cls\/config.json: Expected `batching.timeoutAction` to be one of "reject", "delay", got "`x`" \(string\)$/],
    [{ batching: { maxBatchSize: 4, priorityLevels: 2, queuePolicies: { '`a': {} } } },
      /Error: \/models\/cls\/config.json: Expected `batching.queuePolicies` keys to be priority levels between 1 and 2, got "`a" \(string\)$/],
    [{ versionPolicy: { latest: 'two' } }, /Error: \/models\/cls\/config.json: Expected `versionPolicy.latest` to be an integer, got "two" \(string\)/],
    [{ versionPolicy: 'newest' }, /Error: \/models\/cls\/config.json: Expected `versionPolicy` to be 'all', \{latest: n\} or \{specific: \[versions\]\}, got "newest"/],
    [{ labels: { stable: 2 } }, /Error: \/models\/cls\/config.json: Expected `labels.stable` to be a version directory name \(digits\), got 2 \(number\)/],
    [{ traffic: { split: [{ label: 'stable', weight: '90%' }] } }, /Error: \/models\/cls\/config.json: Expected `traffic.split\[0\].weight` to be a finite number, got "90%" \(string\)/],
    [{ modelFile: '../../etc/passwd' }, /Error: \/models\/cls\/config.json: Expected `modelFile` to be a file name in the version directory, got "..\/..\/etc\/passwd"/],
    [{ inputs: [{ name: 'x', datatype: 'FLOAT', shape: [1] }] }, /Error: \/models\/cls\/config.json: Expected `inputs\[0\].datatype` to be one of BOOL, .*got "FLOAT" \(string\)/],
    [{ warmup: [{ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: [1] } } }] }, /Error: \/models\/cls\/config.json: Expected `warmup\[0\].inputs.x.data` to be an array of 2 values for shape \[1, 2\], got \[1\] \(array\)/],
    [{ batching: { maxBatchSize: 8 }, warmupBatchSizes: [4, 16] }, /RangeError: \/models\/cls\/config.json: Expected `warmupBatchSizes\[1\]` to be a whole number from 1 to 8 \(`batching.maxBatchSize`\), got 16 \(number\)/],
    [{ handler: { module: 'h.js', exports: 'H' } }, /Error: \/models\/cls\/config.json: Unknown field `handler.exports`/],
    [{ backend: { name: '' } }, /Error: \/models\/cls\/config.json: Expected `backend.name` to be a non-empty string, got "" \(string\)/],
    [{ classLabels: ['labels.txt'] }, /Error: \/models\/cls\/config.json: Expected `classLabels` to be an object, got \["labels.txt"\] \(array\)/],
    [{ classLabels: { prob: ['cat'] } }, /Error: \/models\/cls\/config.json: Expected `classLabels.prob` to be a non-empty string, got \["cat"\] \(array\)/],
  ];
  for (const [config, message] of cases) {
    assert.throws(() => parse(config), (error: Error & { code?: unknown }) => {
      assert.match(String(error), message, JSON.stringify(config));
      assert.equal(error.code, 'ERR_SERVABLE_INVALID_OPTION', `${JSON.stringify(config)}: ${error.message}`);
      return true;
    });
  }
});

test("a handler with options and no module is the TensorHandler made with them, checked as the config is read", async () => {
  const config = parse({
    handler: { options: { allowedBatchSizes: [8, 16, 32], padVariableLength: true } },
    warmup: [{ inputs: { x: { datatype: 'FP32', shape: [1, 2], data: [1, 2] } } }],
  });
  assert.deepEqual(config.handler, { module: undefined, export: 'default', options: { allowedBatchSizes: [8, 16, 32], padVariableLength: true } });
  assert.deepEqual((config.warmup![0] as { inputs: Record<string, { data: unknown }> }).inputs.x!.data, new Float32Array([1, 2]), 'warm-up requests are tensors, as for the TensorHandler');
  const make = await loadHandler('/models/cls', config.handler!, FILE);
  assert.ok(make() instanceof TensorHandler);
  assert.equal(await digestHandler('/models/cls', config.handler, FILE), '');
  assert.throws(() => parse({ handler: { options: { allowedBatchSizes: [16, 8] } } }), /Error: \/models\/cls\/config.json: Expected `handler.options.allowedBatchSizes` to be strictly ascending, got \[16,8\] \(array\)/);
  assert.throws(() => parse({ handler: { options: { padding: true } } }), /Error: \/models\/cls\/config.json: Unknown option `handler.options.padding`/);
  assert.throws(() => parse({ handler: { export: 'Ocr' } }), /Error: \/models\/cls\/config.json: Expected `handler.module` with `handler.export` "Ocr" \(string\), got none/);
  for (const [options, got] of [['pad', '"pad" (string)'], [[8], '[8] (array)']] as const) {
    assert.throws(() => parse({ handler: { options } }), { name: 'TypeError', message: `${FILE}: Expected \`handler.options\` to be an object, got ${got}` });
  }
  assert.throws(() => parse({ handler: { options: null } }), { name: 'TypeError', message: `${FILE}: Expected \`handler.options\` to be set, or left out where it is optional, got null (null)` });
});

test("classLabels names a label file per output in the model's directory, read as Triton reads label_filename; a changed file reloads the model", async (t) => {
  const s = await setup(t, 'explicit');
  const labelsFile = path.join(s.root, 'cls', 'labels.txt');
  await writeConfig(s.root, 'cls', jsonConfig({ classLabels: { y: 'labels.txt' } }));
  await writeVersion(s.root, 'cls', '1', { offset: 1 });
  // One label a line, CRLF or LF; an empty line is a class with no label; the last newline adds no class.
  await writeFile(labelsFile, 'cat\r\n\ndog\n');
  await s.repository.start();
  await s.repository.load('cls');
  assert.deepEqual(s.registry.get('cls').classLabels, { y: ['cat', '', 'dog'] });
  await s.repository.load('cls');
  assert.deepEqual(s.loads, ['cls:1'], 'nothing changed, nothing loaded');
  await writeFile(labelsFile, 'lion\ntiger');
  await s.repository.load('cls');
  assert.deepEqual(s.registry.get('cls').classLabels, { y: ['lion', 'tiger'] });
  assert.deepEqual(s.loads, ['cls:1', 'cls:1']);

  await writeConfig(s.root, 'cls', jsonConfig({ classLabels: { y: 'missing.txt' } }));
  await assert.rejects(s.repository.load('cls'), { message: /config.json: Cannot read `classLabels.y` "missing.txt" \(string\): ENOENT/, code: 'ERR_SERVABLE_INVALID_OPTION' });
  await writeConfig(s.root, 'cls', jsonConfig({ classLabels: { y: '../../labels.txt' } }));
  await assert.rejects(s.repository.load('cls'), { message: /config.json: Expected `classLabels.y` to name a file inside .*, got "..\/..\/labels.txt"/, code: 'ERR_SERVABLE_INVALID_OPTION' });
  await writeConfig(s.root, 'cls', jsonConfig({ classLabels: { z: 'labels.txt' } }));
  await assert.rejects(s.repository.load('cls'), /Expected `classLabels` to name model outputs \('y'\), got "z" \(string\)/);
  await s.done();
});

test('a label file must be a file of at most 16 MiB, refused before it is read: a model file named by mistake is not read as labels at every scan; a directory in its place is a file that cannot be read, no option mistake', async (t) => {
  const s = await setup(t, 'explicit');
  await writeConfig(s.root, 'cls', jsonConfig({ classLabels: { y: 'labels.txt' } }));
  await writeVersion(s.root, 'cls', '1', { offset: 1 });
  await writeFile(path.join(s.root, 'cls', 'labels.txt'), '');
  await truncate(path.join(s.root, 'cls', 'labels.txt'), 16 * 2 ** 20 + 1);
  await s.repository.start();
  await assert.rejects(s.repository.load('cls'), { message: /config.json: Expected `classLabels.y` "labels.txt" \(string\) to be a label file of at most 16777216 bytes, got 16777217/, code: 'ERR_SERVABLE_INVALID_OPTION' });
  await mkdir(path.join(s.root, 'cls', 'dir'));
  await writeConfig(s.root, 'cls', jsonConfig({ classLabels: { y: 'dir' } }));
  await assert.rejects(s.repository.load('cls'), (error: Error & { code?: string }) => {
    assert.match(error.message, /config.json: Cannot read `classLabels.y` "dir" \(string\): it is a directory, not a file$/);
    assert.deepEqual([error.name, error.code], ['Error', undefined]);
    return true;
  });
  assert.deepEqual(s.loads, []);
  await s.done();
});

/** A small reader of protobuf text format: fields, nested messages, lists; a repeated field becomes an array. */
function readTextProto(text: string): Record<string, unknown> {
  const tokens = text.replace(/#.*$/gm, '').match(/[A-Za-z_][\w.]*|-?\d+(?:\.\d+)?|"[^"]*"|[{}[\]:,]/g) ?? [];
  let at = 0;
  const value = (): unknown => {
    const token = tokens[at++]!;
    if (token === '{') return message('}');
    if (token === '[') {
      const list: unknown[] = [];
      while (tokens[at] !== ']') {
        list.push(value());
        if (tokens[at] === ',') at++;
      }
      at++;
      return list;
    }
    if (/^-?\d/.test(token)) return Number(token);
    if (token === 'true' || token === 'false') return token === 'true';
    return token.startsWith('"') ? token.slice(1, -1) : token;
  };
  const message = (end: string | undefined): Record<string, unknown> => {
    const fields: Record<string, unknown> = {};
    while (at < tokens.length && tokens[at] !== end) {
      const name = tokens[at++]!;
      if (tokens[at] === ':') at++;
      const v = value();
      fields[name] = name in fields ? [fields[name]].flat().concat([v]) : v;
      if (tokens[at] === ',') at++;
    }
    at++;
    return fields;
  };
  return message(undefined);
}

test("docs/batching.md's config.pbtxt and its config.json say the same, and the JSON loads as those batcher options", async () => {
  const doc = await readFile(new URL('../../docs/batching.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### Coming from Triton'));
  const pbtxt = readTextProto(/```protobuf\n([\s\S]*?)```/.exec(section)![1]!);
  const json = /```json\n([\s\S]*?)```/.exec(section)![1]!;
  const config = parse(json);
  const batching = config.batching!;

  const triton = pbtxt.dynamic_batching as Record<string, any>;
  const policyOf = (p: Record<string, any>) => {
    // Triton's true (a request may shorten the default) is servable's default, false (see the doc).
    assert.equal(p.allow_timeout_override, true);
    return { maxQueueSize: p.max_queue_size, defaultTimeoutMs: p.default_timeout_microseconds / 1000, timeoutAction: String(p.timeout_action).toLowerCase(), allowTimeoutOverride: false };
  };
  assert.equal(batching.maxBatchSize, pbtxt.max_batch_size);
  assert.equal(config.backend.options.instances, (pbtxt.instance_group as { count: number }[])[0]!.count);
  assert.deepEqual(batching.preferredBatchSizes, triton.preferred_batch_size);
  assert.equal(batching.maxQueueDelayMs, triton.max_queue_delay_microseconds / 1000);
  assert.equal(batching.priorityLevels, triton.priority_levels);
  assert.equal(batching.defaultPriority, triton.default_priority_level);
  const levels = [triton.priority_queue_policy].flat() as { key: number; value: Record<string, any> }[];

  const resolved = resolveOptions({ ...batching, execute: async () => [] });
  assert.deepEqual(
    resolved.policies,
    Array.from({ length: triton.priority_levels }, (_, i) => policyOf(levels.find((l) => l.key === i + 1)?.value ?? triton.default_queue_policy)),
  );
  assert.deepEqual([...resolved.preferred!], [4, 8]);
  assert.equal(resolved.maxQueueDelayMs, 2);
  assert.equal(resolved.defaultPriority, 2);
  assert.deepEqual(resolved.policies, [
    { maxQueueSize: 64, defaultTimeoutMs: 100, timeoutAction: 'delay', allowTimeoutOverride: false },
    { maxQueueSize: 256, defaultTimeoutMs: 500, timeoutAction: 'reject', allowTimeoutOverride: false },
  ]);
});

test("docs/batching.md's batching_parameters.txt and its config.json say the same, and the JSON loads as those options", async () => {
  const doc = await readFile(new URL('../../docs/batching.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### Coming from TF Serving'));
  const tf = readTextProto(/```protobuf\n([\s\S]*?)```/.exec(section)![1]!) as Record<string, any>;
  const config = parse(/```json\n([\s\S]*?)```/.exec(section)![1]!);
  const batching = config.batching!;

  assert.equal(batching.maxBatchSize, tf.max_batch_size.value);
  assert.equal(batching.maxQueueDelayMs, tf.batch_timeout_micros.value / 1000);
  // max_enqueued_batches counts batches; maxQueueSize counts requests, here of one item each.
  assert.equal(batching.maxQueueSize, tf.max_enqueued_batches.value * tf.max_batch_size.value);
  assert.equal(config.backend.options.instances, tf.num_batch_threads.value);
  const options = config.handler!.options as { allowedBatchSizes: number[]; padVariableLength: boolean };
  assert.deepEqual(options, { allowedBatchSizes: tf.allowed_batch_sizes, padVariableLength: tf.pad_variable_length_inputs });
  assert.equal(options.allowedBatchSizes.at(-1), tf.max_batch_size.value, 'TF Serving wants the last allowed size to be max_batch_size');

  const resolved = resolveOptions({ ...batching, execute: async () => [] });
  assert.deepEqual([resolved.maxBatchSize, resolved.maxQueueDelayMs, resolved.policies[0]!.maxQueueSize], [32, 2, 256]);
  assert.equal(config.handler!.module, undefined);
  assert.ok((await loadHandler('/models/cls', config.handler!, FILE))() instanceof TensorHandler);
});
