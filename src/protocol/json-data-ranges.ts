/**
 * A JSON body with its tensors' numeric arrays left unparsed: `JSON.parse` reads the rest, a few
 * hundred bytes, and each array is read later straight from the body's bytes, once its datatype is
 * known (see json-floats.ts): an OIP body's inputs' `data`, a TF-Serving body's `instances` and
 * `inputs`. On a [1,3,48,192] FP32 image this skips decoding 534 KB of text into a string and the
 * array of 27,648 numbers `JSON.parse` would build.
 */
import { parseFloatArray, parseFloatTensor, type FloatTensor } from './json-floats.js';
import { BACKSLASH, CLOSE, CLOSE_OBJECT, closingQuote, COLON, I, isSpace, MINUS, N, NINE, OPEN, OPEN_OBJECT, QUOTE, ZERO } from './json-chars.js';
import { checkJsonHeap } from './json-heap.js';
import { leadingDepth, numericDepth } from './json-nesting.js';

/** The first piece of a body drops a byte-order mark, as decoding the whole body would; later ones keep it, as JSON.parse would see it. */
const first = new TextDecoder('utf-8', { fatal: true });
const later = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Stands in for an input's data in the text JSON.parse reads: a string no client can guess, then the range's index. */
const MARK = `\u0000servable-data-${Math.random().toString(36).slice(2)}-`;

/** One array of tensor data, still bytes: `[start, end)` of the body. */
export interface DataRange {
  readonly start: number;
  readonly end: number;
  /** How deep its brackets nest (the outermost at 1), strings inside not told apart. */
  readonly depth: number;
}

