/**
 * An OIP inference body with its inputs' `data` arrays left unparsed: `JSON.parse` reads the rest,
 * a few hundred bytes, and each input's data is read later straight from the body's bytes, once
 * its datatype is known (see json-floats.ts). On a [1,3,48,192] FP32 image this skips decoding
 * 534 KB of text into a string and the array of 27,648 numbers `JSON.parse` would build.
 */
import { parseFloatArray } from './json-floats.js';
import { CLOSE, CLOSE_OBJECT, closingQuote, COLON, isSpace, MINUS, NINE, OPEN, OPEN_OBJECT, QUOTE, ZERO } from './json-chars.js';
import { checkJsonHeap } from './json-heap.js';

/** The first piece of a body drops a byte-order mark, as decoding the whole body would; later ones keep it, as JSON.parse would see it. */
const first = new TextDecoder('utf-8', { fatal: true });
const later = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Stands in for an input's data in the text JSON.parse reads: a string no client can guess, then the range's index. */
const MARK = `\u0000servable-data-${Math.random().toString(36).slice(2)}-`;

/** One input's `data` array, still bytes: `[start, end)` of the body. */
export interface DataRange {
  readonly start: number;
  readonly end: number;
}

/** The `data` arrays taken out of a body, for the inputs to claim by the marks left in their place. */
export class DataRanges {
  readonly #bytes: Uint8Array;
  readonly #ranges: readonly DataRange[];
  readonly #maxHeapBytes: number | undefined;
  /** What the body's parsing so far was reckoned to take of `maxHeapBytes`: the ranges read with JSON.parse share it with the rest. */
  #heapUsed: number;
  #claimed = 0;

  constructor(bytes: Uint8Array, ranges: readonly DataRange[], maxHeapBytes: number | undefined, heapUsed: number) {
    this.#bytes = bytes;
    this.#ranges = ranges;
    this.#maxHeapBytes = maxHeapBytes;
    this.#heapUsed = heapUsed;
  }

  /** The range `value` marks, or undefined for a value that is no mark. */
  claim(value: unknown): DataRange | undefined {
    if (typeof value !== 'string' || !value.startsWith(MARK)) return undefined;
    const range = this.#ranges[Number(value.slice(MARK.length))];
    if (range) this.#claimed++;
    return range;
  }

  /** True once every range was claimed: none was dropped, as by a duplicate key, unread. */
  get allClaimed(): boolean {
    return this.#claimed === this.#ranges.length;
  }

