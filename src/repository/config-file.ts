import { assertNoNullOptions, assertNumber, assertObject, assertString, describe, optionError } from '../core/index.js';
import type { TensorSpec } from '../backends/index.js';
import { TensorHandler, type TensorHandlerOptions } from '../handler/index.js';
import { checkBatching, checkInputSpecs, checkWarmupBatchSizes, checkTraffic, checkVersionPolicy, type BatchingConfig, type TrafficPolicy, type VersionPolicy } from '../registry/index.js';
import { requestFromJson } from './json-tensor.js';
import { VERSION_NAME } from './paths.js';

/** Which backend loads a model's versions, and the options it is made with. */
export interface BackendSpec {
  /** A key of the repository's `backends`. */
  readonly name: string;
  /** Everything else in the config's `backend` object, e.g. `devices` and `instances` for onnx-node. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** A handler module: a file in the model's directory exporting a Handler subclass. */
export interface HandlerSpec {
  /** The file, relative to the model's directory; undefined for the TensorHandler, made with `options`. */
  readonly module: string | undefined;
  /** The export holding the class. @default 'default' */
  readonly export: string;
  /** Passed to the class's constructor. */
  readonly options: unknown;
}

/** A model's `config.json`, checked, with defaults filled in. */
export interface RepositoryModelConfig {
  readonly backend: BackendSpec;
  readonly modelFile: string;
  readonly inputs: readonly TensorSpec[] | undefined;
  readonly batching: BatchingConfig | undefined;
  readonly versionPolicy: VersionPolicy;
  readonly labels: Readonly<Record<string, string>>;
  /** Output name → a file in the model's directory holding its class labels, one a line (Triton's `label_filename`). */
  readonly classLabels: Readonly<Record<string, string>> | undefined;
  readonly traffic: TrafficPolicy | undefined;
  /** Tensor requests, or with a handler the handler's own requests as parsed JSON. */
  readonly warmup: readonly unknown[] | undefined;
  /** The batch sizes warm-up requests are repeated to fill (`ModelConfig.warmupBatchSizes`). */
  readonly warmupBatchSizes: readonly number[] | undefined;
  readonly handler: HandlerSpec | undefined;
  readonly sizeBytes: number | undefined;
}

const FIELDS = ['backend', 'modelFile', 'inputs', 'batching', 'versionPolicy', 'labels', 'classLabels', 'traffic', 'warmup', 'warmupBatchSizes', 'handler', 'sizeBytes'];

/** The backend of a config that names none. */
export const DEFAULT_BACKEND = 'onnx-node';

/**
 * Parses and checks the text of a model's `config.json`.
 * @throws TypeError or RangeError whose message starts with the file, then names the field and quotes the bad value.
 */
export function parseConfig(file: string, text: string): RepositoryModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw optionError(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  try {
    return checkConfig(json);
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) error.message = `${file}: ${error.message}`;
    throw error;
  }
}

function checkConfig(c: unknown): RepositoryModelConfig {
  assertObject('config', c);
  for (const key of Object.keys(c)) {
    if (!FIELDS.includes(key)) throw optionError(`Unknown field \`${key}\`; a model config has ${FIELDS.join(', ')}`);
  }
  assertNoNullOptions(c);
  const modelFile = c.modelFile ?? 'model.onnx';
  assertString('modelFile', modelFile);
  if (/[/\\]/.test(modelFile) || modelFile === '.' || modelFile === '..') {
    throw optionError(`Expected \`modelFile\` to be a file name in the version directory, got ${describe(modelFile)}`);
  }
  const inputs = c.inputs === undefined ? undefined : checkInputSpecs(c.inputs);
  checkBatching(c.batching as BatchingConfig | undefined);
  const versionPolicy = c.versionPolicy ?? { latest: 1 };
  checkVersionPolicy('versionPolicy', versionPolicy);
  const labels = c.labels ?? {};
  assertObject('labels', labels);
  for (const [label, version] of Object.entries(labels)) {
    if (typeof version !== 'string' || !VERSION_NAME.test(version)) {
      throw optionError(`Expected \`labels.${label}\` to be a version directory name (digits), got ${describe(version)}`);
    }
  }
  if (c.classLabels !== undefined) {
    assertObject('classLabels', c.classLabels);
    for (const [output, file] of Object.entries(c.classLabels)) assertString(`classLabels.${output}`, file);
  }
  if (c.traffic !== undefined) checkTraffic('traffic', c.traffic);
  const handler = c.handler === undefined ? undefined : checkHandler(c.handler);
  if (c.warmup !== undefined && !Array.isArray(c.warmup)) throw optionError(`Expected \`warmup\` to be an array of requests, got ${describe(c.warmup)}`);
  const warmup = c.warmup === undefined || handler?.module !== undefined ? (c.warmup as unknown[] | undefined) : c.warmup.map((r, i) => requestFromJson(`warmup[${i}]`, r));
  checkWarmupBatchSizes(c.warmupBatchSizes, (c.batching as BatchingConfig | undefined)?.maxBatchSize);
  if (c.sizeBytes !== undefined) assertNumber('sizeBytes', c.sizeBytes, 0);
  return {
    backend: checkBackend(c.backend ?? DEFAULT_BACKEND),
    modelFile,
    inputs,
    batching: c.batching as BatchingConfig | undefined,
    versionPolicy,
    labels: labels as Record<string, string>,
    classLabels: c.classLabels as Record<string, string> | undefined,
    traffic: c.traffic,
    warmup,
    warmupBatchSizes: c.warmupBatchSizes as number[] | undefined,
    handler,
    sizeBytes: c.sizeBytes,
  };
}

function checkBackend(value: unknown): BackendSpec {
  if (typeof value === 'string') return { name: value, options: {} };
  assertObject('backend', value);
  const { name = DEFAULT_BACKEND, ...options } = value;
  assertString('backend.name', name);
  return { name, options };
}

function checkHandler(value: unknown): HandlerSpec {
  if (typeof value === 'string') return { module: value, export: 'default', options: undefined };
  assertObject('handler', value);
  for (const key of Object.keys(value)) {
    if (!['module', 'export', 'options'].includes(key)) throw optionError(`Unknown field \`handler.${key}\`; a handler has module, export, options`);
  }
  assertNoNullOptions(value, { path: 'handler.' });
  if (value.module === undefined) {
    if (value.export !== undefined) throw optionError(`Expected \`handler.module\` with \`handler.export\` ${describe(value.export)}, got none`);
    // The default handler with options (TF Serving's allowed_batch_sizes, pad_variable_length_inputs): checked now, as it will be made.
    if (value.options !== undefined) assertObject('handler.options', value.options);
    try {
      void new TensorHandler(value.options as TensorHandlerOptions | undefined);
    } catch (error) {
      if (error instanceof Error) error.message = error.message.replace(/`(\w)/, '`handler.options.$1');
      throw error;
    }
    return { module: undefined, export: 'default', options: value.options };
  }
  assertString('handler.module', value.module);
  const exported = value.export ?? 'default';
  assertString('handler.export', exported);
  return { module: value.module, export: exported, options: value.options };
}

/** The labels config.json points at `version`. */
export function labelsOf(config: RepositoryModelConfig, version: string): string[] {
  return Object.entries(config.labels).filter(([, v]) => v === version).map(([label]) => label);
}

/** A config's text without its routing (`labels`, `traffic`), which the registry moves without loading anything. */
export function withoutRouting(configText: string): string {
  const { labels: _labels, traffic: _traffic, ...rest } = JSON.parse(configText) as Record<string, unknown>;
  return JSON.stringify(rest);
}
