/**
 * A fast streaming 128-bit hash (MurmurHash3 x86_128) for cache keys and request identities.
 * Fed in pieces, it gives the same digest as one call over the concatenation. It is not
 * cryptographic: where clients are untrusted and could craft collisions, hash with SHA-256
 * instead (see `sha256Hasher` in the cache module).
 */

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function wordHex(h: number): string {
  return HEX[h & 0xff]! + HEX[(h >>> 8) & 0xff]! + HEX[(h >>> 16) & 0xff]! + HEX[h >>> 24]!;
}

/** An incremental MurmurHash3 x86_128: `update` with any number of pieces, then `digest` once. */
export class Hash128 {
  #h1: number;
  #h2: number;
  #h3: number;
  #h4: number;
  #length = 0;
  readonly #tail = new Uint8Array(16);
  #tailLength = 0;

  /** @param seed A 32-bit seed. @default 0 */
  constructor(seed = 0) {
    this.#h1 = this.#h2 = this.#h3 = this.#h4 = seed >>> 0;
  }

  /** Feeds more bytes. */
  update(bytes: Uint8Array): this {
    let offset = 0;
    const n = bytes.length;
    this.#length += n;
    if (this.#tailLength > 0) {
      const take = Math.min(16 - this.#tailLength, n);
      this.#tail.set(bytes.subarray(0, take), this.#tailLength);
      this.#tailLength += take;
      offset = take;
      if (this.#tailLength < 16) return this;
      this.#blocks(new DataView(this.#tail.buffer), 0, 16);
      this.#tailLength = 0;
    }
    const whole = offset + ((n - offset) & ~15);
    if (whole > offset) this.#blocks(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset, whole);
    if (whole < n) {
      this.#tail.set(bytes.subarray(whole), 0);
      this.#tailLength = n - whole;
    }
    return this;
  }

  #blocks(view: DataView, start: number, end: number): void {
    let h1 = this.#h1;
    let h2 = this.#h2;
    let h3 = this.#h3;
    let h4 = this.#h4;
    for (let i = start; i < end; i += 16) {
      let k1 = view.getInt32(i, true);
      let k2 = view.getInt32(i + 4, true);
      let k3 = view.getInt32(i + 8, true);
      let k4 = view.getInt32(i + 12, true);
      k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
      h1 ^= k1;
      h1 = rotl(h1, 19) + h2;
      h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
      k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
      h2 ^= k2;
      h2 = rotl(h2, 17) + h3;
      h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
      k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
      h3 ^= k3;
      h3 = rotl(h3, 15) + h4;
      h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
      k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
      h4 ^= k4;
      h4 = rotl(h4, 13) + h1;
      h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
    }
    this.#h1 = h1;
    this.#h2 = h2;
    this.#h3 = h3;
    this.#h4 = h4;
  }

  /** The digest as 32 lowercase hex characters (each 32-bit word little-endian, h1 first). */
  digest(): string {
    let h1 = this.#h1;
    let h2 = this.#h2;
    let h3 = this.#h3;
    let h4 = this.#h4;
    const t = this.#tail;
    const rest = this.#tailLength;
    let k1 = 0;
    let k2 = 0;
    let k3 = 0;
    let k4 = 0;
    for (let i = rest - 1; i >= 12; i--) k4 |= t[i]! << ((i - 12) * 8);
    for (let i = Math.min(rest, 12) - 1; i >= 8; i--) k3 |= t[i]! << ((i - 8) * 8);
    for (let i = Math.min(rest, 8) - 1; i >= 4; i--) k2 |= t[i]! << ((i - 4) * 8);
    for (let i = Math.min(rest, 4) - 1; i >= 0; i--) k1 |= t[i]! << (i * 8);
    if (rest > 12) h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    if (rest > 8) h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    if (rest > 4) h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    if (rest > 0) h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    const len = this.#length | 0;
    h1 ^= len;
    h2 ^= len;
    h3 ^= len;
    h4 ^= len;
    h1 = (h1 + h2 + h3 + h4) | 0;
    h2 = (h2 + h1) | 0;
    h3 = (h3 + h1) | 0;
    h4 = (h4 + h1) | 0;
    h1 = fmix(h1);
    h2 = fmix(h2);
    h3 = fmix(h3);
    h4 = fmix(h4);
    h1 = (h1 + h2 + h3 + h4) | 0;
    h2 = (h2 + h1) | 0;
    h3 = (h3 + h1) | 0;
    h4 = (h4 + h1) | 0;
    return wordHex(h1) + wordHex(h2) + wordHex(h3) + wordHex(h4);
  }
}

/** The 128-bit digest of the concatenation of `parts`, as 32 hex characters. */
export function hash128(parts: readonly Uint8Array[], seed = 0): string {
  const h = new Hash128(seed);
  for (const part of parts) h.update(part);
  return h.digest();
}

/** 32-bit FNV-1a of a string's UTF-16 code units: a fast, stable hash for short keys. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** MurmurHash3's 32-bit finalizer: spreads every input bit over the whole word. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
