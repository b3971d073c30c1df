import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { chromium, type BrowserContext } from 'playwright-core';
import { concatBatch } from 'servable';
import type { DeviceResult, PageResults } from '../../examples/browser/app.js';
import { sampleImages } from '../../examples/browser/images.js';
import { serveBrowserExample, type BrowserExampleServer } from '../../examples/browser/serve.js';
import { clsModelPath } from '../fixtures/ocr-models.js';

const CHROMIUM = '/usr/bin/chromium';

describe('examples/browser in chromium', { skip: !existsSync(CHROMIUM) && `no chromium at ${CHROMIUM}` }, () => {
  let tmp: string;
  let server: BrowserExampleServer;
  let context: BrowserContext | undefined;
  let page: PageResults;
  let reference: number[][];
  const consoleLines: string[] = [];

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'servable-browser-test-'));
    server = await serveBrowserExample({ bundleDir: path.join(tmp, 'bundle') });
    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'],
    });
    const tab = await context.newPage();
    tab.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
    tab.on('pageerror', (error) => consoleLines.push(`pageerror: ${error.message}`));
    await tab.goto(server.url);
    await tab.waitForFunction(() => (globalThis as { servable?: { done?: boolean } }).servable?.done === true, null, { timeout: 50_000 });
    page = await tab.evaluate(() => (globalThis as unknown as { servable: PageResults }).servable);

    const images = sampleImages();
    const batch = concatBatch(images);
    const session = await ortNode.InferenceSession.create(clsModelPath);
    const out = await session.run({ x: new ortNode.Tensor('float32', batch.data as Float32Array, batch.shape) });
    const probabilities = Array.from(out['softmax_0.tmp_0']!.data as Float32Array);
    reference = images.map((_, i) => probabilities.slice(2 * i, 2 * i + 2));
    await session.release();
  }, { timeout: 60_000 });

  after(async () => {
    await context?.close();
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  function result(device: string): DeviceResult {
    const r = page.results.find((x) => x.device === device);
    assert.ok(r, `the page reports ${device}`);
    assert.equal(r.error, undefined, `${device}: ${r.error}\n${consoleLines.join('\n')}`);
    assert.equal(r.ran, device);
    return r;
  }

  function assertBatchedAndClose(r: DeviceResult): void {
    assert.ok(r.outputs, `no outputs from ${r.device}`);
    assert.equal(r.outputs.length, reference.length);
    r.outputs.forEach((row, i) =>
      row.forEach((v, j) => assert.ok(Math.abs(v - reference[i]![j]!) <= 1e-4, `${r.device} image ${i}[${j}]: ${v}, onnxruntime-node ${reference[i]![j]}`)),
    );
    assert.equal(r.batches!.reduce((a, b) => a + b, 0), reference.length);
    assert.ok(r.batches!.every((b) => b <= 3) && r.batches!.some((b) => b > 1), `batches ${JSON.stringify(r.batches)}`);
  }

  test('the core, the batcher and onnx-web bundle for the browser platform with no Node built-ins', () => {
    const { metafile } = server.build;
    const inputs = Object.keys(metafile.inputs);
    for (const file of ['src/index.ts', 'src/core/index.ts', 'src/batching/dynamic-batcher.ts', 'src/backends/onnx-web/backend.ts']) {
      assert.ok(inputs.some((i) => i.endsWith(file)), `${file} is in the bundle`);
    }
    assert.deepEqual(inputs.filter((i) => i.startsWith('node:') || metafile.inputs[i]!.imports.some((im) => im.path.startsWith('node:'))), []);
    assert.ok(inputs.some((i) => i.endsWith('onnxruntime-web/dist/ort.min.mjs')), 'the extern-wasm build of onnxruntime-web');
  });

  test('wasm: the classifier, batched, gives what onnxruntime-node gives, in a cross-origin isolated page', (t) => {
    const wasm = result('wasm');
    assert.equal(page.crossOriginIsolated, true, 'COOP/COEP make the page cross-origin isolated, so wasm may use threads');
    assertBatchedAndClose(wasm);
    t.diagnostic(`wasm: load ${wasm.loadMs!.toFixed(0)} ms, 6 images in batches ${JSON.stringify(wasm.batches)} in ${wasm.runMs!.toFixed(0)} ms`);
  });

  test('webgpu: the classifier, batched, gives what onnxruntime-node gives', (t) => {
    if (page.gpu.startsWith('navigator.gpu') || page.gpu.startsWith('requestAdapter')) {
      t.skip(`WebGPU is unavailable in ${CHROMIUM}: ${page.gpu}`);
      return;
    }
    const webgpu = result('webgpu');
    assertBatchedAndClose(webgpu);
    t.diagnostic(`webgpu on ${page.gpu}: load ${webgpu.loadMs!.toFixed(0)} ms, 6 images in batches ${JSON.stringify(webgpu.batches)} in ${webgpu.runMs!.toFixed(0)} ms`);
  });
});
