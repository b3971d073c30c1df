import { assertFunction, assertInteger, assertKnownKeys, assertObject, assertString, BackendError, describe, optionError, InvalidInputError, ModelNotFoundError, ModelNotReadyError, ServableError, type Clock, type TensorMap } from '../core/index.js';
import { checkFeeds, checkRunOptions, checkTensor, type ModelSession, type RunOptions, type TensorSpec } from '../backends/index.js';
import type { InferenceRequest, InferenceResponse } from '../handler/index.js';
import type { AcquireOptions, StepEvent, VersionRef } from './types.js';
import { checkSpecType } from './tensor-spec.js';
import type { VersionHold } from './hold.js';

/** Maps names: `{stepName: ensembleTensorName}` (Triton's `input_map` / `output_map`). */
export type NameMap = Readonly<Record<string, string>>;

/**
 * A step that sends its inputs, as one request, to another model of the registry; batched by that
 * model's batcher. It goes to `version`, `label` or the model's default version: the model's
 * traffic split and shadow apply to requests sent to the model itself, not to ensemble steps.
 */
export interface ModelStep {
  /** The model to call. */
  readonly model: string;
  /** A fixed version of it, known (loaded or registered) when the ensemble loads. @default its default version */
  readonly version?: string;
  /** A label of it, e.g. `stable`, set or declared by a known version when the ensemble loads; ignored when `version` is given. */
  readonly label?: string;
  /** The step model's input names → the ensemble tensors fed to them. */
  readonly inputMap: NameMap;
  /** The step model's output names → the ensemble tensors they become. */
  readonly outputMap: NameMap;
}

/** A step that runs a function over tensors in-process: the glue between models (rotate, decode, threshold). */
export interface TransformStep {
  /** A name for messages. */
  readonly name: string;
  /** Computes the step's outputs from its inputs; every row of the batch at once. */
  readonly transform: (inputs: TensorMap) => TensorMap | Promise<TensorMap>;
  /** The function's input names → the ensemble tensors fed to them. */
  readonly inputMap: NameMap;
  /** The function's output names → the ensemble tensors they become. */
  readonly outputMap: NameMap;
}

/** One step of an ensemble. */
export type EnsembleStep = ModelStep | TransformStep;

/** A model defined as a pipeline of steps over other models (Triton's `ensemble_scheduling`). */
export interface EnsembleDefinition {
  /** The ensemble's inputs, as requests must send them. */
  readonly inputs: readonly TensorSpec[];
  /** The ensemble's outputs: tensors produced by the steps (or inputs passed through). */
  readonly outputs: readonly TensorSpec[];
  /** The steps, run in order; each may use any tensor an earlier step produced. */
  readonly steps: readonly EnsembleStep[];
  /** Requests that may be inside the pipeline at once. @default 64 */
  readonly maxInFlight?: number;
}

/** A checked ensemble definition, ready to be a model's `source`. */
export interface Ensemble extends EnsembleDefinition {
  readonly kind: 'ensemble';
}

const checked = new WeakSet<object>();

/**
 * Checks an ensemble definition and returns it as a model source for `registry.load({name, source})`.
 * Step models must be loaded (or registered) before the ensemble, with the version or label a step names.
 * @throws TypeError naming the field (an unknown one too: a misspelt `verison` would leave the step
 * unpinned) and quoting the bad value.
 */
