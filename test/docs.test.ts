import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

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
