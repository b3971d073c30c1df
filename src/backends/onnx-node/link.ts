import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { recycleBuffer } from '../../core/index.js';
import { ARENA_BYTES } from './arena.js';
import { BUSY_THREADS, CALLED_OFF, CONTROL_WORDS, IN_ARENA, IN_NATIVE, isNotice, POLLED, POSTED, PREEMPTIONS, READ, REPLIED, SLEEPING, SPIN_PAUSED, START, type LinkEnd, type LinkNotice } from './link-end.js';

/** How long busy-waiting stays off after a sign that the cores are contended. */
const PAUSE_MS = 100;

/**
 * Preemptions of spinning workers within 100 ms that mean the cores are contended. A spinning
 * thread on an otherwise idle 2-vCPU virtual machine was seen preempted for over a millisecond
 * about 15 times a second (the hypervisor's doing); a thread that shares its core with another
 * busy one is preempted every few milliseconds.
 */
const PREEMPTIONS_PER_WINDOW = 5;
const WINDOW_MS = 100;

/** Process-wide words shared with every worker: `[BUSY_THREADS, SPIN_PAUSED, PREEMPTIONS]`. */
const shared = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
const cores = availableParallelism();
let resume: ReturnType<typeof setTimeout> | undefined;
let windowStart = 0;
let preemptionsBefore = 0;

/** Counts `threads` more (or, negative, fewer) threads running inference. */
export function addBusyThreads(threads: number): void {
  Atomics.add(shared, BUSY_THREADS, threads);
}

/** True while busy-waiting is allowed and the threads running inference leave a core for one more. */
export function spinAllowed(): boolean {
  return Atomics.load(shared, SPIN_PAUSED) === 0 && Atomics.load(shared, BUSY_THREADS) < cores;
}

/**
 * Pauses busy-waiting when spinning workers have been preempted often lately: something else holds
 * the cores, and a spinning thread takes time from the one it waits for.
 */
export function checkPreemptions(): void {
  const preemptions = Atomics.load(shared, PREEMPTIONS);
  const now = performance.now();
  if (preemptions - preemptionsBefore >= PREEMPTIONS_PER_WINDOW) pauseSpinning();
  else if (now - windowStart < WINDOW_MS) return;
  windowStart = now;
  preemptionsBefore = preemptions;
}

/**
 * Turns busy-waiting off, in every pool and worker, for 100 ms. A lone preemption (the hypervisor
 * taking the core for a moment) then costs little; under lasting contention every spin after a
 * pause is soon preempted again, and spinning stays mostly off.
 */
export function pauseSpinning(): void {
  Atomics.store(shared, SPIN_PAUSED, 1);
  if (resume) return;
  resume = setTimeout(() => {
    resume = undefined;
    Atomics.store(shared, SPIN_PAUSED, 0);
  }, PAUSE_MS);
  resume.unref();
}

/**
 * The pool's end of the channel to one worker. Jobs go over a MessagePort that the worker reads
 * synchronously, announced by a counter it waits on with `Atomics.wait`, or spins on for a moment
 * after each job (`spin`). That skips the worker's event loop, whose wake-up through the kernel
 * costs tens of microseconds per message on a virtual machine, more than a small model's run.
 * Replies come back on the same port, read by the listener or by {@link receive} while polling;
 * the worker counts them in shared memory, so polling reads the port (and takes its lock, which
 * the worker's `postMessage` needs) only when a reply is there. While the pool polls, a reply
 * that fits comes back in a shared arena instead, and no message is posted at all.
 */
export class Link {
  readonly port: MessagePort;
  /** What the worker is started with (in its `workerData`, with `port` in the transfer list). */
  readonly end: LinkEnd;
  /** Turns a reply the worker wrote into the arena into the reply message; set once the pool knows how. */
  readArena: ((arena: SharedArrayBuffer) => unknown) | undefined;
  readonly #control: Int32Array;
  #unreadable: ((error: Error) => void) | undefined;

