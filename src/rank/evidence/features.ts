/**
 * Collaborative evidence for one candidate list: what the training interactions say about each
 * candidate against the user's recent purchases (the paper's "collaborative context", the
 * technical report's "rich item metadata"). One computation serves every caller: the prompt
 * shows it (render.ts), the evidence scorer ranks by it (scorer.ts), the teacher cites it, and
 * serving computes it from the same catalogue statistics.
 *
 * Everything comes from the TRAIN split (train-index.ts), never from the list's target or
 * anything at or after it: lists built inside a user's train prefix withhold that user's own
 * purchases from the list's position on (`withheldFor`).
 *
 * Evidence sets (`--evidence`): `none` shows nothing; `meta` the catalogue-side signals (shared
 * category and brand with the recent history, popularity band, a repeat purchase); `cobuy` the
 * co-purchase counts; `all` both; `ranked` all of it plus each candidate's rank under the
 * evidence scorer fit on the learning lists (scorer.ts), a second opinion beside the incoming
 * order. On Beauty the co-purchase counts carry most of what beats the upstream ranker; on the
 * demo catalogue a 4M student needs 900 reading steps to weigh them, and with the rank shown
 * learns its first pick in 300, though not yet the rest of the order (docs/benchmarks.md).
 */
import { categoryKey } from "../../data/text.js";
import type { Item } from "../../data/types.js";
import type { CandidateList } from "../candidates.js";
import { TrainIndex, type Withheld } from "./train-index.js";

export const EVIDENCE_SETS = ["none", "meta", "cobuy", "all", "ranked"] as const;
export type EvidenceSet = (typeof EVIDENCE_SETS)[number];

export function parseEvidenceSet(text: string): EvidenceSet {
  if ((EVIDENCE_SETS as readonly string[]).includes(text)) return text as EvidenceSet;
  throw new RangeError(`unknown evidence set "${text}" (expected ${EVIDENCE_SETS.join(", ")})`);
}

export const showsCobuy = (set: EvidenceSet): boolean => set === "cobuy" || set === "all" || set === "ranked";
export const showsMeta = (set: EvidenceSet): boolean => set === "meta" || set === "all" || set === "ranked";
/** The product-line fact needs both: co-purchases and brands. */
export const showsLine = (set: EvidenceSet): boolean => set === "all" || set === "ranked";
/** The evidence scorer's rank of each candidate (`CandidateEvidence.scoreRank`). */
export const showsRank = (set: EvidenceSet): boolean => set === "ranked";

export type PopularityBand = "high" | "mid" | "low";

/** The train split's statistics evidence reads (a `TrainIndex`, or a view of one; `localSource`). */
export interface PurchaseStats {
  coPurchase(a: number, b: number, withheld?: Withheld): number;
  popularityOf(item: number, withheld?: Withheld): number;
}

/** What evidence is computed from: the catalogue and the train split's statistics. */
export interface EvidenceSource {
  items: readonly Item[];
  train: PurchaseStats;
  /** Popularity at or above which an item is `high` / `mid` (catalogue tertiles; `popularityBands`). */
  bands: readonly [number, number];
  /** A user's train sequence by dataset user id, to withhold a train-position list's own purchases. */
  trainOf?: (user: string) => readonly number[] | undefined;
}

export interface EvidenceOptions {
  /** Last history items co-purchases are counted after (default 3). */
  anchors?: number;
  /** Recent history items category and brand overlaps are counted against (default 5). */
  recent?: number;
  withheld?: Withheld;
}

/** One candidate's evidence; `position` is its 0-based place in the incoming order. */
export interface CandidateEvidence {
  position: number;
  /** Training users who bought it within the window after one of the anchors, summed over anchors. */
  coBuy: number;
  /** The anchor with the most such users: its 0-based index in the history, or -1 when none. */
  coBuyAfter: number;
  /** That anchor's count. */
  coBuyBest: number;
  /** Whether it has the most co-buyers of the list (and some): a small model compares ten counts poorly. */
  coBuyTop: boolean;
  /**
   * Co-buyers after the anchors of its own brand: a product line (shampoo, then the same
   * brand's conditioner). One readable fact for a conjunction a small model misses: on the demo
   * catalogue "the first candidate co-bought after a purchase of its brand" alone reaches R@1
   * 0.661 against the fitted scorer's 0.646 (docs/benchmarks.md). 0 without brands.
   */
  coBuyLine: number;
  popularity: number;
  band: PopularityBand;
  /** Recent purchases in its category / of its brand. */
  sameCategory: number;
  sameBrand: number;
  /** Already in the history (a repeat purchase). */
  repeat: boolean;
  /**
   * Its rank (1 = first) under the evidence scorer's order of the list, for the `ranked` set
   * (scorer.ts `withScoreRanks`); absent otherwise. The scorer reads the fields above, never this.
   */
  scoreRank?: number;
}

/**
 * Popularity thresholds from the tertiles of items bought at least once: `high` above the upper
 * tertile, `mid` above the lower one. "Above", because a long tail ties many items at 1 or 2
 * purchases, and "at or above" would then make every bought item at least `mid`.
 */
