import type { Worker } from 'node:worker_threads';
import type { TensorSpec } from '../backends/index.js';
import { abortError, InvalidInputError, PayloadTooLargeError } from '../core/index.js';
import { spawnWorker } from '../node/index.js';
import type { DecodedPredict, InferRequestData, JsonDecoder } from '../protocol/index.js';

/** A body for a JSON worker to decode. */
export type JsonJob =
  | { readonly id: number; readonly kind: 'infer'; readonly body: Uint8Array | string; readonly maxElements: number }
  | { readonly id: number; readonly kind: 'predict'; readonly body: Uint8Array | string; readonly inputs: readonly TensorSpec[]; readonly maxElements: number };

/** A JSON worker's answer to a job: the decoded request, or the error decoding it threw. */
export type JsonReply =
  | { readonly id: number; readonly value: InferRequestData | DecodedPredict; readonly error?: undefined }
  | { readonly id: number; readonly error: { readonly message: string; readonly code: string | undefined } };

/**
 * Why a decoded request could not cross between threads: structured cloning recurses, and a
 * request's `parameters` may nest deeper than the stack of the thread that clones it allows.
 */
export function notPassable(error: unknown): InvalidInputError {
  return new InvalidInputError(`The decoded request could not be passed back from its JSON worker (${(error as Error).message}); its \`parameters\` nest too deeply`);
}

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './json-worker.ts' : './json-worker.js', import.meta.url);

/** How long a worker with nothing to do stays up: a new one decodes slowly until its code is compiled again. */
const IDLE_MS = 60_000;

interface Pending {
  readonly job: JsonJob;
  readonly transfer: ArrayBuffer[];
  readonly signal: AbortSignal | undefined;
  resolve(value: InferRequestData | DecodedPredict): void;
  reject(error: unknown): void;
}

/**
 * A {@link JsonDecoder} of up to `threads` worker threads, started when a body first needs one and
 * ended after a minute without work; they never keep the process alive. Each decodes one body at a
 * time with a heap of at most `heapMb` MB: a body that needs more ends its worker, not the process,
 * and is answered with PayloadTooLargeError (413) while the bodies queued behind it go to a new one.
 */
export class JsonWorkerPool implements JsonDecoder {
  readonly minBytes: number;
  readonly #threads: number;
  readonly #heapMb: number;
  readonly #idle: Worker[] = [];
  readonly #queue: Pending[] = [];
  readonly #timers = new Map<Worker, ReturnType<typeof setTimeout>>();
  #live = 0;
  #nextId = 0;

  constructor(threads: number, minBytes: number, heapMb: number) {
    this.#threads = threads;
    this.minBytes = minBytes;
    this.#heapMb = heapMb;
  }

  infer(body: Uint8Array | string, maxElements: number, signal?: AbortSignal): Promise<InferRequestData> {
    const { copy, transfer } = detached(body);
    return this.#run({ id: this.#nextId++, kind: 'infer', body: copy, maxElements }, transfer, signal).then((value) => revive(value as InferRequestData));
  }

  predict(body: Uint8Array | string, inputs: readonly TensorSpec[], maxElements: number, signal?: AbortSignal): Promise<DecodedPredict> {
    const { copy, transfer } = detached(body);
    return this.#run({ id: this.#nextId++, kind: 'predict', body: copy, inputs, maxElements }, transfer, signal) as Promise<DecodedPredict>;
  }

  #run(job: JsonJob, transfer: ArrayBuffer[], signal: AbortSignal | undefined): Promise<InferRequestData | DecodedPredict> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, transfer, signal, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0 && (this.#idle.length > 0 || this.#live < this.#threads)) {
      const next = this.#queue.shift()!;
      // The client went away while its body waited: nobody needs it decoded.
      if (next.signal?.aborted) {
        next.reject(abortError(next.signal));
        continue;
      }
      const worker = this.#idle.pop() ?? this.#spawn();
      clearTimeout(this.#timers.get(worker));
      this.#timers.delete(worker);
      this.#dispatch(worker, next);
    }
  }

  #spawn(): Worker {
    this.#live++;
    return spawnWorker(WORKER_URL, undefined, [], { resourceLimits: { maxOldGenerationSizeMb: this.#heapMb } });
  }

  #dispatch(worker: Worker, pending: Pending): void {
    let crash: Error | undefined;
    const settle = (): void => {
      worker.off('message', onMessage);
      worker.off('messageerror', onMessageError);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (reply: JsonReply): void => {
      settle();
      if (reply.error) pending.reject(reply.error.code === 'ERR_SERVABLE_INVALID_INPUT' ? new InvalidInputError(reply.error.message) : new Error(reply.error.message));
      else pending.resolve(reply.value);
      this.#rest(worker);
    };
    // This thread could not rebuild the reply: the worker is fine, and takes the next body.
    const onMessageError = (error: Error): void => {
      settle();
      pending.reject(notPassable(error));
      this.#rest(worker);
    };
    const onError = (error: Error): void => {
      crash = error;
    };
    const onExit = (): void => {
      settle();
      this.#live--;
      const outOfMemory = (crash as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      pending.reject(
        outOfMemory
          ? new PayloadTooLargeError(`Decoding this JSON body needs more than the ${this.#heapMb} MB of heap a JSON worker has; send large tensors as binary data`)
          : new Error(`A JSON worker exited while decoding a body${crash ? `: ${crash.message}` : ''}`, { cause: crash }),
      );
      this.#pump();
    };
    worker.on('message', onMessage);
    worker.on('messageerror', onMessageError);
    worker.on('error', onError);
    worker.on('exit', onExit);
    // Held while it decodes, so that a request being answered keeps the process alive; idle, it does not.
    worker.ref();
    worker.postMessage(pending.job, pending.transfer);
  }

  /** Gives the next job to a worker that finished one, or lets it wait, for at most {@link IDLE_MS}. */
  #rest(worker: Worker): void {
    worker.unref();
    this.#idle.push(worker);
    const timer = setTimeout(() => {
      this.#timers.delete(worker);
      this.#idle.splice(this.#idle.indexOf(worker), 1);
      this.#live--;
      void worker.terminate();
    }, IDLE_MS);
    timer.unref();
    this.#timers.set(worker, timer);
    this.#pump();
  }
}

/**
 * The body as a worker may own it: bytes are copied into a buffer of their own (a body may be a
 * view of a pooled buffer or of a socket's), which then moves to the worker without a second copy.
 */
function detached(body: Uint8Array | string): { copy: Uint8Array | string; transfer: ArrayBuffer[] } {
  if (typeof body === 'string') return { copy: body, transfer: [] };
  const copy = new Uint8Array(body);
  return { copy, transfer: [copy.buffer] };
}

/**
 * An OIP request's tensors, keyed by names the client chose, come back from the worker with
 * Object's prototype: restore the null one they are decoded with.
 */
function revive(value: InferRequestData): InferRequestData {
  const inputs = Object.assign(Object.create(null) as object, value.request.inputs);
  return { ...value, request: { ...value.request, inputs } };
}
