import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { Registry } from 'prom-client';
import { ServingMetrics } from '../../src/metrics/index.js';

const root = path.resolve(import.meta.dirname, '../..');
const promtool = spawnSync('promtool', ['--version']).status === 0;

/** Every metric ServingMetrics registers, with its type. */
async function registered(): Promise<Map<string, string>> {
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, caches: { c: new EventEmitter() } });
  return new Map((await promRegistry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
}

/** The label names each metric ServingMetrics registers declares (prom-client keeps them on the metric). */
function declaredLabels(): Map<string, string[]> {
  const promRegistry = new Registry();
  new ServingMetrics({ promRegistry, caches: { c: new EventEmitter() } });
  const metrics = promRegistry.getMetricsAsArray() as unknown as { name: string; labelNames: readonly string[] }[];
  return new Map(metrics.map((m) => [m.name, [...m.labelNames].sort()]));
}

/** The labels a PromQL expression names: in selectors' matchers and in by/on/without/ignoring clauses. */
function labelsNamed(expr: string): Set<string> {
  const names = new Set<string>();
  for (const [, matchers] of expr.matchAll(/\{([^}]*)\}/g)) for (const [, label] of matchers!.matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)) names.add(label!);
  for (const [, group] of expr.matchAll(/\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g)) for (const label of group!.split(',')) if (label.trim()) names.add(label.trim());
  return names;
}

interface Panel {
  id: number;
  type: string;
  gridPos: { x: number; w: number };
  targets?: { refId: string; expr: string }[];
  fieldConfig?: { defaults: { unit?: string }; overrides: { matcher: { id: string; options: string }; properties: { id: string; value: unknown }[] }[] };
}

/** The unit Grafana shows a target's values in: its panel's, or an override naming its refId. */
function unitOf(panel: Panel, refId: string): string | undefined {
  const override = panel.fieldConfig?.overrides.find((o) => o.matcher.id === 'byFrameRefID' && o.matcher.options === refId);
  const unit = override?.properties.find((p) => p.id === 'unit')?.value;
  return typeof unit === 'string' ? unit : panel.fieldConfig?.defaults.unit;
}

async function dashboard(): Promise<{ panels: Panel[] }> {
  return JSON.parse(await readFile(path.join(root, 'docs/grafana-dashboard.json'), 'utf8'));
}

/** The PromQL of the "What to alert on" table of docs/metrics.md, with the table's `\|` unescaped. */
function alertQueries(doc: string): string[] {
  const section = doc.slice(doc.indexOf('## What to alert on'), doc.indexOf('## Mounting'));
  return [...section.matchAll(/^\| [^|]+ \| `((?:[^`])+)`/gm)].map((m) => m[1]!.replaceAll('\\|', '|'));
}

test('docs/metrics.md documents every metric with its type', async () => {
  const doc = await readFile(path.join(root, 'docs/metrics.md'), 'utf8');
  for (const [name, type] of await registered()) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    assert.ok(row, `docs/metrics.md has no row for ${name}`);
    assert.ok(row.includes(`| ${type}`), `docs/metrics.md gives ${name} another type than ${type}`);
  }
});

test('docs/metrics.md lists the labels each metric declares', async () => {
  const doc = await readFile(path.join(root, 'docs/metrics.md'), 'utf8');
  for (const [name, labels] of declaredLabels()) {
    const cells = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`))!.split(' | ');
    assert.deepEqual([...cells[2]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]).sort(), labels, `the labels docs/metrics.md gives ${name}`);
  }
});

test('the dashboard and alert queries name only labels their servable metrics have', async () => {
  const declared = declaredLabels();
  const doc = await readFile(path.join(root, 'docs/metrics.md'), 'utf8');
  const queries = [...(await dashboard()).panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...alertQueries(doc)];
  for (const expr of queries) {
    const metrics = [...expr.matchAll(/servable_[a-z_]+/g)].map(([name]) => name);
    if (metrics.length === 0) continue;
    const have = new Set(['instance', 'job']);
    for (const name of metrics) {
      const base = declared.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
      for (const label of declared.get(base) ?? []) have.add(label);
      if (name.endsWith('_bucket')) have.add('le');
    }
    for (const label of labelsNamed(expr)) assert.ok(have.has(label), `${expr} names label ${label}, which ${metrics.join(', ')} lack`);
  }
});

test('the dashboard and alert queries take quantiles of bucket rates summed by le, and never a bare bucket', async () => {
  const doc = await readFile(path.join(root, 'docs/metrics.md'), 'utf8');
  const queries = [...(await dashboard()).panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...alertQueries(doc)];
  for (const expr of queries) {
    const quantiles = [...expr.matchAll(/histogram_quantile\(/g)].length;
    const wellFormed = [...expr.matchAll(/histogram_quantile\(0\.\d+, sum by \(([^)]*)\) \(rate\(servable_[a-z_]+_bucket(\{[^}]*\})?\[[^\]]+\]\)\)\)/g)];
    assert.equal(wellFormed.length, quantiles, `${expr}: histogram_quantile(q, sum by (..., le) (rate(..._bucket[...])))`);
    for (const m of wellFormed) assert.ok(m[1]!.split(',').map((l) => l.trim()).includes('le'), `${expr} sums by le`);
    assert.equal([...expr.matchAll(/_bucket\b/g)].length, quantiles, `${expr}: a _bucket series only under histogram_quantile`);
  }
});

