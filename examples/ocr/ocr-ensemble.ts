/**
 * Text-line recognition as an ensemble of two PaddleOCR models: the direction classifier says
 * whether a line is upside down, the line is turned if so, the recogniser reads it, and its
 * output is CTC-decoded into a string. Each model step is batched by its own model's batcher, so
 * concurrent lines share batches.
 * @module
 */
import { concatBatch, dataOf, ensemble, Handler, InvalidInputError, type Ensemble, type Tensor, type TensorMap } from 'servable';
import { ctcGreedyDecode } from './ctc.js';
import { classifierTensor, recognizerTensor, recognizerWidth, rotate180, type RgbImage } from './image.js';

/** PaddleOCR's `cls_thresh`: a line is turned when the classifier gives "upside down" at least this score. */
export const UPSIDE_DOWN_THRESHOLD = 0.9;

/** Options of {@link ocrEnsemble}. */
export interface OcrEnsembleOptions {
  /** The recogniser's classes, from `ctcAlphabet(keysFile)`. */
  readonly alphabet: readonly string[];
  /** The registry name of the direction classifier. @default 'textdir' */
  readonly classifier?: string;
  /** The registry name of the recogniser. @default 'textrec' */
  readonly recognizer?: string;
  /** The recogniser's output tensor. @default 'softmax_11.tmp_0' (PP-OCRv4) */
  readonly recognizerOutput?: string;
}

/**
 * The OCR pipeline as an ensemble: inputs `cls_x` [n, 3, 48, 192] and `rec_x` [n, 3, 48, w]
 * (see {@link OcrHandler}), outputs `text` (BYTES [n]) and `direction` ([n, 2] scores for
 * upright and upside down).
 */
export function ocrEnsemble(options: OcrEnsembleOptions): Ensemble {
  const { alphabet, classifier = 'textdir', recognizer = 'textrec', recognizerOutput = 'softmax_11.tmp_0' } = options;
  return ensemble({
    inputs: [
      { name: 'cls_x', datatype: 'FP32', shape: [-1, 3, 48, 192] },
      { name: 'rec_x', datatype: 'FP32', shape: [-1, 3, 48, -1] },
    ],
    outputs: [
      { name: 'text', datatype: 'BYTES', shape: [-1] },
      { name: 'direction', datatype: 'FP32', shape: [-1, 2] },
    ],
    steps: [
      { model: classifier, inputMap: { x: 'cls_x' }, outputMap: { 'softmax_0.tmp_0': 'direction' } },
      {
        name: 'turn',
        transform: ({ image, direction }) => {
          const scores = dataOf(direction, 'FP32');
          return { image: rotate180(image as Tensor<'FP32'>, (row) => scores[row * 2 + 1]! >= UPSIDE_DOWN_THRESHOLD) };
        },
        inputMap: { image: 'rec_x', direction: 'direction' },
        outputMap: { image: 'upright' },
      },
      { model: recognizer, inputMap: { x: 'upright' }, outputMap: { [recognizerOutput]: 'scores' } },
      {
        name: 'ctc',
        transform: ({ scores }) => ({ text: decodeLines(scores!, alphabet) }),
        inputMap: { scores: 'scores' },
        outputMap: { text: 'text' },
      },
    ],
  });
}

/** Greedy CTC decoding of every line of an [n, steps, classes] score tensor. */
function decodeLines(scores: Tensor, alphabet: readonly string[]): Tensor<'BYTES'> {
  const [n = 0, steps = 0, classes = 0] = scores.shape;
  const data = dataOf(scores, 'FP32');
  const lines: string[] = [];
  for (let row = 0; row < n; row++) {
    lines.push(ctcGreedyDecode(data.subarray(row * steps * classes, (row + 1) * steps * classes), steps, alphabet));
  }
  return { datatype: 'BYTES', shape: [n], data: lines };
}

/** What the OCR model answers for one line. */
export interface OcrResult {
  /** The recognised text. */
  readonly text: string;
  /** Whether the classifier found the line upside down (and it was turned before reading). */
  readonly upsideDown: boolean;
}

/** The handler of the OCR ensemble: takes an RGB line image, answers its text. */
export class OcrHandler extends Handler<RgbImage, OcrResult> {
  override validate(image: RgbImage): void {
    const { width, height, data } = image ?? {};
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new InvalidInputError(`Expected an image with integer width and height >= 1, got ${width} x ${height}`);
    }
    if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
      throw new InvalidInputError(`Expected ${width * height * 3} bytes of RGB data for a ${width} x ${height} image`);
    }
  }

  /** Lines share a batch when the recogniser sees them at the same width. */
  override batchKey(image: RgbImage): string {
    return String(recognizerWidth(image));
  }

  override preprocess(images: readonly RgbImage[]): TensorMap {
    return {
      cls_x: concatBatch(images.map(classifierTensor)),
      rec_x: concatBatch(images.map((image) => recognizerTensor(image))),
    };
  }

  override postprocess(outputs: TensorMap, images: readonly RgbImage[]): OcrResult[] {
    const text = dataOf(outputs.text, 'BYTES');
    const direction = dataOf(outputs.direction, 'FP32');
    return images.map((_, i) => ({ text: text[i]!, upsideDown: direction[i * 2 + 1]! >= UPSIDE_DOWN_THRESHOLD }));
  }
}
