import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { Counter, Registry } from 'prom-client';
import { Counted } from '../../src/metrics/index.js';

const root = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(import.meta.dirname, 'fixtures');
const out = path.join(import.meta.dirname, '.out');

after(() => rm(out, { recursive: true, force: true }));

/** Type-checks `file` (and what it imports) in one decorator mode, emits JS, and imports it. */
async function compile(file: string, mode: string, extra: ts.CompilerOptions): Promise<{ run(): Promise<unknown> }> {
  const outDir = path.join(out, mode);
  const fixture = path.basename(file);
  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    rootDir: root,
    outDir,
    noEmitOnError: true,
    ...extra,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  assert.deepEqual(diagnostics, [], `${fixture} does not type-check with ${mode} decorators`);
  const emitted = program.emit();
  assert.equal(emitted.emitSkipped, false);
  const js = path.join(outDir, path.relative(root, path.dirname(file)), fixture.replace(/\.ts$/, '.js'));
  return import(pathToFileURL(js).href);
}

interface Sample {
  name: string;
  values: { labels: Record<string, string>; value: number; metricName?: string }[];
}

function value(metrics: Sample[], name: string, labels: Record<string, string>): number | undefined {
  for (const m of metrics) {
    for (const v of m.values) {
      const metricName = v.metricName ?? m.name;
      if (metricName === name && Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l)) return v.value;
    }
  }
  return undefined;
}

for (const [mode, options] of [
  ['standard', { experimentalDecorators: false }],
  ['legacy', { experimentalDecorators: true }],
] as const) {
  test(`@Timed, @Counted and @InFlight record exact values with ${mode} decorators`, async () => {
    const fixture = await compile(path.join(fixtures, 'decorated.ts'), mode, options);
    const r = (await fixture.run()) as {
      results: unknown[];
      runningWhileGated: unknown[];
      runningWhileStreaming: number[];
      names: string[];
      metrics: Sample[];
      globalMetrics: number;
    };

    assert.deepEqual(r.results, [6, 'negative: -1', 4, 'negative: -2', [0, 3], [1, 3]]);
    assert.deepEqual(r.runningWhileGated, [['scale', 2]]);
    assert.deepEqual(r.runningWhileStreaming, [1], 'an async generator method is in flight while it is consumed');
    assert.deepEqual(r.names, ['scale', 'shift', 'create', 'rows', 'stream']);
    const m = r.metrics;
    // scale: two calls gated together, each sees the clock move 50 ms per call settled before it: 0.05 and 0.1 s.
    assert.equal(value(m, 'work_seconds_count', { method: 'scale', outcome: 'success' }), 1);
    assert.equal(value(m, 'work_seconds_count', { method: 'scale', outcome: 'failure' }), 1);
    assert.equal(value(m, 'work_seconds_sum', { method: 'scale', outcome: 'success' }), 0.05);
    assert.equal(value(m, 'work_seconds_sum', { method: 'scale', outcome: 'failure' }), 0.1);
    assert.equal(value(m, 'work_seconds_sum', { method: 'shift', outcome: 'success' }), 0.2);
    assert.equal(value(m, 'work_seconds_sum', { method: 'shift', outcome: 'failure' }), 0.2);
    assert.equal(value(m, 'work_seconds_bucket', { method: 'shift', outcome: 'success', le: '0.1' }), 0);
    assert.equal(value(m, 'work_seconds_bucket', { method: 'shift', outcome: 'success', le: '1' }), 1);
    assert.equal(value(m, 'work_calls_total', { method: 'scale', outcome: 'success' }), 1);
    assert.equal(value(m, 'work_calls_total', { method: 'scale', outcome: 'failure' }), 1);
    assert.equal(value(m, 'work_calls_total', { method: 'create', outcome: 'success' }), 1);
    assert.equal(value(m, 'work_running', { method: 'scale' }), 0);
    // Generator methods: timed over their iteration, not only until they return the iterator.
    assert.equal(value(m, 'work_seconds_sum', { method: 'rows', outcome: 'success' }), 0.2);
    assert.equal(value(m, 'work_calls_total', { method: 'rows', outcome: 'success' }), 1);
    assert.equal(value(m, 'work_seconds_sum', { method: 'stream', outcome: 'success' }), 0.4);
    assert.equal(value(m, 'work_running', { method: 'rows' }), 0);
    assert.equal(value(m, 'work_running', { method: 'stream' }), 0);
    assert.equal(r.globalMetrics, 0, 'nothing may be registered on prom-client\'s global registry');
  });
}

