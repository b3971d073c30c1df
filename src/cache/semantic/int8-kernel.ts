/**
 * A WebAssembly SIMD kernel that scores int8 rows against an int8 query: for each of `n` rows of
 * `stride` bytes (a multiple of 32) it writes the exact integer dot product to an int32 array.
 * Levels must lie in [-127, 127], so two products summed fit an int16 lane.
 * The module is assembled here from its opcodes (about 300 bytes), so nothing is fetched and
 * no build step is needed; where WebAssembly SIMD is missing, {@link int8Kernel} says so.
 */

/** `scan(rows, query, n, stride, out)`: byte offsets into the kernel's memory. */
export type Int8Scan = (rows: number, query: number, n: number, stride: number, out: number) => void;

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));

const I32 = 0x7f;
const V128 = 0x7b;
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
const tee = (i: number): number[] => [0x22, i];
/** `i32.const` takes a signed LEB128 immediate. */
const i32 = (v: number): number[] => {
  const out: number[] = [0x41];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const simd = (op: number, ...rest: number[]): number[] => [0xfd, ...uleb(op), ...rest];
const load = (offset: number): number[] => simd(0x00, 4, ...uleb(offset));
const MUL_LOW = simd(0x9c); // i16x8.extmul_low_i8x16_s
const MUL_HIGH = simd(0x9d); // i16x8.extmul_high_i8x16_s
const ADD16 = simd(0x8e); // i16x8.add
const WIDEN = simd(0x7e); // i32x4.extadd_pairwise_i16x8_s
const ADD = simd(0xae); // i32x4.add
const lane = (l: number): number[] => simd(0x1b, l); // i32x4.extract_lane

function assemble(): Uint8Array {
  // params: rows 0, query 1, n 2, stride 3, out 4; locals: r 5, j 6, acc 7-8, v 9, w 10
  const [ROWS, QUERY, N, STRIDE, OUT, R, J, V, W] = [0, 1, 2, 3, 4, 5, 6, 9, 10];
  const ACC = [7, 8];
  const code: number[] = [];
  const emit = (...parts: number[][]): void => {
    for (const p of parts) code.push(...p);
  };
  emit(i32(0), set(R));
  emit([0x02, 0x40, 0x03, 0x40]); // block, loop over rows
  emit(get(R), get(N), [0x4e], [0x0d, 0x01]); // if r >= n: break
  for (const a of ACC) emit(simd(0x0c, ...new Array<number>(16).fill(0)), set(a));
  emit(i32(0), set(J));
  emit([0x03, 0x40]); // loop over 32-byte steps of the row
  for (let k = 0; k < 2; k++) {
    emit(get(ROWS), get(J), [0x6a], load(16 * k), set(V));
    emit(get(QUERY), get(J), [0x6a], load(16 * k), set(W));
    emit(get(ACC[k]!), get(V), get(W), MUL_LOW, get(V), get(W), MUL_HIGH, ADD16, WIDEN, ADD, set(ACC[k]!));
  }
  emit(get(J), i32(32), [0x6a], tee(J), get(STRIDE), [0x48], [0x0d, 0x00]); // continue while j < stride
  emit([0x0b]);
  emit(get(ACC[0]!), get(ACC[1]!), ADD, set(ACC[0]!));
  emit(get(OUT), get(R), i32(2), [0x74], [0x6a]); // &out[r]
  emit(get(ACC[0]!), lane(0), get(ACC[0]!), lane(1), [0x6a], get(ACC[0]!), lane(2), [0x6a], get(ACC[0]!), lane(3), [0x6a]);
  emit([0x36, 2, 0]); // i32.store
  emit(get(ROWS), get(STRIDE), [0x6a], set(ROWS));
  emit(get(R), i32(1), [0x6a], set(R));
  emit([0x0c, 0x00], [0x0b, 0x0b, 0x0b]); // next row; end loop, block, function
  const body = [...vec([[2, I32], [4, V128]]), ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0]])),
    ...section(2, vec([[...name('k'), ...name('memory'), 0x02, 0x00, 1]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('scan'), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

/** The part of the WebAssembly API the kernel uses (typed here: the project's lib has no DOM types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}

/** A WebAssembly linear memory: 64 KiB pages, growable; growing detaches the old buffer. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
let compiled: object | null | undefined;

/** The compiled kernel module, or null where WebAssembly or its SIMD extension is unavailable. */
function module(): object | null {
  if (compiled === undefined) {
    const bytes = assemble();
    compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

/** A memory of `pages` 64 KiB pages with the kernel instantiated over it, or undefined without WebAssembly SIMD. */
export function int8Kernel(pages: number): { memory: WasmMemory; scan: Int8Scan } | undefined {
  const m = module();
  if (!m || !wasm) return undefined;
  const memory = new wasm.Memory({ initial: pages });
  const instance = new wasm.Instance(m, { k: { memory } });
  return { memory, scan: instance.exports.scan as Int8Scan };
}
