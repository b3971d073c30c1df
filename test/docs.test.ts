import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = new URL('../', import.meta.url);

// The examples in the docs are real files that CI runs; the docs must show them verbatim.
const embedded: Record<string, string[]> = {
  'docs/testing.md': ['examples/sentiment-handler.ts', 'test/examples/sentiment-handler.test.ts'],
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

/** The ```ts block of `doc` that starts with `opening`. */
async function snippet(doc: string, opening: string): Promise<string> {
  const text = await readFile(new URL(doc, root), 'utf8');
  const block = [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).find((b) => b.startsWith(opening));
  assert.ok(block, `${doc} has no ts block starting ${JSON.stringify(opening)}`);
  return block;
}

const rootDir = fileURLToPath(root);

/** tsconfig.json's compiler options (strict). */
function compilerOptions(): ts.CompilerOptions {
  const config = ts.getParsedCommandLineOfConfigFile(`${rootDir}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  assert.ok(config, 'tsconfig.json does not parse');
  return config.options;
}

/** The diagnostics of `source` type-checked as a file of this repository under tsconfig.json (strict). */
function typeErrors(source: string): string[] {
  const options = compilerOptions();
  const file = `${rootDir}docs/snippet.ts`;
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => (name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest));
  host.fileExists = (name) => name === file || ts.sys.fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

// Snippets a user copies whole, imports and all, must compile as they are under strict TypeScript.
for (const [doc, opening] of [['docs/caching.md', "import { Redis, Cluster } from 'ioredis';"]] as const) {
  test(`${doc}: the snippet starting ${JSON.stringify(opening)} type-checks under strict`, async () => {
    assert.deepEqual(typeErrors(await snippet(doc, opening)), []);
  });
}

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