/** The arrays taken out of a body, for the inputs to claim by the marks left in their place. */
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

  /** Ranges' numbers as one FP32 or FP64 tensor, each range a row of it, or undefined where the generic decoder must read them (see {@link parseFloatTensor}). */
  floatTensor(ranges: readonly DataRange[], datatype: 'FP32' | 'FP64', maxRank: number, maxElements: number): FloatTensor | undefined {
    return parseFloatTensor(this.#bytes, ranges, datatype, maxRank, maxElements);
  }

  /**
   * True when the range is well-formed numeric data with an array more than `maxDepth` deep, which
   * walking it would refuse: then refused without JSON.parse (see {@link numericDepth}).
   */
  nestsDeeper(range: DataRange, maxDepth: number): boolean {
    return range.depth > maxDepth && numericDepth(this.#bytes, range.start, range.end) > maxDepth;
  }

  /**
   * True when the ranges are well-formed numeric data and the first one's first elements nest more
   * than `maxDepth` arrays deep, which reading a shape from them would refuse: then refused without
   * JSON.parse (see {@link leadingDepth}).
   */
  leadsDeeper(ranges: readonly DataRange[], maxDepth: number): boolean {
    const first = ranges[0];
    if (first === undefined || first.depth <= maxDepth || leadingDepth(this.#bytes, first.start) <= maxDepth) return false;
    return ranges.every((range) => numericDepth(this.#bytes, range.start, range.end) !== -1);
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
 * The body parsed with the arrays at `paths` left as ranges; undefined when it has none to
 * leave, or is not valid JSON or UTF-8 outside them. A body this accepts parses to the same object
 * as JSON.parse of the whole would give, but for the marks, as long as each range then proves one
 * whole JSON value and every range is claimed: the caller reads the body whole otherwise.
 * @throws PayloadTooLargeError when reading the rest could take more than `maxHeapBytes` (see json-heap.ts).
 */
export function parseWithDataRanges(bytes: Uint8Array, paths: RangePaths, maxHeapBytes?: number): { json: unknown; ranges: DataRanges } | undefined {
  const ranges = findDataRanges(bytes, paths);
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
 * Which members' values a body's ranges are taken from, by their path from the top-level object:
 * each step a key, `*` for any key, or `[]` for any element of an array.
 */
export type RangePaths = readonly (readonly string[])[];

/** An OIP body's inputs' `data`. */
export const OIP_DATA: RangePaths = [['inputs', '[]', 'data']];

/** A TF-Serving `:predict` body's tensors: `instances` and `inputs` whole, or each instance's and each input's by name. */
export const TF_TENSORS: RangePaths = [['instances'], ['instances', '[]', '*'], ['inputs'], ['inputs', '*']];

/** The longest key read as a step of its own; a longer one can only be `*`. */
const MAX_KEY = 16;

/**
 * Past this many ranges, a body whose ranges average under {@link MIN_AVERAGE_RANGE} bytes is read
 * whole: each range costs a mark in the text JSON.parse reads and a read of its own, and 20,000
 * instances of 4 floats each took 6.4 times JSON.parse of the whole (1.2 times at 64 floats).
 */
const MAX_SHORT_RANGES = 32;
const MIN_AVERAGE_RANGE = 512;

/**
 * Where the arrays that start with a number and are the values of members at one of `paths` lie,
 * found by tracking strings and nesting outside them (an escaped key such as `"d\u0061ta"` is only
 * a `*`, and is otherwise left to JSON.parse). Undefined when the body ends inside one, or holds
 * too many too short to be worth reading apart from the rest.
 */
function findDataRanges(bytes: Uint8Array, paths: RangePaths): DataRange[] | undefined {
  const ranges: DataRange[] = [];
  let covered = 0;
  // The open containers a path leads through, outermost first, each with the steps to it; then how
  // many are open within the innermost of them that none leads through (a count: they may nest a million deep).
  const open: { steps: string[]; isArray: boolean }[] = [];
  let others = 0;
  // The steps to the container a `[` or `{` opens next as a member's value, set by its key.
  let next: string[] | undefined;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === OPEN || c === OPEN_OBJECT) {
      const holder = open[open.length - 1];
      const steps = others > 0 ? undefined : holder === undefined ? (c === OPEN_OBJECT ? [] : undefined) : holder.isArray ? stepInto(paths, holder.steps, '[]') : next;
      if (steps) open.push({ steps, isArray: c === OPEN });
      else others++;
      next = undefined;
    } else if (c === CLOSE || c === CLOSE_OBJECT) {
      if (others > 0) others--;
      else open.pop();
    } else if (c === QUOTE) {
      const close = closingQuote(bytes, i);
      if (close === -1) return undefined;
      const holder = others > 0 ? undefined : open[open.length - 1];
      const from = i + 1;
      i = close;
      if (holder === undefined || holder.isArray) continue;
      const value = valueAfterColon(bytes, close + 1);
      if (value === -1) continue;
      const key = keyName(bytes, from, close);
      if (bytes[value] === OPEN && taken(paths, holder.steps, key) && startsWithNumber(bytes, value)) {
        const range = arrayAt(bytes, value);
        if (range === undefined) return undefined;
        ranges.push(range);
        covered += range.end - value;
        if (ranges.length > MAX_SHORT_RANGES && covered < ranges.length * MIN_AVERAGE_RANGE) return undefined;
        i = range.end - 1;
      } else {
        next = (key === undefined ? undefined : stepInto(paths, holder.steps, key)) ?? stepInto(paths, holder.steps, '*');
      }
    }
  }
  return ranges;
}

/** The key `bytes[from, to)` spells when it is short and unescaped; undefined otherwise. */
function keyName(bytes: Uint8Array, from: number, to: number): string | undefined {
  if (to - from > MAX_KEY || bytes.subarray(from, to).indexOf(BACKSLASH) !== -1) return undefined;
  return String.fromCharCode(...bytes.subarray(from, to));
}

/** The steps `trail` and then `step`, when a path leads on past them; undefined otherwise. */
function stepInto(paths: RangePaths, trail: readonly string[], step: string): string[] | undefined {
  const depth = trail.length;
  return paths.some((path) => path.length > depth + 1 && path[depth] === step && trail.every((s, k) => path[k] === s)) ? [...trail, step] : undefined;
}

/** True when the member `key` (undefined: one whose name only `*` matches) of the object at `trail` ends a path. */
function taken(paths: RangePaths, trail: readonly string[], key: string | undefined): boolean {
  const depth = trail.length;
  return paths.some((path) => path.length === depth + 1 && (path[depth] === key || path[depth] === '*') && trail.every((s, k) => path[k] === s));
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
 * The array opening at `open`, to past its `]`, assuming it holds only numbers and arrays: found
 * by jumping from bracket to bracket, which native search does many times faster than a loop over
 * every byte of a nested image, and over each run of brackets (`[[[`, `]]]`) byte by byte, which
 * is faster than searching for each. A string or object inside may make this wrong, which the
 * range's own reading then finds. Undefined when the body ends first.
 */
function arrayAt(bytes: Uint8Array, open: number): DataRange | undefined {
  let depth = 1;
  let deepest = 1;
  let nextOpen = bytes.indexOf(OPEN, open + 1);
  for (let close = bytes.indexOf(CLOSE, open + 1); close !== -1; close = bytes.indexOf(CLOSE, close + 1)) {
    while (nextOpen !== -1 && nextOpen < close) {
      do depth++;
      while (bytes[++nextOpen] === OPEN);
      if (depth > deepest) deepest = depth;
      nextOpen = bytes.indexOf(OPEN, nextOpen);
    }
    while (--depth > 0 && bytes[close + 1] === CLOSE) close++;
    if (depth === 0) return { start: open, end: close + 1, depth: deepest };
  }
  return undefined;
}

/**
 * True when the array opening at `open` starts with a number, bare NaN or Infinity included (or is
 * empty): strings (BYTES data, which may hold brackets) and other values are left to JSON.parse, read once.
 */
function startsWithNumber(bytes: Uint8Array, open: number): boolean {
  let at = open;
  while (bytes[at] === OPEN || isSpace(bytes[at])) at++;
  const c = bytes[at];
  return c === CLOSE || c === MINUS || c === N || c === I || (c !== undefined && c >= ZERO && c <= NINE);
}
