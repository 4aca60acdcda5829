/**
 * Evaluation reports: one folder with
 *
 *   report.json      every number, with intervals, seeds and the machine (for tools)
 *   report.md        the same as tables a person reads, with the charts embedded
 *   metrics.svg      re-rank metrics per method with 95% intervals
 *   differences.svg  paired differences against the incoming order
 *   positions.svg    where the target sits before and after re-ranking, per method
 *   *.png            the same charts as PNG (png.ts), for viewers without SVG
 *
 * Every file is written atomically (temp file + rename).
 */
import { cpus } from "node:os";
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { significance, type Interval } from "./bootstrap.js";
import { groupedBars, positionPanels } from "./charts.js";
import type { FullMetric, RerankEvaluation } from "./evaluate.js";
import { RERANK_METRICS } from "../rank/metrics.js";
import { sceneToPng } from "./png.js";
import { PALETTE, type Scene } from "./scene.js";
import { sceneToSvg } from "./svg.js";

export interface UpstreamSummary {
  ranker: string;
  split: string;
  users: number;
  metrics: Record<FullMetric, Interval>;
  /** Published reference figures to compare against, when known. */
  reference?: { source: string; metrics: Partial<Record<FullMetric, number>> };
}

export interface EvalReport {
  title: string;
  dataset: string;
  createdAt: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string };
  /** Every seed that influenced a number (data, training, bootstrap, random baseline). */
  seeds: Record<string, number>;
  upstream?: UpstreamSummary;
  /** How the lists were made, and the target's incoming position per split. */
  candidates?: { source: string; negatives?: string; rankPre: Record<string, number[]> };
  rerank: RerankEvaluation;
  /** Commands that reproduce the report. */
  commands?: string[];
  notes: string[];
  extra?: Record<string, unknown>;
}

export function machineInfo(): EvalReport["machine"] {
  const c = cpus();
  return { cpus: c.length, cpuModel: c[0]?.model ?? "unknown", node: process.version, platform: `${process.platform}-${process.arch}` };
}

/** Writes the report folder; returns the files written. */
export function writeReport(dir: string, report: EvalReport, { png = true } = {}): string[] {
  const charts = reportCharts(report);
  const files: string[] = [];
  const write = (name: string, data: string | Uint8Array) => {
    writeFileAtomic(join(dir, name), data);
    files.push(join(dir, name));
  };
  for (const [name, scene] of Object.entries(charts)) {
    write(`${name}.svg`, sceneToSvg(scene));
    if (png) write(`${name}.png`, sceneToPng(scene));
  }
  write("report.md", reportMarkdown(report, Object.keys(charts)));
  writeJsonAtomic(join(dir, "report.json"), report);
  files.push(join(dir, "report.json"));
  return files;
}

export function reportCharts(report: EvalReport): Record<string, Scene> {
  const r = report.rerank;
  const metrics = [...RERANK_METRICS];
  const others = r.methods.filter((m) => m.name !== "incoming");
  const ci = `${Math.round(r.bootstrap.confidence * 100)}%`;
  // One colour per method across charts; the incoming order is grey (PALETTE[0]).
  const colour = (name: string) => PALETTE[r.methods.findIndex((m) => m.name === name) % PALETTE.length]!;
  return {
    metrics: groupedBars(
      `Re-ranking on ${report.dataset} (${r.split}, ${r.users} users, ${ci} intervals)`,
      metrics,
      r.methods.map((m) => ({ name: m.name, values: metrics.map((k) => m.metrics[k]), colour: colour(m.name) })),
      { yLabel: "metric value" },
    ),
    differences: groupedBars(
      `Paired difference against the incoming order (${ci} intervals)`,
      metrics,
      others.map((m) => ({ name: m.name, values: metrics.map((k) => m.vsIncoming[k]), colour: colour(m.name) })),
      { yLabel: "method − incoming" },
    ),
    positions: positionPanels(
      `Where the target sits, before and after re-ranking (${r.split})`,
      others.map((m) => ({ name: m.name, before: r.incomingPositions, after: m.positions })),
    ),
  };
}

const f4 = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : "–");
const withCi = (i: Interval): string => `${f4(i.mean)} [${f4(i.lo)}, ${f4(i.hi)}]`;
const signed = (x: number): string => (x >= 0 ? `+${f4(x)}` : f4(x));
const diff = (i: Interval): string => `${signed(i.mean)} [${signed(i.lo)}, ${signed(i.hi)}]${["▼", "", "▲"][significance(i) + 1]}`;

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

