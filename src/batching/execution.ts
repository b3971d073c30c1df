import { BackendError, describe, type Clock, type Emitter } from '../core/index.js';
import { ExecutionContext, stockController, type Entry, type RunningBatch } from './job.js';
import type { BatcherEvents, BatchEvent, DispatchReason, ExecuteBatch } from './types.js';

/** What one execution of a batch gave. */
export interface Outcome<Res> {
  /** One result per request, when the execution succeeded. */
  readonly results: readonly (Res | Error)[] | undefined;
  /** Why the whole execution failed, when it did. */
  readonly error: unknown;
  readonly runMs: number;
}

/** Runs `execute` once over a batch, turning a throw or a result list of the wrong length into an error. */
export async function runExecution<Req, Res>(
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

/** Emits the `batch` event of one execution that started at `startedAt`, built only when something listens. */
export function emitBatch<Req, Res>(
  batcher: Emitter<BatcherEvents>,
  entries: readonly Entry<Req, Res>[],
  startedAt: number,
  outcome: Outcome<Res>,
  reason: DispatchReason,
  failed: number,
  retried: number,
): void {
  if (batcher.listenerCount('batch') === 0) return;
  const event: BatchEvent = {
    size: entries.reduce((items, entry) => items + entry.size, 0),
    requests: entries.length,
    queueMs: entries.map((entry) => startedAt - entry.enqueuedAt),
    runMs: outcome.runMs,
    reason,
    failed,
    retried,
    ...(outcome.error !== undefined && { error: outcome.error }),
  };
  batcher.emit('batch', event);
}