export function popularityBands(popularity: ArrayLike<number>): [number, number] {
  const bought = Array.from(popularity).filter((p) => p > 0).sort((a, b) => a - b);
  if (bought.length === 0) return [1, 1];
  const at = (q: number) => bought[Math.min(bought.length - 1, Math.floor(q * bought.length))]!;
  return [at(2 / 3) + 1, at(1 / 3) + 1];
}

export function bandOf(source: Pick<EvidenceSource, "bands">, popularity: number): PopularityBand {
  return popularity >= source.bands[0] ? "high" : popularity >= source.bands[1] ? "mid" : "low";
}

/**
 * The part of a list's user's train sequence its evidence must not see: for a list built at
 * position k of the train prefix (its history is the prefix's first k items), positions ≥ k.
 * Valid and test lists sit after the whole prefix, so nothing is withheld.
 */
export function withheldFor(source: Pick<EvidenceSource, "trainOf">, list: { user: string; history: readonly number[] }): Withheld | undefined {
  const seq = source.trainOf?.(list.user);
  const k = list.history.length;
  if (!seq || k >= seq.length) return undefined;
  for (let t = 0; t < k; t++) if (seq[t] !== list.history[t]) return undefined;
  return { sequence: seq, from: k };
}

/** Evidence for each candidate (incoming order) against `history` (what the prompt shows, oldest first). */
export function candidateEvidence(source: EvidenceSource, history: readonly number[], candidates: readonly number[], o: EvidenceOptions = {}): CandidateEvidence[] {
  const anchorCount = o.anchors ?? 3;
  const recentCount = o.recent ?? 5;
  const firstAnchor = Math.max(0, history.length - anchorCount);
  const recent = history.slice(Math.max(0, history.length - recentCount));
  const cat = (i: number) => categoryKey(source.items[i]!);
  const brand = (i: number) => source.items[i]!.brand ?? "";
  const seen = new Set(history);
  const evidence = candidates.map((c, position) => {
    let coBuy = 0;
    let coBuyAfter = -1;
    let coBuyBest = 0;
    let coBuyLine = 0;
    const b = brand(c);
    // Newest anchor first, so ties name the most recent purchase.
    for (let h = history.length - 1; h >= firstAnchor; h--) {
      const n = source.train.coPurchase(history[h]!, c, o.withheld);
      coBuy += n;
      if (b && brand(history[h]!) === b) coBuyLine += n;
      if (n > coBuyBest) [coBuyBest, coBuyAfter] = [n, h];
    }
    const popularity = source.train.popularityOf(c, o.withheld);
    const cc = cat(c);
    return {
      position,
      coBuy,
      coBuyAfter,
      coBuyBest,
      coBuyLine,
      popularity,
      band: bandOf(source, popularity),
      sameCategory: cc ? recent.filter((h) => cat(h) === cc).length : 0,
      sameBrand: b ? recent.filter((h) => brand(h) === b).length : 0,
      repeat: seen.has(c),
      coBuyTop: false,
    };
  });
  const most = Math.max(0, ...evidence.map((e) => e.coBuy));
  for (const e of evidence) e.coBuyTop = most > 0 && e.coBuy === most;
  return evidence;
}

/** A list's evidence against its own full history, withholding what its position must not see. */
export function listEvidence(source: EvidenceSource, list: Pick<CandidateList, "user" | "history" | "candidates">, o: Omit<EvidenceOptions, "withheld"> = {}): CandidateEvidence[] {
  return candidateEvidence(source, list.history, list.candidates, { ...o, withheld: withheldFor(source, list) });
}

/**
 * The evidence source of a catalogue: statistics of its train sequences (`Split.train`, dense
 * user order), popularity bands, and each user's train sequence by id for withholding.
 */
export function evidenceSource(items: readonly Item[], trainSequences: readonly (readonly number[])[], userIds: readonly string[] = []): EvidenceSource & { train: TrainIndex } {
  const train = TrainIndex.build(trainSequences, items.length);
  const byUser = new Map(userIds.map((id, u) => [id, trainSequences[u] ?? []] as const));
  return { items, train, bands: popularityBands(train.popularity), trainOf: (u) => byUser.get(u) };
}

/**
 * The same statistics over another index space (a served request's items: its history and
 * documents numbered 0..n-1): `catalogueIndex[i]` is local item i's catalogue index, or -1 for
 * an item the catalogue does not know (a text-only document), which has no evidence.
 */
export function localSource(source: EvidenceSource, items: readonly Item[], catalogueIndex: readonly number[]): EvidenceSource {
  const at = (i: number) => catalogueIndex[i] ?? -1;
  const train: PurchaseStats = {
    coPurchase: (a, b) => (at(a) >= 0 && at(b) >= 0 ? source.train.coPurchase(at(a), at(b)) : 0),
    popularityOf: (i) => (at(i) >= 0 ? source.train.popularityOf(at(i)) : 0),
  };
  return { items, train, bands: source.bands };
}
