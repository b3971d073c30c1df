import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNow } from '../../src/backends/onnx-node/run-now.js';
import { importOrt } from '../../src/backends/onnx-node/runtime.js';
import { identityModel } from './models.js';

test('runNow calls setImmediate callbacks at once, with their arguments, and restores setImmediate after', () => {
  const before = globalThis.setImmediate;
  const calls: string[] = [];
  const result = runNow(() => {
    setImmediate((a: string, b: string) => calls.push(`${a}${b}`), 'x', 'y');
    calls.push('after');
    return 42;
  });
  assert.equal(result, 42);
  assert.deepEqual(calls, ['xy', 'after'], 'the callback ran before runNow\'s function went on');
  assert.equal(globalThis.setImmediate, before, 'setImmediate is the real one again');
});

test('runNow restores setImmediate when the function throws', () => {
  const before = globalThis.setImmediate;
  assert.throws(() => runNow(() => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(globalThis.setImmediate, before);
});

test('a promise that defers its work with setImmediate, as onnxruntime-node\'s run does, settles from microtasks only', async () => {
  let ran = false;
  const deferred = () => new Promise<number>((resolve) => setImmediate(() => {
    ran = true;
    resolve(7);
  }));
  const promise = runNow(deferred);
  assert.equal(ran, true, 'the deferred work ran inside runNow');
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  assert.equal(await promise, 7);
  assert.equal(turned, false, 'settled before the event loop turned');
});

test('only the first setImmediate is called at once: one made from its callback waits for the event loop, so a polling loop cannot spin the thread', async () => {
  let polls = 0;
  const polled = new Promise<void>((resolve) => {
    runNow(() => {
      const poll = (): void => {
        polls++;
        if (polls < 3) setImmediate(poll);
        else resolve();
      };
      setImmediate(poll);
    });
  });
  assert.equal(polls, 1, 'the first poll ran inside runNow, the second was deferred');
  await polled;
  assert.equal(polls, 3);
});

test('the installed onnxruntime-node\'s session.run() has run when runNow returns, and settles before the event loop turns', async () => {
  const ort = await importOrt();
  const session = await ort.InferenceSession.create(identityModel(['FP32']), { intraOpNumThreads: 1 });
  try {
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    const results = await runNow(() => session.run({ in_FP32: new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]) }));
    assert.deepEqual(Array.from(results['out_FP32']!.data as Float32Array), [1, 2, 3, 4]);
    assert.equal(turned, false, 'no turn of the event loop before the results: onnxruntime-node no longer starts its run from setImmediate, and runNow gains nothing');
  } finally {
    await session.release();
  }
});
