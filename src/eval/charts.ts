/**
 * The report's charts, as scenes (scene.ts):
 *
 * - `groupedBars`: one group per metric, one bar per method, each with its confidence
 *   interval as an error bar; negative values (paired differences) hang below a zero line.
 * - `positionPanels`: one small panel per method, the share of users whose target ends at each
 *   position 1..K, before (the incoming order, grey) and after re-ranking (colour).
 */
import type { Interval } from "./bootstrap.js";
import { formatTick, GRID, INK, niceTicks, PALETTE, textWidth, type Scene, type Shape } from "./scene.js";

export interface BarSeries {
  name: string;
  /** One value per group, with its interval. */
  values: Interval[];
  colour?: string;
}

const FONT = 12;

export function groupedBars(title: string, groups: readonly string[], series: readonly BarSeries[], { yLabel = "", width = 860, height = 420 } = {}): Scene {
  const shapes: Shape[] = [];
  const legendRows = Math.ceil(series.length / 4);
  const top = 40 + legendRows * 18;
  const left = 64;
  const right = 16;
  const bottom = 44;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const all = series.flatMap((s) => s.values.flatMap((v) => [v.lo, v.hi, v.mean])).filter(Number.isFinite);
  const ticks = niceTicks(Math.min(0, ...all), Math.max(0, ...all), 5);
  const yMin = ticks[0]!;
  const yMax = ticks[ticks.length - 1]!;
  const y = (v: number) => top + plotH * (1 - (v - yMin) / (yMax - yMin));

  shapes.push({ kind: "text", x: width / 2, y: 22, text: title, size: 15, fill: INK, anchor: "middle", bold: true });
  series.forEach((s, i) => {
    const col = i % 4;
    const row = Math.floor(i / 4);
    const x = left + col * (plotW / 4);
    const yy = 34 + row * 18;
    shapes.push({ kind: "rect", x, y: yy, w: 12, h: 12, fill: colourOf(s, i) });
    shapes.push({ kind: "text", x: x + 18, y: yy + 10, text: s.name, size: FONT, fill: INK, anchor: "start" });
  });
  for (const t of ticks) {
    shapes.push({ kind: "line", x1: left, y1: y(t), x2: left + plotW, y2: y(t), stroke: GRID, width: 1 });
    shapes.push({ kind: "text", x: left - 6, y: y(t) + 4, text: formatTick(t), size: FONT - 1, fill: INK, anchor: "end" });
  }
  if (yLabel) shapes.push({ kind: "text", x: 16, y: top + plotH / 2, text: yLabel, size: FONT, fill: INK, anchor: "middle", vertical: true });

  const groupW = plotW / Math.max(1, groups.length);
  const barW = Math.min(36, (groupW * 0.8) / Math.max(1, series.length));
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (!v || !Number.isFinite(v.mean)) return;
      const x = x0 + si * barW;
      const y0 = y(0);
      const yv = y(v.mean);
      shapes.push({ kind: "rect", x: x + 1, y: Math.min(y0, yv), w: barW - 2, h: Math.max(1, Math.abs(y0 - yv)), fill: colourOf(s, si), title: `${s.name} ${g}: ${v.mean.toFixed(4)} [${v.lo.toFixed(4)}, ${v.hi.toFixed(4)}]` });
      const cx = x + barW / 2;
      shapes.push({ kind: "line", x1: cx, y1: y(v.lo), x2: cx, y2: y(v.hi), stroke: INK, width: 1.5 });
      shapes.push({ kind: "line", x1: cx - 4, y1: y(v.lo), x2: cx + 4, y2: y(v.lo), stroke: INK, width: 1.5 });
      shapes.push({ kind: "line", x1: cx - 4, y1: y(v.hi), x2: cx + 4, y2: y(v.hi), stroke: INK, width: 1.5 });
    });
    shapes.push({ kind: "text", x: left + gi * groupW + groupW / 2, y: top + plotH + 18, text: g, size: FONT, fill: INK, anchor: "middle" });
  });
  shapes.push({ kind: "line", x1: left, y1: y(0), x2: left + plotW, y2: y(0), stroke: INK, width: 1 });
  shapes.push({ kind: "line", x1: left, y1: top, x2: left, y2: top + plotH, stroke: INK, width: 1 });
  return { width, height, background: "#ffffff", title, shapes };
}