export function ensemble(definition: EnsembleDefinition): Ensemble {
  assertObject('ensemble', definition);
  assertKnownKeys('an ensemble', definition, ['inputs', 'outputs', 'steps', 'maxInFlight']);
  const specs = (field: string, list: unknown): readonly TensorSpec[] => {
    if (!Array.isArray(list) || list.length === 0) throw optionError(`Expected \`${field}\` to be a non-empty array of tensor specs, got ${describe(list)}`);
    const names = new Set<string>();
    list.forEach((spec: unknown, i) => {
      const at = `${field}[${i}]`;
      assertObject(at, spec);
      assertKnownKeys('a tensor spec', spec, ['name', 'datatype', 'shape'], `${at}.`);
      assertString(`${at}.name`, spec.name);
      if (names.has(spec.name)) throw optionError(`Expected \`${at}.name\` to be unique, got ${describe(spec.name)} twice`);
      names.add(spec.name);
      checkSpecType(at, spec);
    });
    return list as TensorSpec[];
  };
  const inputs = specs('inputs', definition.inputs);
  const outputs = specs('outputs', definition.outputs);
  if (!Array.isArray(definition.steps) || definition.steps.length === 0) {
    throw optionError(`Expected \`steps\` to be a non-empty array of steps, got ${describe(definition.steps)}`);
  }
  if (definition.maxInFlight !== undefined) assertInteger('maxInFlight', definition.maxInFlight, 1);
  const available = new Set(inputs.map((s) => s.name));
  definition.steps.forEach((step: EnsembleStep, i) => {
    const field = `steps[${i}]`;
    assertObject(field, step as unknown);
    if ('transform' in step) {
      assertKnownKeys('a transform step', step, ['name', 'transform', 'inputMap', 'outputMap'], `${field}.`);
      assertString(`${field}.name`, step.name);
      assertFunction(`${field}.transform`, step.transform);
    } else {
      assertKnownKeys('a model step', step, ['model', 'version', 'label', 'inputMap', 'outputMap'], `${field}.`);
      assertString(`${field}.model`, step.model);
      if (step.version !== undefined) assertString(`${field}.version`, step.version);
      if (step.label !== undefined) assertString(`${field}.label`, step.label);
    }
    assertObject(`${field}.inputMap`, step.inputMap);
    assertObject(`${field}.outputMap`, step.outputMap);
    for (const [name, tensor] of Object.entries(step.inputMap)) {
      if (!available.has(tensor)) {
        throw optionError(`Expected \`${field}.inputMap.${name}\` to name an ensemble input or an earlier step's output, got ${describe(tensor)}`);
      }
    }
    for (const [name, tensor] of Object.entries(step.outputMap)) {
      assertString(`${field}.outputMap.${name}`, tensor);
      if (available.has(tensor)) throw optionError(`Expected \`${field}.outputMap.${name}\` to name a new tensor, got ${describe(tensor)}, which exists already`);
      available.add(tensor);
    }
  });
  for (const spec of outputs) {
    if (!available.has(spec.name)) throw optionError(`Expected ensemble output '${spec.name}' to be produced by a step; none has it in its outputMap`);
  }
  const result: Ensemble = Object.freeze({ ...definition, kind: 'ensemble' as const });
  checked.add(result);
  return result;
}

/** True when a model source is an {@link ensemble}. */
export function isEnsemble(source: unknown): source is Ensemble {
  return typeof source === 'object' && source !== null && checked.has(source);
}

/** Finds a ready version of a step model, loading it when needed, held for the step. */
export type StepResolver = (model: string, options: AcquireOptions) => Promise<VersionHold>;

/** What an {@link EnsembleSession} needs of its registry. */
export interface EnsembleContext {
  /** The ensemble's model and version, for its steps' events. */
  readonly ref: VersionRef;
  /** Finds the version a model step goes to. */
  readonly resolve: StepResolver;
  /** The clock a step's time is measured on. */
  readonly clock: Clock;
  /**
   * Told of each model step's request once a version took it, as it settles: the registry's `step`
   * event, which `event()` builds, at once, only when something listens (as the batcher's are).
   */
  readonly onStep: (event: () => StepEvent) => void;
}

/**
 * The session of an ensemble: runs each step in turn, sending model steps through the step
 * model's own queue and batcher, so steps of concurrent ensemble requests batch together.
 */
