import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const src = path.resolve(import.meta.dirname, '../src');

/** Which modules each module may import (DESIGN.md: core <- {backends, batching, cache} <- handler <- registry <- service <- protocol <- adapters; node, Node-only helpers, for onnx-node and the adapters). */
const allowed: Record<string, string[]> = {
  core: [],
  backends: ['core'],
  node: [],
  'backends/onnx-node': ['core', 'backends', 'node'],
  'backends/onnx-web': ['core', 'backends'],
  batching: ['core'],
  cache: ['core'],
  'cache/redis': ['core', 'cache'],
  handler: ['core', 'backends'],
  registry: ['core', 'backends', 'batching', 'cache', 'handler'],
  service: ['core', 'backends', 'batching', 'cache', 'handler', 'registry'],
  repository: ['core', 'backends', 'backends/onnx-node', 'batching', 'cache', 'handler', 'registry'],
  protocol: ['core', 'backends', 'batching', 'cache', 'handler', 'registry', 'service'],
  adapters: ['core', 'backends', 'batching', 'cache', 'handler', 'registry', 'service', 'protocol', 'node'],
  metrics: ['core', 'backends', 'batching', 'cache', 'handler', 'registry', 'service'],
  testing: ['core', 'backends', 'batching', 'cache', 'handler', 'registry', 'service'],
  '.': ['core', 'backends', 'batching', 'cache', 'handler', 'registry', 'service'],
};

/** Modules that must run in browsers too: no Node built-ins. */
const isomorphic = new Set(['core', 'backends', 'batching', 'cache', 'handler', 'registry', 'service', 'protocol', 'backends/onnx-web', '.']);

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : Promise.resolve(e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))),
  );
  return nested.flat();
}

/** The module a file belongs to: the longest key of `allowed` that is a prefix of its folder. */
function moduleOf(file: string): string {
  const dir = path.relative(src, path.dirname(file)).split(path.sep).join('/') || '.';
  const match = Object.keys(allowed)
    .filter((m) => m !== '.' && (dir === m || dir.startsWith(`${m}/`)))
    .sort((a, b) => b.length - a.length)[0];
  return match ?? '.';
}

function imports(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  return found;
}

test('imports follow the one-way module graph, through index files, and the core stays isomorphic', async () => {
  const problems: string[] = [];
  for (const file of await files(src)) {
    const from = moduleOf(file);
    const rel = path.relative(src, file);
    for (const spec of imports(await readFile(file, 'utf8'))) {
      if (spec.startsWith('node:') && isomorphic.has(from)) problems.push(`${rel}: isomorphic module '${from}' imports ${spec}`);
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec);
      const to = moduleOf(target);
      if (to === from) continue;
      if (!allowed[from]!.includes(to)) problems.push(`${rel}: '${from}' may not import '${to}' (${spec})`);
      const base = path.basename(target);
      if (base !== 'index.js') problems.push(`${rel}: reaches into ${spec}; import '${to}/index.js'`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the protocol takes only types from the modules other than core, so a JSON worker that loads it loads no more', async () => {
  const problems: string[] = [];
  for (const file of await files(path.join(src, 'protocol'))) {
    const source = await readFile(file, 'utf8');
    for (const m of source.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[3]!;
      if (m[2] !== undefined || !spec.startsWith('../') || spec === '../core/index.js') continue;
      problems.push(`${path.relative(src, file)}: takes values from ${spec}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('nothing in src imports metrics', async () => {
  for (const file of await files(src)) {
    if (moduleOf(file) === 'metrics') continue;
    for (const spec of imports(await readFile(file, 'utf8'))) {
      assert.ok(!spec.includes('/metrics/'), `${path.relative(src, file)} imports ${spec}`);
    }
  }
});
