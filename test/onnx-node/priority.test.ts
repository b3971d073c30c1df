import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { onnxNode } from '../../src/backends/onnx-node/index.js';
import { linearModel, linearReference } from '../fixtures/onnx-models.js';

const W = [
  [1, 2],
  [3, -4],
];
const B = [0.5, -0.5];
const linux = process.platform === 'linux';

/** Each thread of this process by id, with its niceness (field 19 of /proc/self/task/<id>/stat). */
function threadNiceness(): Map<number, number> {
  const threads = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      // Fields after the command name, which is in parentheses and may hold spaces; the 19th is the niceness.
      threads.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/** Threads that are not in `before`, by niceness. */
function newThreadsByNiceness(before: Map<number, number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const [tid, nice] of threadNiceness()) if (!before.has(tid)) counts.set(nice, (counts.get(nice) ?? 0) + 1);
  return counts;
}

test('the worker threads run workerNice below the process, and the event loop keeps its priority', { skip: !linux && 'threads are reniced on Linux only' }, async () => {
  const base = getPriority();
  const lowered = Math.min(19, base + 7);
  const before = threadNiceness();
  const session = await onnxNode({ instances: 2, intraOpNumThreads: 1, workerNice: 7 }).load(linearModel(W, B), { label: 'niced:1' });
  let niced: number;
  try {
    const added = newThreadsByNiceness(before);
    niced = added.get(lowered) ?? 0;
    assert.ok(niced >= 2, `two worker threads at niceness ${lowered}; new threads by niceness: ${JSON.stringify([...added])}`);
    assert.equal(getPriority(), base, "the event loop's thread keeps the process's niceness");
    const out = await session.run({ X: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([2, 3]) } });
    assert.deepEqual([...(out.Y!.data as Float32Array)], linearReference(W, B, [2, 3]));
  } finally {
    await session.dispose();
  }
  // ONNX Runtime starts a process-wide thread where it is first used, here in a niced worker; it stays.
  const left = newThreadsByNiceness(before).get(lowered) ?? 0;
  assert.ok(left <= niced - 2, `the two worker threads end with the session: ${niced} niced threads before dispose, ${left} after`);
});

test('workerNice 0 leaves the worker threads at the process priority', { skip: !linux && 'threads are reniced on Linux only' }, async () => {
  const base = getPriority();
  const before = threadNiceness();
  const session = await onnxNode({ instances: 2, intraOpNumThreads: 1, workerNice: 0 }).load(linearModel(W, B), { label: 'plain:1' });
  try {
    const added = newThreadsByNiceness(before);
    assert.deepEqual([...added.keys()], [base], `every new thread at niceness ${base}; new threads by niceness: ${JSON.stringify([...added])}`);
  } finally {
    await session.dispose();
  }
});
