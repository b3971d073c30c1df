import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerPool } from '../../src/backends/onnx-node/pool.js';
import { onnxNode } from '../../src/backends/onnx-node/index.js';
import { BackendError, type TensorMap } from '../../src/core/index.js';
import { shiftChainModel } from '../fixtures/onnx-models.js';
import type { Job, Result } from './pool-worker.js';
import { until } from '../fixtures/until.js';
import { gate } from './gate.js';
import { liveThreadIds, liveWorkers } from './models.js';

const url = new URL('./pool-worker.ts', import.meta.url);

function start(size: number, runTimeoutMs: number, depth = 1, workerData: (first: { threadId: number } | undefined) => unknown = () => ({})) {
  return WorkerPool.start<{ threadId: number }, Job, Result>({ url, size, label: 'pool test', workerData, spinMs: 1, threads: 1, depth, runTimeoutMs });
}

const timedOut = (error: unknown, ms = 50) => {
  assert.ok(error instanceof BackendError, String(error));
  assert.equal(error.code, 'ERR_SERVABLE_BACKEND');
  assert.equal(error.message, `pool test: a run took longer than runTimeoutMs (${ms} ms): its worker is being replaced`);
  return true;
};

test('a run that takes longer than runTimeoutMs fails with a BackendError, its worker is replaced and closes once the run returns, and the other worker runs on', { timeout: 20_000 }, async () => {
  // Every run but the stuck one must end within runTimeoutMs, on a loaded machine too, where a
  // thread may wait tens of milliseconds for a core: hence a second, and the other run sent half
  // of it after the stuck one, to end once that one has timed out.
  const pool = await start(2, 1000);
  const workers = liveWorkers();
  const stuck = gate();
  const slow = gate();
  try {
    let firstSettled = false;
    const first = pool.run({ op: 'gate', x: 1, gate: stuck.buffer }, []).finally(() => {
      firstSettled = true;
    });
    await stuck.reached(1);
    await new Promise((r) => setTimeout(r, 500));
    const other = pool.run({ op: 'gate', x: 2, gate: slow.buffer }, []);
    assert.equal(firstSettled, false, 'the other run was sent while the stuck one was still running');
    await slow.reached(1);
    await assert.rejects(first, (e) => timedOut(e, 1000));
    slow.open();
    const answered = await other;
    assert.equal(answered.x, 2, 'the run on the other worker went on');
    await until(() => pool.alive === 2, `the retired worker was replaced (alive ${pool.alive})`, 10_000);
    const next = await Promise.all([3, 4].map((x) => pool.run({ op: 'echo', x }, [])));
    assert.deepEqual(next.map((r) => r.x), [3, 4]);
    assert.ok(next.some((r) => r.count === 1), 'a new worker serves');
    assert.equal(liveWorkers(), workers + 1, 'the retired worker is still in its run');
    stuck.open();
    await until(() => liveWorkers() === workers, 'the retired worker closed once its run returned');
  } finally {
    // A retired worker still in its run keeps the process alive, as any worker busy with a run does.
    stuck.open();
    slow.open();
    await pool.close();
  }
});

test('with depth 2 a timed-out worker fails the run waiting behind the stuck one too; runs still queued go to its replacement', { timeout: 20_000 }, async () => {
  // The queued run, on the replacement, must end within runTimeoutMs, on a loaded machine too.
  const pool = await start(1, 1000, 2);
  const stuck = gate();
  try {
    const first = pool.run({ op: 'gate', x: 1, gate: stuck.buffer }, []);
    const behind = pool.run({ op: 'echo', x: 2 }, []);
    const queued = pool.run({ op: 'echo', x: 3 }, []);
    await assert.rejects(first, (e) => timedOut(e, 1000));
    await assert.rejects(behind, (e) => timedOut(e, 1000));
    assert.deepEqual(await queued.then((r) => [r.x, r.count]), [3, 1]);
  } finally {
    stuck.open();
    await pool.close();
  }
});

test('runs that each end in time never time out, however long the worker stays busy; the timer holds no process open', { timeout: 20_000 }, async () => {
  // Each run takes about 15 ms, well within 400 ms on a loaded machine too; together they keep the worker busy longer.
  const pool = await start(1, 400);
  try {
    const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const t0 = performance.now();
    let count = 0;
    while (performance.now() - t0 < 1000) {
      const g = gate();
      const run = pool.run({ op: 'gate', x: 1, gate: g.buffer }, []);
      await g.reached(1);
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timers, 'the run timer is unref\'d');
      g.open();
      count = (await run).count;
    }
    assert.ok(count > 3, `one worker ran all ${count} runs`);
  } finally {
    await pool.close();
  }
});

