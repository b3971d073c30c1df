import { optionError, describe, toServableError } from '../core/index.js';
import type { ModelSession } from '../backends/index.js';
import { checkSize } from '../batching/index.js';
import type { Handler } from '../handler/index.js';

/**
 * The batch sizes, in items, a version's warm-up requests are repeated to fill when the config
 * gives no `warmupBatchSizes`: `maxBatchSize` with batching (the batches traffic forms first under
 * load, a shape the runtime has not run yet after a batch of 1), none without.
 */
export function defaultWarmupBatchSizes(maxBatchSize: number | undefined): readonly number[] {
  return maxBatchSize !== undefined && maxBatchSize > 1 ? [maxBatchSize] : [];
}

/**
 * Checks `warmupBatchSizes`: whole numbers from 1 to the `maxBatchSize` the batcher may form (1
 * without batching).
 * @throws TypeError or RangeError quoting the bad value, with `code` `'ERR_SERVABLE_INVALID_OPTION'`.
 */
export function checkWarmupBatchSizes(sizes: unknown, maxBatchSize: number | undefined): void {
  if (sizes === undefined) return;
  if (!Array.isArray(sizes)) throw optionError(`Expected \`warmupBatchSizes\` to be an array of batch sizes, got ${describe(sizes)}`);
  const largest = maxBatchSize ?? 1;
  sizes.forEach((size: unknown, i) => {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > largest) {
      throw optionError(`Expected \`warmupBatchSizes[${i}]\` to be a whole number from 1 to ${largest} (\`batching.maxBatchSize\`), got ${describe(size)}`, RangeError);
    }
  });
}

/**
 * How many times each warm-up batch runs on each run slot. ONNX Runtime's first run of a new shape
 * allocates its buffers and its second plans their reuse (the memory pattern): on the PaddleOCR
 * classifier at batch 8 (one instance, 2 cores, 8 processes), 27–184 ms and 23–101 ms, the third
 * 7–31 ms, later ones mostly 7–14 ms.
 */
export const WARMUP_RUNS = 2;

/** What {@link warmUp} runs on. */
export interface WarmUpTarget<Req, Res> {
  readonly handler: Handler<Req, Res>;
  /** Runs one batch through the handler (preprocess → inference → postprocess), as traffic's batches run. */
  readonly run: (requests: readonly Req[], signal: AbortSignal | undefined) => Promise<readonly (Res | Error)[]>;
  readonly session: ModelSession;
  /** True when the version batches: requests are then counted in items (`handler.sizeOf`). */
  readonly batching: boolean;
  /** How many copies of each batch run at once. @default session.concurrency */
  readonly slots?: number;
  /** Aborted when the load is called off or times out: no further batch starts, and runs not yet started are dropped. */
  readonly signal?: AbortSignal;
}

/**
 * Runs each request straight through the handler, bypassing the queue: as given, then repeated
 * to fill each of `batchSizes` items (as the batcher would batch copies of it; a size it already
 * fills, or cannot hold a second copy of, adds nothing). Each of those batches runs
 * {@link WARMUP_RUNS} times on each run slot of the session (`session.concurrency`), each time the
 * slots' copies at once: a backend with several workers (onnx-node `instances`) hands runs that
 * arrive while its workers are idle to different ones, so each worker runs each batch shape before
 * traffic does. Each copy is a batch of its own, preprocessed and postprocessed once (see warmBatch).
 * @throws what the handler or session throws, as a ServableError (a request's own error from
 * `postprocess` too); the signal's reason once it aborts.
 */
export async function warmUp<Req, Res>(target: WarmUpTarget<Req, Res>, requests: readonly Req[], batchSizes: readonly number[]): Promise<void> {
  const slots = Math.max(1, target.slots ?? target.session.concurrency);
  for (const request of requests) {
    await target.handler.validate(request);
    // Refused as the batcher refuses such a request: 0 would make endless copies.
    const items = target.batching ? checkSize(target.handler.sizeOf(request)) : 1;
    const counts = new Set([1, ...batchSizes.map((size) => Math.max(1, Math.floor(size / items)))]);
    for (const count of counts) {
      for (let run = 0; run < WARMUP_RUNS; run++) {
        target.signal?.throwIfAborted();
        await warmBatch(target, request, count, slots);
      }
    }
  }
}

/**
 * Runs `count` copies of `request` as one batch on each of `slots` slots at once, each slot the
 * whole of a traffic batch: its own requests array through preprocess → inference → postprocess,
 * so a handler meets each batch it preprocessed once in postprocess, and each run has feeds of its
 * own (a backend may move their buffers to a worker). A failure is thrown once every slot has
 * settled, so that the load's clean-up disposes nothing under a run.
 */
async function warmBatch<Req, Res>(target: WarmUpTarget<Req, Res>, request: Req, count: number, slots: number): Promise<void> {
  const runs = await Promise.allSettled(Array.from({ length: slots }, () => target.run(Array.from({ length: count }, () => request), target.signal)));
  for (const run of runs) {
    if (run.status === 'rejected') throw toServableError(run.reason);
    const failed = run.value.find((r) => r instanceof Error);
    if (failed) throw failed;
  }
}
