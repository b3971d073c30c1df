import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBackend, type Backend, type MemoryModel } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { onnxWeb } from 'servable/onnx-web';
import { linearModel } from '../fixtures/onnx-models.js';
import { B, expected, feeds, W } from './linear-case.js';

const onnx = linearModel(W, B);
const memory: MemoryModel = {
  inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 3] }],
  run: () => ({ Y: { datatype: 'FP32', shape: [feeds.X!.shape[0]!, 3], data: Float32Array.from(expected.Y!.data as Float32Array) } }),
};

/** The feeds afresh: onnx-node takes over their buffers. */
const fresh = () => ({ X: { ...feeds.X!, data: Float32Array.from(feeds.X!.data as Float32Array) } });

const cases: [string, () => Backend, unknown][] = [
  ['memory', () => memoryBackend(), memory],
  ['onnx-node', () => onnxNode({ devices: ['cpu'], instances: 1 }), onnx],
  ['onnx-web', () => onnxWeb({ devices: ['wasm'] }), onnx],
];

for (const [name, make, source] of cases) {
  test(`${name}: load() and a session's run() refuse an unknown option by name and a bad value quoting it, where a misspelt one did nothing`, async () => {
    const backend = make();
    await assert.rejects(backend.load(source as never, { lable: 'm:1' } as never), { name: 'TypeError', message: 'Unknown option `lable`; load() takes label, signal' });
    await assert.rejects(backend.load(source as never, { signal: 'stop' } as never), { name: 'TypeError', message: 'Expected `signal` to be an AbortSignal, got "stop" (string)' });
    const session = await backend.load(source as never, { label: 'm:1' });
    try {
      // A misspelt signal let the run go on after its caller gave up.
      await assert.rejects(session.run(fresh(), { signl: AbortSignal.abort() } as never), { name: 'TypeError', message: 'Unknown option `signl`; run() takes signal, timings' });
      await assert.rejects(session.run(fresh(), { timings: 5 } as never), { name: 'TypeError', message: 'Expected `timings` to be an object, got 5 (number)' });
      await assert.rejects(session.run(fresh(), null as never), { name: 'TypeError', message: 'Expected `options` to be an object, got null (null)' });
      const outputs = await session.run(fresh(), { timings: {} });
      assert.deepEqual(Array.from(outputs.Y!.data as Float32Array, (v) => Math.round(v * 1000) / 1000), Array.from(expected.Y!.data as Float32Array, (v) => Math.round(v * 1000) / 1000));
    } finally {
      await session.dispose();
    }
  });
}
