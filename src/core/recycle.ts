/**
 * Buffers kept per byte length, and in all. HTTP request bodies need about as many as there are
 * requests in flight; batches, a few.
 */
const MAX_PER_LENGTH = 64;
const MAX_BYTES = 64 * 1024 * 1024;

const spare = new Map<number, ArrayBuffer[]>();
let held = 0;

/**
 * Keeps a buffer nobody references any more for {@link takeBuffer} to hand out again, up to 64
 * per length and 64 MiB in all; past that, the lengths given back longest ago make room. The
 * onnx-node backend gives back the feed buffers it moved to a worker, the HTTP adapters request
 * bodies once answered: reusing one skips the allocator zero-filling 100 KB or more, and the
 * collector freeing it.
 * @internal Only for buffers no view can reach any more, such as ones moved to a worker and back.
 */
export function recycleBuffer(buffer: ArrayBuffer): void {
  const length = buffer.byteLength;
  if (length === 0 || length > MAX_BYTES) return;
  const list = spare.get(length) ?? [];
  if (list.length === MAX_PER_LENGTH) return;
  // Lengths a burst of unusual shapes left would otherwise fill the pool for good and keep out the ones in use.
  for (const [stale, buffers] of spare) {
    if (held + length <= MAX_BYTES) break;
    if (stale === length) continue;
    held -= stale * buffers.length;
    spare.delete(stale);
  }
  if (held + length > MAX_BYTES) return;
  list.push(buffer);
  // Map order is the order lengths were last given back in: the first is the stalest.
  spare.delete(length);
  spare.set(length, list);
  held += length;
}

/**
 * A buffer of exactly `byteLength` bytes whose contents are undefined: a recycled one, or a new one.
 * @internal
 */
export function takeBuffer(byteLength: number): ArrayBuffer {
  const list = spare.get(byteLength);
  const buffer = list?.pop();
  if (!buffer) return new ArrayBuffer(byteLength);
  // Lengths come from clients' shapes: an empty list left behind for each would pile up without end.
  if (list!.length === 0) spare.delete(byteLength);
  held -= byteLength;
  return buffer;
}
