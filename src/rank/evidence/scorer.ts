/**
 * The evidence scorer: a listwise logistic model (multinomial logit over each list's
 * candidates) on the incoming position and the evidence the prompt shows (features.ts). It is
 * the non-LLM peer of the re-ranker with the same inputs, and the offline teacher's ranker: a
 * teacher that does not beat the upstream order cannot teach a student to.
 *
 *   s_i = w · φ(i),   P(target = i | list) = exp(s_i) / Σ_j exp(s_j)
 *
 * fit by full-batch Adam on −log P(target) + λ‖w‖² over the learning lists. φ is small and
 * readable (`featureNames`), so the fitted weights say what decided an order.
 */
import type { CandidateList } from "../candidates.js";
import type { ListReranker } from "../baselines/reranker.js";
import { EVIDENCE_SETS, listEvidence, showsCobuy, showsLine, showsMeta, type CandidateEvidence, type EvidenceSet, type EvidenceSource } from "./features.js";

/**
 * The teacher's answer from its order over the candidates: its first `head` picks, then the
 * other candidates in the order the prompt shows them.
 *
 * Why not the whole order: below the head the scorer's order is mostly noise a student cannot
 * copy. Its position weights are flat after the second place (the demo catalogue: −1.19, −1.19,
 * −1.10, −1.13, −1.26, … against the head), so the tail is sorted by small evidence
 * differences, and its whole order displaces 4.4 of 10 candidates against the shown order on
 * average (0 of 1,067 test lists keep it). A 4M student trained on those orders wrote 1.6–4%
 * well-formed answers. Its first five picks followed by the rest as shown keep the whole
 * order's R@1, R@5 and NDCG@5 on the demo's test lists (identical to three decimals), and only
 * 0.1% of such answers are the incoming order (the first pick then the rest: 82%, which teaches
 * copying).
 */
export function answerOrder(order: readonly number[], head: number, shown: readonly number[] = order.map((_, i) => i)): number[] {
  const picks = order.slice(0, Math.max(1, head));
  return [...picks, ...shown.filter((u) => !picks.includes(u))];
}

/** Positions get one feature each up to this many (later ones share the last). */
const POSITIONS = 10;

export function featureNames(set: EvidenceSet): string[] {
  const names = Array.from({ length: POSITIONS - 1 }, (_, k) => `position_${k + 2}`);
  if (showsCobuy(set)) names.push("log_cobuy", "cobuy_any", "cobuy_list_max", "log_cobuy_best");
  if (showsMeta(set)) names.push("band_high", "band_mid", "log_same_category", "log_same_brand", "repeat");
  if (showsLine(set)) names.push("log_cobuy_line");
  return names;
}

/** φ for every candidate of one list, row-major (K × featureNames(set).length). */
export function featurize(ev: readonly CandidateEvidence[], set: EvidenceSet, out?: Float64Array): Float64Array {
  const F = featureNames(set).length;
  const x = out ?? new Float64Array(ev.length * F);
  x.fill(0, 0, ev.length * F);
  ev.forEach((e, i) => {
    const row = i * F;
    // Position 1 is the reference (no feature): the weights are the log-odds against the head.
    const p = Math.min(e.position, POSITIONS - 1);
    if (p > 0) x[row + p - 1] = 1;
    let f = POSITIONS - 1;
    if (showsCobuy(set)) {
      x[row + f++] = Math.log1p(e.coBuy);
      x[row + f++] = e.coBuy > 0 ? 1 : 0;
      x[row + f++] = e.coBuyTop ? 1 : 0;
      x[row + f++] = Math.log1p(e.coBuyBest);
    }
    if (showsMeta(set)) {
      x[row + f++] = e.band === "high" ? 1 : 0;
      x[row + f++] = e.band === "mid" ? 1 : 0;
      x[row + f++] = Math.log1p(e.sameCategory);
      x[row + f++] = Math.log1p(e.sameBrand);
      x[row + f++] = e.repeat ? 1 : 0;
    }
    if (showsLine(set)) x[row + f++] = Math.log1p(e.coBuyLine);
  });
  return x;
}

/** s_i = w · φ(i) for each candidate of one list (incoming order). */
export function scoreEvidence(model: ScorerWeights, ev: readonly CandidateEvidence[]): Float32Array {
  const F = model.features.length;
  const x = featurize(ev, model.set);
  const w = model.weights;
  return Float32Array.from(ev, (_, i) => {
    let s = 0;
    for (let f = 0; f < F; f++) s += w[f]! * x[i * F + f]!;
    return s;
  });
}

/**
 * The `ranked` set's evidence: each candidate's rank under the scorer (1 = highest score; ties
 * keep the incoming order, as every order here does). The scorer is a logistic model over the
 * other fields, fit on the learning lists; one rank is quicker for a small student to read than
 * five counts to weigh (docs/benchmarks.md, session 14), and it stays free to overrule it.
 */
