import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The highest niceness, the lowest priority. */
const MAX_NICE = 19;

/**
 * Lowers the calling thread's scheduling priority by `nice` (added to its niceness, at most 19);
 * threads it starts afterwards, such as ONNX Runtime's, inherit it. Linux only: there a thread's
 * id (from `/proc/thread-self`) names that one thread to `setpriority`, where elsewhere it would
 * renice the whole process. Best effort: where the thread cannot be reniced it keeps its priority,
 * which changes how fast the event loop gets a core, never what is computed.
 */
export function lowerThreadPriority(nice: number): void {
  if (nice === 0 || process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, Math.min(MAX_NICE, getPriority(tid) + nice));
  } catch {
    // No /proc, or a sandbox that forbids setpriority: the thread runs at the process's priority.
  }
}
