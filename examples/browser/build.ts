/**
 * Bundles the page script with esbuild for the browser platform. A `node:` import anywhere in
 * what `servable` or `servable/onnx-web` pulls in fails this build, which is how the isomorphic
 * core is checked. `onnxruntime-web-use-extern-wasm` picks onnxruntime-web's build that loads its
 * `.wasm`/`.mjs` from `wasmPaths` instead of embedding them in the bundle.
 */
import path from 'node:path';
import { build, type Metafile } from 'esbuild';

/** Where the bundle went and which source files it holds. */
export interface BrowserBuild {
  readonly outfile: string;
  readonly metafile: Metafile;
}

/** Bundles examples/browser/app.ts into `outdir/app.js`. */
export async function buildBrowserExample(outdir: string): Promise<BrowserBuild> {
  const outfile = path.join(outdir, 'app.js');
  const result = await build({
    entryPoints: [path.join(import.meta.dirname, 'app.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['servable-source', 'onnxruntime-web-use-extern-wasm'],
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
  });
  return { outfile, metafile: result.metafile };
}