for (const [mode, options] of [
  ['standard', { experimentalDecorators: false }],
  ['legacy', { experimentalDecorators: true }],
] as const) {
  test(`a metric decorator on a getter, a setter, a field, an accessor or a class fails when the class is defined, with ${mode} decorators`, async () => {
    const fixture = await compile(path.join(fixtures, 'kinds.ts'), `kinds-${mode}`, options);
    const r = (await fixture.run()) as { errors: string[]; created: string; calls: unknown[] };
    assert.deepEqual(r.errors, [
      'TypeError: @Counted decorates methods, got a getter (size)',
      'TypeError: @Counted decorates methods, got a setter (size)',
      'TypeError: @Counted decorates methods, got a field (handler)',
      'TypeError: @Counted decorates methods, got an accessor (retries)',
      'TypeError: @Counted decorates methods, got a class (Service)',
    ]);
    assert.deepEqual([r.created, r.calls], ['created', [['create', 1]]]);
  });
}

test('with legacy decorators, a metric decorator on a parameter or a Babel field fails as it is applied', () => {
  const decorate = Counted(new Counter({ name: 'param_calls_total', help: 'Calls', registers: [new Registry()] })) as unknown as (...args: unknown[]) => unknown;
  class Jobs {
    run(_: number): void {}
  }
  // What TypeScript's __param(0, decorator) calls, on a method's parameter and on the constructor's.
  assert.throws(() => decorate(Jobs.prototype, 'run', 0), { name: 'TypeError', message: '@Counted decorates methods, got a parameter (run)' });
  assert.throws(() => decorate(Jobs, undefined, 0), { name: 'TypeError', message: '@Counted decorates methods, got a parameter (constructor)' });
  // Babel's legacy decorators (plugin-proposal-decorators, legacy: true) give a field a descriptor with its initializer.
  const field = { configurable: true, enumerable: true, writable: true, initializer: () => () => 1 };
  assert.throws(() => decorate(Jobs.prototype, 'handler', field), { name: 'TypeError', message: '@Counted decorates methods, got a field (handler)' });
});

for (const [mode, options] of [
  ['standard', { experimentalDecorators: false }],
  ['legacy', { experimentalDecorators: true }],
] as const) {
  test(`a method named by a symbol is labelled with its function's name, [Symbol.iterator], as timed() labels it, with ${mode} decorators`, async () => {
    const fixture = await compile(path.join(fixtures, 'symbol-named.ts'), `symbol-${mode}`, options);
    const r = (await fixture.run()) as { names: string[]; labels: string[][] };
    assert.deepEqual(r.names, ['[tag]'], "JavaScript names a symbol-keyed method's function [description]");
    assert.deepEqual(r.labels, [
      ['decorator', '[Symbol.iterator]'],
      ['decorator', '[tag]'],
      ['counted', '[tag]'],
    ]);
  });
}

test('standard decorators decorate a #private method, labelled with its name', async () => {
  const calls = new Counter({ name: 'private_calls_total', help: 'Calls', labelNames: ['method'], registers: [new Registry()] });
  class Jobs {
    @Counted(calls, { methodLabel: 'method' })
    #double(x: number): number {
      return x * 2;
    }
    run(x: number): number {
      return this.#double(x);
    }
  }
  assert.equal(new Jobs().run(4), 8);
  assert.deepEqual((await calls.get()).values.map((v) => [v.labels.method, v.value]), [['#double', 1]]);
});

test('with experimentalDecorators and emitDecoratorMetadata (NestJS), route, status, header, guard and pipe metadata survive either decorator order and applyDecorators, over HTTP', async () => {
  const source = path.join(out, 'nest-src', 'nest-decorated.ts');
  await mkdir(path.dirname(source), { recursive: true });
  await copyFile(path.join(fixtures, 'nest-decorated.legacy-ts'), source);
  const fixture = await compile(source, 'nest', { experimentalDecorators: true, emitDecoratorMetadata: true });
  const r = (await fixture.run()) as { answers: unknown[]; paths: string[]; replies: unknown[]; calls: unknown[]; timed: unknown[] };

  assert.deepEqual(r.answers, [10, 'inner']);
  assert.deepEqual(r.paths, ['outer/:id', 'inner']);
  // Bodies parsed, as the order of the keys of Nest's error replies is not Nest's contract.
  const replies = (r.replies as [number, string | null, string][]).map(([status, header, body]) => [status, header, body.startsWith('{') ? JSON.parse(body) : body]);
  assert.deepEqual(replies, [
    [202, 'outer', { id: 4, scaled: 40 }],
    // The guard and the pipe refuse before the handler runs, so neither call is counted (Nest sets
    // @Header's headers after the guards and before the pipes).
    [403, null, { message: 'needs role admin', error: 'Forbidden', statusCode: 403 }],
    [400, 'outer', { message: 'Validation failed (numeric string is expected)', error: 'Bad Request', statusCode: 400 }],
    [201, 'inner', 'inner'],
    [200, 'composed', 'composed'],
  ]);
  assert.deepEqual(r.calls, [
    ['outer', 'success', 2],
    ['inner', 'success', 2],
    ['composed', 'success', 1],
  ]);
  assert.deepEqual(r.timed, [['outer', 2]]);
});
