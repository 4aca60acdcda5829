/**
 * A chart as a flat list of shapes in pixel coordinates (y grows downwards), rendered to SVG
 * by svg.ts and to PNG by png.ts. Keeping charts as data rather than SVG strings is what lets
 * one chart have two renderers, and lets tests look at what was drawn.
 */

export type Anchor = "start" | "middle" | "end";

export type Shape =
  | { kind: "rect"; x: number; y: number; w: number; h: number; fill: string; title?: string }
  | { kind: "line"; x1: number; y1: number; x2: number; y2: number; stroke: string; width: number; dash?: boolean }
  | { kind: "text"; x: number; y: number; text: string; size: number; fill: string; anchor: Anchor; bold?: boolean; vertical?: boolean };

export interface Scene {
  width: number;
  height: number;
  background: string;
  /** Alternative text for the whole picture (SVG <title>). */
  title: string;
  shapes: Shape[];
}

/** A colour-blind-safe palette (Okabe & Ito 2008), grey first for "the reference". */
export const PALETTE = ["#999999", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442"];
export const INK = "#222222";
export const GRID = "#e5e5e5";

/** "Nice" axis ticks covering [lo, hi]: steps of 1, 2 or 5 × 10^k, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9))!;
  const start = Math.floor(lo / step + 1e-9) * step; // 1e-9: -0.05 / 0.05 must not floor to -2
  const ticks: number[] = [];
  for (let t = start; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

/** Short tick labels: 0.25, 0.3, 1.5k. */
export function formatTick(x: number): string {
  if (Math.abs(x) >= 1000) return `${Number((x / 1000).toPrecision(3))}k`;
  return String(Number(x.toPrecision(3)));
}

/** Approximate width of a text in pixels (for layout; both renderers stay within it). */
export function textWidth(text: string, size: number): number {
  return text.length * size * 0.6;
}
