import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerPool } from '../../src/backends/onnx-node/pool.js';
import { CancelledError } from '../../src/core/index.js';
import type { Job, Result } from './pool-worker.js';
import { until } from '../fixtures/until.js';
import { gate } from './gate.js';
import { liveThreadIds, liveWorkers } from './models.js';

const url = new URL('./pool-worker.ts', import.meta.url);

function start(size: number, workerData: (first: { threadId: number } | undefined) => unknown, signal?: AbortSignal) {
  return WorkerPool.start<{ threadId: number }, Job, Result>({ url, size, label: 'pool test', workerData, signal, spinMs: 1, threads: 1 });
}

/** True when `condition` comes to hold within `ms`: for what must not happen, with a generous bound. */
function happens(condition: () => boolean, ms = 500): Promise<boolean> {
  return until(condition, 'it', ms).then(() => true, () => false);
}

test('a start whose signal aborts while its worker is held in JavaScript terminates the worker at once', async () => {
  const baseline = liveWorkers();
  const held = gate();
  const controller = new AbortController();
  const starting = start(1, () => ({ hold: held.buffer }), controller.signal);
  try {
    await held.reached(1);
    controller.abort();
    await assert.rejects(starting, CancelledError);
    assert.equal(liveWorkers(), baseline);
  } finally {
    held.open();
  }
});

test('a start whose signal aborts while its worker is inside a native start step lets the step return, then the worker exits by itself', async () => {
  const baseline = liveWorkers();
  const held = gate();
  const controller = new AbortController();
  let settled = false;
  const starting = start(1, () => ({ hold: held.buffer, native: true }), controller.signal).finally(() => {
    settled = true;
  });
  try {
    await held.reached(1);
    const worker = held.threadId();
    controller.abort();
    // Terminated there, a worker inside onnxruntime-node aborts the whole process once the call returns.
    assert.equal(await happens(() => settled || !liveThreadIds().includes(worker)), false, 'the worker was not terminated inside the step');
    held.open();
    await assert.rejects(starting, CancelledError);
    assert.equal(liveWorkers(), baseline);
  } finally {
    held.open();
  }
});
