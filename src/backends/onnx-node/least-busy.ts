/** What {@link leastBusy} needs of a worker: its jobs' start times, the running one first. */
export interface Busy {
  readonly jobs: readonly { readonly sentAt: number }[];
}

/**
 * Among busy workers holding fewer than `depth` jobs, the one holding the fewest, among them the
 * one whose running job started first (it should finish first); undefined when none has room.
 */
export function leastBusy<W extends Busy>(workers: Iterable<W>, depth: number): W | undefined {
  let next: W | undefined;
  for (const worker of workers) {
    const held = worker.jobs.length;
    if (held === 0 || held >= depth) continue;
    if (!next || held < next.jobs.length || (held === next.jobs.length && worker.jobs[0]!.sentAt < next.jobs[0]!.sentAt)) next = worker;
  }
  return next;
}
