/**
 * Evaluating re-rankers on candidate lists: per-user ranks → metrics with bootstrap intervals,
 * paired differences against the incoming order, and where the target ends up. One set of
 * bootstrap resamples is shared by every method and metric (see bootstrap.ts), so intervals of
 * different methods are computed on the same resampled users.
 */
import type { CandidateList } from "../rank/candidates.js";
import { incomingRanks, rerankedRanks, type ListReranker } from "../rank/baselines/reranker.js";
import { rankMetricIntervals, Resamples, type BootstrapOptions, type Interval } from "./bootstrap.js";
import { FULL_RANKING_METRICS, RERANK_METRICS } from "../rank/metrics.js";

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
}

export interface RerankEvaluation {
  split: string;
  users: number;
  listSize: number;
  bootstrap: { samples: number; confidence: number; seed: number };
  /** Target positions in the incoming order (the "before" of every method). */
  incomingPositions: number[];
  methods: MethodResult[];
}

/** A method's paired difference against the incoming order as JSON reports give it: [diff, lo, hi], 4 decimals. */
export type VsIncoming = Record<"recall@1" | "recall@5" | "ndcg@5", [number, number, number]>;

export function vsIncomingOf(m: MethodResult): VsIncoming {
  return triples(m.vsIncoming);
}

/** Paired-difference intervals as the JSON reports give them: [diff, lo, hi], 4 decimals. */
function triples(vs: Record<"recall@1" | "recall@5" | "ndcg@5", Interval>): VsIncoming {
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  const triple = (i: Interval): [number, number, number] => [r4(i.mean), r4(i.lo), r4(i.hi)];
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
  seconds?: number;
}

/** Scores the lists with each re-ranker and evaluates them. */
export function evaluateRerankers(lists: readonly CandidateList[], rerankers: readonly ListReranker[], o: BootstrapOptions & { onMethod?: (name: string) => void } = {}): RerankEvaluation {
  const methods = rerankers.map((r) => {
    o.onMethod?.(r.name);
    const t0 = performance.now();
    const ranks = rerankedRanks(lists, r.scoreLists(lists));
    return { name: r.name, ranks, seconds: (performance.now() - t0) / 1000 };
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
  return {
    split: splits.join("+"),
    users: lists.length,
    listSize: K,
    bootstrap: { samples: resamples.samples, confidence: resamples.confidence, seed: resamples.seed },
    incomingPositions: histogram(incomingRanks(lists), K),
    methods: methods.map((m) => {
      if (m.ranks.length !== lists.length) throw new RangeError(`method ${m.name}: ${m.ranks.length} ranks for ${lists.length} lists`);
      const intervals = rankMetricIntervals(resamples, m.ranks, RERANK_METRICS, incoming);
      return {
        name: m.name,
        metrics: intervals.metrics,
        vsIncoming: intervals.vsReference!,
        positions: histogram(m.ranks, K),
        seconds: m.seconds ?? 0,
      };
    }),
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
