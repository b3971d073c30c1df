import type { TensorSpec } from '../backends/index.js';
import type { BatchingConfig, EnsembleSession, EnsembleStep, ModelRegistry, ModelStep, ModelVersion, VersionPolicy } from '../registry/index.js';
import type { InferenceService } from '../service/index.js';

/**
 * The batcher's `maxQueueSize` when none is given (batching's DEFAULT_MAX_QUEUE_SIZE, which a test
 * holds equal). Not imported: the protocol takes only types from the modules below core, as JSON
 * workers load it into a 16 MB heap, where the batcher's code left too little room to decode.
 */
const DEFAULT_MAX_QUEUE_SIZE = 1024;

/** How each servable backend is named in Triton's `platform` and `backend` fields. */
const PLATFORMS: Readonly<Record<string, { platform: string; backend: string }>> = {
  'onnx-node': { platform: 'onnxruntime_onnx', backend: 'onnxruntime' },
  'onnx-web': { platform: 'onnxruntime_onnx', backend: 'onnxruntime' },
  ensemble: { platform: 'ensemble', backend: '' },
};

/** Devices Triton would place on a GPU instance group (`KIND_GPU`); any other runs as `KIND_CPU`. */
const GPU_DEVICES = new Set(['cuda', 'tensorrt', 'webgpu']);

/**
 * The model configuration Triton's `GET /v2/models/{m}[/versions/{v}]/config` answers (its
 * ModelConfig protobuf as JSON, field names as in config.pbtxt), for the version the URL names or
 * the model's default version, built from what the version was loaded with.
 * @throws as {@link InferenceService.resolve}: ModelNotFoundError (404) for an unknown model or version, ModelNotReadyError (503) for one not ready.
 */
export function encodeModelConfig(service: InferenceService, model: string, version: string | undefined): Record<string, unknown> {
  const instance = service.registry.get(model, version);
  const meta = instance.metadata();
  const maxBatchSize = meta.maxBatchSize;
  const names = PLATFORMS[meta.backend] ?? { platform: '', backend: meta.backend };
  const config: Record<string, unknown> = {
    name: model,
    platform: names.platform,
    backend: names.backend,
    version_policy: versionPolicy(instance.declared?.versionPolicy ?? service.registry.versionPolicy(model)),
    max_batch_size: maxBatchSize,
    input: meta.inputs.map((spec) => tensorConfig(spec, maxBatchSize)),
    output: meta.outputs.map((spec) => outputConfig(spec, maxBatchSize, labelFile(instance, spec.name))),
  };
  // Triton's ModelConfig has one scheduling_choice: an ensemble's is its steps, even when servable batches its requests.
  if (meta.backend === 'ensemble') {
    if ('definition' in instance.session) config.ensemble_scheduling = ensembleScheduling(service.registry, (instance.session as EnsembleSession).definition.steps);
    return config;
  }
  if (instance.batching && maxBatchSize > 0) config.dynamic_batching = dynamicBatching(instance.batching);
  config.instance_group = [instanceGroup(model, instance)];
  return config;
}

/** Triton's versions are integers; a servable version that is not one is kept as its string. */
const tritonVersion = (version: string): number | string => (/^\d+$/.test(version) ? Number(version) : version);

/**
 * Triton's EnsembleScheduling: the model steps, whose maps run from the step model's tensor names
 * to the ensemble's as Triton's do. A transform step is left out: it is no model a client could
 * read the config or statistics of (perf_analyzer reads both for every step).
 */
function ensembleScheduling(registry: ModelRegistry, steps: readonly EnsembleStep[]): Record<string, unknown> {
  const models = steps.filter((step): step is ModelStep => !('transform' in step));
  return {
    step: models.map((step) => ({
      model_name: step.model,
      model_version: stepVersion(registry, step),
      input_map: { ...step.inputMap },
      output_map: { ...step.outputMap },
    })),
  };
}

/**
 * A step's version as Triton's int64 `model_version`: -1 for the model's default version, else the
 * version it names, or the one its label points at now, as an integer (a name that is not one kept as its string).
 */
