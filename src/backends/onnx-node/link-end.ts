import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/**
 * Indices of a link's control words: messages posted to the worker, replies posted by it, 1 while
 * a reply waits in the arena, 1 while the pool polls for the reply (and so reads the arena), 1
 * while the worker sleeps waiting for a job, replies the pool has read, where the worker's start
 * is (see {@link enterNative}).
 */
export const POSTED = 0;
export const REPLIED = 1;
export const IN_ARENA = 2;
export const POLLED = 3;
export const SLEEPING = 4;
export const READ = 5;
export const START = 6;
export const CONTROL_WORDS = 7;
/** Values of the START word: the worker runs JavaScript, is inside a native start step, or its start was called off. */
export const IN_JS = 0;
export const IN_NATIVE = 1;
export const CALLED_OFF = 2;
/**
 * Indices of the process-wide words: threads running inference, 1 while spinning is paused, and
 * how many times a spinning worker found it had been preempted.
 */
export const BUSY_THREADS = 0;
export const SPIN_PAUSED = 1;
export const PREEMPTIONS = 2;

/**
 * A gap this long between two turns of the spin loop, which take well under a microsecond, means
 * the thread was taken off its core.
 */
const PREEMPTED_MS = 1;

/** Messages a worker sends besides replies; its link handles them and the pool never sees them. */
export type LinkNotice =
  /** A reply is in the arena, and the pool had stopped polling when it landed. */
  | { readonly notice: 'wake' }
  /** Buffers the pool sent, moved back for reuse. */
  | { readonly notice: 'recycle'; readonly buffers: readonly ArrayBuffer[] };

/** True when a message from a worker is a {@link LinkNotice}. */
export function isNotice(message: unknown): message is LinkNotice {
  return typeof message === 'object' && message !== null && 'notice' in message;
}

/** The worker's end of a {@link Link}. */
export interface LinkEnd {
  readonly port: MessagePort;
  /** `[POSTED, REPLIED, IN_ARENA, POLLED, SLEEPING, READ, START]` (see {@link POSTED}). */
  readonly control: Int32Array;
  /** Where a reply goes when the pool polls for it and it fits (see {@link replyInArena}). */
  readonly arena: SharedArrayBuffer;
  /** Process-wide: `[BUSY_THREADS, SPIN_PAUSED, PREEMPTIONS]`. */
  readonly shared: Int32Array;
  readonly cores: number;
  /** How long to busy-wait for the next job before sleeping, while a core is free; 0: never. */
  readonly spinMs: number;
}

/**
 * Blocks the worker until the message after the first `taken` ones has been posted, then reads
 * it. It busy-waits for up to `spinMs` first, while the process's inference threads leave a
 * core free and spinning is not paused, since the next job of a closed loop usually follows within
 * microseconds. A spin that finds it was preempted stops and says so in `PREEMPTIONS`. Woken
 * without a job (the pool expects one soon, see `Link.expect`), it spins again before sleeping.
 * `idle` is called each time before it sleeps: work that may wait, off the next job's path.
 */
export function takeMessage(end: LinkEnd, taken: number, idle?: () => void): unknown {
  const { control } = end;
  for (;;) {
    if (end.spinMs > 0) spin(end, taken);
    if (Atomics.load(control, POSTED) !== taken) break;
    // A job posted meanwhile ends the wait below at once.
    idle?.();
    Atomics.store(control, SLEEPING, 1);
    Atomics.wait(control, POSTED, taken);
    Atomics.store(control, SLEEPING, 0);
    if (Atomics.load(control, POSTED) !== taken) break;
  }
  const received = receiveMessageOnPort(end.port);
  if (!received) throw new Error('A job was announced but no message arrived');
  return received.message;
}

function spin({ control, shared, cores, spinMs }: LinkEnd, taken: number): void {
  let now = performance.now();
  const until = now + spinMs;
  while (
    Atomics.load(control, POSTED) === taken &&
    Atomics.load(shared, SPIN_PAUSED) === 0 &&
    Atomics.load(shared, BUSY_THREADS) < cores &&
    now < until
  ) {
    const before = now;
    now = performance.now();
    if (now - before > PREEMPTED_MS) {
      Atomics.add(shared, PREEMPTIONS, 1);
      return;
    }
  }
}

/**
 * Marks the worker's start as inside a native step (onnxruntime-node's import, its session
 * create), where the pool must not terminate it: a thread terminated inside onnxruntime-node
 * aborts the whole process when the call returns (terminate called after throwing an instance of
 * 'Napi::Error'). False when the pool has called the start off: the worker should exit instead.
 */
export function enterNative(end: LinkEnd): boolean {
  return Atomics.compareExchange(end.control, START, IN_JS, IN_NATIVE) === IN_JS;
}

/**
 * Marks the native step done. False when the pool called the start off meanwhile: it waits for
 * the worker to exit, which it should do now, releasing what the step opened.
 */
export function leaveNative(end: LinkEnd): boolean {
  return Atomics.compareExchange(end.control, START, IN_NATIVE, IN_JS) === IN_NATIVE;
}

/**
 * True once the pool has called the start off (see `Link.callOffStart`): a worker inside a native
 * start step should go no further than the step it is in.
 */
export function startCalledOff(end: LinkEnd): boolean {
  return Atomics.load(end.control, START) === CALLED_OFF;
}

/** Posts a reply to the pool and counts it, so that a polling pool knows it is there. */
export function postReply(end: LinkEnd, message: unknown, transfer: readonly ArrayBuffer[]): void {
  end.port.postMessage(message, transfer as ArrayBuffer[]);
  Atomics.add(end.control, REPLIED, 1);
}

/**
 * Replies through the arena while the pool polls for the reply, sparing both threads a
 * `postMessage` (15-30 µs each right after a run on a 2-vCPU virtual machine). `write` fills the
 * arena, or returns false when the reply does not fit it; then nothing is sent and this returns
 * false. Only once the pool has read every earlier reply, so that the arena always holds the
 * oldest unread one. Should the pool stop polling just as the reply lands, a `wake` notice makes
 * its event loop read it.
 */
export function replyInArena(end: LinkEnd, write: (arena: SharedArrayBuffer) => boolean): boolean {
  const { control } = end;
  if (Atomics.load(control, POLLED) === 0 || Atomics.load(control, READ) !== Atomics.load(control, REPLIED) || !write(end.arena)) return false;
  Atomics.store(control, IN_ARENA, 1);
  Atomics.add(control, REPLIED, 1);
  // The pool clears POLLED before it looks for a reply one last time, so one of the two sees the other.
  if (Atomics.load(control, POLLED) === 0) end.port.postMessage({ notice: 'wake' } satisfies LinkNotice);
  return true;
}

/** Moves buffers the pool sent back to it for reuse; sent after the reply, off its path. */
export function giveBack(end: LinkEnd, buffers: ArrayBuffer[]): void {
  if (buffers.length > 0) end.port.postMessage({ notice: 'recycle', buffers } satisfies LinkNotice, buffers);
}
