/**
 * A custom backend: servable serves any model behind the Backend/ModelSession interface, not only
 * ONNX. This one runs a logistic regression exported from scikit-learn as plain numbers
 * (`{coef: model.coef_.tolist(), intercept: model.intercept_.tolist()}`), in JavaScript, and gives
 * `predict_proba` and `predict` as two outputs. Run it to serve one through the registry:
 * `node --conditions=servable-source --import tsx examples/custom-backend.ts`.
 */
import { pathToFileURL } from 'node:url';
import {
  abortError,
  checkFeeds,
  ClosedError,
  dataOf,
  describe,
  InferenceService,
  ModelRegistry,
  type Backend,
  type LoadOptions,
  type ModelSession,
  type ModelSource,
  type RunOptions,
  type TensorMap,
  type TensorSpec,
} from 'servable';

/** A fitted scikit-learn LogisticRegression: `coef_` is [classes, features] (one row when binary), `intercept_` one per row. */
export interface LogisticRegressionModel {
  readonly coef: readonly (readonly number[])[];
  readonly intercept: readonly number[];
}

function isLogisticRegression(source: ModelSource): source is LogisticRegressionModel {
  const m = source as Partial<LogisticRegressionModel>;
  return typeof m === 'object' && m !== null && Array.isArray(m.coef) && Array.isArray(m.intercept);
}

/** Checks the numbers fit together, so a bad export fails at load and not on the first request. */
function assertModel(m: LogisticRegressionModel): void {
  const features = m.coef[0]?.length ?? 0;
  const rowsOk = m.coef.length > 0 && features > 0 && m.coef.every((row) => row.length === features && row.every(Number.isFinite));
  if (!rowsOk || m.intercept.length !== m.coef.length || !m.intercept.every(Number.isFinite)) {
    throw new TypeError(`Expected coef [classes][features] of finite numbers and one intercept per row, got ${describe(m)}`);
  }
}

/**
 * A backend for scikit-learn logistic regressions. Input `features` FP32 [n, features]; outputs
 * `probabilities` FP32 [n, classes] (sklearn's predict_proba: sigmoid when binary, softmax
 * otherwise) and `label` INT32 [n] (the most probable class).
 */
export function logisticRegressionBackend(): Backend {
  return {
    name: 'logistic-regression',
    accepts: isLogisticRegression,
    async load(source: ModelSource, options: LoadOptions = {}): Promise<ModelSession> {
      if (options.signal?.aborted) throw abortError(options.signal);
      if (!isLogisticRegression(source)) throw new TypeError(`Expected {coef, intercept}, got ${describe(source)}`);
      assertModel(source);
      return new LogisticRegressionSession(source, options.label ?? 'logistic-regression');
    },
  };
}

class LogisticRegressionSession implements ModelSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly device = 'js';
  readonly fallbacks = [];
  readonly concurrency = 1;
  readonly #coef: Float64Array;
  readonly #intercept: Float64Array;
  readonly #features: number;
  readonly #classes: number;
  readonly #label: string;
  #disposed = false;

  constructor(model: LogisticRegressionModel, label: string) {
    this.#features = model.coef[0]!.length;
    this.#coef = Float64Array.from(model.coef.flat());
    this.#intercept = Float64Array.from(model.intercept);
    this.#classes = model.coef.length === 1 ? 2 : model.coef.length;
    this.#label = label;
    this.inputs = [{ name: 'features', datatype: 'FP32', shape: [-1, this.#features] }];
    this.outputs = [
      { name: 'probabilities', datatype: 'FP32', shape: [-1, this.#classes] },
      { name: 'label', datatype: 'INT32', shape: [-1] },
    ];
  }

  async run(feeds: TensorMap, options: RunOptions = {}): Promise<TensorMap> {
    if (this.#disposed) throw new ClosedError(`Model ${this.#label} is disposed`);
    if (options.signal?.aborted) throw abortError(options.signal);
    checkFeeds(this.inputs, feeds);
    const x = dataOf(feeds.features, 'FP32');
    const n = feeds.features!.shape[0]!;
    const k = this.#features;
    const rows = this.#intercept.length;
    const probabilities = new Float32Array(n * this.#classes);
    const label = new Int32Array(n);
    const z = new Float64Array(rows);
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < rows; r++) {
        let sum = this.#intercept[r]!;
        for (let j = 0; j < k; j++) sum += this.#coef[r * k + j]! * x[i * k + j]!;
        z[r] = sum;
      }
      const p = rows === 1 ? binary(z[0]!) : softmax(z);
      probabilities.set(p, i * this.#classes);
      label[i] = p.indexOf(Math.max(...p));
    }
    return {
      probabilities: { datatype: 'FP32', shape: [n, this.#classes], data: probabilities },
      label: { datatype: 'INT32', shape: [n], data: label },
    };
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
  }
}

function binary(z: number): number[] {
  const p = 1 / (1 + Math.exp(-z));
  return [1 - p, p];
}

function softmax(z: Float64Array): number[] {
  const max = Math.max(...z);
  const e = Array.from(z, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Iris by petal length and width (cm): setosa, versicolor, virginica, served batched like any ONNX model.
  const registry = new ModelRegistry({ backends: [logisticRegressionBackend()] });
  await registry.load({
    name: 'iris',
    source: { coef: [[-3, -1], [0.5, -0.5], [1.5, 2]], intercept: [8, 0.5, -9] } satisfies LogisticRegressionModel,
    batching: { maxBatchSize: 16 },
  });
  const service = new InferenceService({ registry });
  const flowers = [[1.4, 0.2], [4.5, 1.5], [6, 2.5]];
  const answers = await Promise.all(
    flowers.map((f) => service.infer('iris', { inputs: { features: { datatype: 'FP32', shape: [1, 2], data: new Float32Array(f) } } })),
  );
  const species = ['setosa', 'versicolor', 'virginica'];
  answers.forEach((a, i) => {
    const p = Array.from(dataOf(a.outputs.probabilities, 'FP32'), (v) => v.toFixed(3));
    console.log(`petals ${JSON.stringify(flowers[i])} -> ${species[Number(a.outputs.label!.data[0])]}, probabilities [${p.join(', ')}]`);
  });
  await registry.close();
}
