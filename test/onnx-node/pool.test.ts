import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerPool } from '../../src/backends/onnx-node/pool.js';
import { BackendError, BackendUnavailableError, CancelledError, ClosedError } from '../../src/core/index.js';
import { liveWorkers } from './models.js';
import type { Job, Result } from './pool-worker.js';
import { until } from '../fixtures/until.js';
import { gate } from './gate.js';

const url = new URL('./pool-worker.ts', import.meta.url);

function start(size: number, data: (first: { threadId: number } | undefined) => unknown = () => ({}), spinMs = 1, depth = 1) {
  return WorkerPool.start<{ threadId: number }, Job, Result>({ url, size, label: 'pool test', workerData: data, spinMs, threads: 1, depth });
}

/**
 * A pool of `size` workers whose starts fail from the `n`th on (counted from 0), up to the
 * `upTo`th (excluded) when given; `starts()` counts the starts tried so far.
 */
async function failingStarts(size: number, n: number, upTo?: number) {
  const buffer = new SharedArrayBuffer(4);
  const pool = await start(size, () => ({ failFrom: { starts: buffer, n, until: upTo } }));
  return { pool, starts: () => Atomics.load(new Int32Array(buffer), 0) };
}

test('runs go to idle workers; the rest wait', async () => {
  const pool = await start(2);
  try {
    assert.equal(pool.size, 2);
    assert.equal(pool.alive, 2);
    const g = gate();
    let finished = 0;
    const runs = [1, 2, 3].map((x) =>
      pool.run(x <= 2 ? { op: 'gate', x, gate: g.buffer } : { op: 'echo', x }, []).finally(() => {
        finished += 1;
      }),
    );
    await g.reached(2);
    assert.equal(finished, 0, 'run 3 waits while both workers are held');
    g.open();
    const results = await Promise.all(runs);
    assert.deepEqual(results.map((r) => r.x), [1, 2, 3]);
    assert.notEqual(results[0]!.threadId, results[1]!.threadId, 'the two gated runs ran on different workers');
  } finally {
    await pool.close();
  }
});

test('runs sent together while every worker is idle go one to each worker, however fast each finishes (what warm-up relies on)', async () => {
  const pool = await start(3);
  try {
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([1, 2, 3].map((x) => pool.run({ op: 'echo', x }, [])));
      assert.equal(new Set(results.map((r) => r.threadId)).size, 3, `round ${round}: three runs on three workers`);
      assert.deepEqual(results.map((r) => r.count), [round + 1, round + 1, round + 1], `round ${round}: each worker ran one of them`);
    }
  } finally {
    await pool.close();
  }
});

test('collect() settles a run whose worker has replied before the event loop delivers the reply', async () => {
  // No spinning, so no polling: the reply comes only as a message, which the event loop delivers on a later turn.
  const pool = await start(1, () => ({}), 0);
  try {
    const microtasks = async () => {
      for (let i = 0; i < 20; i++) await Promise.resolve();
    };
    const ran = async (collect: boolean) => {
      const replied = new SharedArrayBuffer(4);
      let settled = false;
      const run = pool.run({ op: 'signal', x: 5, replied }, []).then((r) => {
        settled = true;
        return r;
      });
      // Holding the event loop until the worker has replied ('not-equal': it had replied already).
      assert.notEqual(Atomics.wait(new Int32Array(replied), 0, 0, 10_000), 'timed-out', 'the worker replied');
      if (collect) pool.collect();
      await microtasks();
      const early = settled;
      assert.equal((await run).x, 5);
      return early;
    };
    assert.equal(await ran(false), false, 'without collect() the reply waits for the event loop');
    assert.equal(await ran(true), true, 'collect() settles it within the same turn');
  } finally {
    await pool.close();
  }
});

test('a result that cannot be read fails its run with a BackendError, whether collect() or the event loop comes to it, and the worker serves on', async () => {
  const pool = await start(1, () => ({}), 0);
  try {
    for (const collect of [true, false]) {
      const replied = new SharedArrayBuffer(4);
      const run = pool.run({ op: 'deep', depth: 2_000, replied }, []);
      const next = pool.run({ op: 'echo', x: 1 }, []);
      assert.notEqual(Atomics.wait(new Int32Array(replied), 0, 0, 10_000), 'timed-out', 'the worker replied');
      if (collect) pool.collect();
      await assert.rejects(run, (e: unknown) => {
        assert.ok(e instanceof BackendError, String(e));
        assert.equal(e.message, 'pool test: could not read the result: Maximum call stack size exceeded');
        return true;
      });
      assert.equal((await next).x, 1, 'the run queued behind it is served');
    }
  } finally {
    await pool.close();
  }
});

