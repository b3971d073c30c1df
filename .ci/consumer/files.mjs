// The installed package holds every file it names: each exports target, under every condition,
// and each source a source map points to.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const dir = path.dirname(createRequire(import.meta.url).resolve('servable/package.json'));
const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
const missing = [];
const targets = (entry) => (typeof entry === 'string' ? [entry] : Object.values(entry).flatMap(targets));
for (const [subpath, entry] of Object.entries(pkg.exports)) {
  for (const target of targets(entry)) if (!existsSync(path.join(dir, target))) missing.push(`exports["${subpath}"]: ${target}`);
}
const maps = readdirSync(dir, { recursive: true }).filter((file) => file.endsWith('.map'));
for (const map of maps) {
  const { sources } = JSON.parse(readFileSync(path.join(dir, map), 'utf8'));
  for (const source of sources) if (!existsSync(path.resolve(dir, path.dirname(map), source))) missing.push(`${map}: ${source}`);
}
assert.deepEqual(missing, [], `${missing.length} files the package names are not in it:\n${missing.slice(0, 20).join('\n')}`);
console.log(`the ${Object.keys(pkg.exports).length} exports and ${maps.length} source maps name files in the package`);
