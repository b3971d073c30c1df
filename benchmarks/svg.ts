/** A point of a chart series; `label`, when given, is written beside it. */
export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  readonly label?: string;
}

/** The shape drawn at each point of a series. */
export type Marker = 'circle' | 'square' | 'triangle' | 'diamond' | 'star';

/** One line of the chart, drawn through its points in order. */
export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  readonly marker: Marker;
  readonly dashed?: boolean;
  readonly points: readonly ChartPoint[];
}

/** A dashed reference line across the plot at `value` on one axis. */
export interface Guide {
  readonly axis: 'x' | 'y';
  readonly value: number;
  readonly label: string;
}

/** What {@link lineChart} draws. */
export interface ChartOptions {
  readonly title: string;
  /** Lines under the title. */
  readonly notes?: readonly string[];
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
  readonly guides?: readonly Guide[];
}

const WIDTH = 1000;
const HEIGHT = 640;
const LEFT = 80;
const RIGHT = 250;
const BOTTOM = 60;

/** A self-contained SVG line chart with a linear x axis from 0, a log y axis, and a legend on the right. */
export function lineChart(options: ChartOptions): string {
  const notes = options.notes ?? [];
  const top = 50 + notes.length * 16;
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - top - BOTTOM;
  const points = options.series.flatMap((s) => s.points).filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.x + p.y));
  const guides = options.guides ?? [];
  const xs = [...points.map((p) => p.x), ...guides.filter((g) => g.axis === 'x').map((g) => g.value)];
  const ys = [...points.map((p) => p.y), ...guides.filter((g) => g.axis === 'y').map((g) => g.value)];
  const xTicks = linearTicks(Math.max(1, ...xs));
  const xMax = xTicks[xTicks.length - 1]!;
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const px = (x: number) => Number((LEFT + (x / xMax) * plotW).toFixed(1));
  const py = (y: number) => Number((top + plotH - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH).toFixed(1));

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${LEFT}" y="26" font-size="16" font-weight="bold">${escape(options.title)}</text>`,
    ...notes.map((line, i) => `<text x="${LEFT}" y="${46 + i * 16}" fill="#444">${escape(line)}</text>`),
  ];
  for (const x of xTicks) {
    out.push(`<line x1="${crisp(px(x))}" y1="${top}" x2="${crisp(px(x))}" y2="${top + plotH}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${px(x)}" y="${top + plotH + 18}" text-anchor="middle">${x}</text>`);
  }
  for (const y of logTicks(yMin, yMax)) {
    out.push(`<line x1="${LEFT}" y1="${crisp(py(y))}" x2="${LEFT + plotW}" y2="${crisp(py(y))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${LEFT - 6}" y="${py(y) + 4}" text-anchor="end">${y}</text>`);
  }
  out.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${LEFT + plotW / 2}" y="${HEIGHT - 16}" text-anchor="middle">${escape(options.xLabel)}</text>`);
  out.push(`<text transform="translate(20 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(options.yLabel)}</text>`);
  for (const g of guides) {
    const [x1, y1, x2, y2] = g.axis === 'x' ? [px(g.value), top, px(g.value), top + plotH] : [LEFT, py(g.value), LEFT + plotW, py(g.value)];
    out.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#c00" stroke-dasharray="6 4"/>`);
    const [tx, ty, anchor] = g.axis === 'x' ? [x1 - 4, top + 14, 'end'] : [LEFT + plotW - 4, y1 - 5, 'end'];
    out.push(`<text x="${tx}" y="${ty}" fill="#c00" text-anchor="${anchor}">${escape(g.label)}</text>`);
  }
  for (const s of options.series) {
    const visible = s.points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.x + p.y));
    const path = visible.map((p) => `${px(p.x)},${py(p.y)}`).join(' ');
    out.push(`<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''} opacity="0.8"/>`);
    for (const p of visible) {
      out.push(marker(s.marker, px(p.x), py(p.y), s.color));
      if (p.label) out.push(`<text x="${px(p.x) + 7}" y="${py(p.y) - 6}" font-size="10" fill="${s.color}">${escape(p.label)}</text>`);
    }
  }
  const legendX = WIDTH - RIGHT + 20;
  options.series.forEach((s, i) => {
    const y = top + 8 + i * 18;
    out.push(`<line x1="${legendX}" y1="${y}" x2="${legendX + 24}" y2="${y}" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(marker(s.marker, legendX + 12, y, s.color));
    out.push(`<text x="${legendX + 32}" y="${y + 4}">${escape(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function marker(shape: Marker, x: number, y: number, color: string): string {
  const r = 4;
  const at = (pts: readonly (readonly [number, number])[]) => pts.map(([dx, dy]) => `${(x + dx).toFixed(1)},${(y + dy).toFixed(1)}`).join(' ');
  switch (shape) {
    case 'circle':
      return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${color}"/>`;
    case 'square':
      return `<rect x="${(x - r).toFixed(1)}" y="${(y - r).toFixed(1)}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
    case 'triangle':
      return `<polygon points="${at([[0, -r - 1], [r + 1, r], [-r - 1, r]])}" fill="${color}"/>`;
    case 'diamond':
      return `<polygon points="${at([[0, -r - 1], [r + 1, 0], [0, r + 1], [-r - 1, 0]])}" fill="${color}"/>`;
    case 'star': {
      const pts = Array.from({ length: 10 }, (_, i) => {
        const radius = i % 2 === 0 ? r + 3 : (r + 3) / 2.5;
        const angle = (Math.PI / 5) * i - Math.PI / 2;
        return [radius * Math.cos(angle), radius * Math.sin(angle)] as const;
      });
      return `<polygon points="${at(pts)}" fill="${color}" stroke="black" stroke-width="0.5"/>`;
    }
  }
}

/** Round ticks from 0 to at least `max`. */
function linearTicks(max: number): number[] {
  const raw = max / 6;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw))!;
  const ticks: number[] = [];
  for (let t = 0; t < max + step; t += step) ticks.push(Number(t.toPrecision(6)));
  return ticks;
}

/** 1, 2 and 5 times each power of ten between `min` and `max`. */
function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = min; decade < max; decade *= 10) {
    for (const m of [1, 2, 5]) ticks.push(Number((m * decade).toPrecision(6)));
  }
  ticks.push(Number(max.toPrecision(6)));
  return ticks;
}

/** The middle of the nearest pixel, so a 1-pixel line is drawn sharp and as light as asked. */
function crisp(v: number): number {
  return Math.floor(v) + 0.5;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
