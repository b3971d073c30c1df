import { optionError, type Clock } from '../core/index.js';

interface FakeTimer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/** Lets pending promise callbacks run: a macrotask comes after every queued microtask. */
const macrotask: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise((resolve) => setImmediate(resolve))
    : () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * A {@link Clock} whose time moves only when a test moves it. Timers fire in time order (ties in
 * the order they were set), so batching delays, deadlines, TTLs and simulated latencies are exact
 * and tests never sleep.
 *
 * - {@link FakeClock.advance} moves time synchronously, like sinon's `tick`: callbacks run inside
 *   the call, but promise callbacks they schedule run only after it returns.
 * - {@link FakeClock.advanceAsync} also lets promise callbacks run before each timer and after the
 *   last, so code that awaits a timer and then sets another inside the window is timed exactly.
 *   Prefer it for async code.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const batcher = new DynamicBatcher({ clock, maxBatchSize: 8, maxQueueDelayMs: 5, execute });
 * const answer = batcher.submit(request);
 * await clock.advanceAsync(5); // the delay elapses and the batch runs
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  /** A binary min-heap on (at, id); cleared timers are removed from `#live` and skipped lazily. */
  #heap: FakeTimer[] = [];
  readonly #live = new Set<number>();
  #advancing = false;

  /** @param start The time `now()` returns before anything advances it, in milliseconds. @default 0 */
  constructor(start = 0) {
    if (typeof start !== 'number' || !Number.isFinite(start)) {
      throw optionError(`Expected \`start\` to be a finite number, got ${String(start)} (${typeof start})`);
    }
    this.#now = start;
  }

  /** The current fake time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at `now() + ms`; a negative, NaN or infinite `ms` counts as 0. Returns a handle. */
  setTimeout(fn: () => void, ms: number): number {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: FakeTimer = { id: this.#nextId++, at: this.#now + delay, fn };
    this.#live.add(timer.id);
    this.#push(timer);
    return timer.id;
  }

  /** Cancels a timer; unknown or already fired handles are ignored. */
  clearTimeout(handle: unknown): void {
    if (typeof handle !== 'number' || !this.#live.delete(handle)) return;
    if (this.#heap.length > 64 && this.#heap.length > 2 * this.#live.size) this.#compact();
  }

  /** How many timers are waiting to fire. */
  get pending(): number {
    return this.#live.size;
  }

  /** When the next timer fires, or undefined when none waits. */
  get nextAt(): number | undefined {
    return this.#peek()?.at;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due, in time order, synchronously.
   * Timers that callbacks set inside the window fire too.
   */
  advance(ms: number): void {
    const target = this.#target(ms);
    this.#guard(() => {
      for (let timer = this.#peek(); timer !== undefined && timer.at <= target; timer = this.#peek()) this.#fire(timer);
      this.#now = target;
    });
  }

  /**
   * Moves time forward by `ms` like {@link FakeClock.advance}, but lets pending promise callbacks
   * run before the first timer, between timers and at the end.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#target(ms);
    await this.#guardAsync(async () => {
      await macrotask();
      for (let timer = this.#peek(); timer !== undefined && timer.at <= target; timer = this.#peek()) {
        this.#fire(timer);
        await macrotask();
      }
      this.#now = target;
      await macrotask();
    });
  }

  /**
   * Lets pending promise callbacks run, jumps to the next timer and fires it (with any other timer
   * due at the same time), then lets callbacks run again. Resolves false when no timer was waiting.
   */
  async next(): Promise<boolean> {
    return this.#guardAsync(async () => {
      await macrotask();
      const first = this.#peek();
      if (first === undefined) return false;
      for (let timer: FakeTimer | undefined = first; timer !== undefined && timer.at <= first.at; timer = this.#peek()) {
        this.#fire(timer);
        await macrotask();
      }
      return true;
    });
  }

  /**
   * Fires timers with {@link FakeClock.next} until none is left; returns how many rounds ran.
   * Throws after `limit` rounds, which catches code that keeps re-arming a timer.
   */
  async runAll(limit = 10_000): Promise<number> {
    let rounds = 0;
    while (await this.next()) {
      if (++rounds >= limit) throw new Error(`FakeClock.runAll() stopped after ${limit} rounds: timers keep being set`);
    }
    return rounds;
  }

  /** Lets every pending promise callback run without moving time. */
  async flush(): Promise<void> {
    await macrotask();
  }

  #target(ms: number): number {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw optionError(`Expected \`ms\` to be a finite number >= 0, got ${String(ms)} (${typeof ms})`, RangeError);
    }
    return this.#now + ms;
  }

  #fire(timer: FakeTimer): void {
    this.#pop();
    this.#live.delete(timer.id);
    this.#now = Math.max(this.#now, timer.at);
    timer.fn();
  }

  #guard<T>(fn: () => T): T {
    if (this.#advancing) throw new Error('FakeClock is already advancing: await the running advanceAsync(), next() or runAll() first');
    this.#advancing = true;
    try {
      return fn();
    } finally {
      this.#advancing = false;
    }
  }

  async #guardAsync<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#advancing) throw new Error('FakeClock is already advancing: await the running advanceAsync(), next() or runAll() first');
    this.#advancing = true;
    try {
      return await fn();
    } finally {
      this.#advancing = false;
    }
  }

  /** The earliest live timer, dropping cleared ones from the top of the heap. */
  #peek(): FakeTimer | undefined {
    let top = this.#heap[0];
    while (top !== undefined && !this.#live.has(top.id)) {
      this.#pop();
      top = this.#heap[0];
    }
    return top;
  }

  /** Drops cleared timers; a sorted array is a valid heap. */
  #compact(): void {
    this.#heap = this.#heap.filter((t) => this.#live.has(t.id)).sort((a, b) => (before(a, b) ? -1 : 1));
  }

  #push(timer: FakeTimer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = timer;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: FakeTimer, b: FakeTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}
