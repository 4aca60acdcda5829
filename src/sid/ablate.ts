/**
 * `gr2 sid ablate`: the *shape* of the GR2 paper's RQ-VAE ablation, re-run on our embeddings.
 * Every configuration trains the same RQ-VAE (same embeddings, architecture, epochs, seed) and
 * differs only in its codebook-utilisation techniques:
 *
 *   none                      gradient codebooks, every level learned
 *   +EMA                      EMA codebook updates (γ)
 *   +EMA +random last         … and the last level assigned uniformly at random   ← the base
 *   base +diversity           … plus the diversity loss (λ)
 *   base +dead-code reset     … plus dead-code reset (τ batches)
 *   base +contrastive         … plus InfoNCE over co-interacted train pairs (λ)
 *
 * The last three each add one technique to the base, so their Δ against it reads like the
 * paper's (diversity +0.6, dead-code reset −4.0, contrastive −13.2 points of uniqueness).
 * Uniqueness is *natural* (before collision resolution): resolution always reaches 100%, so
 * only the natural figure says how well the quantiser separates items by itself.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import type { Matrix } from "./matrix.js";
import { uniqueness } from "./collisions.js";
import { levelStats, reconstructionError } from "./report.js";
import { RqVae, type RqVaeOptions } from "./rqvae.js";
import { resolveRqVaeOptions } from "./rqvae-options.js";

/** How strongly each technique is applied when it is on. */
export interface TechniqueStrengths {
  gamma: number;
  diversity: number;
  deadCodeTau: number;
  contrastive: number;
}

export const DEFAULT_STRENGTHS: TechniqueStrengths = { gamma: 0.99, diversity: 0.1, deadCodeTau: 20, contrastive: 0.1 };

export interface AblationConfig {
  name: string;
  /** What the paper reports for this configuration (its data and model, for the shape only). */
  paper: string;
  options: (s: TechniqueStrengths) => RqVaeOptions;
}

const base = (s: TechniqueStrengths): RqVaeOptions => ({ ema: true, gamma: s.gamma, randomLastLevels: 1 });

/** The name of the row the last three are compared against. */
export const BASE_ROW = "+EMA +random last level";

export const ABLATION_CONFIGS: readonly AblationConfig[] = [
  { name: "none", paper: "31.3%", options: () => ({ ema: false, randomLastLevels: 0 }) },
  { name: "+EMA", paper: "97.5%", options: (s) => ({ ema: true, gamma: s.gamma, randomLastLevels: 0 }) },
  { name: BASE_ROW, paper: "used by every ≥ 99% config", options: base },
  { name: "base +diversity", paper: "+0.6", options: (s) => ({ ...base(s), diversity: s.diversity }) },
  { name: "base +dead-code reset", paper: "−4.0", options: (s) => ({ ...base(s), deadCodeTau: s.deadCodeTau }) },
  { name: "base +contrastive", paper: "−13.2 (better recs)", options: (s) => ({ ...base(s), contrastive: s.contrastive }) },
];

export interface AblationRow {
  name: string;
  paper: string;
  options: Record<string, unknown>;
  natural_uniqueness: number;
  /** Natural uniqueness minus the base row's, in percentage points (rows after the base). */
  delta_vs_base: number | null;
  used_codes: number[];
  utilisation: number[];
  perplexity: number[];
  reconstruction_relative: number;
  dead_code_resets: number;
  steps: number;
  seconds: number;
}

export interface AblationResult {
  items: number;
  embedding_dim: number;
  levels: number;
  codebook_size: number;
  /** The shared training budget and settings (everything but the techniques). */
  shared: Record<string, unknown>;
  strengths: TechniqueStrengths;
  rows: AblationRow[];
}

export interface AblationOptions {
  /** Budget and architecture shared by every row (epochs, batch size, levels, K, seed…). */
  shared?: RqVaeOptions;
  strengths?: Partial<TechniqueStrengths>;
  /** TRAIN split sequences, for the contrastive row. */
  trainSequences?: readonly (readonly number[])[];
  /** Which configurations to run (names); default all. */
  only?: readonly string[];
  onRow?: (row: AblationRow) => void;
}

