import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry, InferenceService, type TensorMap } from 'servable';
import { backendContract } from 'servable/testing';
import { logisticRegressionBackend, type LogisticRegressionModel } from '../../examples/custom-backend.js';

const rows = [[1.4, 0.2], [4.5, 1.5], [6, 2.5], [0, 0], [-1, 3]];

/** scikit-learn's predict_proba, in float64: sigmoid for one row of coef, softmax for several. */
function predictProba(m: LogisticRegressionModel, x: number[]): number[] {
  const z = m.coef.map((w, r) => m.intercept[r]! + w.reduce((s, wj, j) => s + wj * x[j]!, 0));
  if (z.length === 1) return [1 / (1 + Math.exp(z[0]!)), 1 / (1 + Math.exp(-z[0]!))];
  const e = z.map((v) => Math.exp(v));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function caseFor(m: LogisticRegressionModel): { feeds: TensorMap; expected: TensorMap } {
  const p = rows.map((x) => predictProba(m, x));
  return {
    feeds: { features: { datatype: 'FP32', shape: [rows.length, 2], data: new Float32Array(rows.flat()) } },
    expected: {
      probabilities: { datatype: 'FP32', shape: [rows.length, p[0]!.length], data: new Float32Array(p.flat()) },
      label: { datatype: 'INT32', shape: [rows.length], data: Int32Array.from(p, (q) => q.indexOf(Math.max(...q))) },
    },
  };
}

const multinomial: LogisticRegressionModel = { coef: [[-2, 1], [0.5, -0.5], [1.5, -0.5]], intercept: [1, 0.5, -1.5] };
const binary: LogisticRegressionModel = { coef: [[0.8, -1.2]], intercept: [0.3] };

backendContract(test, () => ({ backend: logisticRegressionBackend(), source: multinomial }), {
  name: 'custom logistic regression (3 classes)',
  ...caseFor(multinomial),
  tolerance: 1e-6,
  device: 'js',
});
backendContract(test, () => ({ backend: logisticRegressionBackend(), source: binary }), {
  name: 'custom logistic regression (binary)',
  ...caseFor(binary),
  tolerance: 1e-6,
});

test('a bad export fails at load, quoting it', async () => {
  const backend = logisticRegressionBackend();
  assert.equal(backend.accepts('model.onnx'), false);
  await assert.rejects(backend.load({ coef: [[1, 2], [3]], intercept: [0, 0] }), /Expected coef \[classes\]\[features\] of finite numbers/);
  await assert.rejects(backend.load({ coef: [[1, 2]], intercept: [0, 1] }), TypeError);
});

test('the registry serves it, batched, like any other model', async () => {
  const registry = new ModelRegistry({ backends: [logisticRegressionBackend()] });
  const version = await registry.load({ name: 'iris', source: multinomial, batching: { maxBatchSize: 8, maxQueueDelayMs: 5 } });
  const service = new InferenceService({ registry });
  const { expected } = caseFor(multinomial);
  const answers = await Promise.all(
    rows.map((x) => service.infer('iris', { inputs: { features: { datatype: 'FP32', shape: [1, 2], data: new Float32Array(x) } } })),
  );
  answers.forEach((a, i) => {
    assert.equal(a.outputs.label!.data[0], expected.label!.data[i]);
    const want = Array.from((expected.probabilities!.data as Float32Array).subarray(i * 3, i * 3 + 3));
    Array.from(a.outputs.probabilities!.data as Float32Array).forEach((v, j) => assert.ok(Math.abs(v - want[j]!) <= 1e-6));
  });
  assert.equal(version.metadata().device, 'js');
  await registry.close();
});
