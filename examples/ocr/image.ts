/**
 * The image side of PaddleOCR's text-line models: an RGB image type, bilinear resizing, a 180°
 * turn, and the normalised CHW tensors the direction classifier and the recogniser take.
 * @module
 */
import type { Tensor } from 'servable';

/** An RGB image, 3 bytes per pixel, row by row. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** The height both models take. */
export const LINE_HEIGHT = 48;

/** The width the direction classifier takes; narrower lines are padded, wider ones squeezed. */
export const CLS_WIDTH = 192;

/** Resizes with bilinear interpolation (pixel centres aligned, as OpenCV's INTER_LINEAR). */
export function resize(image: RgbImage, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), image.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), image.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, image.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const at = (xx: number, yy: number) => image.data[(yy * image.width + xx) * 3 + c]!;
        const top = at(x0, y0) * (1 - wx) + at(x1, y0) * wx;
        const bottom = at(x0, y1) * (1 - wx) + at(x1, y1) * wx;
        out[(y * width + x) * 3 + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width, height, data: out };
}

/**
 * The recogniser's input: the line resized to height 48, its width kept in proportion and rounded
 * to a multiple of 8 (the recogniser emits one step per 8 columns), normalised to [-1, 1], CHW.
 */
export function recognizerTensor(image: RgbImage): Tensor<'FP32'> {
  const width = recognizerWidth(image);
  return chw(resize(image, width, LINE_HEIGHT), width);
}

/** The width the recogniser sees a line at: in proportion at height 48, rounded to a multiple of 8. */
export function recognizerWidth(image: RgbImage): number {
  return Math.max(8, Math.round((image.width * LINE_HEIGHT) / image.height / 8) * 8);
}

/**
 * The classifier's input: the line resized to height 48, at most 192 wide, then padded with zeros
 * (mid-grey once normalised) to 192, as PaddleOCR's `resize_norm_img` does.
 */
export function classifierTensor(image: RgbImage): Tensor<'FP32'> {
  const width = Math.min(CLS_WIDTH, Math.max(1, Math.ceil((image.width * LINE_HEIGHT) / image.height)));
  return chw(resize(image, width, LINE_HEIGHT), CLS_WIDTH);
}

/** Turns the rows of an NCHW batch for which `turn(row)` is true by 180°: both spatial axes reversed. */
export function rotate180(t: Tensor<'FP32'>, turn: (row: number) => boolean = () => true): Tensor<'FP32'> {
  const [n = 1, c = 3, h = 0, w = 0] = t.shape;
  const plane = h * w;
  const out = new Float32Array(t.data);
  for (let row = 0; row < n; row++) {
    if (!turn(row)) continue;
    for (let p = row * c; p < (row + 1) * c; p++) {
      const base = p * plane;
      for (let i = 0; i < plane; i++) out[base + plane - 1 - i] = t.data[base + i]!;
    }
  }
  return { datatype: 'FP32', shape: [n, c, h, w], data: out };
}

/** Normalises `(v / 255 - 0.5) / 0.5` into a [1, 3, 48, padTo] tensor; columns past the image stay 0. */
function chw(image: RgbImage, padTo: number): Tensor<'FP32'> {
  const { width, height } = image;
  const plane = height * padTo;
  const data = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        data[c * plane + y * padTo + x] = (image.data[(y * width + x) * 3 + c]! / 255 - 0.5) / 0.5;
      }
    }
  }
  return { datatype: 'FP32', shape: [1, 3, height, padTo], data };
}
