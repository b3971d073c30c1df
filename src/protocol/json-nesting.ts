/**
 * How deep a range of tensor data nests, read from its bytes without parsing it: data nested
 * deeper than its shape is refused without `JSON.parse` building every array of it (10,000 nested
 * arrays took a millisecond, ten times a refusal of flat data of the same size).
 */
import { CLOSE, COMMA, DOT, isSpace, MINUS, NINE, OPEN, PLUS, ZERO } from './json-chars.js';

/**
 * How many arrays open one inside the first element of the other from `start` (`[[[1], 2]]` has 3,
 * `[1, [[2]]]` 1): the depth that following first elements finds, as TF-Serving's shapes are read.
 */
export function leadingDepth(bytes: Uint8Array, start: number): number {
  let depth = 0;
  for (let i = start; ; i++) {
    if (bytes[i] === OPEN) depth++;
    else if (!isSpace(bytes[i])) return depth;
  }
}

/**
 * True when `bytes` holds more than `depth` `[` in a row, whitespace between them allowed and strings
 * not told apart: where {@link leadingDepth} could find more than `depth`. Such a run is longer than
 * `depth` bytes, so only one byte in `depth + 1` is read, the whitespace after it, and the runs of
 * brackets those lead to: 2 MB with no such run took 0.2 ms, 2-5% of a JSON.parse of it, where a
 * native search from bracket to bracket took 0.5 ms, and 13 ms with a bracket every four bytes.
 * Pretty-printed (indented by 2, 4 or a tab) it took 0.4-1.5 ms, where reading back and forth
 * through all the whitespace a probe fell in took 1.1-5 ms, up to more than JSON.parse of it.
 */
export function hasLeadingRun(bytes: Uint8Array, depth: number): boolean {
  for (let at = depth; at < bytes.length; at += depth + 1) {
    // Whitespace within such a run leads on to one of its brackets; whitespace anywhere else (a
    // pretty-printed body's indentation) is read no further than the byte after it.
    while (isSpace(bytes[at])) at++;
    if (bytes[at] !== OPEN) continue;
    let start = at;
    while (start > 0 && inRun(bytes[start - 1])) start--;
    let run = 0;
    // Ends on the byte past the run, which the next run starts after: it holds a byte looked at.
    for (at = start; inRun(bytes[at]); at++) if (bytes[at] === OPEN) run++;
    if (run > depth) return true;
  }
  return false;
}

function inRun(c: number | undefined): boolean {
  return c === OPEN || isSpace(c);
}

/**
 * How deep the arrays of `bytes[start, end)` nest (the outermost at 1) when it is one well-formed
 * JSON array of numbers and arrays, which `JSON.parse` would read; -1 for anything else (strings,
 * objects, bare NaN, a syntax error), which is left to `JSON.parse`.
 */
export function numericDepth(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let depth = 0;
  let deepest = 0;
  for (;;) {
    // A value is due: an array, or a number.
    while (isSpace(bytes[i])) i++;
    if (bytes[i] === OPEN) {
      i++;
      depth++;
      if (depth > deepest) deepest = depth;
      while (isSpace(bytes[i])) i++;
      if (bytes[i] !== CLOSE) continue;
    } else {
      if (depth === 0) return -1;
      i = numberEnd(bytes, i);
      if (i === -1) return -1;
    }
    // A value is done: `,`, or the `]` of one or more arrays.
    while (isSpace(bytes[i])) i++;
    while (bytes[i] === CLOSE) {
      i++;
      if (--depth === 0) break;
      while (isSpace(bytes[i])) i++;
    }
    if (depth === 0) break;
    if (bytes[i] !== COMMA) return -1;
    i++;
  }
  while (i < end && isSpace(bytes[i])) i++;
  return i === end ? deepest : -1;
}

/** Where the JSON number at `at` ends (RFC 8259 §6), or -1 when none starts there. */
function numberEnd(bytes: Uint8Array, at: number): number {
  let i = at;
  if (bytes[i] === MINUS) i++;
  if (bytes[i] === ZERO) i++;
  else if (isDigit(bytes[i])) while (isDigit(bytes[i])) i++;
  else return -1;
  if (bytes[i] === DOT) {
    i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  if (bytes[i] === 0x65 || bytes[i] === 0x45) {
    i++;
    if (bytes[i] === MINUS || bytes[i] === PLUS) i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  return i;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE;
}