test('close waits for a stuck run only until runTimeoutMs', { timeout: 20_000 }, async () => {
  const pool = await start(1, 50);
  const stuck = gate();
  const run = pool.run({ op: 'gate', x: 1, gate: stuck.buffer }, []).catch((e: unknown) => e);
  await stuck.reached(1);
  try {
    await pool.close();
    timedOut(await run);
  } finally {
    stuck.open();
  }
});

test('close while a timed-out worker\'s replacement is starting ends the replacement; the retired worker closes once its run returns', { timeout: 20_000 }, async () => {
  // The first worker starts at once; its replacement blocks before it reports ready until `held` opens.
  const held = gate();
  const pool = await start(1, 50, 1, (first) => (first ? { hold: held.buffer } : {}));
  const stuck = gate();
  try {
    await assert.rejects(pool.run({ op: 'gate', x: 1, gate: stuck.buffer }, []), timedOut);
    await held.reached(1);
    const workers = [stuck.threadId(), held.threadId()];
    let closed = false;
    void pool.close().then(() => {
      closed = true;
    });
    await until(() => closed, 'close() resolved, the replacement called off');
    assert.equal(pool.alive, 0);
    assert.deepEqual(workers.filter((id) => liveThreadIds().includes(id)), [stuck.threadId()], 'the replacement was terminated; the retired worker is still in its run');
    stuck.open();
    await until(() => !liveThreadIds().some((id) => workers.includes(id)), 'the retired worker exited once its run returned');
  } finally {
    held.open();
    stuck.open();
  }
});

test('a replacement called off by close() while it starts is no unhandled rejection', { timeout: 20_000 }, async () => {
  const held = gate();
  const pool = await start(1, 50, 1, (first) => (first ? { hold: held.buffer } : {}));
  const stuck = gate();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await assert.rejects(pool.run({ op: 'gate', x: 1, gate: stuck.buffer }, []), timedOut);
    await held.reached(1);
    const replacement = held.threadId();
    await pool.close();
    assert.equal(liveThreadIds().includes(replacement), false, 'the replacement exited');
    // An unhandled rejection is reported after the microtasks of the turn that rejected.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled.map(String), []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    held.open();
    stuck.open();
  }
});

test('onnx-node: a run past runTimeoutMs fails and its instance is replaced; the retired worker, inside ONNX Runtime, closes when the run returns and the process lives on', { timeout: 150_000 }, async () => {
  // 384 MatMuls of [batch, 512] by 512 × 512: the big run's 2048 rows take 2048 × 384 × 512² = 206G
  // multiply-adds on one thread, seconds (4 s at 50G a second; no core does 206G a second), far
  // past the 1 s limit; one row takes a few milliseconds, well within it on a loaded machine too.
  // The workers keep the process's priority: niced, they wait behind every busy process, and the
  // retired worker's run, that the test waits for, went on past a minute on a busy machine.
  const k = 512;
  const depth = 384;
  const workers = liveWorkers();
  const session = await onnxNode({ instances: 1, intraOpNumThreads: 1, workerNice: 0, runTimeoutMs: 1000 }).load(shiftChainModel(k, depth), { label: 'big:1' });
  const feed = (n: number): TensorMap => ({ X: { datatype: 'FP32', shape: [n, k], data: new Float32Array(n * k).map((_, i) => i % k) } });
  try {
    const error = await session.run(feed(2048)).catch((e: unknown) => e);
    assert.ok(error instanceof BackendError, String(error));
    assert.equal(error.message, 'onnx-node big:1: a run took longer than runTimeoutMs (1000 ms): its worker is being replaced');
    const small = (await session.run(feed(1))).Y!;
    assert.deepEqual(small.shape, [1, k]);
    assert.deepEqual(Array.from(small.data as Float32Array), Array.from({ length: k }, (_, j) => (j - depth + k) % k), 'the replacement answers');
    assert.equal(session.instances, 1);
  } finally {
    await session.dispose();
  }
  // The retired worker's run goes on for seconds, tens of them on a loaded machine.
  await until(() => liveWorkers() === workers, 'the retired worker closed once its run returned', 90_000);
});
