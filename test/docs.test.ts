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

/** The diagnostics of `source` type-checked as a file of this repository under tsconfig.json (strict). */
function typeErrors(source: string): string[] {
  const rootDir = fileURLToPath(root);
  const config = ts.getParsedCommandLineOfConfigFile(`${rootDir}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  assert.ok(config, 'tsconfig.json does not parse');
  const file = `${rootDir}docs/snippet.ts`;
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => (name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest));
  host.fileExists = (name) => name === file || ts.sys.fileExists(name);
  const program = ts.createProgram([file], config.options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

// Snippets a user copies whole, imports and all, must compile as they are under strict TypeScript.
for (const [doc, opening] of [['docs/caching.md', "import { Redis, Cluster } from 'ioredis';"]] as const) {
  test(`${doc}: the snippet starting ${JSON.stringify(opening)} type-checks under strict`, async () => {
    assert.deepEqual(typeErrors(await snippet(doc, opening)), []);
  });
}
