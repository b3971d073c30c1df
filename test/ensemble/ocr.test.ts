import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { InferenceService, ModelRegistry } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { ctcAlphabet } from '../../examples/ocr/ctc.js';
import { OcrHandler, ocrEnsemble, type OcrResult } from '../../examples/ocr/ocr-ensemble.js';
import { clsModelPath, recKeysPath, recModelPath } from '../fixtures/ocr-models.js';
import { renderLine } from '../../examples/ocr/render-line.js';

const LINES = ['Hello World 123', 'servable 0.1.0', 'ABC-42 xyz', 'Batch size 8', 'zero downtime'];

test('the OCR ensemble reads rendered text lines, upright and turned by 180°', async (t) => {
  const alphabet = ctcAlphabet(await readFile(recKeysPath, 'utf8'));
  assert.equal(alphabet.length, 6625);
  const registry = new ModelRegistry({ backends: [onnxNode({ instances: 1 })] });
  const batches: Record<string, number[]> = {};
  registry.on('batch', (b) => (batches[b.name] ??= []).push(b.size));
  try {
    await registry.load({
      name: 'textdir',
      source: clsModelPath,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
      batching: { maxBatchSize: 16, maxQueueDelayMs: 5 },
    });
    await registry.load({ name: 'textrec', source: recModelPath, batching: { maxBatchSize: 8, maxQueueDelayMs: 5 } });
    const ocr = await registry.load({ name: 'ocr', source: ocrEnsemble({ alphabet }), handler: () => new OcrHandler() });
    assert.equal(ocr.metadata().backend, 'ensemble');
    assert.deepEqual(ocr.metadata().outputs.map((o) => o.name), ['text', 'direction']);
    const service = new InferenceService({ registry });

    // Every line at once, both ways up: the classifier steps of all ten requests share batches.
    const cases = LINES.flatMap((text) => [{ text, upsideDown: false }, { text, upsideDown: true }]);
    const results = await Promise.all(cases.map((c) => service.infer<ReturnType<typeof renderLine>, OcrResult>('ocr', renderLine(c.text, c.upsideDown))));
    for (const [i, c] of cases.entries()) {
      assert.equal(results[i]!.text.trim(), c.text, `line ${JSON.stringify(c.text)}${c.upsideDown ? ' upside down' : ''}`);
      assert.equal(results[i]!.upsideDown, c.upsideDown);
    }
    const clsBatches = batches.textdir!;
    assert.equal(clsBatches.reduce((a, b) => a + b, 0), cases.length);
    assert.ok(clsBatches.some((size) => size > 1), `classifier batches: ${clsBatches.join(', ')}`);
    t.diagnostic(`classifier batches ${clsBatches.join(', ')}; recogniser batches ${batches.textrec!.join(', ')}`);

    await assert.rejects(service.infer('ocr', { width: 2, height: 2, data: new Uint8Array(3) }), /Expected 12 bytes of RGB data for a 2 x 2 image/);
  } finally {
    await registry.close();
  }
});
