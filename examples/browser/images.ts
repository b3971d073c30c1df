import type { Tensor } from 'servable';

/** The classifier's input size: 3 channels of 48 x 192 pixels. */
export const HEIGHT = 48;
export const WIDTH = 192;

/**
 * A synthetic text line as the PaddleOCR direction classifier takes it: dark glyph-like strokes
 * on white, top-heavy (like ascenders and capitals), normalised to [-1, 1]; `upsideDown` turns it
 * 180°. Deterministic (xorshift32 from `seed`), so a page and a test in Node build the same pixels.
 */
export function textLine(seed: number, upsideDown: boolean): Tensor<'FP32'> {
  const plane = HEIGHT * WIDTH;
  const data = new Float32Array(3 * plane).fill(1);
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
  for (let x = 8; x < WIDTH - 8; ) {
    const width = 2 + Math.floor(next() * 4);
    const top = 10 + Math.floor(next() * 8) - (next() < 0.3 ? 6 : 0);
    const bottom = 34 + (next() < 0.15 ? 6 : 0);
    for (let dx = 0; dx < width && x + dx < WIDTH; dx++) {
      for (let y = top; y < bottom; y++) {
        const [py, px] = upsideDown ? [HEIGHT - 1 - y, WIDTH - 1 - (x + dx)] : [y, x + dx];
        for (let c = 0; c < 3; c++) data[c * plane + py * WIDTH + px] = -1 + 0.1 * next();
      }
    }
    x += width + 1 + Math.floor(next() * 5);
  }
  return { datatype: 'FP32', shape: [1, 3, HEIGHT, WIDTH], data };
}

/** The page's inputs: six lines, every other one upside down. */
export function sampleImages(): Tensor<'FP32'>[] {
  return Array.from({ length: 6 }, (_, i) => textLine(1000 + i, i % 2 === 1));
}