  /** A range's numbers as FP32 or FP64 storage, or undefined where the generic decoder must read them (see {@link parseFloatArray}). */
  floats(range: DataRange, datatype: 'FP32' | 'FP64', count: number, maxDepth: number): Float32Array | Float64Array | undefined {
    return parseFloatArray(this.#bytes, range.start, range.end, datatype, count, maxDepth);
  }

  /**
   * A range as JSON.parse reads it.
   * @throws SyntaxError or TypeError when it is not one whole JSON value in UTF-8: the body is then
   * read whole. PayloadTooLargeError when reading it could take more than the heap allowed.
   */
  json(range: DataRange): unknown {
    this.#heapUsed += checkJsonHeap(this.#bytes, this.#maxHeapBytes, [[range.start, range.end]], this.#heapUsed);
    return JSON.parse(later.decode(this.#bytes.subarray(range.start, range.end)));
  }
}

/**
 * The body parsed with its inputs' `data` arrays left as ranges; undefined when it has none to
 * leave, or is not valid JSON or UTF-8 outside them. A body this accepts parses to the same object
 * as JSON.parse of the whole would give, but for the marks, as long as each range then proves one
 * whole JSON value and every range is claimed: the caller reads the body whole otherwise.
 * @throws PayloadTooLargeError when reading the rest could take more than `maxHeapBytes` (see json-heap.ts).
 */
export function parseWithDataRanges(bytes: Uint8Array, maxHeapBytes?: number): { json: unknown; ranges: DataRanges } | undefined {
  const ranges = findDataRanges(bytes);
  if (ranges === undefined || ranges.length === 0) return undefined;
  const rest = ranges.map((range, i): [number, number] => [i === 0 ? 0 : ranges[i - 1]!.end, range.start]);
  rest.push([ranges[ranges.length - 1]!.end, bytes.byteLength]);
  const reckoned = checkJsonHeap(bytes, maxHeapBytes, rest);
  const pieces: string[] = [];
  try {
    for (const [index, [from, to]] of rest.entries()) {
      pieces.push((from === 0 ? first : later).decode(bytes.subarray(from, to)));
      if (index < ranges.length) pieces.push(JSON.stringify(MARK + index));
    }
    return { json: JSON.parse(pieces.join('')), ranges: new DataRanges(bytes, ranges, maxHeapBytes, reckoned) };
  } catch {
    return undefined;
  }
}

/**
 * Where the arrays that follow a `"data":` key in an object directly inside the top-level
 * `"inputs":` array lie, found by tracking strings and nesting outside them (an escaped key such as
 * `"d\u0061ta"` is not seen, and is left to JSON.parse). Undefined when the body ends inside one.
 */
function findDataRanges(bytes: Uint8Array): DataRange[] | undefined {
  const ranges: DataRange[] = [];
  let depth = 0;
  let inInputs = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === OPEN || c === OPEN_OBJECT) depth++;
    else if (c === CLOSE || c === CLOSE_OBJECT) {
      if (depth === 2) inInputs = false;
      depth--;
    } else if (c === QUOTE) {
      const close = closingQuote(bytes, i);
      if (close === -1) return undefined;
      const key = depth === 1 || (depth === 3 && inInputs) ? keyName(bytes, i + 1, close) : undefined;
      i = close;
      if (key === undefined) continue;
      const value = valueAfterColon(bytes, close + 1);
      if (value === -1 || bytes[value] !== OPEN) continue;
      if (key === 'inputs' && depth === 1) {
        inInputs = true;
        depth++;
        i = value;
      } else if (key === 'data' && depth === 3 && startsWithNumber(bytes, value)) {
        const end = arrayEnd(bytes, value);
        if (end === -1) return undefined;
        ranges.push({ start: value, end });
        i = end - 1;
      }
    }
  }
  return ranges;
}

/** The key `bytes[from, to)` spells when it is `inputs` or `data` unescaped; undefined otherwise. */
function keyName(bytes: Uint8Array, from: number, to: number): 'inputs' | 'data' | undefined {
  const length = to - from;
  if (length === 6 && bytes[from] === 0x69 && String.fromCharCode(...bytes.subarray(from, to)) === 'inputs') return 'inputs';
  if (length === 4 && bytes[from] === 0x64 && String.fromCharCode(...bytes.subarray(from, to)) === 'data') return 'data';
  return undefined;
}

/** Where the value after a key's colon starts, skipping whitespace; -1 when no colon follows (the string was a value). */
function valueAfterColon(bytes: Uint8Array, at: number): number {
  while (isSpace(bytes[at])) at++;
  if (bytes[at] !== COLON) return -1;
  at++;
  while (isSpace(bytes[at])) at++;
  return at;
}

/**
 * Where the array opening at `open` ends (past its `]`), assuming it holds only numbers and arrays:
 * the first `]` for a flat one. A string or object inside may make this wrong, which the range's
 * own reading then finds. -1 when the body ends first.
 */
function arrayEnd(bytes: Uint8Array, open: number): number {
  const close = bytes.indexOf(CLOSE, open + 1);
  if (close === -1) return -1;
  if (bytes.subarray(open + 1, close).indexOf(OPEN) === -1) return close + 1;
  let depth = 0;
  for (let i = open; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === OPEN) depth++;
    else if (c === CLOSE && --depth === 0) return i + 1;
  }
  return -1;
}

/**
 * True when the array opening at `open` starts with a number (or is empty): strings (BYTES data,
 * which may hold brackets) and other values are left to JSON.parse, read once.
 */
function startsWithNumber(bytes: Uint8Array, open: number): boolean {
  let at = open;
  while (bytes[at] === OPEN || isSpace(bytes[at])) at++;
  const c = bytes[at];
  return c === CLOSE || c === MINUS || (c !== undefined && c >= ZERO && c <= NINE);
}