test('a worker woken by expect() without a run goes back to waiting, and takes the run when it comes', async () => {
  const pool = await start(1);
  try {
    assert.equal((await pool.run({ op: 'echo', x: -1 }, [])).x, -1);
    for (let i = 0; i < 6; i++) {
      // Past the worker's 1 ms spin, so that it sleeps when woken; on odd turns it falls asleep again before the run.
      await new Promise((r) => setTimeout(r, 5));
      pool.expect();
      pool.expect();
      if (i % 2 === 1) await new Promise((r) => setTimeout(r, 5));
      const result = await pool.run({ op: 'echo', x: i }, []);
      assert.deepEqual([result.x, result.count], [i, i + 2], `turn ${i}`);
    }
  } finally {
    await pool.close();
  }
});

test('waiting runs are sent in FIFO order', async () => {
  const pool = await start(1);
  try {
    const g = gate();
    const first = pool.run({ op: 'gate', x: 0, gate: g.buffer }, []);
    await g.reached(1);
    const queued = [1, 2, 3, 4, 5].map((x) => pool.run({ op: 'echo', x }, []));
    g.open();
    await first;
    const results = await Promise.all(queued);
    assert.deepEqual(results.map((r) => [r.x, r.count]), [[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]]);
  } finally {
    await pool.close();
  }
});

test('with depth 2 a busy worker is handed a second run, which it starts without waiting for the event loop', async () => {
  const pool = await start(1, () => ({}), 1, 2);
  try {
    assert.equal(pool.depth, 2);
    const g = gate();
    const replied = new SharedArrayBuffer(4);
    const first = pool.run({ op: 'gate', x: 1, gate: g.buffer }, []);
    await g.reached(1);
    const handedOver = new AbortController();
    const second = pool.run({ op: 'signal', x: 2, replied }, [], handedOver.signal);
    const waiting = new AbortController();
    const third = pool.run({ op: 'echo', x: 3 }, [], waiting.signal);
    // The second run is the worker's already: aborting it drops nothing. The third waits in the pool.
    handedOver.abort();
    waiting.abort();
    await assert.rejects(third, CancelledError);
    g.open();
    // The event loop stays blocked here, so only a run the worker already holds can reply.
    assert.notEqual(Atomics.wait(new Int32Array(replied), 0, 0, 10_000), 'timed-out', 'the second run ran while the event loop was blocked');
    assert.deepEqual([(await first).count, (await second).count, (await second).x], [1, 2, 2]);
    assert.equal((await pool.run({ op: 'echo', x: 4 }, [])).count, 3, 'the aborted third run never reached the worker');
  } finally {
    await pool.close();
  }
});

test('with depth 2, runs go to idle workers first, then to the busy worker whose run started first', async () => {
  const pool = await start(2, () => ({}), 1, 2);
  try {
    const early = gate();
    const late = gate();
    const a = pool.run({ op: 'gate', x: 1, gate: early.buffer }, []);
    await early.reached(1);
    const b = pool.run({ op: 'gate', x: 2, gate: late.buffer }, []);
    await late.reached(1);
    const c = pool.run({ op: 'echo', x: 3 }, []);
    const d = pool.run({ op: 'echo', x: 4 }, []);
    const e = pool.run({ op: 'echo', x: 5 }, []);
    early.open();
    const [ra, rc] = await Promise.all([a, c]);
    assert.equal(rc.threadId, ra.threadId, 'the third run went behind the run that started first');
    late.open();
    const [rb, rd, re] = await Promise.all([b, d, e]);
    assert.notEqual(rb.threadId, ra.threadId);
    assert.equal(rd.threadId, rb.threadId, 'the fourth went behind the other');
    assert.deepEqual([re.x, re.threadId], [5, ra.threadId], 'the fifth waited in the pool for the first worker to finish a run');
  } finally {
    await pool.close();
  }
});

test('with depth 2 a worker that dies fails both its runs with a BackendError, and its replacement serves', async () => {
  const pool = await start(1, () => ({}), 1, 2);
  try {
    const crashed = pool.run({ op: 'crash' }, []).catch((e: unknown) => e);
    const behind = pool.run({ op: 'echo', x: 1 }, []).catch((e: unknown) => e);
    for (const error of [await crashed, await behind]) {
      assert.ok(error instanceof BackendError, String(error));
      assert.match(error.message, /exited unexpectedly with code 1: boom/);
    }
    assert.deepEqual(await pool.run({ op: 'echo', x: 2 }, []).then((r) => [r.x, r.count]), [2, 1]);
  } finally {
    await pool.close();
  }
});

