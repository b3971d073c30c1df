import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

type Entry = { types: string } | string;
type Manifest = { types: string; scripts: Record<string, string>; files: string[]; exports: Record<string, Entry>; typesVersions?: Record<string, Record<string, string[]>> };

const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as Manifest;

// TypeScript's node10 resolution (`"module": "commonjs"` with no moduleResolution, as `nest new`
// sets it) reads no exports map: it finds a subpath's types through typesVersions alone.
test('typesVersions maps each exports subpath to the types file its exports entry names, and nothing else', () => {
  const expected: Record<string, string[]> = {};
  for (const [subpath, entry] of Object.entries(manifest.exports)) {
    if (typeof entry === 'string') continue;
    if (subpath === '.') assert.equal(manifest.types, entry.types, 'package.json types names the types of exports["."]');
    else expected[subpath.slice('./'.length)] = [entry.types];
  }
  assert.deepEqual(manifest.typesVersions, { '*': expected });
});

// `npm pack` and `npm publish` pack what is on disk: from a fresh clone, with no dist/, the tarball
// would hold src/ alone and every exports entry would name a file it lacks.
test('npm pack builds dist/ first, which files ships', () => {
  assert.equal(manifest.scripts.prepack, 'npm run build');
  assert.ok(manifest.files.includes('dist'), `files ${JSON.stringify(manifest.files)} ships dist`);
});