test('the dashboard has what a Grafana import needs: a schema version, a Prometheus data source variable every query uses, and an expr per target', async () => {
  const board = JSON.parse(await readFile(path.join(root, 'docs/grafana-dashboard.json'), 'utf8')) as {
    schemaVersion: unknown;
    title: unknown;
    uid: unknown;
    templating: { list: { name: string; type: string; query: unknown; datasource?: { uid: string } }[] };
    panels: (Panel & { datasource?: { type: string; uid: string }; targets?: { datasource?: { type: string; uid: string } }[] })[];
  };
  assert.ok(Number.isInteger(board.schemaVersion) && (board.schemaVersion as number) >= 36, 'schemaVersion');
  assert.ok(typeof board.title === 'string' && typeof board.uid === 'string', 'title and uid');
  const variables = new Map(board.templating.list.map((v) => [v.name, v]));
  assert.deepEqual([variables.get('datasource')?.type, variables.get('datasource')?.query], ['datasource', 'prometheus']);
  assert.equal(variables.get('model')?.datasource?.uid, '${datasource}');
  const prometheus = { type: 'prometheus', uid: '${datasource}' };
  for (const panel of board.panels) {
    if (panel.type === 'row') continue;
    assert.deepEqual(panel.datasource, prometheus, `panel ${panel.id}'s data source`);
    assert.ok(panel.targets && panel.targets.length > 0, `panel ${panel.id} has queries`);
    assert.equal(new Set(panel.targets.map((t) => t.refId)).size, panel.targets.length, `panel ${panel.id}'s refIds are unique`);
    for (const target of panel.targets) {
      assert.deepEqual(target.datasource, prometheus, `panel ${panel.id} query ${target.refId}'s data source`);
      assert.ok(typeof target.expr === 'string' && target.expr !== '', `panel ${panel.id} query ${target.refId} has an expr`);
    }
  }
});

test('the Grafana dashboard queries only metrics that exist, in a valid layout', async () => {
  const metrics = await registered();
  const { panels } = await dashboard();
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
  const used = new Set<string>();
  for (const panel of panels) {
    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `panel ${panel.id} fits the 24-column grid`);
    for (const { expr } of panel.targets ?? []) {
      for (const [name] of expr.matchAll(/servable_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        const known = metrics.has(name) || (metrics.get(base) === 'histogram' && name !== base);
        assert.ok(known, `panel ${panel.id} queries unknown metric ${name}`);
        used.add(metrics.has(name) ? name : base);
      }
    }
  }
  const unused = [...metrics.keys()].filter((m) => !used.has(m)).sort();
  assert.deepEqual(unused, ['servable_inference_failed_requests_total', 'servable_model_label_info', 'servable_model_loads_total', 'servable_model_versions', 'servable_queue_items']);
});

test('each dashboard query is shown in a unit that fits what it measures', async () => {
  for (const panel of (await dashboard()).panels) {
    for (const { refId, expr } of panel.targets ?? []) {
      const unit = unitOf(panel, refId);
      const where = `panel ${panel.id} query ${refId} (${expr}) is shown in ${unit}`;
      if (/^histogram_quantile\(.*_seconds_bucket/.test(expr)) assert.equal(unit, 's', where);
      else if (/^sum by \([^)]*\) \(rate\([a-z_]+_(total|count)\b[^/]*$/.test(expr)) assert.ok(['reqps', 'ops', 'cps'].includes(unit!), `${where}, not a rate`);
    }
  }
});

test('the dashboard and alert queries are valid PromQL (promtool check rules)', { skip: promtool ? false : 'promtool is not installed' }, async () => {
  const doc = await readFile(path.join(root, 'docs/metrics.md'), 'utf8');
  const alerts = alertQueries(doc);
  assert.equal(alerts.length, 13);
  const panelQueries = (await dashboard()).panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replaceAll('$__rate_interval', '5m').replaceAll('$model', '.*')));
  const rules = [
    ...alerts.map((expr, i) => `      - alert: Doc${i}\n        expr: ${JSON.stringify(expr)}`),
    ...panelQueries.map((expr, i) => `      - record: servable:panel_${i}\n        expr: ${JSON.stringify(expr)}`),
  ];
  const dir = await mkdtemp(path.join(tmpdir(), 'servable-promql-'));
  try {
    const file = path.join(dir, 'rules.yml');
    await writeFile(file, `groups:\n  - name: servable\n    rules:\n${rules.join('\n')}\n`);
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
