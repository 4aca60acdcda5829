/**
 * The context compressor (technical report §5.1): the part of a re-ranking prompt that grows
 * with the user, the purchase history and the evidence counted against it, rewritten into fewer
 * tokens before the re-ranker reads it.
 *
 * The report's compressor is an LLM that writes a shorter text. At this package's embedded
 * scale (4M-parameter models that cannot paraphrase) the rewrite is extractive plus a summary:
 * a learned policy keeps some history items, shown as in the full prompt and the only anchors
 * the candidates' evidence is counted against, and folds the others into one line (how many,
 * their most frequent category and brand). What is learned is the choice, and it is what
 * decides how much ranking evidence survives: keep the item the candidates were co-bought
 * after, drop the old one nothing on the list relates to.
 *
 * The policy is logistic over each history item's features against this list's candidates,
 *
 *     π(keep_j | list) = σ(w · φ_j),    φ_j = COMPRESSOR_FEATURES below,
 *
 * trained by RL on the report's judge reward (src/reward/compress.ts, src/train/compress.ts).
 * Prompts (training, evaluation, serving) keep its mode: the items with π ≥ 0.5, and at least
 * the most probable one, so a list is never left without history.
 */
import { categoryKey } from "../data/text.js";
import type { Item } from "../data/types.js";
import type { EvidenceSource } from "../rank/evidence/features.js";
import type { Withheld } from "../rank/evidence/train-index.js";

/** φ_j, in this order; weights files name them, so a reordering cannot go unnoticed. */
export const COMPRESSOR_FEATURES = ["bias", "last", "recent3", "age", "cobuy_sum", "cobuy_max", "same_category", "same_brand", "popularity"] as const;

export interface CompressorWeights {
  features: string[];
  weights: number[];
}

/** A compressed history: which items stay (positions in the history, ascending) and what the rest were. */
export interface CompressedHistory {
  kept: number[];
  summary: HistorySummary | null;
}

/** The dropped items in one line: their number and most frequent leaf category and brand. */
export interface HistorySummary {
  count: number;
  category: string | null;
  brand: string | null;
}

/** The initial policy: keep the last three items and nothing else (what a hand-written rule would do). */
export function initialCompressor(): CompressorWeights {
  const w: Record<string, number> = { bias: -3, recent3: 6 };
  return { features: [...COMPRESSOR_FEATURES], weights: COMPRESSOR_FEATURES.map((f) => w[f] ?? 0) };
}

export function parseCompressorWeights(v: unknown, where: string): CompressorWeights {
  const o = v as Partial<CompressorWeights> | null;
  if (!o || !Array.isArray(o.features) || !Array.isArray(o.weights)) throw new Error(`${where}: a compressor needs "features" and "weights" arrays`);
  if (o.features.length !== COMPRESSOR_FEATURES.length || o.features.some((f, i) => f !== COMPRESSOR_FEATURES[i])) {
    throw new Error(`${where}: compressor features must be ${COMPRESSOR_FEATURES.join(", ")}, got ${o.features.join(", ")}`);
  }
  if (o.weights.length !== o.features.length || o.weights.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
    throw new Error(`${where}: compressor "weights" must be ${o.features.length} finite numbers`);
  }
  return { features: [...o.features], weights: [...o.weights] };
}

/** φ_j for every history item (oldest first) against the list's candidates, from the train split's statistics. */
export function historyFeatures(source: EvidenceSource, history: readonly number[], candidates: readonly number[], withheld?: Withheld): Float64Array[] {
  const n = history.length;
  const cat = (i: number) => categoryKey(source.items[i]!);
  const brand = (i: number) => source.items[i]!.brand ?? "";
  const K = Math.max(1, candidates.length);
  const candidateCats = candidates.map(cat);
  const candidateBrands = candidates.map(brand);
  return history.map((h, j) => {
    let sum = 0;
    let max = 0;
    for (const c of candidates) {
      const m = source.train.coPurchase(h, c, withheld);
      sum += m;
      if (m > max) max = m;
    }
    const hc = cat(h);
    const hb = brand(h);
    const age = n - 1 - j;
    return Float64Array.of(
      1,
      age === 0 ? 1 : 0,
      age < 3 ? 1 : 0,
      Math.min(age, 20) / 20,
      Math.log1p(sum),
      Math.log1p(max),
      hc ? candidateCats.filter((c) => c === hc).length / K : 0,
      hb ? candidateBrands.filter((b) => b === hb).length / K : 0,
      Math.log1p(source.train.popularityOf(h, withheld)) / 10,
    );
  });
}

/** π(keep_j) for each feature row. */
export function keepProbabilities(w: CompressorWeights, features: readonly Float64Array[]): number[] {
  return features.map((f) => {
    let z = 0;
    for (let k = 0; k < f.length; k++) z += w.weights[k]! * f[k]!;
    return 1 / (1 + Math.exp(-z));
  });
}

/** The history that remains after keeping `kept` (ascending positions), with the summary of the rest. */
export function compressedHistory(items: readonly Item[], history: readonly number[], kept: readonly number[]): CompressedHistory {
  const keep = new Set(kept);
  const dropped = history.filter((_, j) => !keep.has(j));
  return { kept: [...kept].sort((a, b) => a - b), summary: dropped.length > 0 ? summarise(items, dropped) : null };
}

/** The policy's mode: items with π ≥ 0.5, at least the most probable one. */
export function compressHistory(w: CompressorWeights, source: EvidenceSource, history: readonly number[], candidates: readonly number[], withheld?: Withheld): CompressedHistory {
  return compressedHistory(source.items, history, policyMode(keepProbabilities(w, historyFeatures(source, history, candidates, withheld))));
}

/** The positions the policy keeps in its mode: π ≥ 0.5, or else the most probable one. */
export function policyMode(p: readonly number[]): number[] {
  const kept = p.flatMap((x, j) => (x >= 0.5 ? [j] : []));
  if (kept.length === 0 && p.length > 0) kept.push(p.indexOf(Math.max(...p)));
  return kept;
}

function summarise(items: readonly Item[], dropped: readonly number[]): HistorySummary {
  const top = (key: (i: number) => string) => {
    const counts = new Map<string, number>();
    // Newest first, so a tie names the more recent one.
    for (const i of [...dropped].reverse()) {
      const k = key(i);
      if (k) counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    let best: string | null = null;
    for (const [name, count] of counts) if (best === null || count > counts.get(best)!) best = name;
    return best;
  };
  return { count: dropped.length, category: top((i) => items[i]!.categories.at(-1) ?? ""), brand: top((i) => items[i]!.brand ?? "") };
}

/**
 * The summary as the prompt shows it: "+6 more: Nail Polish, OPI" (their most frequent leaf
 * category and brand). Terse on purpose: on Beauty the history section is ~330 tokens, and
 * every word here is paid on every prompt (the wordier "6 more purchases not shown, mostly
 * Nail Polish (3), brand OPI (2)" cost 23 tokens against 8).
 */
export function summaryText(s: HistorySummary): string {
  const parts = [s.category, s.brand].filter(Boolean);
  return `+${s.count} more${parts.length ? `: ${parts.join(", ")}` : ""}`;
}
