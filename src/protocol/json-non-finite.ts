/**
 * TF-Serving's JSON dialect: bare `NaN`, `Infinity` and `-Infinity`, which its parser accepts
 * (RapidJSON's kParseNanAndInfFlag) and writer emits, and which Python's json.dumps writes by
 * default. Standard JSON has no literal for them.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const COLON = 0x3a;
const N = 0x4e;
const I = 0x49;
const utf16 = new TextDecoder('utf-16le');

/**
 * `text` with every bare `NaN`, `Infinity` and `-Infinity` outside strings quoted, as the strings
 * float inputs accept; undefined when there is none, or the text is not JSON even so (an `N` or an
 * `I` outside strings that starts no token, a token where an object key would be). One pass,
 * linear in the text, writing UTF-16 code units: meant for a body JSON.parse has already refused.
 */
export function quoteNonFinite(text: string): string | undefined {
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
      const token = c === N ? 'NaN' : 'Infinity';
      if (!text.startsWith(token, i)) return undefined;
      let next = i + token.length;
      while (isSpace(text.charCodeAt(next))) next++;
      if (text.charCodeAt(next) === COLON) return undefined;
      if (o + token.length + 3 > out.length) out = grow(out);
      const minus = c === I && out[o - 1] === MINUS;
      if (minus) o--;
      out[o++] = QUOTE;
      if (minus) out[o++] = MINUS;
      for (let k = 0; k < token.length; k++) out[o++] = token.charCodeAt(k);
      out[o++] = QUOTE;
      i += token.length - 1;
      found = true;
      continue;
    }
    out[o++] = c;
  }
  return found ? utf16.decode(out.subarray(0, o)) : undefined;
}

function grow(out: Uint16Array): Uint16Array {
  const bigger = new Uint16Array(out.length * 2);
  bigger.set(out);
  return bigger;
}

/** JSON's whitespace: space, tab, line feed, carriage return (NaN past the end is none of them). */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
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
