/**
 * WTF-8: UTF-8 extended to JavaScript strings that hold lone surrogates (JSON's `"\ud800"`), each
 * written as the three bytes UTF-8's pattern gives its code point. TextEncoder writes U+FFFD's
 * bytes for one instead, so two different strings would give the same bytes; well-formed strings
 * give their plain UTF-8 either way.
 */

/** A lone surrogate: with the `u` flag a surrogate pair is one code point, of another category. */
const LONE_SURROGATE = /\p{Cs}/u;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A string's WTF-8 bytes: its UTF-8, with each lone surrogate as its own three bytes.
 * @internal
 */
export function wtf8Bytes(s: string): Uint8Array {
  if (!LONE_SURROGATE.test(s)) return encoder.encode(s);
  const bytes: number[] = [];
  for (const c of s) {
    const code = c.charCodeAt(0);
    if (c.length === 1 && code >= 0xd800 && code <= 0xdfff) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    else bytes.push(...encoder.encode(c));
  }
  return Uint8Array.from(bytes);
}

/**
 * The string whose {@link wtf8Bytes} these are.
 * @throws TypeError when they are not: bytes that are neither UTF-8 nor a surrogate's three bytes.
 * @internal
 */
export function wtf8Text(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    // Only a lone surrogate's bytes (ED A0-BF xx) make well-formed WTF-8 fail as UTF-8: decode the
    // runs between them as UTF-8, each of which must then be valid on its own.
    let text = '';
    let from = 0;
    for (let i = 0; i + 2 < bytes.length; i++) {
      if (bytes[i] !== 0xed || bytes[i + 1]! < 0xa0 || (bytes[i + 2]! & 0xc0) !== 0x80) continue;
      text += decoder.decode(bytes.subarray(from, i)) + String.fromCharCode(0xd000 | ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f));
      from = i + 3;
      i += 2;
    }
    return text + decoder.decode(bytes.subarray(from));
  }
}
