import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { WorkerPool } from '../../src/backends/onnx-node/pool.js';
import { BackendError, CancelledError } from '../../src/core/index.js';
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

test('close() while a crashed worker\'s replacement is starting ends the replacement: close() resolves with no worker of the pool alive', async () => {
  const baseline = liveWorkers();
  // The first worker starts at once; its replacement blocks before it reports ready until `held` opens.
  const held = gate();
  const pool = await start(1, (first) => (first ? { hold: held.buffer } : {}));
  try {
    await assert.rejects(pool.run({ op: 'crash' }, []), BackendError);
    await held.reached(1);
    await pool.close();
    assert.equal(pool.alive, 0);
    assert.equal(liveWorkers(), baseline, 'the replacement was terminated');
  } finally {
    held.open();
  }
});

test('close() while a replacement is inside a native start step waits for the step to return and the replacement to exit', async () => {
  const baseline = liveWorkers();
  const held = gate();
  const pool = await start(1, (first) => (first ? { hold: held.buffer, native: true } : {}));
  try {
    await assert.rejects(pool.run({ op: 'crash' }, []), BackendError);
    await held.reached(1);
    const replacement = held.threadId();
    let closed = false;
    const closing = pool.close().then(() => {
      closed = true;
    });
    assert.equal(await happens(() => closed || !liveThreadIds().includes(replacement)), false, 'close() waits; the replacement was not terminated inside the step');
    held.open();
    await closing;
    assert.equal(pool.alive, 0);
    assert.equal(liveWorkers(), baseline, 'the replacement exited by itself');
  } finally {
    held.open();
  }
});

test('a process that closes its pool while a crashed worker\'s replacement is starting exits once close() resolves', { timeout: 60_000 }, async () => {
  // The replacement would block before it reports ready for good: only its end lets the process exit.
  const script = `
    import { WorkerPool } from ${JSON.stringify(new URL('../../src/backends/onnx-node/pool.ts', import.meta.url).href)};
    const hold = new SharedArrayBuffer(12);
    const pool = await WorkerPool.start({ url: new URL(${JSON.stringify(url.href)}), size: 1, label: 'child', workerData: (first) => (first ? { hold } : {}), spinMs: 1, threads: 1 });
    await pool.run({ op: 'crash' }, []).catch(() => {});
    while (Atomics.load(new Int32Array(hold), 0) === 0) await new Promise((r) => setTimeout(r, 1));
    await pool.close();
    console.log('closed');
  `;
  const child = spawn(process.execPath, ['--conditions=servable-source', '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(killer);
  assert.deepEqual([code, signal, out.trim()], [0, null, 'closed'], 'the child exited by itself within 30 s of starting');
});

// `new Worker()` throws at once when it cannot create the thread (ERR_WORKER_INIT_FAILED: threads or
// memory short); workerData that cannot be cloned (a function) makes it throw the same way here.
const unspawnable = (first: { threadId: number } | undefined) => (first ? { cannotClone: () => 0 } : {});

test('a replacement whose thread cannot be spawned counts as a failed start: runs then reject saying no worker is left, and close() resolves', async () => {
  const pool = await start(1, unspawnable);
  await assert.rejects(pool.run({ op: 'crash' }, []), BackendError);
  // The failed start is handled in the microtasks of the turn the worker exited in.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pool.alive, 0);
  await assert.rejects(pool.run({ op: 'echo', x: 1 }, []), (error: unknown) => {
    assert.ok(error instanceof BackendError, String(error));
    assert.match(error.message, /^pool test: no worker is left: replacing a crashed worker failed: pool test: could not spawn a worker thread: /);
    return true;
  });
  await pool.close();
});

test('a start whose later worker cannot be spawned rejects with a BackendError once the workers already started have exited', async () => {
  const baseline = liveWorkers();
  await assert.rejects(start(2, unspawnable), (error: unknown) => {
    assert.ok(error instanceof BackendError, String(error));
    assert.match(error.message, /^pool test: could not spawn a worker thread: /);
    return true;
  });
  assert.equal(liveWorkers(), baseline, 'the first worker was terminated');
});
