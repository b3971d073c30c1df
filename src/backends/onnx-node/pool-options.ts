import type { WorkerPool } from './pool.js';
import type { FromWorker, ToWorker } from './protocol.js';

/** Options of {@link WorkerPool.start}. */
export interface WorkerPoolOptions<Info, Out = unknown> {
  /** The worker script; it speaks {@link FromWorker} / {@link ToWorker}. */
  readonly url: URL;
  /** How many workers. */
  readonly size: number;
  /** Prefixes every error message, e.g. `onnx-node textdir:1`. */
  readonly label: string;
  /**
   * The `workerData` of an instance: called with `undefined` for the first instance, then with the
   * info the first one reported, for the others and for replacements.
   */
  readonly workerData: (first: Info | undefined) => unknown;
  /**
   * Aborts the start: workers already spawned are terminated, but one inside a native start step
   * (see `enterNative`) is left to exit once the step returns; the start rejects once all have exited.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Busy-wait instead of sleeping around short runs while a core is free: workers for up to this
   * many milliseconds for their next job, the pool (by polling between event-loop turns) for
   * results. 0: never.
   */
  readonly spinMs: number;
  /** Threads one job keeps busy (ONNX Runtime's intra-op threads). */
  readonly threads: number;
  /**
   * Jobs a worker holds at once: with 2, a job goes to a busy worker, which starts it the moment
   * its current one ends instead of waiting for the event loop to see the reply. 1: never.
   * @default 1
   */
  readonly depth?: number | undefined;
  /**
   * How long a job may run on its worker: a worker still running one after this long is retired
   * (told to close, which it does once the job returns), its jobs fail with a BackendError, and a
   * new worker takes its place at once. Infinity: never.
   * @default Infinity
   */
  readonly runTimeoutMs?: number | undefined;
  /**
   * Given the first worker's info, reads a `done` value its workers wrote into their link's arena
   * (see `replyInArena`). Needed when the workers reply that way.
   */
  readonly readArena?: ((info: Info) => (arena: SharedArrayBuffer) => Out) | undefined;
}
