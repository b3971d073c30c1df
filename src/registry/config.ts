import { assertOptionKeys, assertNumber, assertObject, assertString, describe, optionError } from '../core/index.js';
import { DynamicBatcher } from '../batching/index.js';
import type { Backend, TensorSpec } from '../backends/index.js';
import type { Handler } from '../handler/index.js';
import { isEnsemble } from './ensemble.js';
import { ensembleCycle } from './ensemble-cycle.js';
import type { ModelEntry } from './model-entry.js';
import { checkVersionPolicy, compareVersions } from './version-policy.js';
import { checkInputSpecs } from './tensor-spec.js';
import { checkWarmupBatchSizes } from './warm-up.js';
import type { BatchingConfig, DeclaredConfig, ModelConfig } from './types.js';

/** The fields of {@link BatchingConfig}. */
const BATCHING_KEYS = [
  'maxBatchSize', 'maxQueueDelayMs', 'maxQueueSize', 'defaultTimeoutMs', 'timeoutAction', 'allowTimeoutOverride', 'priorityLevels',
  'defaultPriority', 'queuePolicies', 'agingMs', 'preferredBatchSizes', 'maxLatencyMs', 'splitOnFailure', 'maxRequestItems',
];

/**
 * Checks the batching options of a model config as the DynamicBatcher will, before anything is
 * loaded; messages name each field as `batching.<option>`.
 */
export function checkBatching(batching: BatchingConfig | undefined): void {
  if (batching === undefined) return;
  assertObject('batching', batching);
  for (const key of Object.keys(batching)) {
    if (!BATCHING_KEYS.includes(key)) throw optionError(`Unknown field \`batching.${key}\`; batching takes ${BATCHING_KEYS.join(', ')}`);
  }
  try {
    void new DynamicBatcher({ ...batching, execute: async () => [] }).close();
  } catch (error) {
    if (error instanceof Error) error.message = prefixOptionNames(error.message);
    throw error;
  }
}

/**
 * A DynamicBatcher message with every option it names as `batching.<option>` (a pair refused
 * together names two), before its `got`: the bad value after it is quoted as given, backticks and all.
 */
