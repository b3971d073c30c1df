import { BackendError, describe, type Clock, type Emitter } from '../core/index.js';
import type { LatencyModel } from './adaptive.js';
import { ExecutionContext, RunningBatch, stockController, type Entry } from './job.js';
import type { ResolvedOptions } from './options.js';
import type { BatcherEvents, BatchEvent, DispatchReason, ExecuteBatch } from './types.js';

/** What one execution of a batch gave. */
interface Outcome<Res> {
  /** One result per request, when the execution succeeded. */
  readonly results: readonly (Res | Error)[] | undefined;
  /** Why the whole execution failed, when it did. */
  readonly error: unknown;
  readonly runMs: number;
}

/** What running a dispatched batch needs of its batcher; made once per batcher. */
export interface BatchRunner<Req, Res> {
  readonly batcher: Emitter<BatcherEvents>;
  readonly options: ResolvedOptions<Req, Res>;
  readonly clock: Clock;
  /** Learns from the run time of every execution that gave results. */
  readonly model: LatencyModel;
  /** The batches executing now: an execution is in it while it runs. */
  readonly running: Set<RunningBatch<Req, Res>>;
  /** Answers a request's part with its result, or with an error. */
  readonly succeed: (entry: Entry<Req, Res>, value: Res) => void;
  readonly fail: (entry: Entry<Req, Res>, error: unknown) => void;
  /** Frees the batch's slot once it and its retries are done, whatever their outcome. */
  readonly ended: () => void;
}

/**
 * Executes a dispatched batch and answers its requests, then emits its `batch` event. With
 * `splitOnFailure`, a batch of several whose execution failed as a whole is retried one request
 * at a time, each retry an execution of its own (reason `retry`). Frees the batch's slot
 * (`runner.ended`) when done.
 */
export async function runBatch<Req, Res>(runner: BatchRunner<Req, Res>, batch: RunningBatch<Req, Res>, reason: DispatchReason): Promise<void> {
  // The slot is freed in this function, not in an async caller awaiting it: a caller answered
  // here finds it free, as an await more would free it a microtask after the answers.
  try {
    const { entries } = batch;
    const outcome = await call(runner, batch, reason);
    const retry = outcome.error !== undefined && runner.options.splitOnFailure && entries.length > 1;
    // Which requests failed, and which were answered while it ran, only for a listener to the event.
    const listening = runner.batcher.listenerCount('batch') > 0;
    const discardedAt = listening ? settledAt(entries) : NONE;
    const failedAt: number[] = [];
    if (outcome.results) {
      outcome.results.forEach((result, i) => {
        if (result instanceof Error) {
          if (listening && !entries[i]!.job.settled) failedAt.push(i);
          runner.fail(entries[i]!, result);
        } else {
          runner.succeed(entries[i]!, result);
        }
      });
    } else if (!retry) {
      if (listening) {
        entries.forEach((entry, i) => {
          if (!entry.job.settled) failedAt.push(i);
        });
      }
      for (const entry of entries) runner.fail(entry, outcome.error);
    }
    const again = retry ? entries.filter((entry) => !entry.job.settled) : [];
    if (listening) emitBatch(runner.batcher, batch, outcome, reason, failedAt, discardedAt, again.length);
    for (const entry of again) if (!entry.job.settled) await retryAlone(runner, entry);
  } finally {
    runner.ended();
  }
}

const NONE: readonly number[] = [];

/** The places of the entries whose requests were already answered (timed out, cancelled) while their batch ran. */
function settledAt<Req, Res>(entries: readonly Entry<Req, Res>[]): number[] {
  const at: number[] = [];
  entries.forEach((entry, i) => {
    if (entry.job.settled) at.push(i);
  });
  return at;
}

async function retryAlone<Req, Res>(runner: BatchRunner<Req, Res>, entry: Entry<Req, Res>): Promise<void> {
  const batch = new RunningBatch([entry], runner.clock.now());
  const outcome = await call(runner, batch, 'retry');
  const result = outcome.results?.[0];
  const ok = outcome.results !== undefined && !(result instanceof Error);
  const discarded = entry.job.settled;
  if (ok) runner.succeed(entry, result as Res);
  else runner.fail(entry, outcome.results ? result : outcome.error);
  if (runner.batcher.listenerCount('batch') === 0) return;
  emitBatch(runner.batcher, batch, outcome, 'retry', ok || discarded ? NONE : [0], discarded ? [0] : NONE, 0);
}

/** Runs one execution while the batch counts as running, and learns from its run time. */
async function call<Req, Res>(runner: BatchRunner<Req, Res>, batch: RunningBatch<Req, Res>, reason: DispatchReason): Promise<Outcome<Res>> {
  runner.running.add(batch);
  const { cuts } = runner.model;
  const outcome = await runExecution(runner.options.execute, batch, reason, runner.clock);
  runner.running.delete(batch);
  if (outcome.results) runner.model.record(batch.items, outcome.runMs, cuts);
  return outcome;
}

/** Runs `execute` once over a batch, turning a throw or a result list of the wrong length into an error. */
async function runExecution<Req, Res>(
  execute: ExecuteBatch<Req, Res>,
  batch: RunningBatch<Req, Res>,
  reason: DispatchReason,
  clock: Clock,
): Promise<Outcome<Res>> {
  const n = batch.entries.length;
  const start = clock.now();
  let results: readonly (Res | Error)[] | undefined;
  let error: unknown;
  try {
    const requests = batch.entries.map((entry) => entry.request);
    const running = execute(requests, new ExecutionContext(batch, reason));
    stockController();
    const got: unknown = await running;
    if (Array.isArray(got) && got.length === n) results = got as readonly (Res | Error)[];
    else {
      const shown = Array.isArray(got) ? `${got.length} results` : describe(got);
      error = new BackendError(`execute() must return one result per request: got ${shown} for a batch of ${n} requests`);
    }
  } catch (thrown) {
    error = thrown ?? new BackendError('execute() rejected without a reason');
  }
  return { results, error, runMs: clock.now() - start };
}

/** Emits the `batch` event of one execution; its callers build it only when something listens. */
function emitBatch<Req, Res>(
  batcher: Emitter<BatcherEvents>,
  { entries, startedAt, items: size }: RunningBatch<Req, Res>,
  outcome: Outcome<Res>,
  reason: DispatchReason,
  failedAt: readonly number[],
  discardedAt: readonly number[],
  retried: number,
): void {
  const items = (at: readonly number[]) => at.reduce((sum, i) => sum + entries[i]!.size, 0);
  const event: BatchEvent = {
    size,
    requests: entries.length,
    queueMs: entries.map((entry) => startedAt - entry.enqueuedAt),
    runMs: outcome.runMs,
    reason,
    failed: failedAt.length,
    failedAt,
    failedItems: items(failedAt),
    discardedAt,
    discardedItems: items(discardedAt),
    retried,
    ...(outcome.error !== undefined && { error: outcome.error }),
  };
  batcher.emit('batch', event);
}
