/**
 * The batcher's queue: one group per batch key, each group one FIFO list per priority level plus
 * one per level for requests delayed by their timeout, each in submission order. Lists are
 * intrusive and doubly linked, so push and remove are O(1), and demote is when timeouts end in
 * submission order or in reverse; dispatch order merges the list heads.
 */

/** What the queue needs of an entry; the links are the queue's to manage. */
export interface QueueEntry<E extends QueueEntry<E>> {
  /** Requests with different keys never share a batch. */
  readonly key: unknown;
  /** Priority level, 1 = highest. */
  readonly level: number;
  /** Submission order, for FIFO ties. */
  readonly seq: number;
  readonly enqueuedAt: number;
  /** Items. */
  readonly size: number;
  /** True when the entry's deadline may end a wait early. */
  readonly timed: boolean;
  prev: E | undefined;
  next: E | undefined;
  list: EntryList<E> | undefined;
}

/** An intrusive doubly linked list. */
export class EntryList<E extends QueueEntry<E>> {
  /** True for the list of entries delayed by their timeout. */
  readonly delayed: boolean;
  head: E | undefined;
  tail: E | undefined;
  /** Items of the entries in the list. */
  items = 0;

  constructor(delayed = false) {
    this.delayed = delayed;
  }

  push(entry: E): void {
    entry.prev = this.tail;
    entry.next = undefined;
    entry.list = this;
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    this.items += entry.size;
  }

  /** Inserts an entry in submission order: O(1) when it is the newest or the oldest. */
  insert(entry: E): void {
    let before = this.head && entry.seq < this.head.seq ? undefined : this.tail;
    while (before && before.seq > entry.seq) before = before.prev;
    if (before === this.tail) return this.push(entry);
    const after = before ? before.next! : this.head!;
    entry.prev = before;
    entry.next = after;
    entry.list = this;
    after.prev = entry;
    if (before) before.next = entry;
    else this.head = entry;
    this.items += entry.size;
  }

  remove(entry: E): void {
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = entry.next = entry.list = undefined;
    this.items -= entry.size;
  }
}

/** The queued requests that may share a batch. */
export class Group<E extends QueueEntry<E>> {
  key: unknown;
  /** One list per level (index level - 1), then one delayed list per level (index levels + level - 1). */
  readonly lists: EntryList<E>[];
  /** Queued items. */
  items = 0;
  /** Queued entries. */
  size = 0;
  /** Queued entries that are `timed`. */
  timed = 0;

  constructor(key: unknown, levels: number) {
    this.key = key;
    this.lists = Array.from({ length: 2 * levels }, (_, i) => new EntryList<E>(i >= levels));
  }
}

const MAX_SPARE_GROUPS = 8;

/** The queue of a DynamicBatcher. */
export class BatchQueue<E extends QueueEntry<E>> {
  readonly #levels: number;
  readonly #agingMs: number | undefined;
  readonly #groups = new Map<unknown, Group<E>>();
  /** Emptied groups kept for reuse: a group empties after every batch when traffic is light. */
  readonly #spare: Group<E>[] = [];
  #size = 0;
  #items = 0;

  constructor(levels: number, agingMs: number | undefined) {
    this.#levels = levels;
    this.#agingMs = agingMs;
  }

  /** Queued entries. */
  get size(): number {
    return this.#size;
  }

  /** Queued items. */
  get items(): number {
    return this.#items;
  }

  /** The non-empty groups. */
  groups(): IterableIterator<Group<E>> {
    return this.#groups.values();
  }

  /** The group of batch key `key`; undefined when none of its entries is queued. */
  group(key: unknown): Group<E> | undefined {
    return this.#groups.get(key);
  }

  /** Appends an entry at the tail of its level. */
  push(entry: E): void {
    let group = this.#groups.get(entry.key);
    if (!group) {
      group = this.#spare.pop() ?? new Group<E>(entry.key, this.#levels);
      group.key = entry.key;
      this.#groups.set(entry.key, group);
    }
    group.lists[entry.level - 1]!.push(entry);
    group.items += entry.size;
    group.size++;
    if (entry.timed) group.timed++;
    this.#items += entry.size;
    this.#size++;
  }