export interface PositionPanel {
  name: string;
  before: readonly number[];
  after: readonly number[];
}

export function positionPanels(title: string, panels: readonly PositionPanel[], { columns = 3, panelW = 300, panelH = 200 } = {}): Scene {
  const shapes: Shape[] = [];
  const cols = Math.min(columns, Math.max(1, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const header = 56;
  const width = cols * panelW;
  const height = header + rows * panelH;
  shapes.push({ kind: "text", x: width / 2, y: 22, text: title, size: 15, fill: INK, anchor: "middle", bold: true });
  shapes.push({ kind: "rect", x: 16, y: 32, w: 12, h: 12, fill: PALETTE[0]! });
  shapes.push({ kind: "text", x: 34, y: 42, text: "incoming order (before)", size: FONT, fill: INK, anchor: "start" });
  const afterX = 34 + textWidth("incoming order (before)", FONT) + 24;
  shapes.push({ kind: "rect", x: afterX, y: 32, w: 12, h: 12, fill: PALETTE[1]! });
  shapes.push({ kind: "text", x: afterX + 18, y: 42, text: "after re-ranking", size: FONT, fill: INK, anchor: "start" });

  const shares = (counts: readonly number[]) => {
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    return counts.map((c) => c / total);
  };
  const maxShare = Math.max(...panels.flatMap((p) => [...shares(p.before), ...shares(p.after)]), 0.01);
  const ticks = niceTicks(0, maxShare, 4);
  const yMax = ticks[ticks.length - 1]!;
  panels.forEach((p, i) => {
    const ox = (i % cols) * panelW;
    const oy = header + Math.floor(i / cols) * panelH;
    const left = ox + 44;
    const top = oy + 22;
    const plotW = panelW - 56;
    const plotH = panelH - 52;
    const y = (v: number) => top + plotH * (1 - v / yMax);
    shapes.push({ kind: "text", x: left + plotW / 2, y: oy + 14, text: p.name, size: FONT + 1, fill: INK, anchor: "middle", bold: true });
    for (const t of ticks) {
      shapes.push({ kind: "line", x1: left, y1: y(t), x2: left + plotW, y2: y(t), stroke: GRID, width: 1 });
      shapes.push({ kind: "text", x: left - 4, y: y(t) + 4, text: `${Math.round(t * 100)}%`, size: FONT - 2, fill: INK, anchor: "end" });
    }
    const K = p.before.length;
    const slot = plotW / K;
    const before = shares(p.before);
    const after = shares(p.after);
    for (let k = 0; k < K; k++) {
      const x = left + k * slot;
      const w = slot * 0.4;
      shapes.push({ kind: "rect", x: x + slot * 0.1, y: y(before[k]!), w, h: Math.max(0, y(0) - y(before[k]!)), fill: PALETTE[0]!, title: `before, position ${k + 1}: ${(100 * before[k]!).toFixed(1)}%` });
      shapes.push({ kind: "rect", x: x + slot * 0.5, y: y(after[k]!), w, h: Math.max(0, y(0) - y(after[k]!)), fill: PALETTE[1]!, title: `after, position ${k + 1}: ${(100 * after[k]!).toFixed(1)}%` });
      shapes.push({ kind: "text", x: x + slot / 2, y: top + plotH + 14, text: String(k + 1), size: FONT - 2, fill: INK, anchor: "middle" });
    }
    shapes.push({ kind: "line", x1: left, y1: y(0), x2: left + plotW, y2: y(0), stroke: INK, width: 1 });
    shapes.push({ kind: "text", x: left + plotW / 2, y: top + plotH + 28, text: "position of the target", size: FONT - 2, fill: INK, anchor: "middle" });
  });
  return { width, height, background: "#ffffff", title, shapes };
}

const colourOf = (s: BarSeries, i: number): string => s.colour ?? PALETTE[i % PALETTE.length]!;
