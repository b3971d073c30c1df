/**
 * A worker speaking the onnx-node pool protocol without ONNX Runtime, so the pool's dispatch,
 * abort, crash and close paths can be driven exactly. Jobs: echo, gate (blocks until the test
 * opens the gate), signal (echoes, then sets a shared flag once the reply is posted), fail (replies
 * with an error), crash (dies of an uncaught error), length (reports the length of a transferred
 * array), deep (replies with an object nested `depth` levels, too deep for the pool's thread to
 * read back, then sets a shared flag). `crashAfterReady` dies right after reporting ready;
 * `failFrom` fails to start from the `n`th start on (counted in `starts`, from 0), up to the `until`th (excluded) when given.
 * `hold` is a gate (see gate.ts) the worker blocks on before it reports ready; with `native`, the hold
 * is a native start step (see enterNative), which the pool must not terminate.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { enterNative, leaveNative, postReply, takeMessage } from '../../src/backends/onnx-node/link-end.js';
import type { WorkerStart } from '../../src/backends/onnx-node/protocol.js';

export type Job =
  | { op: 'echo'; x: number }
  | { op: 'gate'; x: number; gate: SharedArrayBuffer }
  | { op: 'signal'; x: number; replied: SharedArrayBuffer }
  | { op: 'fail' }
  | { op: 'crash' }
  | { op: 'length'; data: Float32Array }
  | { op: 'deep'; depth: number; replied: SharedArrayBuffer };

export interface Result {
  threadId: number;
  /** How many jobs this worker has run, this one included. */
  count: number;
  x?: number;
  length?: number;
  deep?: unknown;
}

const { data, link } = workerData as WorkerStart;
const init = data as { fail?: string; exit?: number; crashAfterReady?: boolean; failFrom?: { starts: SharedArrayBuffer; n: number; until?: number }; hold?: SharedArrayBuffer; native?: boolean };
const start = init.failFrom && Atomics.add(new Int32Array(init.failFrom.starts), 0, 1);

if (init.fail !== undefined || (init.failFrom && start! >= init.failFrom.n && start! < (init.failFrom.until ?? Infinity))) {
  parentPort!.postMessage({ type: 'failed', message: 'cannot start', failures: [{ device: 'test', reason: init.fail ?? 'too many starts' }] });
} else if (init.exit !== undefined) {
  process.exit(init.exit);
} else {
  if (init.native && !enterNative(link)) process.exit(0);
  if (init.hold) wait(init.hold);
  if (init.native && !leaveNative(link)) process.exit(0);
  parentPort!.postMessage({ type: 'ready', info: { threadId } });
  setImmediate(init.crashAfterReady ? () => { throw new Error('boom after ready'); } : serve);
}

function serve(): void {
  for (let count = 1; ; count++) {
    const message = takeMessage(link, count - 1) as { type: 'run'; value: Job } | { type: 'close' };
    if (message.type === 'close') process.exit(0);
    const job = message.value;
    const done = (extra: Partial<Result>) => postReply(link, { type: 'done', value: { threadId, count, ...extra } }, []);
    if (job.op === 'echo') done({ x: job.x });
    else if (job.op === 'gate') {
      wait(job.gate);
      done({ x: job.x });
    } else if (job.op === 'signal') {
      done({ x: job.x });
      flag(job.replied);
    } else if (job.op === 'deep') {
      done({ deep: nested(job.depth) });
      flag(job.replied);
    } else if (job.op === 'fail') postReply(link, { type: 'error', error: { name: 'OrtError', message: 'bad feed' } }, []);
    else if (job.op === 'crash') throw new Error('boom');
    else done({ length: job.data.length });
  }
}

/** Blocks on a gate (see gate.ts) until the test opens it. */
function wait(buffer: SharedArrayBuffer): void {
  const gate = new Int32Array(buffer);
  Atomics.store(gate, 2, threadId);
  Atomics.add(gate, 0, 1);
  Atomics.wait(gate, 1, 0);
}

function flag(buffer: SharedArrayBuffer): void {
  const view = new Int32Array(buffer);
  Atomics.store(view, 0, 1);
  Atomics.notify(view, 0);
}

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}
