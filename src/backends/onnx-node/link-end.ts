import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** Indices of a link's control words: messages posted to the worker, replies posted by it. */
export const POSTED = 0;
export const REPLIED = 1;
/**
 * Indices of the process-wide words: threads running inference, 1 while spinning is paused, and
 * how many times a spinning worker found it had been preempted.
 */
export const BUSY_THREADS = 0;
export const SPIN_PAUSED = 1;
export const PREEMPTIONS = 2;

/** How long a worker busy-waits for its next job before it sleeps. */
const SPIN_MS = 1;

/**
 * A gap this long between two turns of the spin loop, which take well under a microsecond, means
 * the thread was taken off its core.
 */
const PREEMPTED_MS = 1;

/** The worker's end of a {@link Link}. */
export interface LinkEnd {
  readonly port: MessagePort;
  /** `[POSTED, REPLIED]`: messages posted to the worker, and by it, so far. */
  readonly control: Int32Array;
  /** Process-wide: `[BUSY_THREADS, SPIN_PAUSED, PREEMPTIONS]`. */
  readonly shared: Int32Array;
  readonly cores: number;
  /** Busy-wait for a moment before sleeping, while a core is free. */
  readonly spin: boolean;
}

/**
 * Blocks the worker until the message after the first `taken` ones has been posted, then reads
 * it. It busy-waits for up to a millisecond first, while the process's inference threads leave a
 * core free and spinning is not paused, since the next job of a closed loop usually follows within
 * microseconds. A spin that finds it was preempted stops and says so in `PREEMPTIONS`.
 */
export function takeMessage(end: LinkEnd, taken: number): unknown {
  const { control } = end;
  if (end.spin) spin(end, taken);
  while (Atomics.load(control, POSTED) === taken) Atomics.wait(control, POSTED, taken);
  const received = receiveMessageOnPort(end.port);
  if (!received) throw new Error('A job was announced but no message arrived');
  return received.message;
}

function spin({ control, shared, cores }: LinkEnd, taken: number): void {
  let now = performance.now();
  const until = now + SPIN_MS;
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

/** Posts a reply to the pool and counts it, so that a polling pool knows it is there. */
export function postReply(end: LinkEnd, message: unknown, transfer: readonly ArrayBuffer[]): void {
  end.port.postMessage(message, transfer as ArrayBuffer[]);
  Atomics.add(end.control, REPLIED, 1);
}