function stepVersion(registry: ModelRegistry, step: ModelStep): number | string {
  const version = step.version ?? (step.label === undefined ? undefined : labelled(registry, step.model, step.label));
  return version === undefined ? -1 : tritonVersion(version);
}

/** The version a label points at, if the model is still known and the label set. */
function labelled(registry: ModelRegistry, model: string, label: string): string | undefined {
  if (!registry.has(model)) return undefined;
  const labels = registry.labels(model);
  return Object.hasOwn(labels, label) ? labels[label] : undefined;
}

function versionPolicy(policy: VersionPolicy): Record<string, unknown> {
  if (policy === 'all') return { all: {} };
  if ('latest' in policy) return { latest: { num_versions: policy.latest } };
  return { specific: { versions: policy.specific.map(tritonVersion) } };
}

/** An input or output: `dims` leave out the batch dimension when the model batches, as Triton's do. */
function tensorConfig(spec: TensorSpec, maxBatchSize: number): Record<string, unknown> {
  return {
    name: spec.name,
    data_type: spec.datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${spec.datatype}`,
    dims: maxBatchSize > 0 ? spec.shape.slice(1) : [...spec.shape],
  };
}

/** The file an output's class labels were read from, as the version's loader declared it; an own key only, so an output named `constructor` has none. */
function labelFile(instance: ModelVersion, output: string): string | undefined {
  const files = instance.declared?.labelFiles;
  return files !== undefined && Object.hasOwn(files, output) ? files[output] : undefined;
}

/** An output, with the file its class labels were read from (Triton's `label_filename`) where the version was loaded with one. */
function outputConfig(spec: TensorSpec, maxBatchSize: number, labelFile: string | undefined): Record<string, unknown> {
  const config = tensorConfig(spec, maxBatchSize);
  if (labelFile !== undefined) config.label_filename = labelFile;
  return config;
}

function instanceGroup(model: string, instance: ModelVersion): Record<string, unknown> {
  return { name: `${model}_0`, kind: GPU_DEVICES.has(instance.session.device) ? 'KIND_GPU' : 'KIND_CPU', count: instance.session.concurrency };
}

/** The largest `max_queue_size`, a uint32 in Triton's ModelQueuePolicy. */
const MAX_UINT32 = 0xffff_ffff;

/** Milliseconds as Triton's whole microseconds. */
const micros = (ms: number | undefined): number => Math.round((ms ?? 0) * 1000);

function dynamicBatching(batching: BatchingConfig): Record<string, unknown> {
  const levels = batching.priorityLevels ?? 0;
  // Without priorityLevels servable has one level, whose queuePolicies[1] every request takes; Triton
  // has none at 0 levels and ignores priority_queue_policy, so that policy is the default one.
  const policies = levels > 0 ? Object.entries(batching.queuePolicies ?? {}).map(([level, policy]) => [level, queuePolicy({ ...batching, ...policy })]) : [];
  const base = levels > 0 ? batching : { ...batching, ...batching.queuePolicies?.[1] };
  return {
    preferred_batch_size: [...(batching.preferredBatchSizes ?? [])],
    max_queue_delay_microseconds: micros(batching.maxQueueDelayMs),
    preserve_ordering: false,
    priority_levels: levels,
    default_priority_level: levels > 0 ? (batching.defaultPriority ?? Math.ceil((levels + 1) / 2)) : 0,
    default_queue_policy: queuePolicy(base),
    priority_queue_policy: Object.fromEntries(policies),
  };
}

/**
 * Triton's ModelQueuePolicy. `allow_timeout_override` is always true: a request may always shorten
 * its timeout here, which is what Triton's true allows. An unbounded queue is Triton's 0.
 */
function queuePolicy(policy: BatchingConfig): Record<string, unknown> {
  const size = policy.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE;
  return {
    timeout_action: policy.timeoutAction === 'delay' ? 'DELAY' : 'REJECT',
    // At least 1: Triton's 0 is no timeout.
    default_timeout_microseconds: policy.defaultTimeoutMs === undefined ? 0 : Math.max(1, micros(policy.defaultTimeoutMs)),
    allow_timeout_override: true,
    max_queue_size: Number.isFinite(size) ? Math.min(size, MAX_UINT32) : 0,
  };
}