export function withScoreRanks(model: ScorerWeights, ev: readonly CandidateEvidence[]): CandidateEvidence[] {
  const s = scoreEvidence(model, ev);
  const order = ev.map((_, i) => i).sort((a, b) => s[b]! - s[a]! || a - b);
  const rank = new Array<number>(ev.length);
  order.forEach((i, r) => (rank[i] = r + 1));
  return ev.map((e, i) => ({ ...e, scoreRank: rank[i]! }));
}

export interface ScorerFitOptions {
  /** Adam steps over the whole batch (default 300). */
  steps?: number;
  lr?: number;
  /** L2 penalty λ (default 1e-4). */
  l2?: number;
}

/** What a fitted scorer is saved as (JSON): its evidence set, feature names and weights. */
export interface ScorerWeights {
  set: EvidenceSet;
  features: string[];
  weights: number[];
}

/**
 * Saved scorer weights read back: one finite weight per feature of its set, in order. Errors
 * name `path` and, when the weights are a field of a larger file, that `field`.
 */
export function parseScorerWeights(v: unknown, path: string, field?: string): ScorerWeights {
  const name = (key?: string) => (field ? `"${field}${key ? `.${key}` : ""}"` : key ? `"${key}"` : "the scorer");
  const o = v as Partial<ScorerWeights> | null;
  if (typeof o !== "object" || o === null || !EVIDENCE_SETS.includes(o.set as EvidenceSet)) throw new Error(`${path}: ${name()} must be an object with "set", "features" and "weights" (the evidence scorer's weights)`);
  const expected = featureNames(o.set as EvidenceSet);
  if (!Array.isArray(o.features) || o.features.join() !== expected.join()) throw new Error(`${path}: ${name("features")} must be [${expected.join(", ")}] for the ${o.set} set`);
  if (!Array.isArray(o.weights) || o.weights.length !== expected.length || !o.weights.every((w) => typeof w === "number" && Number.isFinite(w))) throw new Error(`${path}: ${name("weights")} must be ${expected.length} finite numbers`);
  return { set: o.set as EvidenceSet, features: [...o.features], weights: [...o.weights] };
}

export class EvidenceScorer implements ListReranker {
  readonly name = "evidence";

  constructor(
    readonly source: EvidenceSource,
    readonly model: ScorerWeights,
  ) {
    const expected = featureNames(model.set);
    if (expected.join() !== model.features.join()) throw new Error(`evidence scorer: weights for features [${model.features}] but the ${model.set} set has [${expected}]`);
  }

  /** Scores from precomputed evidence (incoming order). */
  score(ev: readonly CandidateEvidence[]): Float32Array {
    return scoreEvidence(this.model, ev);
  }

  scoreLists(lists: readonly CandidateList[]): Float32Array[] {
    return lists.map((l) => this.score(listEvidence(this.source, l)));
  }

  /**
   * Fits the weights on `lists` (their targets are the labels). Lists are featurized once; the
   * loss is convex, so full-batch Adam from zero (the incoming order's "no opinion") converges
   * to the same weights every run.
   */
  static fit(source: EvidenceSource, lists: readonly CandidateList[], set: EvidenceSet, o: ScorerFitOptions = {}): EvidenceScorer {
    const features = featureNames(set);
    const F = features.length;
    if (lists.length === 0) throw new Error("evidence scorer: no lists to fit on");
    const rows = lists.map((l) => ({ x: featurize(listEvidence(source, l), set), K: l.candidates.length, t: l.rankPre - 1 }));
    const w = new Float64Array(F);
    const m = new Float64Array(F);
    const v = new Float64Array(F);
    const grad = new Float64Array(F);
    const steps = o.steps ?? 300;
    const lr = o.lr ?? 0.05;
    const l2 = o.l2 ?? 1e-4;
    const [b1, b2] = [0.9, 0.999];
    const s = new Float64Array(64);
    for (let step = 1; step <= steps; step++) {
      grad.fill(0);
      for (const { x, K, t } of rows) {
        // ∂(−log softmax_t)/∂w = Σ_i p_i φ_i − φ_t
        let max = -Infinity;
        for (let i = 0; i < K; i++) {
          let si = 0;
          for (let f = 0; f < F; f++) si += w[f]! * x[i * F + f]!;
          s[i] = si;
          if (si > max) max = si;
        }
        let z = 0;
        for (let i = 0; i < K; i++) z += (s[i] = Math.exp(s[i]! - max));
        for (let i = 0; i < K; i++) {
          const coef = s[i]! / z - (i === t ? 1 : 0);
          if (coef !== 0) for (let f = 0; f < F; f++) grad[f]! += coef * x[i * F + f]!;
        }
      }
      for (let f = 0; f < F; f++) {
        const g = grad[f]! / rows.length + 2 * l2 * w[f]!;
        m[f] = b1 * m[f]! + (1 - b1) * g;
        v[f] = b2 * v[f]! + (1 - b2) * g * g;
        w[f]! -= (lr * (m[f]! / (1 - b1 ** step))) / (Math.sqrt(v[f]! / (1 - b2 ** step)) + 1e-8);
      }
    }
    return new EvidenceScorer(source, { set, features, weights: Array.from(w, (x) => Math.round(x * 1e6) / 1e6) });
  }
}
