import type { Worker } from 'node:worker_threads';
import type { TensorSpec } from '../backends/index.js';
import { abortError, InvalidInputError, onAbort, PayloadTooLargeError, UnavailableError, type Tensor } from '../core/index.js';
import { spawnWorker } from '../node/index.js';
import { markReadError, readBinarySpans, type BinarySpan, type DecodedPredict, type InferRequestData, type JsonDecoder } from '../protocol/index.js';

/** What a JSON worker is asked to do with a body. */
type JsonJobHead =
  | { readonly kind: 'infer'; readonly maxElements: number }
  | { readonly kind: 'infer-binary'; readonly binaryLength: number; readonly maxElements: number }
  | { readonly kind: 'predict'; readonly inputs: readonly TensorSpec[]; readonly maxElements: number };

/** A body for a JSON worker to decode: for `infer-binary`, only the JSON header, the binary part being `binaryLength` bytes. */
export type JsonJob = JsonJobHead & { readonly body: Uint8Array | string };

/** An error a JSON worker threw, as it posts it: `read` when it was raised reading a `:predict` body for the inputs (see isReadError). */
interface WorkerError {
  readonly message: string;
  readonly code: string | undefined;
  readonly read?: true | undefined;
}

/**
 * A JSON worker's answer to the one job it holds: the decoded request, or the error decoding it
 * threw; for `infer-binary`, with the spans of the binary data its inputs take (see BinaryLayout),
 * those decoded before the error included.
 */
export type JsonReply = (
  | { readonly value: InferRequestData | DecodedPredict; readonly error?: undefined }
  | { readonly error: WorkerError }
) & { readonly spans?: readonly BinarySpan[] | undefined };

/**
 * The error for a decoded request that could not cross between threads. Structured cloning
 * recurses, which the protocol's cap on how deep `parameters` nest keeps within any stack; this
 * keeps a request that fails anyway from hanging its JSON worker.
 */
export function notPassable(error: unknown): InvalidInputError {
  return new InvalidInputError(`The decoded request could not be passed back from its JSON worker: ${(error as Error).message}`);
}

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './json-worker.ts' : './json-worker.js', import.meta.url);

/**
 * Heap a JSON worker gets beyond `jsonWorkerHeapMb` for its own code and data: about 7.5 MB built,
 * 11 MB running from sources under tsx. Without it a 16 MB worker had half its heap for a body and
 * less than half left, and a body within the estimate could still end it.
 */
export const WORKER_OWN_HEAP_MB = 16;

/** How long a worker with nothing to do stays up: a new one decodes slowly until its code is compiled again. */
const IDLE_MS = 60_000;

/** A body waiting for a worker: the job without its body, which is copied only when a worker takes it. */
interface Pending {
  readonly job: JsonJobHead;
  readonly body: Uint8Array | string;
  /** Stops listening to the request's signal, once a worker takes the body. */
  unlisten: (() => void) | undefined;
  resolve(reply: JsonReply): void;
  reject(error: unknown): void;
}