function prefixOptionNames(message: string): string {
  const got = message.search(/\bgot /);
  const names = got < 0 ? message : message.slice(0, got);
  return names.replace(/`(\w)/g, '`batching.$1') + message.slice(names.length);
}

/**
 * The model's inputs with the dimensions pinned by the config: each pinned spec must name a model
 * input with the same datatype and rank, and may only fix dimensions the model leaves dynamic.
 */
export function pinInputs(model: readonly TensorSpec[], pinned: readonly TensorSpec[] | undefined): readonly TensorSpec[] {
  if (!pinned) return model;
  for (const p of pinned) {
    if (!model.some((m) => m.name === p.name)) {
      throw optionError(`Expected \`inputs\` to name model inputs (${model.map((m) => `'${m.name}'`).join(', ')}), got ${describe(p.name)}`);
    }
  }
  return model.map((spec) => {
    const pin = pinned.find((p) => p.name === spec.name);
    if (!pin) return spec;
    if (pin.datatype !== spec.datatype || pin.shape.length !== spec.shape.length) {
      throw optionError(
        `Expected \`inputs\` entry '${spec.name}' to match the model's ${spec.datatype}[${spec.shape.join(', ')}], got ${describe(pin)}`,
      );
    }
    const shape = spec.shape.map((d, i) => {
      const p = pin.shape[i] ?? -1;
      if (d >= 0 && p >= 0 && p !== d) {
        throw optionError(`Expected \`inputs\` entry '${spec.name}' dimension ${i} to be ${d} as in the model, got ${p}`);
      }
      return d >= 0 ? d : p;
    });
    return { ...spec, shape };
  });
}

const CONFIG_KEYS = ['name', 'version', 'source', 'backend', 'handler', 'inputs', 'batching', 'warmup', 'warmupBatchSizes', 'versionPolicy', 'declared', 'labels', 'classLabels', 'sizeBytes'];

/**
 * Checks the fields of a model config that do not need the backend.
 * @throws TypeError or RangeError naming the field and quoting the bad value.
 */
export function checkModelConfig(config: unknown): void {
  assertObject('config', config);
  assertOptionKeys('a model config', config, CONFIG_KEYS);
  assertString('name', config.name);
  if (config.version !== undefined) assertString('version', config.version);
  if (config.inputs !== undefined) checkInputSpecs(config.inputs);
  checkBatching(config.batching as BatchingConfig | undefined);
  if (config.versionPolicy !== undefined) checkVersionPolicy('versionPolicy', config.versionPolicy);
  if (config.declared !== undefined) checkDeclared(config.declared);
  if (config.labels !== undefined) {
    if (!Array.isArray(config.labels)) throw optionError(`Expected \`labels\` to be an array of label names, got ${describe(config.labels)}`);
    config.labels.forEach((l, i) => assertString(`labels[${i}]`, l));
  }
  if (config.classLabels !== undefined) checkClassLabels(config.classLabels);
  const labelFiles = (config.declared as DeclaredConfig | undefined)?.labelFiles;
  if (labelFiles !== undefined) checkLabelFiles(labelFiles, config.classLabels as object | undefined);
  if (config.sizeBytes !== undefined) assertNumber('sizeBytes', config.sizeBytes, 0);
  if (config.warmup !== undefined && !Array.isArray(config.warmup)) {
    throw optionError(`Expected \`warmup\` to be an array of requests, got ${describe(config.warmup)}`);
  }
  checkWarmupBatchSizes(config.warmupBatchSizes, (config.batching as BatchingConfig | undefined)?.maxBatchSize);
  const h = config.handler;
  if (h !== undefined && typeof h !== 'function' && !isHandler(h)) {
    throw optionError(`Expected \`handler\` to be a Handler or a function returning one, got ${describe(h)}`);
  }
}

function checkDeclared(declared: unknown): void {
  assertObject('declared', declared);
  assertOptionKeys('`declared`', declared, ['versionPolicy', 'labelFiles'], { path: 'declared.' });
  if (declared.versionPolicy !== undefined) checkVersionPolicy('declared.versionPolicy', declared.versionPolicy);
  if (declared.labelFiles !== undefined) {
    assertObject('declared.labelFiles', declared.labelFiles);
    for (const [output, file] of Object.entries(declared.labelFiles)) assertString(`declared.labelFiles.${output}`, file);
  }
}

/** Each declared label file is of an output given class labels: a misspelt output would report no `label_filename`, silently. */
function checkLabelFiles(labelFiles: object, classLabels: object | undefined): void {
  const outputs = Object.keys(classLabels ?? {});
  for (const output of Object.keys(labelFiles)) {
    if (!outputs.includes(output)) {
      throw optionError(`Expected \`declared.labelFiles\` to name outputs given \`classLabels\` (${outputs.length === 0 ? 'none' : outputs.map((o) => `'${o}'`).join(', ')}), got ${describe(output)}`);
    }
  }
}

function checkClassLabels(classLabels: unknown): void {
  assertObject('classLabels', classLabels);
  for (const [output, labels] of Object.entries(classLabels)) {
    if (!Array.isArray(labels)) throw optionError(`Expected \`classLabels.${output}\` to be an array of class labels, got ${describe(labels)}`);
    // '' is a class with no label, as an empty line of Triton's label file is.
    labels.forEach((l, i) => {
      if (typeof l !== 'string') throw optionError(`Expected \`classLabels.${output}[${i}]\` to be a string, got ${describe(l)}`);
    });
  }
}

/**
 * Refuses class labels for an output the model does not have, once it is loaded (Triton fails
 * such a model's load).
 * @throws TypeError naming the outputs.
 */
export function checkClassLabelOutputs(classLabels: ModelConfig<unknown, unknown>['classLabels'], outputs: readonly TensorSpec[]): void {
  for (const output of Object.keys(classLabels ?? {})) {
    if (!outputs.some((o) => o.name === output)) {
      throw optionError(`Expected \`classLabels\` to name model outputs (${outputs.map((o) => `'${o.name}'`).join(', ')}), got ${describe(output)}`);
    }
  }
}

/** True for anything shaped like a Handler (checked by shape, so copies of the package work). */
export function isHandler(value: unknown): value is Handler<unknown, unknown> {
  const h = value as Record<string, unknown> | null;
  return typeof h === 'object' && h !== null && ['initialize', 'preprocess', 'postprocess', 'validate'].every((k) => typeof h[k] === 'function');
}

/** Checks a registry's `backends` option: a non-empty array of Backends. @returns them. */
export function checkBackends(backends: unknown): readonly Backend[] {
  if (!Array.isArray(backends) || backends.length === 0) {
    throw optionError(`Expected \`backends\` to be a non-empty array of backends, got ${describe(backends)}`);
  }
  for (const [i, b] of backends.entries()) {
    if (typeof b?.load !== 'function' || typeof b.accepts !== 'function' || typeof b.name !== 'string') {
      throw optionError(`Expected \`backends[${i}]\` to be a Backend ({name, accepts, load}), got ${describe(b)}`);
    }
    checkEstimateBytes(`backends[${i}]`, b);
  }
  return backends as readonly Backend[];
}

/**
 * Refuses a backend whose optional `estimateBytes` is given but no function: the registry would
 * meet it only when a version loads under `maxLoadedBytes`.
 * @throws TypeError quoting it.
 */
export function checkEstimateBytes(name: string, backend: Backend): void {
  const { estimateBytes } = backend as { estimateBytes?: unknown };
  if (estimateBytes !== undefined && typeof estimateBytes !== 'function') {
    throw optionError(`Expected \`${name}.estimateBytes\` to be a function when given, got ${describe(estimateBytes)}`);
  }
}

/**
 * Refuses an ensemble whose steps name a model the registry does not know, or a version or label
 * that model does not have (Triton's ensemble fails to load when a composing model's version is
 * not available): a configuration error, refused at load, where every request would get a 503.
 * A label counts when it is set or a known version's config declares it (it points when that
 * version loads). An ensemble whose steps lead back to it (itself, or A → B → A) is refused too:
 * each of its requests would wait for itself.
 */
export function checkEnsembleSteps(config: ModelConfig<unknown, unknown>, version: string, find: (model: string) => ModelEntry | undefined): void {
  if (!isEnsemble(config.source)) return;
  config.source.steps.forEach((step, i) => {
    if (!('model' in step)) return;
    const entry = find(step.model);
    if (!entry) throw optionError(`Expected \`source.steps[${i}].model\` to name a loaded or registered model, got ${describe(step.model)}`);
    if (step.version !== undefined) {
      if (!entry.knows(step.version)) {
        throw optionError(`Expected \`source.steps[${i}].version\` to name a version of model '${step.model}' (${quoted(entry.versions())}), got ${describe(step.version)}`);
      }
    } else if (step.label !== undefined) {
      const labels = new Set([...entry.labels.keys(), ...[...entry.configs.values()].flatMap((c) => c.labels ?? [])]);
      if (!labels.has(step.label)) {
        throw optionError(`Expected \`source.steps[${i}].label\` to name a label of model '${step.model}' (${quoted([...labels])}), got ${describe(step.label)}`);
      }
    }
  });
  const cycle = ensembleCycle(config.name, version, config, find);
  if (cycle) {
    throw optionError(`Expected the steps of ensemble '${config.name}' version '${version}' not to lead back to it, got ${cycle.map((m) => `'${m}'`).join(' → ')}: each request would wait for itself`);
  }
}

/** @internal Names for a message: quoted, sorted as versions, or `none`. */
export const quoted = (names: readonly string[]): string => (names.length === 0 ? 'none' : [...names].sort(compareVersions).map((n) => `'${n}'`).join(', '));

/** A registry timeout option (`Infinity` waits for ever), or `fallback` when it is not given. @throws TypeError or RangeError quoting a bad value. */
export function checkTimeout(name: string, value: number | undefined, fallback: number, min: number): number {
  const ms = value ?? fallback;
  assertNumber(name, ms, min, Number.MAX_VALUE, true);
  return ms;
}