  constructor(spinMs: number) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.#control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT));
    this.end = { port: port2, control: this.#control, arena: new SharedArrayBuffer(ARENA_BYTES), shared, cores, spinMs };
  }

  /**
   * Tells the worker whether the pool polls for its reply, which may then come through the arena
   * (a worker that writes there needs {@link readArena} set). After turning it off, call
   * {@link receive} once more: a reply may have landed meanwhile.
   */
  setPolled(polled: boolean): void {
    Atomics.store(this.#control, POLLED, polled ? 1 : 0);
  }

  /** True while the worker is told that the pool polls for its reply. */
  get polled(): boolean {
    return Atomics.load(this.#control, POLLED) === 1;
  }

  /**
   * Wakes the worker if it sleeps, without a job: it spins for a moment, so that a job posted
   * within it does not wait for the worker's wake-up (tens of microseconds on a virtual machine,
   * over 100 on this one).
   */
  expect(): void {
    if (Atomics.load(this.#control, SLEEPING) === 1) Atomics.notify(this.#control, POSTED);
  }

  /**
   * Calls off the worker's start. True when it may be terminated now; false when it is inside a
   * native start step (see `enterNative`), after which it exits by itself.
   */
  callOffStart(): boolean {
    for (;;) {
      const state = Atomics.load(this.#control, START);
      if (Atomics.compareExchange(this.#control, START, state, CALLED_OFF) === state) return state !== IN_NATIVE;
    }
  }

  /** Posts a message to the worker and wakes it if it sleeps. */
  send(message: unknown, transfer: readonly ArrayBuffer[]): void {
    this.port.postMessage(message, transfer as ArrayBuffer[]);
    Atomics.add(this.#control, POSTED, 1);
    Atomics.notify(this.#control, POSTED);
  }

  /**
   * Calls `listener` with each reply the event loop delivers, and `unreadable` with the error of
   * each reply that could not be read on this thread (its message did not deserialize), whether
   * the event loop or {@link receive} came to it.
   */
  onReply(listener: (message: unknown) => void, unreadable: (error: Error) => void): void {
    this.#unreadable = unreadable;
    this.port.on('messageerror', (error: Error) => this.#lost(error));
    this.port.on('message', (message: unknown) => {
      if (!isNotice(message)) {
        this.#read();
        listener(message);
      } else if (message.notice === 'wake') {
        const reply = this.receive();
        if (reply !== undefined) listener(reply);
      } else {
        this.#recycle(message);
      }
    });
  }

  /** True when the worker has posted a reply not read yet. */
  hasReply(): boolean {
    return Atomics.load(this.#control, REPLIED) > Atomics.load(this.#control, READ);
  }

  /** The worker's next reply if one has arrived, without waiting for the event loop to deliver it. */
  receive(): unknown {
    if (!this.hasReply()) return undefined;
    if (Atomics.load(this.#control, IN_ARENA) === 1) {
      const reply = this.readArena!(this.end.arena);
      Atomics.store(this.#control, IN_ARENA, 0);
      this.#read();
      return reply;
    }
    for (;;) {
      let received: { message: unknown } | undefined;
      try {
        received = receiveMessageOnPort(this.port);
      } catch (error) {
        // The message is gone from the port, as with a messageerror, and nothing else will report it.
        this.#lost(error as Error);
        return undefined;
      }
      if (!received) return undefined;
      const message: unknown = received.message;
      if (!isNotice(message)) {
        this.#read();
        return message;
      }
      if (message.notice === 'recycle') this.#recycle(message);
    }
  }

  /**
   * A reply that could not be read still counts as read: otherwise the worker, which uses the arena
   * only once every earlier reply is read, would never use it again.
   */
  #lost(error: Error): void {
    this.#read();
    this.#unreadable?.(error);
  }

  /** Counts a reply read, in shared memory: the worker uses the arena only once every earlier reply is read. */
  #read(): void {
    Atomics.add(this.#control, READ, 1);
  }

  #recycle(notice: Extract<LinkNotice, { notice: 'recycle' }>): void {
    for (const buffer of notice.buffers) recycleBuffer(buffer);
  }
}
