/**
 * TF-Serving's JSON dialect: bare `NaN`, `Infinity` and `-Infinity`, which its parser accepts
 * (RapidJSON's kParseNanAndInfFlag, which also reads `Inf` and `-NaN`) and writer emits, and which
 * Python's json.dumps writes by default. Standard JSON has no literal for them.
 */
import { BARE_NUMBERS as BARE, bareNumber, describe, PayloadTooLargeError } from '../core/index.js';
import { BACKSLASH, COLON, I, isSpace, MINUS, N, QUOTE } from './json-chars.js';
const utf16 = new TextDecoder('utf-16le');

/** {@link describe} for a parsed JSON value, a bare token shown as the number the client wrote. */
export function describeJson(value: unknown): string {
  const bare = bareNumber(value);
  return bare === undefined ? describe(value) : `${bare} (a bare number)`;
}

/** RapidJSON's spellings, longest first: `Inf` is also infinity, and a minus may precede each. */
const TOKENS = [['NaN', 'NaN'], ['Infinity', 'Infinity'], ['Inf', 'Infinity']] as const;

/**
 * Parses `text` with TF-Serving's bare `NaN`, `Infinity` and `Inf` (each maybe after a minus)
 * outside strings, which come back as values {@link bareNumber} reads; undefined when there is
 * none, or the text is not JSON even so (an `N` or an `I` outside strings that starts no token, a
 * token where an object key would be). One pass, linear in the text: meant for a body JSON.parse
 * has already refused. Each token becomes a string marked with a random prefix no client can
 * guess, which a reviver swaps for its value.
 * @throws PayloadTooLargeError (413) when the text so rewritten would be longer than a string can be.
 */
export function parseNonFinite(text: string): unknown {
  const marker = `\\u0000${Math.random().toString(36).slice(2)}:`;
  const quoted = quoteTokens(text, marker);
  if (quoted === undefined) return undefined;
  const prefix = JSON.parse(`"${marker}"`) as string;
  try {
    return JSON.parse(quoted, (_key, value: unknown) =>
      typeof value === 'string' && value.startsWith(prefix) ? BARE[value.slice(prefix.length) as keyof typeof BARE] : value,
    );
  } catch {
    return undefined;
  }
}

/** `text` with each bare token outside strings written as the string `marker` + its meaning. */
function quoteTokens(text: string, marker: string): string | undefined {
  let out: Uint16Array = new Uint16Array(text.length + 16);
  let o = 0;
  let found = false;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (o + 2 > out.length) out = grow(out);
    if (inString) {
      // An escape's second code unit is copied with it, so an escaped quote does not end the string.
      if (c === BACKSLASH && i + 1 < text.length) {
        out[o++] = c;
        c = text.charCodeAt(++i);
      } else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === N || c === I) {
      const token = TOKENS.find(([spelling]) => text.startsWith(spelling, i));
      if (!token) return undefined;
      let next = i + token[0].length;
      while (isSpace(text.charCodeAt(next))) next++;
      if (text.charCodeAt(next) === COLON) return undefined;
      const minus = out[o - 1] === MINUS;
      if (minus) o--;
      const meaning = minus && token[1] === 'Infinity' ? '-Infinity' : token[1];
      const literal = `"${marker}${meaning}"`;
      while (o + literal.length > out.length) out = grow(out);
      for (let k = 0; k < literal.length; k++) out[o++] = literal.charCodeAt(k);
      i += token[0].length - 1;
      found = true;
      continue;
    }
    out[o++] = c;
  }
  return found ? decodeUtf16(out.subarray(0, o)) : undefined;
}

/**
 * Node's TextDecoder refuses more than 2^27 - 1 UTF-16 code units at once, which a body of a few
 * million bare tokens reaches once each is quoted: a long text is decoded in parts.
 */
const DECODE_UNITS = 1 << 26;

function decodeUtf16(units: Uint16Array): string {
  if (units.length <= DECODE_UNITS) return utf16.decode(units);
  let text = '';
  for (let at = 0; at < units.length; at += DECODE_UNITS) text += utf16.decode(units.subarray(at, at + DECODE_UNITS), { stream: true });
  return text + utf16.decode();
}

/** V8's longest string (String::kMaxLength on 64-bit), which the quoted text must fit in. */
const MAX_TEXT = 2 ** 29 - 24;

function grow(out: Uint16Array): Uint16Array {
  if (out.length >= MAX_TEXT) {
    throw new PayloadTooLargeError(
      `The request body holds too many bare NaN and Infinity tokens to read: each is rewritten as a string of about 30 characters, and the text would pass the ${MAX_TEXT} characters a JavaScript string can hold`,
    );
  }
  const bigger = new Uint16Array(Math.min(out.length * 2, MAX_TEXT));
  bigger.set(out);
  return bigger;
}

/** JSON.stringify's text for JSON values, except that non-finite numbers are written bare rather than as null. */
export function stringifyNonFinite(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `[${value.map(stringifyNonFinite).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value).map(([key, v]) => `${JSON.stringify(key)}:${stringifyNonFinite(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
