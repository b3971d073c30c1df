/**
 * TF-Serving's JSON dialect: bare `NaN`, `Infinity` and `-Infinity`, which its parser accepts
 * (RapidJSON's kParseNanAndInfFlag, which also reads `Inf` and `-NaN`) and writer emits, and which
 * Python's json.dumps writes by default. Standard JSON has no literal for them.
 */
import { BARE_NUMBERS as BARE, bareNumber, describe, PayloadTooLargeError } from '../core/index.js';
import { BACKSLASH, COLON, I, isSpace, MINUS, N, QUOTE } from './json-chars.js';

/** {@link describe} for a parsed JSON value, a bare token shown as the number the client wrote. */
export function describeJson(value: unknown): string {
  const bare = bareNumber(value);
  return bare === undefined ? describe(value) : `${bare} (a bare number)`;
}

/**
 * Parses `text` with TF-Serving's bare `NaN`, `Infinity` and `Inf` (each maybe after a minus)
 * outside strings, which come back as values {@link bareNumber} reads; undefined when there is
 * none, or the text is not JSON even so (an `N` or an `I` outside strings that starts no token, a
 * token where an object key would be). Linear in the text: meant for a body JSON.parse has already
 * refused. Each token becomes a string no client string can equal, which a walk of the parsed
 * value then swaps for its value: one of {@link CODES} alone when the text cannot spell them, else
 * the token's meaning after a random prefix no client can guess.
 * @throws PayloadTooLargeError (413) when the text so rewritten would be longer than a string can be.
 */
export function parseNonFinite(text: string): unknown {
  const marks = SPELLS_CODE.test(text) ? guardedMarks() : SHORT_MARKS;
  const quoted = quoteTokens(text, marks);
  if (quoted === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(quoted);
    return typeof value === 'string' ? (marks.values.get(value) ?? value) : unmark(value, marks.values);
  } catch {
    // A syntax error, or a value nested too deep to walk (as V8's reviver refused it).
    return undefined;
  }
}

/** The strings that stand for the tokens in the text JSON.parse reads, and the values they stand for. */
interface Marks {
  /** The JSON text of the string for NaN, for Infinity and for -Infinity. */
  readonly literals: readonly [string, string, string];
  readonly values: ReadonlyMap<string, symbol>;
}

/**
 * Three characters no body is expected to hold: when its text spells none of them (raw, or as a
 * `\u` escape), a one-character string of one is a token's. JSON.parse allocates nothing for
 * such a string, where a longer one took half the time of parsing a body of tokens.
 */
const CODES = ['\x7f', '\x80', '\x81'] as const;
const SPELLS_CODE = /[\x7f\x80\x81]|\\u00(?:7[fF]|8[01])/;

function marksOf(strings: readonly [string, string, string]): Marks {
  return {
    literals: strings.map((s) => JSON.stringify(s)) as unknown as [string, string, string],
    values: new Map(strings.map((s, k) => [s, [BARE.NaN, BARE.Infinity, BARE['-Infinity']][k]!])),
  };
}

const SHORT_MARKS = marksOf(CODES);

function guardedMarks(): Marks {
  const prefix = `\u0000${Math.random().toString(36).slice(2)}:`;
  return marksOf([`${prefix}NaN`, `${prefix}Infinity`, `${prefix}-Infinity`]);
}

/** `value` with each string among `values`' keys in its arrays and objects replaced by its value. */
function unmark(value: unknown, values: ReadonlyMap<string, symbol>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'string') {
        const bare = values.get(v);
        if (bare !== undefined) value[i] = bare;
      } else if (typeof v === 'object' && v !== null) unmark(v, values);
    }
  } else {
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      const v = object[key];
      if (typeof v === 'string') {
        const bare = values.get(v);
        if (bare !== undefined) object[key] = bare;
      } else if (typeof v === 'object' && v !== null) unmark(v, values);
    }
  }
  return value;
}

/** `text` with each bare token outside strings written as its mark's literal; undefined when there is none or one is misplaced. */
function quoteTokens(text: string, { literals }: Marks): string | undefined {
  const parts: string[] = [];
  let copied = 0;
  let length = text.length;
  // Native search skips the numbers between quotes and tokens, three times faster than a loop over each character.
  const next = /["NI]/g;
  while (next.test(text)) {
    const i = next.lastIndex - 1;
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const close = closingQuote(text, i);
      if (close === -1) return undefined;
      next.lastIndex = close + 1;
      continue;
    }
    // RapidJSON's spellings, longest first: `Inf` is also infinity, and a minus may precede each.
    const spelling = c === N ? (text.startsWith('NaN', i) ? 3 : 0) : text.startsWith('Infinity', i) ? 8 : text.startsWith('Inf', i) ? 3 : 0;
    if (spelling === 0) return undefined;
    let after = i + spelling;
    while (isSpace(text.charCodeAt(after))) after++;
    if (text.charCodeAt(after) === COLON) return undefined;
    const minus = text.charCodeAt(i - 1) === MINUS;
    const from = minus ? i - 1 : i;
    const literal = literals[c === N ? 0 : minus ? 2 : 1];
    length += literal.length - (i + spelling - from);
    if (length > MAX_TEXT) {
      throw new PayloadTooLargeError(
        `The request body holds too many bare NaN and Infinity tokens to read: each is rewritten as a string of about 30 characters, and the text would pass the ${MAX_TEXT} characters a JavaScript string can hold`,
      );
    }
    parts.push(text.slice(copied, from), literal);
    copied = i + spelling;
    next.lastIndex = copied;
  }
  if (parts.length === 0) return undefined;
  parts.push(text.slice(copied));
  return parts.join('');
}

/** The index of the quote that closes the string whose opening quote is at `open` in `text`, or -1. */
function closingQuote(text: string, open: number): number {
  for (let at = text.indexOf('"', open + 1); at !== -1; at = text.indexOf('"', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

/** V8's longest string (String::kMaxLength on 64-bit), which the quoted text must fit in. */
const MAX_TEXT = 2 ** 29 - 24;
