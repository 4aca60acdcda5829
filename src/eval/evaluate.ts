/**
 * Evaluating re-rankers on candidate lists: per-user ranks → metrics with bootstrap intervals,
 * paired differences against the incoming order, and where the target ends up. One set of
 * bootstrap resamples is shared by every method and metric (see bootstrap.ts), so intervals of
 * different methods are computed on the same resampled users.
 */
import type { CandidateList } from "../rank/candidates.js";
import { incomingRanks, orderByScore, rerankedRanks, type ListReranker } from "../rank/baselines/reranker.js";
import { rankMetricIntervals, Resamples, type BootstrapOptions, type Interval } from "./bootstrap.js";
import { FULL_RANKING_METRICS, RERANK_METRICS } from "../rank/metrics.js";
import { gradedNdcg } from "../reward/rank.js";
import { relevanceOf } from "../reward/registry.js";

export type RerankMetric = (typeof RERANK_METRICS)[number];
export type FullMetric = (typeof FULL_RANKING_METRICS)[number];

export interface MethodResult {
  name: string;
  metrics: Record<RerankMetric, Interval>;
  /** Paired difference method − incoming order, per metric. */
  vsIncoming: Record<RerankMetric, Interval>;
  /** How many targets end at each position 1..K after re-ranking. */
  positions: number[];
  /** Seconds spent scoring the lists (the re-ranker's own cost). */
  seconds: number;
  /** With graded lists (`CandidateList.grades`) and the method's orders: graded NDCG@5, and its paired difference against the incoming order. */
  graded?: { "ndcg@5": Interval; vsIncoming: Interval };
}

export interface RerankEvaluation {
  split: string;
  users: number;
  listSize: number;
  bootstrap: { samples: number; confidence: number; seed: number };
  /** Target positions in the incoming order (the "before" of every method). */
  incomingPositions: number[];
  methods: MethodResult[];
  /** With graded lists: how many carry grades, their mean number of positives, and the incoming order's graded NDCG@5. */
  graded?: { lists: number; positives: number; incoming: Interval };
}

/**
 * A method's paired difference against the incoming order as JSON reports give it: [diff, lo,
 * hi], 4 decimals; `graded_ndcg@5` when the lists carry grades.
 */
export type VsIncoming = Record<"recall@1" | "recall@5" | "ndcg@5", [number, number, number]> & { "graded_ndcg@5"?: [number, number, number] };

export function vsIncomingOf(m: MethodResult): VsIncoming {
  return { ...triples(m.vsIncoming), ...(m.graded ? { "graded_ndcg@5": triple(m.graded.vsIncoming) } : {}) };
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
const triple = (i: Interval): [number, number, number] => [r4(i.mean), r4(i.lo), r4(i.hi)];

/** Paired-difference intervals as the JSON reports give them: [diff, lo, hi], 4 decimals. */
function triples(vs: Record<"recall@1" | "recall@5" | "ndcg@5", Interval>): VsIncoming {
  return { "recall@1": triple(vs["recall@1"]), "recall@5": triple(vs["recall@5"]), "ndcg@5": triple(vs["ndcg@5"]) };
}

/**
 * Paired difference a − b on the same lists (per-list target ranks after each method), as
 * [diff, lo, hi] per metric: how one re-ranker compares with another, not with the incoming order.
 */
export function pairedDifference(a: ArrayLike<number>, b: ArrayLike<number>, o: BootstrapOptions = {}): VsIncoming {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`paired difference: ${a.length} and ${b.length} lists`);
  return triples(rankMetricIntervals(new Resamples(a.length, o), a, ["recall@1", "recall@5", "ndcg@5"] as const, b).vsReference!);
}

/** Ranks for one method: scored by a re-ranker, or given directly (an LLM's parsed output). */
export interface MethodRanks {
  name: string;
  ranks: Int32Array;
  /** Per list, the re-ranked order as candidate indices (incoming order) best first: needed for graded NDCG. */
  orders?: readonly (readonly number[])[];
  seconds?: number;
}

