/**
 * How much heap `JSON.parse` may need for a text, estimated before it runs. A JSON worker's heap
 * limit does not stop `JSON.parse`, which cannot be interrupted: past the limit V8 aborts the
 * whole process, not the worker (nodejs/node#47224). So a worker refuses a body whose estimate
 * is over its budget instead of parsing it.
 */
import { PayloadTooLargeError } from '../core/index.js';
import { closingQuote, COLON, COMMA, I, N, OPEN, OPEN_OBJECT, QUOTE } from './json-chars.js';

/**
 * Heap per value (array, object, element or member: each `[`, `{`, `,` and `:`). Measured on Node
 * 20, retained after parsing a million of each: 10 (`0`), 13 (`null`, `"ab"`), 20 (`[]`), 35
 * (`0.12345678`), 37 (object members), 40 (`[[0.5]]`, per value).
 */
const PER_VALUE = 64;
/** Heap per byte of text: the text itself, up to two bytes a character, and strings' contents. */
const PER_BYTE = 4;
/**
 * A bare NaN or Infinity, which parseNonFinite rewrites as a marked string (of one character, or
 * about 30 when the body spells a mark) and parses again; the pieces of its quoted copy of the
 * text and the copy take up to 32 bytes a byte.
 */
const PER_BARE_TOKEN = 256;
const PER_BYTE_WITH_BARE_TOKENS = 32;
/** The most any byte can cost, so that a text whose length times this fits is not scanned. */
const WORST_PER_BYTE = PER_VALUE + PER_BYTE + PER_BYTE_WITH_BARE_TOKENS + PER_BARE_TOKEN / 3;

/**
 * Refuses, before it is parsed, a JSON body (or the spans `[from, to)` of it that `JSON.parse` is
 * to read) that may need more than `maxHeapBytes` of memory to read; the estimate errs high, two to
 * four times what was measured. A string is not scanned: it is taken at its worst.
 * @returns The memory reckoned for it (a bound, for a text too short to be worth scanning), to be
 * counted as `used` by the parses that follow within the same body.
 * @throws PayloadTooLargeError (413).
 */
export function checkJsonHeap(body: Uint8Array | string, maxHeapBytes: number | undefined, spans?: readonly (readonly [number, number])[], used = 0): number {
  if (maxHeapBytes === undefined) return 0;
  const length = typeof body === 'string' ? body.length : spans ? spans.reduce((sum, [from, to]) => sum + to - from, 0) : body.byteLength;
  if (used + length * WORST_PER_BYTE <= maxHeapBytes) return length * WORST_PER_BYTE;
  const need = typeof body === 'string' ? length * WORST_PER_BYTE : estimate(body, spans ?? [[0, body.byteLength]], length);
  if (used + need > maxHeapBytes) {
    const mb = (bytes: number): string => `${Math.ceil(bytes / 2 ** 20)} MB`;
    throw new PayloadTooLargeError(
      `Decoding this JSON body could take ${mb(used + need)} of memory, more than the ${mb(maxHeapBytes)} a JSON worker takes for one body (half of jsonWorkerHeapMb); send large tensors as binary data`,
    );
  }
  return need;
}

function estimate(bytes: Uint8Array, spans: readonly (readonly [number, number])[], length: number): number {
  let values = 0;
  let bare = 0;
  for (const [from, to] of spans) {
    for (let i = from; i < to; i++) {
      const c = bytes[i]!;
      if (c === QUOTE) {
        i = closingQuote(bytes, i);
        if (i === -1) break;
      } else if (c === COMMA || c === OPEN || c === OPEN_OBJECT || c === COLON) {
        values++;
      } else if (c === N || c === I) {
        bare++;
      }
    }
  }
  return values * PER_VALUE + length * PER_BYTE + (bare > 0 ? bare * PER_BARE_TOKEN + length * PER_BYTE_WITH_BARE_TOKENS : 0);
}
