import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = new URL('../', import.meta.url);

// The examples in the docs are real files that CI runs; the docs must show them verbatim.
const embedded: Record<string, string[]> = {
  'docs/testing.md': ['examples/sentiment-handler.ts', 'test/examples/sentiment-handler.test.ts', 'test/examples/nest-controller.test.ts'],
};

for (const [doc, files] of Object.entries(embedded)) {
  test(`${doc} shows ${files.join(' and ')} as they are`, async () => {
    const text = await readFile(new URL(doc, root), 'utf8');
    for (const file of files) {
      const source = await readFile(new URL(file, root), 'utf8');
      assert.ok(text.includes('```ts\n' + source + '```'), `${doc} must embed ${file} verbatim`);
    }
  });
}

// The API reference names each module by its @module tag: the import a user writes, not the source path.
test('every typedoc entry point names its module by the import specifier that loads it', async () => {
  const { entryPoints } = JSON.parse(await readFile(new URL('typedoc.json', root), 'utf8')) as { entryPoints: string[] };
  const { exports } = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { exports: Record<string, { 'servable-source'?: string }> };
  const specifiers = new Map(Object.entries(exports).map(([subpath, target]) => [target['servable-source']?.replace(/^\.\//, ''), `servable${subpath.slice(1)}`]));
  for (const entry of entryPoints) {
    const specifier = specifiers.get(entry);
    assert.ok(specifier, `${entry} is no export of package.json`);
    assert.match(await readFile(new URL(entry, root), 'utf8'), new RegExp(`^ \\* @module ${specifier}$`, 'm'), `${entry} must say @module ${specifier}`);
  }
});

const rootDir = fileURLToPath(root);

/** tsconfig.json's compiler options (strict). */
function compilerOptions(): ts.CompilerOptions {
  const config = ts.getParsedCommandLineOfConfigFile(`${rootDir}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  assert.ok(config, 'tsconfig.json does not parse');
  return config.options;
}

/**
 * The diagnostics of each source, type-checked together as files of this repository (paths
 * relative to its root) under tsconfig.json (strict), as `line: message`, the line moved by the
 * source's `lineOffset`.
 */
function typeErrors(sources: ReadonlyMap<string, { text: string; lineOffset: number }>): Map<string, string[]> {
  const options = compilerOptions();
  const files = new Map([...sources].map(([path, source]) => [rootDir + path, source]));
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => {
    const source = files.get(name);
    return source ? ts.createSourceFile(name, source.text, version) : getSourceFile(name, version, ...rest);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  const program = ts.createProgram([...files.keys()], options, host);
  const errors = new Map<string, string[]>();
  for (const [name, { lineOffset }] of files) {
    const file = program.getSourceFile(name)!;
    errors.set(
      name.slice(rootDir.length),
      ts.getPreEmitDiagnostics(program, file).map((d) => `${d.start === undefined ? '?' : file.getLineAndCharacterOfPosition(d.start).line + 1 + lineOffset}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`),
    );
  }
  return errors;
}

/**
 * How a ```ts block of the docs is checked, by doc and the block's first line: what the prose
 * around a fragment gives it (`service`, `app`...), declared before it; the path it is checked
 * from, for its relative imports; or why it is not checked. A block not listed compiles as it is.
 */
type SnippetSetup = { readonly prelude?: string; readonly file?: string } | { readonly exempt: string };

const service = "declare const service: import('servable').InferenceService;";
const registry = "declare const registry: import('servable').ModelRegistry;";
const request = "declare const request: import('servable').InferenceRequest;";
const fastifyApp = "declare const app: import('fastify').FastifyInstance;";
const expressApp = "declare const app: import('express').Express;";
const promRegistry = "declare const promRegistry: import('prom-client').Registry;";

const snippetSetups: Record<string, Record<string, SnippetSetup>> = {
  'README.md': {
    "import Fastify from 'fastify';": { prelude: 'declare const data: Float32Array;' },
  },
  'docs/backends.md': {
    "import { onnxNode } from 'servable/onnx-node';": { prelude: 'declare const data: Float32Array;' },
    // The backend the next block imports as './linear-json.js'.
    "import { readFile } from 'node:fs/promises';": { file: 'docs/linear-json.ts' },
  },
  'docs/batching.md': {
    "import { DynamicBatcher } from 'servable';": {
      prelude: 'declare const embedder: { embed(texts: readonly string[], options: { signal: AbortSignal }): Promise<number[][]> }; declare const req: { signal: AbortSignal };',
    },
    'new DynamicBatcher({': {
      prelude: "import { DynamicBatcher } from 'servable'; declare const execute: import('servable').ExecuteBatch<string, number[]>;",
    },
    "import { TensorHandler } from 'servable';": { prelude: registry },
  },
  'docs/caching.md': {
    "import { InferenceService, LruStore, ResultCache, SemanticCache, ngramEmbedder, onnxEmbedder, type TensorMap } from 'servable';": { prelude: registry + request },
    "import { ResultCache, LruStore } from 'servable';": {
      prelude: "declare const inputs: import('servable').TensorMap; declare const session: import('servable').ModelSession; declare const req: { signal: AbortSignal };",
    },
    "import test from 'node:test';": { prelude: "declare const MyStore: new () => import('servable').CacheStore;" },
    "import { SemanticCache, ngramEmbedder } from 'servable';": {
      prelude: "declare const prompt: string; declare const generate: (prompt: string) => Promise<import('servable').TensorMap>; declare const tenantId: string;",
    },
  },
  'docs/http.md': {
    '// node:http, node:https or node:http2, no framework': {
      prelude: service + "declare const myRoutes: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;",
    },
    '// Fastify 5': { prelude: service },
    '// Fastify: an auth hook that lets the probes and /metrics through': { prelude: service + promRegistry },
    '// Express 4.18+ or 5': { prelude: service },
    '// NestJS 10 or 11 on @nestjs/platform-express (Express 4 or 5)': { prelude: service },
    '// A global guard passing what @Public() marks, as in Nest\'s docs; the module\'s probes and /metrics are public': { prelude: service + promRegistry },
    '// NestJS on @nestjs/platform-fastify: the module provides the service, the Fastify plugin serves': {
      exempt: '@nestjs/platform-fastify is not installed here (no dependency of servable), so its types cannot be checked',
    },
    "import { Registry } from 'prom-client';": { prelude: "import { servableFastify } from 'servable/fastify';" + service + fastifyApp },
    "import { InferenceStatistics } from 'servable/metrics';": {
      prelude: "import { servableExpress } from 'servable/express';" + service + expressApp + "declare const resultCache: import('servable').ResultCache;",
    },
    "const tenants = new Map([[process.env.ACME_KEY, 'acme']]);": { prelude: "import { servableExpress } from 'servable/express';" + service + expressApp },
    '// Express: a route of the app\'s own for a model behind a custom Handler.': { prelude: service + expressApp },
    "registry.setTraffic('textdir', { split: [{ label: 'stable', weight: 95 }, { label: 'canary', weight: 5 }] });": {
      prelude: "import { servableExpress } from 'servable/express';" + service + registry + expressApp,
    },
  },
  'docs/metrics.md': {
    "import { metricsHandler } from 'servable/metrics';": { prelude: promRegistry + fastifyApp },
    'const scrape = metricsHandler(promRegistry);': { prelude: "import { metricsHandler } from 'servable/metrics';" + promRegistry + expressApp },
    'createServer(async (req, res) => {': { prelude: "import { createServer } from 'node:http'; declare const scrape: ReturnType<typeof import('servable/metrics').metricsHandler>;" },
    "import { Histogram } from 'prom-client';": { prelude: promRegistry + 'declare const rawTokenize: (text: string) => number[];' },
    "import { Counter, Gauge, Histogram } from 'prom-client';": { prelude: promRegistry + 'declare const encoder: { embed(text: string): Promise<Float32Array> };' },
  },
  'docs/registry.md': {
    "import { InferenceService, ModelRegistry } from 'servable';": { prelude: request },
    "registry.setTraffic('textdir', {": { prelude: service + registry + request + 'declare const userId: string;' },
    "import { Router, systemClock } from 'servable';": {
      prelude:
        registry +
        request +
        "declare const userId: string; declare const log: { info(event: unknown): void }; declare const myCache: { get(version: string, request: import('servable').InferenceRequest): Promise<import('servable').InferenceResponse | undefined> };",
    },
    'const registry = new ModelRegistry({ backends: [onnxNode()], maxLoadedVersions: 20, maxLoadedBytes: 8e9 });': {
      prelude:
        "import { ModelRegistry } from 'servable'; import { onnxNode } from 'servable/onnx-node';" +
        service +
        request +
        "declare const tenants: string[]; declare const MyHandler: new () => import('servable').Handler<unknown, unknown>;",
    },
    "import { ensemble } from 'servable';": {
      prelude:
        registry +
        "declare const turnUpsideDownLines: import('servable').TransformStep['transform']; declare const decode: import('servable').TransformStep['transform']; declare const OcrHandler: new () => import('servable').Handler<unknown, unknown>;",
    },
    "import { ModelRegistry } from 'servable';": { prelude: 'declare const log: { warn(fields: object, message: string): void };' },
    'await app.register(servableFastify, {': {
      prelude: "import { servableFastify } from 'servable/fastify';" + service + fastifyApp + "declare const repository: import('servable/repository').ModelRepository;",
    },
    '// 1. Load and warm the candidate; it takes no traffic yet (only the `canary` label points at it).': { prelude: registry },
  },
  'docs/testing.md': {
    // test/examples/sentiment-handler.test.ts, embedded verbatim (see above), imports from there.
    "import { test } from 'node:test';": { file: 'test/examples/snippet.ts' },
  },
};

// What a user copies must compile under strict TypeScript: every ```ts block of the README and the
// docs, with the names its prose gives it declared.
test('every ```ts block of the README and docs type-checks under strict', async () => {
  const sources = new Map<string, { text: string; lineOffset: number }>();
  const where = new Map<string, string>();
  const unused = new Set(Object.entries(snippetSetups).flatMap(([doc, setups]) => Object.keys(setups).map((opening) => `${doc}: ${opening}`)));
  const docs = (await readdir(new URL('docs/', root))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  for (const doc of ['README.md', ...docs]) {
    const text = await readFile(new URL(doc, root), 'utf8');
    for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      const block = m[1]!;
      const opening = block.slice(0, block.indexOf('\n'));
      const line = text.slice(0, m.index).split('\n').length + 1;
      const setup: SnippetSetup = snippetSetups[doc]?.[opening] ?? {};
      unused.delete(`${doc}: ${opening}`);
      if ('exempt' in setup) continue;
      const prelude = setup.prelude === undefined ? '' : setup.prelude + '\n';
      const file = setup.file ?? `docs/snippet-${sources.size}.ts`;
      assert.ok(!sources.has(file), `${file} is named twice`);
      // `export {}` makes every block a module of its own, as a file with imports is.
      sources.set(file, { text: prelude + block + 'export {};\n', lineOffset: line - prelude.split('\n').length });
      where.set(file, doc);
    }
  }
  assert.deepEqual([...unused], [], 'setups for blocks the docs no longer have');
  const found = [...typeErrors(sources)].flatMap(([file, errors]) => errors.map((error) => `${where.get(file)}:${error}`));
  assert.deepEqual(found, []);
});

// typedoc leaves @internal declarations out, so a documented class extending one would list the
// members it inherits (on, off, once...) with no description and a link to no page.
test('no class the API reference documents extends an @internal class', async () => {
  const { entryPoints } = JSON.parse(await readFile(new URL('typedoc.json', root), 'utf8')) as { entryPoints: string[] };
  const program = ts.createProgram(
    entryPoints.map((entry) => rootDir + entry),
    compilerOptions(),
  );
  const checker = program.getTypeChecker();
  const internal = (node: ts.Node) => ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'internal');
  const resolve = (symbol: ts.Symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
  const base = (node: ts.ClassLikeDeclaration) => {
    const extended = node.heritageClauses?.find((c) => c.token === ts.SyntaxKind.ExtendsKeyword)?.types[0]?.expression;
    const symbol = extended && checker.getSymbolAtLocation(extended);
    const declaration = symbol && resolve(symbol).valueDeclaration;
    return declaration && ts.isClassLike(declaration) ? declaration : undefined;
  };
  const found: string[] = [];
  for (const entry of entryPoints) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(rootDir + entry)!)!;
    for (const exported of checker.getExportsOfModule(module)) {
      const declaration = resolve(exported).valueDeclaration;
      if (!declaration || !ts.isClassLike(declaration) || internal(declaration)) continue;
      for (let b = base(declaration); b; b = base(b)) if (internal(b)) found.push(`${entry}: ${exported.name} extends ${b.name?.text}`);
    }
  }
  assert.deepEqual([...new Set(found)], []);
});