  /** Removes a queued entry; ignores one that is not queued. */
  remove(entry: E): void {
    const list = entry.list;
    if (!list) return;
    const group = this.#groups.get(entry.key)!;
    list.remove(entry);
    group.items -= entry.size;
    group.size--;
    if (entry.timed) group.timed--;
    this.#items -= entry.size;
    this.#size--;
    if (group.size === 0) {
      this.#groups.delete(entry.key);
      if (this.#spare.length < MAX_SPARE_GROUPS) this.#spare.push(group);
    }
  }

  /**
   * Moves a queued entry behind every entry of its level and the levels above that is not
   * delayed, ahead of the levels below (timeout action `delay`, as Triton's DELAY). The delayed
   * list stays in submission order, as every list is, though timeouts differ: `oldest`, the
   * dispatch order and adaptive shedding read each list's head as its longest waiting.
   */
  demote(entry: E): void {
    const list = entry.list;
    if (!list) return;
    if (list.delayed) return;
    const delayed = this.#groups.get(entry.key)!.lists[this.#levels + entry.level - 1]!;
    list.remove(entry);
    delayed.insert(entry);
  }

  /**
   * The batches that start before the first one holding a request of `level`, per batch key (keys
   * never share a batch): in each group, the entries of other levels that go before the level's
   * first entry now (higher levels and their delayed entries, lower levels' entries aged up past
   * it, or to it and queued before it; all of them when that first entry has aged up too, only
   * those ranking above it), or, where the group holds none of the level, those a new entry of the
   * level would wait behind. A key's last, partial batch counts only where that key holds one of
   * the level's requests (delayed ones included) to fill it. `items`: the items those batches hold.
   * O(levels) per group but for the shorter side of a list that only partly goes first.
   */
  batchesBefore(level: number, maxBatchSize: number, now: number): { batches: number; items: number } {
    let batches = 0;
    let before = 0;
    for (const group of this.#groups.values()) {
      const first = group.lists[level - 1]!.head ?? group.lists[this.#levels + level - 1]!.head;
      // What goes first ranks above `first`, or with it and queued before it; with no `first`, what ranks at `level` or above.
      const rank = first ? this.rank(first, now) : level;
      const seq = first ? first.seq : Infinity;
      let items = 0;
      for (let i = 0; i < group.lists.length; i++) {
        const list = group.lists[i]!;
        if (!list.head || i % this.#levels === level - 1) continue;
        // A list of level j ranks at j or above (aging), its delayed list at j + 0.5: all of it first when that is above `rank`.
        const lowest = i < this.#levels ? i + 1 : i - this.#levels + 1.5;
        items += lowest < rank ? list.items : this.#itemsBefore(list, rank, seq, now);
      }
      const full = Math.floor(items / maxBatchSize);
      batches += first ? full : Math.ceil(items / maxBatchSize);
      before += first ? full * maxBatchSize : items;
    }
    return { batches, items: before };
  }

  /**
   * The items at the head of `list` that go before an entry ranked `rank` and queued at `seq`.
   * Every list is in dispatch order (oldest first, and aging lifts the oldest most), so those
   * entries are its head: all of it when its tail goes first, none when its head does not, and
   * otherwise the boundary, sought from both ends at once, so the walk takes the shorter side.
   */
  #itemsBefore(list: EntryList<E>, rank: number, seq: number, now: number): number {
    let head = list.head;
    let tail = list.tail;
    if (!head || !tail) return 0;
    if (this.#goesFirst(tail, rank, seq, now)) return list.items;
    if (!this.#goesFirst(head, rank, seq, now)) return 0;
    // `head` goes first and `tail` does not: `items` are those of the head up to `head`, `after` from `tail` on.
    let items = 0;
    let after = 0;
    for (;;) {
      items += head.size;
      if (head.next === tail || !this.#goesFirst(head.next!, rank, seq, now)) return items;
      head = head.next!;
      after += tail.size;
      if (tail.prev === head || this.#goesFirst(tail.prev!, rank, seq, now)) return list.items - after;
      tail = tail.prev!;
    }
  }

  #goesFirst(entry: E, rank: number, seq: number, now: number): boolean {
    const r = this.rank(entry, now);
    return r < rank || (r === rank && entry.seq < seq);
  }

  /**
   * The first of `level`'s entries to go: the oldest head of its lists, or, when none of its
   * entries is waiting in them, of its delayed lists (timed-out entries go behind the rest of the
   * level); undefined when the level holds none.
   */
  levelHead(level: number): E | undefined {
    let head: E | undefined;
    for (const index of [level - 1, this.#levels + level - 1]) {
      for (const group of this.#groups.values()) {
        const first = group.lists[index]!.head;
        if (first && (!head || first.seq < head.seq)) head = first;
      }
      if (head) return head;
    }
    return undefined;
  }

  /**
   * The level an entry competes at now: aging lifts it one level per `agingMs` waited; a delayed
   * entry competes between its level and the next, and does not age.
   */
  rank(entry: E, now: number): number {
    if (entry.list?.delayed) return entry.level + 0.5;
    if (this.#agingMs === undefined || entry.level === 1) return entry.level;
    return Math.max(1, entry.level - Math.floor((now - entry.enqueuedAt) / this.#agingMs));
  }

  /** True when `a` goes before `b`. */
  precedes(a: E, b: E, now: number): boolean {
    const ra = this.rank(a, now);
    const rb = this.rank(b, now);
    return ra < rb || (ra === rb && a.seq < b.seq);
  }

  /** The entry of `group` that goes first. */
  first(group: Group<E>, now: number): E | undefined {
    let best: E | undefined;
    for (const list of group.lists) {
      const head = list.head;
      if (head && (!best || this.precedes(head, best, now))) best = head;
    }
    return best;
  }

  /** When the longest-waiting entry of `group` was queued. */
  oldest(group: Group<E>): number {
    let oldest = Infinity;
    for (const list of group.lists) if (list.head && list.head.enqueuedAt < oldest) oldest = list.head.enqueuedAt;
    return oldest;
  }

  /**
   * The entries of `group` in dispatch order, as many as fit in `maxItems`: stops before the
   * first entry that does not fit, so order is never skipped.
   */
  take(group: Group<E>, now: number, maxItems: number): E[] {
    const out: E[] = [];
    let items = 0;
    // Entries in one list only (one priority level, nothing delayed: the usual case) are in order already.
    const only = onlyHead(group.lists);
    for (let entry = only; entry && items + entry.size <= maxItems; entry = entry.next) {
      out.push(entry);
      items += entry.size;
    }
    if (only) return out;
    for (const entry of this.order(group, now)) {
      if (items + entry.size > maxItems) break;
      out.push(entry);
      items += entry.size;
    }
    return out;
  }

  /** Every entry of `group` in dispatch order, as {@link BatchQueue.take} ranks them. */
  *order(group: Group<E>, now: number): Generator<E> {
    const cursors: E[] = [];
    for (const list of group.lists) if (list.head) cursors.push(list.head);
    while (cursors.length > 0) {
      let pick = 0;
      for (let i = 1; i < cursors.length; i++) if (this.precedes(cursors[i]!, cursors[pick]!, now)) pick = i;
      const entry = cursors[pick]!;
      yield entry;
      if (entry.next) cursors[pick] = entry.next;
      else cursors.splice(pick, 1);
    }
  }
}

/** The head of the one list that holds entries, or undefined when none or several do. */
function onlyHead<E extends QueueEntry<E>>(lists: readonly EntryList<E>[]): E | undefined {
  let head: E | undefined;
  for (const list of lists) {
    if (!list.head) continue;
    if (head) return undefined;
    head = list.head;
  }
  return head;
}