/** One worker thread, and the body it decodes, if any. */
interface Slot {
  readonly worker: Worker;
  /** Settles once the thread has exited. */
  readonly exited: Promise<void>;
  job: Pending | undefined;
  crash: Error | undefined;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A {@link JsonDecoder} of up to `threads` worker threads, started when a body first needs one and
 * ended after a minute without work, or once the pool is closed; they never keep the process alive. Each decodes one body at a
 * time with a heap of `heapMb` MB for it (and {@link WORKER_OWN_HEAP_MB} more for the thread's own): a body that needs more ends its worker, not the process,
 * and is answered with PayloadTooLargeError (413) while the bodies queued behind it go to a new one.
 * A body whose worker could not be started, or ended otherwise, is answered with UnavailableError
 * (503), what happened in its `cause`.
 */
export class JsonWorkerPool implements JsonDecoder {
  readonly minBytes: number;
  readonly #threads: number;
  readonly #heapMb: number;
  readonly #idle: Slot[] = [];
  readonly #queue: Pending[] = [];
  readonly #slots = new Set<Slot>();
  #closed = false;

  constructor(threads: number, minBytes: number, heapMb: number) {
    this.#threads = threads;
    this.minBytes = minBytes;
    this.#heapMb = heapMb;
  }

  /** How many worker threads are running. */
  get threads(): number {
    return this.#slots.size;
  }

  /**
   * Ends the workers as soon as they have nothing to decode, where they would otherwise wait a
   * minute for more: the idle ones at once, the others once the bodies they hold and those queued
   * are decoded. A body that comes later still gets a worker, which ends once it is done, so the
   * adapters call this when their server or app closes. Resolves once the threads running now have exited.
   */
  close(): Promise<void> {
    this.#closed = true;
    for (const slot of [...this.#idle]) this.#end(slot);
    return Promise.all([...this.#slots].map((slot) => slot.exited)).then(() => undefined);
  }

  infer(body: Uint8Array | string, maxElements: number, signal?: AbortSignal): Promise<InferRequestData> {
    return this.#run({ kind: 'infer', maxElements }, body, signal).then((reply) => revive(valueOf(reply) as InferRequestData));
  }

  /** Only the header goes to the worker; the inputs' binary data is read here, from `body`, as views of it where aligned. */
  inferBinary(body: Uint8Array, headerLength: number, maxElements: number, signal?: AbortSignal): Promise<InferRequestData> {
    const binary = body.subarray(headerLength);
    return this.#run({ kind: 'infer-binary', binaryLength: binary.byteLength, maxElements }, body.subarray(0, headerLength), signal).then((reply) => {
      // Read first: the worker refused the header, if it did, after the inputs whose spans it sent.
      const data = readBinarySpans(reply.spans ?? [], binary);
      const value = revive(valueOf(reply) as InferRequestData);
      for (const [i, span] of (reply.spans ?? []).entries()) value.request.inputs[span.name] = { ...value.request.inputs[span.name]!, data: data[i]! } as Tensor;
      return value;
    });
  }

  predict(body: Uint8Array | string, inputs: readonly TensorSpec[], maxElements: number, signal?: AbortSignal): Promise<DecodedPredict> {
    return this.#run({ kind: 'predict', inputs, maxElements }, body, signal).then((reply) => valueOf(reply) as DecodedPredict);
  }

  #run(job: Pending['job'], body: Uint8Array | string, signal: AbortSignal | undefined): Promise<JsonReply> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const pending: Pending = { job, body, unlisten: undefined, resolve, reject };
      // A client that goes away leaves the queue at once: a body held until a worker was free kept
      // the memory of gone clients' bodies past their connections, without bound. One listener
      // serves the requests pipelined on a connection (see onAbort).
      pending.unlisten = onAbort(signal, () => {
        this.#queue.splice(this.#queue.indexOf(pending), 1);
        reject(abortError(signal!));
      });
      this.#queue.push(pending);
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0 && (this.#idle.length > 0 || this.#slots.size < this.#threads)) {
      const next = this.#queue.shift()!;
      next.unlisten?.();
      let slot: Slot;
      try {
        slot = this.#idle.pop() ?? this.#spawn();
      } catch (error) {
        next.reject(new UnavailableError('No JSON worker could decode this body: a worker thread could not be started; try again', { cause: error }));
        continue;
      }
      clearTimeout(slot.idleTimer);
      slot.job = next;
      // Held while it decodes, so that a request being answered keeps the process alive; idle, it does not.
      slot.worker.ref();
      const { copy, transfer } = detached(next.body);
      slot.worker.postMessage({ ...next.job, body: copy } satisfies JsonJob, transfer);
    }
  }

  #spawn(): Slot {
    const worker = spawnWorker(WORKER_URL, undefined, [], { resourceLimits: { maxOldGenerationSizeMb: this.#heapMb + WORKER_OWN_HEAP_MB } });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const slot: Slot = { worker, exited, job: undefined, crash: undefined, idleTimer: undefined };
    this.#slots.add(slot);
    worker.on('message', (reply: JsonReply) => this.#finish(slot)?.resolve(reply));
    // This thread could not rebuild the reply: the worker is fine, and takes the next body.
    worker.on('messageerror', (error: Error) => this.#finish(slot)?.reject(notPassable(error)));
    worker.on('error', (error: Error) => {
      slot.crash = error;
    });
    worker.on('exit', () => {
      this.#slots.delete(slot);
      clearTimeout(slot.idleTimer);
      const idle = this.#idle.indexOf(slot);
      if (idle !== -1) this.#idle.splice(idle, 1);
      const outOfMemory = (slot.crash as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      slot.job?.reject(
        outOfMemory
          ? new PayloadTooLargeError(`Decoding this JSON body needs more than the ${this.#heapMb} MB of heap a JSON worker has; send large tensors as binary data`)
          : new UnavailableError('No JSON worker could decode this body: its worker thread ended; try again', { cause: slot.crash }),
      );
      slot.job = undefined;
      this.#pump();
    });
    return slot;
  }

  /**
   * Takes the job a worker just answered, and lets the worker wait for the next, for at most
   * {@link IDLE_MS}; once the pool is closed, it ends unless a body is queued for it.
   */
  #finish(slot: Slot): Pending | undefined {
    const { job } = slot;
    slot.job = undefined;
    slot.worker.unref();
    this.#idle.push(slot);
    this.#pump();
    if (slot.job === undefined) {
      if (this.#closed) {
        this.#end(slot);
      } else {
        slot.idleTimer = setTimeout(() => this.#end(slot), IDLE_MS);
        slot.idleTimer.unref();
      }
    }
    return job;
  }

  /** Ends an idle worker, which no body is handed to from now on. */
  #end(slot: Slot): void {
    clearTimeout(slot.idleTimer);
    this.#idle.splice(this.#idle.indexOf(slot), 1);
    void slot.worker.terminate();
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

/** The value a worker decoded; the error it reported, as the decoder would have thrown it in place. */
function valueOf(reply: JsonReply): InferRequestData | DecodedPredict {
  if (reply.error) throw revivedError(reply.error);
  return reply.value;
}

/** The error a worker reported, as the decoder would have thrown it in place. */
function revivedError({ message, code, read }: WorkerError): Error {
  const error = code === 'ERR_SERVABLE_INVALID_INPUT' ? new InvalidInputError(message) : code === 'ERR_SERVABLE_PAYLOAD_TOO_LARGE' ? new PayloadTooLargeError(message) : new Error(message);
  return read ? markReadError(error) : error;
}

/**
 * An OIP request's tensors, keyed by names the client chose, come back from the worker with
 * Object's prototype: restore the null one they are decoded with.
 */
function revive(value: InferRequestData): InferRequestData {
  const inputs = Object.assign(Object.create(null) as object, value.request.inputs);
  return { ...value, request: { ...value.request, inputs } };
}
