import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, ModelRegistry, type MemoryModel, type InferenceRequest } from '../../src/index.js';
import { memoryBackend } from '../../src/testing/index.js';
import { doubler, flush } from './helpers.js';

// A version registry.load() failed to bring in, listed failed with why (TF-Serving's END).

const row: InferenceRequest = { inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) } } };

test('a load of a version listed failed that is called off leaves it listed failed with its last error, where the version vanished from versions()', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  try {
    await registry.load({ name: 'm', version: '1', source: doubler(0), warmup: [] });
    const broken: MemoryModel = { ...doubler(7), run: () => { throw new Error('corrupt'); } };
    await assert.rejects(registry.load({ name: 'm', version: '2', source: broken, warmup: [row] }), /corrupt/);
    const listed = [{ version: '2', state: 'failed', error: 'corrupt' }, { version: '1', state: 'ready' }];
    assert.deepEqual(registry.versions('m'), listed);
    const controller = new AbortController();
    // Its warmup runs 50 ms: the load is still going when it is called off.
    const again = registry.load({ name: 'm', version: '2', source: doubler(1, 50), warmup: [row] }, { signal: controller.signal });
    await flush();
    assert.deepEqual(registry.versions('m'), [{ version: '2', state: 'loading' }, { version: '1', state: 'ready' }]);
    controller.abort();
    await assert.rejects(again, (e: Error) => e instanceof CancelledError);
    assert.deepEqual(registry.versions('m'), listed, 'a called-off load changes nothing');
    // Unloading it while it loads forgets it, called off or not.
    const third = registry.load({ name: 'm', version: '2', source: doubler(1, 50), warmup: [row] });
    await flush();
    await registry.unload('m', '2');
    await assert.rejects(third);
    assert.deepEqual(registry.versions('m'), [{ version: '1', state: 'ready' }]);
  } finally {
    await registry.close();
  }
});
