import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWithin } from '../../src/repository/paths.js';

// Paths are POSIX here, as on Linux pods: a backslash is a character of a name, not a separator.
test("isWithin: only a '..' segment leads out of the root; names starting with '..' (a Kubernetes volume's ..data, ..<time>) lie inside", () => {
  const rows: [string, boolean][] = [
    ['/r', true],
    ['/r/', true],
    ['/r/a', true],
    ['/r/..data', true],
    ['/r/..data/cls/1/model.onnx', true],
    ['/r/..2026_12_04_20_00_00.1', true],
    ['/r/...', true],
    ['/r/a..', true],
    ['/r/a/../b', true],
    ['/r/..\\x', true],
    ['/r/..', false],
    ['/r/../x', false],
    ['/r/a/../../x', false],
    ['/r/..data/../../x', false],
    ['/rx', false],
    ['/r..data', false],
    ['/', false],
    ['/other/r', false],
  ];
  assert.deepEqual(
    rows.map(([child]) => [child, isWithin('/r', child)]),
    rows,
  );
});