export class EnsembleSession implements ModelSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly device = 'ensemble';
  readonly fallbacks = [];
  readonly concurrency: number;
  /** The checked definition it runs: what the config route reports as Triton's `ensemble_scheduling`. */
  readonly definition: Ensemble;
  readonly #context: EnsembleContext;
  /** The ensemble's outputs by name: the tensors a step must make as declared, as the metadata reports them. */
  readonly #outputSpecs: ReadonlyMap<string, TensorSpec>;

  constructor(definition: Ensemble, context: EnsembleContext) {
    this.inputs = definition.inputs;
    this.outputs = definition.outputs;
    this.concurrency = definition.maxInFlight ?? 64;
    this.definition = definition;
    this.#context = context;
    this.#outputSpecs = new Map(definition.outputs.map((spec) => [spec.name, spec]));
  }

  async run(feeds: TensorMap, options: RunOptions = {}): Promise<TensorMap> {
    checkRunOptions(options);
    checkFeeds(this.inputs, feeds);
    const tensors: TensorMap = { ...feeds };
    for (const [i, step] of this.definition.steps.entries()) {
      const stepInputs: TensorMap = {};
      for (const [name, tensor] of Object.entries(step.inputMap)) stepInputs[name] = tensors[tensor]!;
      const what = 'transform' in step ? `transform '${step.name}'` : `model '${step.model}'`;
      let outputs: TensorMap;
      try {
        outputs = 'transform' in step ? await step.transform(stepInputs) : await this.#callModel(i, step, stepInputs, options.signal);
      } catch (error) {
        // The step's own message names its model's input ('x'), which may not be the ensemble's: say which step refused what.
        if (error instanceof InvalidInputError) throw new InvalidInputError(`Ensemble step ${i} (${what}) refused its inputs: ${error.message}`, { cause: error });
        if (error instanceof ServableError) throw error;
        throw new BackendError(`Ensemble step ${i} (${what}) failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      }
      for (const [name, tensor] of Object.entries(step.outputMap)) {
        // A transform may return anything; a missing map is a missing output, not a TypeError about reading it.
        const out = (outputs as TensorMap | undefined)?.[name];
        if (!out) throw new BackendError(`Ensemble step ${i} (${what}) returned no output '${name}'`);
        const spec = this.#outputSpecs.get(tensor);
        if (spec) checkOutput(spec, out, i, what);
        tensors[tensor] = out;
      }
    }
    const result: TensorMap = {};
    for (const spec of this.outputs) result[spec.name] = tensors[spec.name]!;
    return result;
  }

  async dispose(): Promise<void> {}

  async #callModel(i: number, step: ModelStep, inputs: TensorMap, signal: AbortSignal | undefined): Promise<TensorMap> {
    const { ref, resolve, clock, onStep } = this.#context;
    const start = clock.now();
    let hold: VersionHold;
    try {
      hold = await resolve(step.model, { version: step.version, label: step.label, signal });
    } catch (error) {
      // The ensemble exists; a step model, version or label gone since is unavailable (503), which a 404 would deny.
      if (!(error instanceof ModelNotFoundError)) throw error;
      throw new ModelNotReadyError(`Ensemble step ${i} (model '${step.model}') is not available: ${error.message}`, { cause: error, retryAfterMs: null });
    }
    // A request of the step model, as a service's is: timed from the call, counted once a version took it.
    const settled = (error?: unknown): StepEvent => ({
      name: step.model,
      version: hold.version.version,
      ensemble: ref,
      step: i,
      durationMs: clock.now() - start,
      ...(error === undefined ? {} : { error }),
    });
    let response: InferenceResponse;
    try {
      response = (await hold.version.infer({ inputs } satisfies InferenceRequest, { signal }, hold)) as InferenceResponse;
    } catch (error) {
      onStep(() => settled(error));
      throw error;
    } finally {
      hold.release();
    }
    onStep(settled);
    return response.outputs;
  }
}

/** Checks an ensemble output against its spec when a step makes it: clients read it by the datatype and shape the metadata reports. */
function checkOutput(spec: TensorSpec, tensor: TensorMap[string], i: number, what: string): void {
  try {
    checkTensor(spec, tensor, 'output');
  } catch (error) {
    throw new BackendError(`Ensemble step ${i} (${what}) made ensemble output '${spec.name}' other than declared: ${(error as Error).message}`, { cause: error });
  }
}