export function reportMarkdown(report: EvalReport, charts: string[] = []): string {
  const r = report.rerank;
  const ci = `${Math.round(r.bootstrap.confidence * 100)}%`;
  const out: string[] = [];
  out.push(`# ${report.title}`, "");
  out.push(
    `Dataset **${report.dataset}**, ${r.split} lists of K = ${r.listSize}, **${r.users.toLocaleString("en-US")} users**. ` +
      `${ci} percentile bootstrap intervals over users (${r.bootstrap.samples} resamples, seed ${r.bootstrap.seed}); ` +
      `differences are paired (the same resampled users for both methods). Seeds: ${Object.entries(report.seeds).map(([k, v]) => `${k} ${v}`).join(", ")}. ` +
      `Machine: ${report.machine.cpus} × ${report.machine.cpuModel}, Node ${report.machine.node}. Written ${report.createdAt}.`,
    "",
  );
  if (report.upstream) {
    const u = report.upstream;
    out.push(`## Upstream ranker: ${u.ranker}, full ranking over all items (${u.split}, ${u.users.toLocaleString("en-US")} users)`, "");
    const keys = Object.keys(u.metrics) as FullMetric[];
    const rows = [[u.ranker, ...keys.map((k) => withCi(u.metrics[k]))]];
    if (u.reference) {
      rows.push([u.reference.source, ...keys.map((k) => (u.reference!.metrics[k] === undefined ? "–" : f4(u.reference!.metrics[k]!)))]);
      rows.push(["ratio (ours / reference)", ...keys.map((k) => (u.reference!.metrics[k] ? (u.metrics[k].mean / u.reference!.metrics[k]!).toFixed(2) : "–"))]);
    }
    out.push(table(["", ...keys], rows), "");
  }
  if (report.candidates) {
    const c = report.candidates;
    out.push(`## Candidate lists`, "", `Source: ${c.source}${c.negatives ? `; negatives: ${c.negatives}` : ""}. Where the target sits in the incoming order:`, "");
    const K = r.listSize;
    out.push(
      table(
        ["split", ...Array.from({ length: K }, (_, k) => `@${k + 1}`)],
        Object.entries(c.rankPre).map(([s, h]) => {
          const total = h.reduce((a, b) => a + b, 0) || 1;
          return [s, ...h.map((x) => `${((100 * x) / total).toFixed(1)}%`)];
        }),
      ),
      "",
    );
  }
  out.push(`## Re-ranking metrics (${r.split})`, "");
  out.push(table(["method", ...RERANK_METRICS], r.methods.map((m) => [m.name, ...RERANK_METRICS.map((k) => withCi(m.metrics[k]))])), "");
  out.push(`## Paired differences against the incoming order`, "", `▲ / ▼: the ${ci} interval lies entirely above / below zero.`, "");
  out.push(table(["method", ...RERANK_METRICS], r.methods.filter((m) => m.name !== "incoming").map((m) => [m.name, ...RERANK_METRICS.map((k) => diff(m.vsIncoming[k]))])), "");
  if (r.graded) {
    const g = r.graded;
    out.push(`## Graded NDCG@5 (several positives)`, "", `${g.lists} of ${r.users} lists carry grades, ${g.positives} positives a list on average; gains 2^g − 1 (docs/candidates-format.md).`, "");
    const rows = r.methods.filter((m) => m.graded).map((m) => [m.name, withCi(m.graded!["ndcg@5"]), m.name === "incoming" ? "" : diff(m.graded!.vsIncoming)]);
    out.push(table(["method", "graded NDCG@5", "vs incoming"], rows), "");
  }
  out.push(`## Target position after re-ranking (share of users)`, "");
  out.push(
    table(
      ["method", ...Array.from({ length: r.listSize }, (_, k) => `@${k + 1}`)],
      [{ name: "incoming (before)", positions: r.incomingPositions }, ...r.methods.filter((m) => m.name !== "incoming")].map((m) => [
        m.name,
        ...m.positions.map((x) => `${((100 * x) / r.users).toFixed(1)}%`),
      ]),
    ),
    "",
  );
  out.push(`Scoring time per method: ${r.methods.map((m) => `${m.name} ${m.seconds.toFixed(2)} s`).join(", ")}.`, "");
  for (const name of charts) out.push(`![${name}](${name}.svg)`, "");
  if (report.notes.length) out.push(`## Notes`, "", ...report.notes.map((n) => `- ${n}`), "");
  if (report.commands?.length) out.push(`## Reproduce`, "", "```sh", ...report.commands, "```", "");
  return out.join("\n");
}