test('a run aborted while it waits is dropped and rejects with the abort error', async () => {
  const pool = await start(1);
  try {
    const g = gate();
    const first = pool.run({ op: 'gate', x: 1, gate: g.buffer }, []);
    await g.reached(1);
    const cancelled = new AbortController();
    const byReason = new AbortController();
    const dropped = pool.run({ op: 'echo', x: 2 }, [], cancelled.signal);
    const dropped2 = pool.run({ op: 'echo', x: 3 }, [], byReason.signal);
    const last = pool.run({ op: 'echo', x: 4 }, []);
    cancelled.abort();
    byReason.abort(new Error('deadline'));
    await assert.rejects(dropped, CancelledError);
    await assert.rejects(dropped2, { message: 'deadline' });
    g.open();
    assert.equal((await first).count, 1);
    assert.deepEqual({ x: (await last).x, count: (await last).count }, { x: 4, count: 2 }, 'the aborted runs never reached the worker');
    await assert.rejects(pool.run({ op: 'echo', x: 5 }, [], AbortSignal.abort()), CancelledError);
  } finally {
    await pool.close();
  }
});

test('an error reply rejects with a BackendError carrying it; the worker keeps serving', async () => {
  const pool = await start(1);
  try {
    const error = await pool.run({ op: 'fail' }, []).catch((e: unknown) => e);
    assert.ok(error instanceof BackendError);
    assert.equal(error.code, 'ERR_SERVABLE_BACKEND');
    assert.equal(error.message, 'pool test: bad feed');
    assert.equal((error.cause as Error).name, 'OrtError');
    assert.equal((await pool.run({ op: 'echo', x: 1 }, [])).count, 2);
  } finally {
    await pool.close();
  }
});

test('a worker that dies fails its run with a BackendError and is replaced', async () => {
  const pool = await start(1);
  try {
    const before = (await pool.run({ op: 'echo', x: 0 }, [])).threadId;
    const crashed = pool.run({ op: 'crash' }, []).catch((e: unknown) => e);
    const queued = pool.run({ op: 'echo', x: 1 }, []);
    const error = await crashed;
    assert.ok(error instanceof BackendError, String(error));
    assert.equal(error.message, 'pool test: the worker running this model exited unexpectedly with code 1: boom');
    assert.equal((error.cause as Error).message, 'boom');
    const after = await queued;
    assert.notEqual(after.threadId, before, 'a new worker took over the queued run');
    assert.deepEqual({ x: after.x, count: after.count }, { x: 1, count: 1 });
    assert.equal(pool.alive, 1);
  } finally {
    await pool.close();
  }
});

test('a worker that dies right after reporting ready is replaced, and the pool keeps serving', { timeout: 20_000 }, async () => {
  const pool = await start(2, (first) => (first ? {} : { crashAfterReady: true }));
  try {
    // A run handed to the worker in the instant between its ready message and its death fails
    // with a BackendError (it is not retried: a run that kills workers would kill them all).
    const first = await Promise.allSettled([1, 2, 3, 4].map((x) => pool.run({ op: 'echo', x }, [])));
    for (const [i, r] of first.entries()) {
      if (r.status === 'fulfilled') assert.equal(r.value.x, i + 1);
      else assert.ok(r.reason instanceof BackendError, String(r.reason));
    }
    const results = await Promise.all([5, 6, 7, 8].map((x) => pool.run({ op: 'echo', x }, [])));
    assert.deepEqual(results.map((r) => r.x), [5, 6, 7, 8]);
  } finally {
    await pool.close();
  }
});

test('close resolves when a crashed worker cannot be replaced while another still serves', async () => {
  const baseline = liveWorkers();
  const { pool } = await failingStarts(2, 2);
  const error = await pool.run({ op: 'crash' }, []).catch((e: unknown) => e);
  assert.ok(error instanceof BackendError, String(error));
  const closed = pool.close();
  // The other worker is idle, so nothing is left to drain, and close() calls the replacement off.
  const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(r, 2000, 'still closing'))]);
  assert.equal(outcome, 'closed');
  assert.equal(pool.alive, 0);
  assert.equal(liveWorkers(), baseline, 'no worker is left');
});

test('a replacement that fails to start is tried again with backoff until one starts', async () => {
  // Starts 0 and 1 are the pool's; the replacement (2) and its first retry (3) fail, the second retry (4) starts.
  const { pool, starts: count } = await failingStarts(2, 2, 4);
  try {
    await assert.rejects(pool.run({ op: 'crash' }, []), BackendError);
    await until(() => pool.alive === 2, `the pool is back to 2 workers (alive ${pool.alive}, starts ${count()})`, 10_000);
    assert.equal(count(), 5);
    const results = await Promise.all([1, 2].map((x) => pool.run({ op: 'echo', x }, [])));
    assert.deepEqual(results.map((r) => r.x), [1, 2]);
  } finally {
    await pool.close();
  }
});

