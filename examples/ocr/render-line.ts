/**
 * Renders text lines as images, for trying the OCR model without image files.
 * @module
 */
import { createCanvas, GlobalFonts, type Canvas } from '@napi-rs/canvas';
import type { RgbImage } from './image.js';

/** DejaVu Sans from Debian's fonts-dejavu-core. */
export const fontPath = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

let registered = false;

/**
 * Draws one line of black 30 px DejaVu Sans text on a white line 48 px high, with 12 px of margin
 * each side; turned by 180° when `upsideDown`. `canvas.toBuffer('image/png')` gives a PNG.
 */
export function drawLine(text: string, upsideDown = false): Canvas {
  if (!registered) {
    if (!GlobalFonts.registerFromPath(fontPath, 'DejaVu Sans')) throw new Error(`Cannot load the font ${fontPath}`);
    registered = true;
  }
  const height = 48;
  const probe = createCanvas(1, 1).getContext('2d');
  probe.font = '30px "DejaVu Sans"';
  const width = Math.ceil(probe.measureText(text).width) + 24;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  if (upsideDown) {
    ctx.translate(width, height);
    ctx.rotate(Math.PI);
  }
  ctx.fillStyle = '#000';
  ctx.font = '30px "DejaVu Sans"';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, 12, height / 2);
  return canvas;
}

/** {@link drawLine} as an RGB image. */
export function renderLine(text: string, upsideDown = false): RgbImage {
  const canvas = drawLine(text, upsideDown);
  const { width, height } = canvas;
  const rgba = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[i * 3] = rgba[i * 4]!;
    data[i * 3 + 1] = rgba[i * 4 + 1]!;
    data[i * 3 + 2] = rgba[i * 4 + 2]!;
  }
  return { width, height, data };
}