export async function runAblation(x: Matrix, opts: AblationOptions = {}): Promise<AblationResult> {
  const strengths: TechniqueStrengths = { ...DEFAULT_STRENGTHS, ...definedOnly(opts.strengths ?? {}) };
  // The techniques belong to the rows: a shared setting must not switch one on everywhere.
  const { ema: _e, gamma: _g, randomLastLevels: _r, diversity: _d, deadCodeTau: _t, contrastive: _c, onProgress: _p, trainSequences: _s, ...shared } =
    opts.shared ?? {};
  const configs = ABLATION_CONFIGS.filter((c) => !opts.only || opts.only.includes(c.name));
  const rows: AblationRow[] = [];
  let levels = 0, codebookSize = 0;
  for (const config of configs) {
    const options = { ...shared, ...config.options(strengths) };
    const started = performance.now();
    const fit = await new RqVae({ ...options, trainSequences: opts.trainSequences }).fit(x);
    ({ levels, codebookSize } = fit.codes);
    const stats = Array.from({ length: levels }, (_, l) => levelStats(fit.codes, l));
    const row: AblationRow = {
      name: config.name,
      paper: config.paper,
      options,
      natural_uniqueness: uniqueness(fit.codes),
      delta_vs_base: null,
      used_codes: stats.map((l) => l.used_codes),
      utilisation: stats.map((l) => l.utilisation),
      perplexity: stats.map((l) => l.perplexity),
      reconstruction_relative: reconstructionError(x, fit.model.decode(fit.codes)).relative,
      dead_code_resets: fit.stats.resets.reduce((a, b) => a + b, 0),
      steps: fit.stats.steps,
      seconds: (performance.now() - started) / 1000,
    };
    const baseRow = rows.find((r) => r.name === BASE_ROW);
    if (baseRow) row.delta_vs_base = 100 * (row.natural_uniqueness - baseRow.natural_uniqueness);
    rows.push(row);
    opts.onRow?.(row);
  }
  // Report the budget as trained (defaults filled in), not just what the caller overrode.
  const r = resolveRqVaeOptions(shared);
  return {
    items: x.rows,
    embedding_dim: x.cols,
    levels,
    codebook_size: codebookSize,
    shared: {
      epochs: r.epochs, batch_size: r.batchSize, learning_rate: r.learningRate, beta: r.beta, hidden_dims: r.hiddenDims,
      latent_dim: r.latentDim, codebook_init: r.codebookInit, seed: r.seed,
    },
    strengths,
    rows,
  };
}

/** The table as Markdown: one row per configuration, per-level figures joined with " / ". */
export function ablationMarkdown(r: AblationResult, title = "RQ-VAE ablation"): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const lines = [
    `# ${title}`,
    "",
    `${r.items} items, embeddings d=${r.embedding_dim}, ${r.levels} levels × ${r.codebook_size} codes; ` +
      `shared: ${JSON.stringify(r.shared)}; strengths: γ=${r.strengths.gamma}, diversity λ=${r.strengths.diversity}, ` +
      `dead-code τ=${r.strengths.deadCodeTau} batches, contrastive λ=${r.strengths.contrastive}.`,
    "",
    "| configuration | natural uniqueness | Δ vs base (pts) | paper | utilisation per level | perplexity per level | reconstruction (rel.) | resets | seconds |",
    "|---|---:|---:|---|---|---|---:|---:|---:|",
  ];
  for (const row of r.rows) {
    const delta = row.delta_vs_base === null ? "" : `${row.delta_vs_base >= 0 ? "+" : "−"}${Math.abs(row.delta_vs_base).toFixed(2)}`;
    lines.push(
      `| ${row.name} | ${pct(row.natural_uniqueness)} | ${delta} | ${row.paper} | ${row.utilisation.map((u) => u.toFixed(3)).join(" / ")} | ` +
        `${row.perplexity.map((p) => p.toFixed(1)).join(" / ")} | ${row.reconstruction_relative.toFixed(3)} | ${row.dead_code_resets} | ${row.seconds.toFixed(1)} |`,
    );
  }
  lines.push(
    "",
    "Natural uniqueness is before collision resolution (which always ends at 100%). Reconstruction is the mean squared error " +
      "of the decoded embedding relative to the embeddings' variance (1 = no better than the mean). The random last level has " +
      "no codebook, so its utilisation/perplexity measure the hash, not learning. Paper figures are from its own data and model.",
  );
  return `${lines.join("\n")}\n`;
}

/** Writes `ablation.md` and `ablation.json` into `dir`, each atomically. */
export function writeAblation(dir: string, r: AblationResult, title?: string): { markdown: string; json: string } {
  const markdown = join(dir, "ablation.md"), json = join(dir, "ablation.json");
  writeFileAtomic(markdown, ablationMarkdown(r, title));
  writeFileAtomic(json, `${JSON.stringify(r, null, 2)}\n`);
  return { markdown, json };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