test('with no worker left runs fail at once, until a retried start brings one back', async () => {
  // The replacement (1) and the first retry (2) fail: a run between them finds no worker; the second retry (3) starts.
  const { pool, starts: count } = await failingStarts(1, 1, 3);
  try {
    await assert.rejects(pool.run({ op: 'crash' }, []), BackendError);
    await until(() => count() === 2, 'the replacement was tried', 10_000);
    const error = await pool.run({ op: 'echo', x: 1 }, []).catch((e: unknown) => e);
    assert.ok(error instanceof BackendError, String(error));
    assert.match(error.message, /^pool test: no worker is left: replacing a crashed worker failed: /);
    await until(() => pool.alive === 1, `a retried start brought a worker back (starts ${count()})`, 10_000);
    assert.equal((await pool.run({ op: 'echo', x: 2 }, [])).x, 2);
  } finally {
    await pool.close();
  }
});

test('close cancels a pending retry and resolves promptly; no timer holds the process', async () => {
  const { pool, starts: count } = await failingStarts(2, 2);
  await assert.rejects(pool.run({ op: 'crash' }, []), BackendError);
  await until(() => count() === 3, 'the replacement was tried', 10_000);
  await new Promise((r) => setTimeout(r, 30));
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const t0 = Date.now();
  await pool.close();
  assert.ok(Date.now() - t0 < 500, `close took ${Date.now() - t0} ms`);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(count(), 3, 'no retry ran after close');
  assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timers, 'the retry timer is unref\'d');
});

test('a worker that cannot start fails the start with its reasons and leaves no worker behind', async () => {
  const baseline = liveWorkers();
  const unavailable = await start(1, () => ({ fail: 'no device' })).catch((e: unknown) => e);
  assert.ok(unavailable instanceof BackendUnavailableError);
  assert.deepEqual(unavailable.failures, [{ device: 'test', reason: 'no device' }]);
  assert.equal(unavailable.message, 'pool test: cannot start: [test] no device');

  await assert.rejects(start(1, () => ({ exit: 5 })), (e: unknown) => {
    assert.ok(e instanceof BackendError);
    assert.equal(e.message, 'pool test: the worker exited with code 5 before it was ready');
    return true;
  });

  // The first starts, the second fails: the first is stopped too.
  await assert.rejects(start(2, (first) => (first ? { fail: 'second' } : {})), BackendUnavailableError);
  assert.equal(liveWorkers(), baseline);

  await assert.rejects(WorkerPool.start({ url, size: 1, label: 'x', workerData: () => ({}), signal: AbortSignal.abort(), spinMs: 1, threads: 1 }), CancelledError);
});

test('without spinning, workers sleep between runs and results arrive through the event loop', async () => {
  const pool = await start(2, () => ({}), 0);
  try {
    const results = await Promise.all([1, 2, 3, 4, 5].map((x) => pool.run({ op: 'echo', x }, [])));
    assert.deepEqual(results.map((r) => r.x), [1, 2, 3, 4, 5]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await pool.run({ op: 'echo', x: 6 }, [])).x, 6, 'a sleeping worker wakes for the next run');
  } finally {
    await pool.close();
  }
});

test('transferred buffers move to the worker', async () => {
  const pool = await start(1);
  try {
    const data = new Float32Array(1000);
    const result = await pool.run({ op: 'length', data }, [data.buffer]);
    assert.equal(result.length, 1000);
    assert.equal(data.length, 0, 'the caller no longer holds the buffer');
  } finally {
    await pool.close();
  }
});

test('close lets running and queued runs finish, then stops every worker', async () => {
  const baseline = liveWorkers();
  const pool = await start(1);
  assert.equal(liveWorkers(), baseline + 1);
  const g = gate();
  const running = pool.run({ op: 'gate', x: 1, gate: g.buffer }, []);
  const queued = pool.run({ op: 'echo', x: 2 }, []);
  await g.reached(1);
  const closing = pool.close();
  assert.equal(pool.close(), closing, 'close is idempotent');
  await assert.rejects(pool.run({ op: 'echo', x: 3 }, []), ClosedError);
  g.open();
  assert.equal((await running).x, 1);
  assert.equal((await queued).x, 2, 'the run queued before close still ran');
  await closing;
  assert.equal(pool.alive, 0);
  assert.equal(liveWorkers(), baseline);
});
