/**
 * A custom Handler in TorchServe's shape (validate → preprocess → inference → postprocess) that
 * turns images into the tensors the PaddleOCR text-direction classifier takes, and its output
 * into a label: a client sends a PNG and gets `{label: '0' | '180', probability}` back, never a tensor.
 * @module
 */
import { inflateSync } from 'node:zlib';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { dataOf, Handler, InvalidInputError, type TensorMap } from 'servable';

/** What a client sends: one text-line image, a PNG, base64-encoded. */
export interface ImageRequest {
  readonly image: string;
}

/** What a client gets back: whether the line is upright (`'0'`) or upside down (`'180'`), and how sure the model is. */
export interface TextDirection {
  readonly label: '0' | '180';
  readonly probability: number;
}

/** The classifier's input height and width (PaddleOCR's `cls_image_shape`). */
export const HEIGHT = 48;
export const WIDTH = 192;

/** The largest image accepted, each side, so a small PNG cannot claim a huge decode. */
export const MAX_SIDE = 4096;
/** The longest base64 string accepted: 8 MiB of PNG. */
export const MAX_BASE64 = Math.ceil((8 * 1024 * 1024) / 3) * 4;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const LABELS = ['0', '180'] as const;
const OUTPUT = 'softmax_0.tmp_0';

/**
 * Classifies text lines as upright or upside down. Each request is checked before it is queued
 * (a string of base64, a PNG by its signature, a size read from its header), so a bad one gets a
 * 400 alone; images are decoded per batch, and the batch goes to the model as one tensor.
 */
export class TextDirectionHandler extends Handler<ImageRequest, TextDirection> {
  override validate(request: ImageRequest): void {
    const image: unknown = request?.image;
    if (typeof image !== 'string' || image === '') throw new InvalidInputError("Input 'image': expected a base64-encoded PNG string");
    if (image.length > MAX_BASE64) throw new InvalidInputError(`Input 'image': expected at most ${MAX_BASE64} base64 characters, got ${image.length}`);
    if (!BASE64.test(image)) throw new InvalidInputError("Input 'image': not valid base64");
    // The signature (8 bytes) and the IHDR chunk's width and height (bytes 16 to 23) lie in the first 32 base64 characters.
    const head = Buffer.from(image.slice(0, 32), 'base64');
    if (head.length < 24 || PNG_SIGNATURE.some((b, i) => head[i] !== b)) throw new InvalidInputError("Input 'image': not a PNG");
    const width = head.readUInt32BE(16);
    const height = head.readUInt32BE(20);
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
      throw new InvalidInputError(`Input 'image': expected a PNG of 1 to ${MAX_SIDE} pixels each side, got ${width}x${height}`);
    }
  }

  override async preprocess(requests: readonly ImageRequest[]): Promise<TensorMap> {
    const size = 3 * HEIGHT * WIDTH;
    const data = new Float32Array(requests.length * size);
    const lines = await Promise.all(requests.map((r) => decodeLine(r.image)));
    lines.forEach((line, i) => data.set(line, i * size));
    return { x: { datatype: 'FP32', shape: [requests.length, 3, HEIGHT, WIDTH], data } };
  }

  override postprocess(outputs: TensorMap, requests: readonly ImageRequest[]): TextDirection[] {
    const p = dataOf(outputs[OUTPUT], 'FP32');
    return requests.map((_, i) => {
      const best = p[2 * i + 1]! > p[2 * i]! ? 1 : 0;
      return { label: LABELS[best], probability: p[2 * i + best]! };
    });
  }
}

/**
 * PaddleOCR's `resize_norm_img` for the classifier: scale the line to 48 pixels high keeping its
 * aspect ratio (at most 192 wide), normalise each channel to (v / 255 - 0.5) / 0.5 in CHW order,
 * BGR as OpenCV reads images, and leave the rest of the 192 columns 0. Transparent pixels count as white.
 */
export async function decodeLine(base64: string): Promise<Float32Array> {
  let image;
  try {
    const png = Buffer.from(base64, 'base64');
    checkImageData(png);
    // Always bytes: loadImage takes a string as a path or URL to fetch.
    image = await loadImage(png);
  } catch {
    throw new InvalidInputError("Input 'image': the PNG could not be decoded");
  }
  const width = Math.max(1, Math.min(WIDTH, Math.ceil((HEIGHT * image.width) / image.height)));
  const canvas = createCanvas(width, HEIGHT);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, HEIGHT);
  ctx.drawImage(image, 0, 0, width, HEIGHT);
  const rgba = ctx.getImageData(0, 0, width, HEIGHT).data;
  const plane = HEIGHT * WIDTH;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * 4;
      const to = y * WIDTH + x;
      out[to] = rgba[from + 2]! / 127.5 - 1;
      out[plane + to] = rgba[from + 1]! / 127.5 - 1;
      out[2 * plane + to] = rgba[from]! / 127.5 - 1;
    }
  }
  return out;
}

/** Channels per pixel by PNG colour type: grey, RGB, palette index, grey and alpha, RGBA. */
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7's passes: first column, first row, column step, row step. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/**
 * Throws unless the PNG's image data inflates to exactly the bytes its header gives. The canvas
 * decodes lazily and draws image data that does not inflate as a blank image rather than failing,
 * so such a PNG would be classified; inflating at most the expected size first makes it a 400,
 * and a zlib stream that inflates without end (a zip bomb) stops at that size.
 */
function checkImageData(png: Buffer): void {
  // IHDR comes first; its size is the one validate() bounded.
  if (png.toString('latin1', 12, 16) !== 'IHDR' || png.readUInt32BE(8) !== 13) throw new Error('IHDR is not the first chunk');
  const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  if (width > MAX_SIDE || height > MAX_SIDE) throw new Error('too large');
  const bitsPerPixel = png[24]! * (CHANNELS[png[25]!] ?? Number.NaN);
  const passes = png[28] === 1 ? ADAM7 : [[0, 0, 1, 1] as const];
  let expected = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const columns = Math.ceil((width - x0) / dx);
    const rows = Math.ceil((height - y0) / dy);
    // Each row of a pass is a filter-type byte and its pixels; an empty pass has no rows.
    if (columns > 0 && rows > 0) expected += rows * (1 + Math.ceil((columns * bitsPerPixel) / 8));
  }
  if (!(expected > 0)) throw new Error('bad IHDR');
  const idat: Buffer[] = [];
  for (let at = 33; at + 8 <= png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') break;
    at += 12 + length;
  }
  // Past maxOutputLength inflateSync throws, so a stream holding more than the header says fails here.
  if (inflateSync(Buffer.concat(idat), { maxOutputLength: expected }).length !== expected) throw new Error('too little image data');
}