/** Scores the lists with each re-ranker and evaluates them. */
export function evaluateRerankers(lists: readonly CandidateList[], rerankers: readonly ListReranker[], o: BootstrapOptions & { onMethod?: (name: string) => void } = {}): RerankEvaluation {
  const methods = rerankers.map((r) => {
    o.onMethod?.(r.name);
    const t0 = performance.now();
    const scores = r.scoreLists(lists);
    const ranks = rerankedRanks(lists, scores);
    return { name: r.name, ranks, orders: scores.map(orderByScore), seconds: (performance.now() - t0) / 1000 };
  });
  return evaluateRanks(lists, methods, o);
}

/** Evaluates per-list target ranks (1-based, after re-ranking) of several methods. */
export function evaluateRanks(lists: readonly CandidateList[], methods: readonly MethodRanks[], o: BootstrapOptions = {}): RerankEvaluation {
  if (lists.length === 0) throw new Error("evaluate: no lists");
  const K = lists[0]!.candidates.length;
  const splits = [...new Set(lists.map((l) => l.split))];
  const resamples = new Resamples(lists.length, o);
  const incoming = incomingRanks(lists);
  const graded = gradedEvaluation(lists, resamples);
  return {
    split: splits.join("+"),
    users: lists.length,
    listSize: K,
    bootstrap: { samples: resamples.samples, confidence: resamples.confidence, seed: resamples.seed },
    incomingPositions: histogram(incomingRanks(lists), K),
    ...(graded ? { graded: graded.summary } : {}),
    methods: methods.map((m) => {
      if (m.ranks.length !== lists.length) throw new RangeError(`method ${m.name}: ${m.ranks.length} ranks for ${lists.length} lists`);
      const intervals = rankMetricIntervals(resamples, m.ranks, RERANK_METRICS, incoming);
      return {
        name: m.name,
        metrics: intervals.metrics,
        vsIncoming: intervals.vsReference!,
        positions: histogram(m.ranks, K),
        seconds: m.seconds ?? 0,
        ...(graded && m.orders ? { graded: graded.of(m.orders) } : {}),
      };
    }),
  };
}

/**
 * Graded NDCG@5 when any list carries grades (a list without them counts its target as the one
 * positive of grade 1): the incoming order's, and a function giving a method's with its paired
 * difference on the same resamples.
 */
function gradedEvaluation(lists: readonly CandidateList[], resamples: Resamples) {
  if (!lists.some((l) => l.grades)) return null;
  const relevance = lists.map((l) => relevanceOf({ order: null, rankPre: l.rankPre, listSize: l.candidates.length, relevance: l.grades }));
  const ndcg5 = (orders: readonly (readonly number[])[]) => {
    if (orders.length !== lists.length) throw new RangeError(`graded evaluation: ${orders.length} orders for ${lists.length} lists`);
    return Float64Array.from(relevance, (r, l) => gradedNdcg(orders[l]!, r, 5));
  };
  const incoming = ndcg5(relevance.map((r) => r.map((_, i) => i)));
  const positives = relevance.reduce((s, r) => s + r.filter((g) => g > 0).length, 0) / lists.length;
  return {
    summary: { lists: lists.filter((l) => l.grades).length, positives: r4(positives), incoming: resamples.interval(incoming) },
    of: (orders: readonly (readonly number[])[]) => {
      const values = ndcg5(orders);
      return { "ndcg@5": resamples.interval(values), vsIncoming: resamples.pairedDifference(values, incoming) };
    },
  };
}

/** Full-ranking metrics of the upstream ranker with bootstrap intervals, from its per-user ranks. */
export function fullRankingIntervals(ranks: Int32Array, o: BootstrapOptions = {}): Record<FullMetric, Interval> {
  return rankMetricIntervals(new Resamples(ranks.length, o), ranks, FULL_RANKING_METRICS).metrics;
}

/** Counts of ranks 1..K. */
export function histogram(ranks: ArrayLike<number>, K: number): number[] {
  const h = new Array<number>(K).fill(0);
  for (let i = 0; i < ranks.length; i++) {
    const r = ranks[i]!;
    if (r >= 1 && r <= K) h[r - 1]! += 1;
  }
  return h;
}
