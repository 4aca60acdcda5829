/**
 * The SID health report: the numbers that say whether a set of semantic IDs is usable before
 * anyone spends hours training on it.
 *
 * - uniqueness, natural (as quantised) and final (after collision resolution): the paper's
 *   headline health metric (≥ 99% natural for good configurations);
 * - per level: codebook utilisation (used codes / K) and perplexity (exp of the entropy of the
 *   code distribution; K when codes are used uniformly, 1 when one code takes everything) —
 *   a collapsed level wastes tokens the LM must learn;
 * - reconstruction error relative to the data's variance: how much of the embedding the codes
 *   keep (1 = no better than the mean vector);
 * - the largest collision groups, to eyeball what the quantiser could not separate;
 * - prefix ↔ category alignment: purity and normalised mutual information between the first
 *   code(s) and the catalogue's category levels. Semantic IDs are supposed to be *semantic*:
 *   items under one prefix should mostly share a category.
 *
 * Field names are snake_case because the report is written into the SID map JSON.
 */
import type { Matrix } from "./matrix.js";
import type { CodeTable } from "./quantiser.js";
import { collisionGroups, uniqueness, type CollisionGroup } from "./collisions.js";

export interface LevelStats {
  level: number;
  used_codes: number;
  utilisation: number;
  perplexity: number;
}

export interface AlignmentStats {
  /** How many leading code levels form the cluster label (1 = the first code). */
  code_prefix: number;
  /** Index into each item's category path. */
  category_depth: number;
  /** Distinct categories at that depth. */
  categories: number;
  /** Items that have a category at that depth (the others are left out). */
  items: number;
  purity: number;
  nmi: number;
}

export interface SidReport {
  items: number;
  levels: number;
  codebook_size: number;
  natural_uniqueness: number;
  final_uniqueness: number;
  moved_items: number;
  /** Per-level stats of the natural (quantiser's) codes. */
  per_level: LevelStats[];
  reconstruction?: { mse: number; variance: number; relative: number };
  /** Of the natural codes: what the quantiser could not separate. */
  largest_collision_groups: CollisionGroup[];
  /** Of the final codes: what the LM will see. */
  category_alignment: AlignmentStats[];
}

export interface ReportInput {
  /** The quantiser's codes, before collision resolution. */
  natural: CodeTable;
  /** The codes after collision resolution. */
  final: CodeTable;
  /** The embeddings and their reconstruction from the natural codes (both or neither). */
  x?: Matrix;
  reconstruction?: Matrix;
  /** Each item's category path, most general first. */
  categories?: readonly (readonly string[])[];
  /** How many collision groups to list. Default 10. */
  groupLimit?: number;
}

export function buildReport(input: ReportInput): SidReport {
  const { natural, final } = input;
  const moved = countDifferent(natural, final);
  const report: SidReport = {
    items: natural.n,
    levels: natural.levels,
    codebook_size: natural.codebookSize,
    natural_uniqueness: uniqueness(natural),
    final_uniqueness: uniqueness(final),
    moved_items: moved,
    per_level: Array.from({ length: natural.levels }, (_, l) => levelStats(natural, l)),
    largest_collision_groups: collisionGroups(natural, input.groupLimit ?? 10),
    category_alignment: input.categories ? categoryAlignment(final, input.categories) : [],
  };
  if (input.x && input.reconstruction) report.reconstruction = reconstructionError(input.x, input.reconstruction);
  return report;
}

function countDifferent(a: CodeTable, b: CodeTable): number {
  let moved = 0;
  for (let i = 0; i < a.n; i++) {
    for (let l = 0; l < a.levels; l++) {
      if (a.codes[i * a.levels + l] !== b.codes[i * b.levels + l]) {
        moved++;
        break;
      }
    }
  }
  return moved;
}

/** Utilisation and perplexity of one level's codes. */
export function levelStats(t: CodeTable, level: number): LevelStats {
  const counts = new Map<number, number>();
  for (let i = 0; i < t.n; i++) {
    const c = t.codes[i * t.levels + level]!;
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  return {
    level,
    used_codes: counts.size,
    utilisation: counts.size / t.codebookSize,
    perplexity: Math.exp(entropy(counts.values(), t.n)),
  };
}

/** Shannon entropy (nats) of a distribution given by counts summing to `total`. */
export function entropy(counts: Iterable<number>, total: number): number {
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / total) * Math.log(c / total);
  return h;
}

/** Mean squared reconstruction error and its ratio to the data's variance (mean ‖x − x̄‖²). */
export function reconstructionError(x: Matrix, xhat: Matrix): { mse: number; variance: number; relative: number } {
  if (x.rows !== xhat.rows || x.cols !== xhat.cols) {
    throw new Error(`reconstructionError: ${x.rows}×${x.cols} vs ${xhat.rows}×${xhat.cols}`);
  }
  const { rows: n, cols: d } = x;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x.data[i * d + j]! / n;
  let se = 0, sv = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = x.data[i * d + j]!;
      se += (v - xhat.data[i * d + j]!) ** 2;
      sv += (v - mean[j]!) ** 2;
    }
  }
  const mse = n === 0 ? 0 : se / n, variance = n === 0 ? 0 : sv / n;
  return { mse, variance, relative: variance > 0 ? mse / variance : 0 };
}

/**
 * Purity and NMI of code prefixes (length 1 and 2) against the first two informative category
 * depths. Leading depths where every item has the same category (Amazon's "Beauty" root) say
 * nothing and are skipped.
 */
export function categoryAlignment(t: CodeTable, categories: readonly (readonly string[])[]): AlignmentStats[] {
  if (categories.length !== t.n) throw new Error(`categoryAlignment: ${categories.length} category paths for ${t.n} items`);
  const maxDepth = categories.reduce((m, c) => Math.max(m, c.length), 0);
  const informative: number[] = [];
  for (let depth = 0; depth < maxDepth && informative.length < 2; depth++) {
    const values = new Set(categories.map((c) => c[depth]).filter((v) => v !== undefined));
    if (values.size > 1) informative.push(depth);
  }
  const out: AlignmentStats[] = [];
  for (let prefix = 1; prefix <= Math.min(2, t.levels); prefix++) {
    const clusterOf = (i: number) => Array.from(t.codes.subarray(i * t.levels, i * t.levels + prefix)).join(",");
    for (const depth of informative) {
      const pairs: [string, string][] = [];
      for (let i = 0; i < t.n; i++) {
        const c = categories[i]![depth];
        if (c !== undefined) pairs.push([clusterOf(i), c]);
      }
      out.push({ code_prefix: prefix, category_depth: depth, ...purityAndNmi(pairs) });
    }
  }
  return out;
}

/**
 * Purity = Σ_clusters (size of the cluster's majority class) / N.
 * NMI = 2·I(C; Y) / (H(C) + H(Y)) (the "arithmetic" normalisation, scikit-learn's default);
 * 1 when clusters and classes determine each other, 0 when independent.
 */
export function purityAndNmi(pairs: readonly [string, string][]): { categories: number; items: number; purity: number; nmi: number } {
  const n = pairs.length;
  const joint = new Map<string, Map<string, number>>();
  const classCounts = new Map<string, number>();
  for (const [c, y] of pairs) {
    let m = joint.get(c);
    if (!m) joint.set(c, (m = new Map()));
    m.set(y, (m.get(y) ?? 0) + 1);
    classCounts.set(y, (classCounts.get(y) ?? 0) + 1);
  }
  if (n === 0) return { categories: 0, items: 0, purity: 0, nmi: 0 };
  let majority = 0, mi = 0;
  const clusterSizes: number[] = [];
  for (const m of joint.values()) {
    let size = 0, best = 0;
    for (const v of m.values()) {
      size += v;
      best = Math.max(best, v);
    }
    majority += best;
    clusterSizes.push(size);
    for (const [y, v] of m) mi += (v / n) * Math.log((v * n) / (size * classCounts.get(y)!));
  }
  const hc = entropy(clusterSizes, n), hy = entropy(classCounts.values(), n);
  return { categories: classCounts.size, items: n, purity: majority / n, nmi: hc + hy > 0 ? (2 * mi) / (hc + hy) : 1 };
}
