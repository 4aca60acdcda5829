/**
 * The offline evidence teacher: reasoning traces without a large model.
 *
 * For one list it computes verifiable evidence from the TRAIN split only (train-index.ts,
 * complements.ts) about each candidate against the recent history:
 *   - category overlap: recent purchases in the candidate's category;
 *   - complement: a mined complementary step from a recent purchase's category to the candidate's;
 *   - co-purchase: training users who bought the candidate within `window` purchases after one
 *     of the last items;
 *   - brand overlap; SID-prefix overlap (shared leading codes = similar items);
 *   - popularity: training purchases, and its rank among the candidates;
 *   - upstream: where the upstream ranker placed it. A large-model teacher reads the list in
 *     that order and leans on it; and the ranker's order is real evidence (on Beauty's lists
 *     the target is its first item 29% of the time, its tenth 3%), so a teacher that ignores it
 *     teaches a student to throw away the strongest signal it is given.
 * Scores combine them (weights below); a ranking is sampled from the scores by Plackett–Luce
 * with a temperature (seeded per user and attempt), or the target is put first (targeted mode).
 *
 * The rationale follows the prompt's three steps and is written from structured facts only:
 * each sentence is rendered from the facts stored beside it in the trace, every fact is a
 * checkable statement about the catalogue and the train split (the tests recompute each one),
 * and the only other statement is the ranking itself ("X first, then Y"). Nothing is said
 * about why the customer chose anything, and the target is never mentioned as such, so the
 * same rationale is a fair training answer for the student, who does not see the target.
 */
import { Rng } from "../data/rng.js";
import type { Item } from "../data/types.js";
import { categoryKey } from "../data/text.js";
import type { ComplementTable } from "../prompt/complements.js";
import { formatOutput, GRAMMARS, sanitizeRationale } from "../prompt/output-format.js";
import { parseRerankOutput } from "../prompt/parse-output.js";
import { listSeed } from "../prompt/rerank-prompt.js";
import { codeToken, parseSid } from "../sid/sidmap.js";
import { samplePlackettLuce } from "./plackett-luce.js";
import type { Teacher, TeacherAttempt, TeacherRequest } from "./teacher.js";
import type { TrainIndex, Withheld } from "../rank/evidence/train-index.js";
import { candidateEvidence, withheldFor } from "../rank/evidence/features.js";
import { answerOrder, type EvidenceScorer } from "../rank/evidence/scorer.js";

/** A checkable statement; items are named by their dataset ids. */
export type Fact =
  /** `items` are exactly the recent purchases in `category` (`of` recent purchases in all). */
  | { kind: "history_category"; category: string; items: string[]; of: number }
  /** `items` are exactly the recent purchases of `brand`. */
  | { kind: "history_brand"; brand: string; items: string[]; of: number }
  /** `item` is in `category`, as are exactly the recent purchases `history`. */
  | { kind: "category_overlap"; item: string; category: string; history: string[] }
  /** `item` has `brand`, as have exactly the recent purchases `history`. */
  | { kind: "brand_overlap"; item: string; brand: string; history: string[] }
  /** `users` training sequences have `item` within `window` positions after `after`. */
  | { kind: "co_purchase"; item: string; after: string; users: number; window: number }
  /** `item` is in `to`; the mined hint from → to has `count` and `lift`; `history` are the recent purchases in `from`. */
  | { kind: "complement"; item: string; from: string; to: string; history: string[]; count: number; lift: number }
  /** `item` and `other` share their first `length` SID codes (`prefix`). */
  | { kind: "sid_prefix"; item: string; other: string; length: number; prefix: string }
  /** `item` has `count` training purchases; `rank` = 1 + candidates with more; `tied` = another candidate has as many. */
  | { kind: "popularity"; item: string; count: number; rank: number; of: number; tied: boolean }
  /** The upstream ranker placed `item` `position`-th of the `of` candidates. */
  | { kind: "upstream"; item: string; position: number; of: number }
  /** `item` has no category_overlap, brand_overlap, complement or co_purchase fact. */
  | { kind: "no_link"; item: string };

export interface Sentence {
  text: string;
  facts: Fact[];
}

/** What an evidence trace keeps beside the answer, so each statement can be checked. */
export interface EvidenceTrace {
  /** Recent purchases the evidence compares against (dataset ids, oldest first). */
  recent: string[];
  /** The last items co-purchases are counted after. */
  anchors: string[];
  window: number;
  /** Evidence score per candidate, upstream order. */
  scores: number[];
  temperature: number;
  sentences: Sentence[];
}

export interface EvidenceWeights {
  category: number;
  brand: number;
  coPurchase: number;
  complement: number;
  sidPrefix: number;
  popularity: number;
  upstream: number;
}

export const DEFAULT_EVIDENCE_WEIGHTS: Readonly<EvidenceWeights> = { category: 1, brand: 0.5, coPurchase: 1.5, complement: 1, sidPrefix: 0.5, popularity: 0.5, upstream: 1.5 };

export interface EvidenceOptions {
  /** Recent purchases compared against (default 5). */
  recent?: number;
  /** Last purchases co-purchases are counted after (default 3). */
  anchors?: number;
  /** Shared SID codes worth stating (default 2). */
  minSidPrefix?: number;
  weights?: Partial<EvidenceWeights>;
  /**
   * Whether the student's prompt shows the candidates in upstream order (default true). When
   * it shuffles them (the position-bias guard) the upstream place is neither stated nor scored:
   * the rationale cites only what the prompt shows.
   */
  upstreamShown?: boolean;
  /** The list user's own purchases its evidence must not see (a list inside the train prefix). */
  withheld?: Withheld;
}

export interface EvidenceContext {
  items: readonly Item[];
  sidOf: (item: number) => string;
  train: TrainIndex;
  complements: ComplementTable;
  /**
   * The fitted evidence scorer (src/rank/evidence/scorer.ts) over the evidence the student's
   * prompt shows. With it the teacher ranks every candidate by the scorer (a teacher better
   * than the upstream ranker); without it, by the hand weights below, explaining a head and
   * keeping the rest in the order shown.
   */
  scorer?: EvidenceScorer;
}

interface CandidateEvidence {
  item: number;
  /** Link facts (overlaps, complement, co-purchase, SID prefix), then popularity, then upstream place. */
  facts: Fact[];
  score: number;
}

export interface ListEvidence {
  recent: number[];
  anchors: number[];
  pattern: Fact[];
  /** Upstream order. */
  candidates: CandidateEvidence[];
}

const id = (ctx: EvidenceContext, i: number) => ctx.items[i]!.id;

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** Evidence for one list: `history` is what the prompt shows (oldest first). */
export function computeEvidence(ctx: EvidenceContext, history: readonly number[], candidates: readonly number[], o: EvidenceOptions = {}): ListEvidence {
  const w = { ...DEFAULT_EVIDENCE_WEIGHTS, ...o.weights };
  const recent = history.slice(Math.max(0, history.length - (o.recent ?? 5)));
  const anchors = recent.slice(Math.max(0, recent.length - (o.anchors ?? 3)));
  const minPrefix = o.minSidPrefix ?? 2;
  const cat = (i: number) => categoryKey(ctx.items[i]!);
  const brand = (i: number) => ctx.items[i]!.brand ?? "";
  const codes = new Map<number, number[]>();
  const codesOf = (i: number) => {
    let c = codes.get(i);
    if (!c) codes.set(i, (c = parseSid(ctx.sidOf(i))));
    return c;
  };
  const ids = (xs: readonly number[]) => xs.map((x) => id(ctx, x));

  // Step 1: the pattern of the recent history.
  const pattern: Fact[] = [];
  const byCount = <T>(key: (i: number) => T) => {
    const counts = new Map<T, number>();
    // Later items win ties: iterate newest first and keep the first maximum.
    for (const i of [...recent].reverse()) if (key(i)) counts.set(key(i), (counts.get(key(i)) ?? 0) + 1);
    let best: T | undefined;
    for (const [k, n] of counts) if (best === undefined || n > counts.get(best)!) best = k;
    return { best, counts };
  };
  if (recent.length > 0) {
    const lastCat = cat(recent[recent.length - 1]!);
    const { best: topCat, counts: catCounts } = byCount(cat);
    for (const c of new Set([lastCat, topCat])) {
      if (!c || (c !== lastCat && catCounts.get(c)! < 2)) continue;
      pattern.push({ kind: "history_category", category: c, items: ids(recent.filter((i) => cat(i) === c)), of: recent.length });
    }
    const { best: topBrand, counts: brandCounts } = byCount(brand);
    if (topBrand && brandCounts.get(topBrand)! >= 2) {
      pattern.push({ kind: "history_brand", brand: topBrand, items: ids(recent.filter((i) => brand(i) === topBrand)), of: recent.length });
    }
  }

  // Step 2: each candidate against the recent history.
  const pops = candidates.map((c) => ctx.train.popularityOf(c, o.withheld));
  const maxPop = Math.max(0, ...pops);
  const recentCats = [...new Set(recent.map(cat).filter((c) => c !== ""))];
  const evidence = candidates.map((c, k): CandidateEvidence => {
    const facts: Fact[] = [];
    const parts = { category: 0, brand: 0, coPurchase: 0, complement: 0, sidPrefix: 0, popularity: 0, upstream: 0 };
    // Co-purchases first: on real catalogues they are the evidence that beats the upstream
    // ranker, and a rationale that states one fact per candidate should state that one.
    let coUsers = 0;
    for (const a of [...anchors].reverse()) {
      const users = ctx.train.coPurchase(a, c, o.withheld);
      if (users > 0) {
        facts.push({ kind: "co_purchase", item: id(ctx, c), after: id(ctx, a), users, window: ctx.train.window });
        coUsers += users;
      }
    }
    parts.coPurchase = Math.log1p(coUsers);
    const cc = cat(c);
    const sameCat = cc ? recent.filter((h) => cat(h) === cc) : [];
    if (sameCat.length > 0) {
      facts.push({ kind: "category_overlap", item: id(ctx, c), category: cc, history: ids(sameCat) });
      parts.category = Math.log1p(sameCat.length);
    }
    if (cc) {
      const hints = recentCats.filter((a) => a !== cc).map((a) => ctx.complements.get(a, cc)).filter((h) => h !== undefined);
      const strongest = hints.sort((a, b) => b.lift - a.lift || b.count - a.count)[0];
      if (strongest) {
        facts.push({ kind: "complement", item: id(ctx, c), from: strongest.from, to: cc, history: ids(recent.filter((h) => cat(h) === strongest.from)), count: strongest.count, lift: strongest.lift });
        parts.complement = Math.log1p(strongest.lift);
      }
    }
    const b = brand(c);
    const sameBrand = b ? recent.filter((h) => brand(h) === b) : [];
    if (sameBrand.length > 0) {
      facts.push({ kind: "brand_overlap", item: id(ctx, c), brand: b, history: ids(sameBrand) });
      parts.brand = Math.log1p(sameBrand.length);
    }
    if (facts.length === 0) facts.push({ kind: "no_link", item: id(ctx, c) });
    // The most recent history item with the longest shared prefix.
    let bestLen = 0;
    let bestOther = -1;
    for (const h of [...recent].reverse()) {
      const n = commonPrefix(codesOf(c), codesOf(h));
      if (n > bestLen) [bestLen, bestOther] = [n, h];
    }
    if (bestLen >= minPrefix) {
      const prefix = codesOf(c).slice(0, bestLen).map((code, level) => codeToken(level, code)).join("");
      facts.push({ kind: "sid_prefix", item: id(ctx, c), other: id(ctx, bestOther), length: bestLen, prefix });
      parts.sidPrefix = bestLen / codesOf(c).length;
    }
    const rank = 1 + pops.filter((p) => p > pops[k]!).length;
    const tied = pops.some((p, j) => j !== k && p === pops[k]);
    facts.push({ kind: "popularity", item: id(ctx, c), count: pops[k]!, rank, of: candidates.length, tied });
    parts.popularity = maxPop > 0 ? Math.log1p(pops[k]!) / Math.log1p(maxPop) : 0;
    if (o.upstreamShown ?? true) {
      facts.push({ kind: "upstream", item: id(ctx, c), position: k + 1, of: candidates.length });
      // 1 for the first place, 0 for the last, log-spaced: the chance the target sits at place k
      // falls off roughly like that in a ranker's top 10 (Beauty, synthetic).
      parts.upstream = candidates.length > 1 ? 1 - Math.log(k + 1) / Math.log(candidates.length) : 0;
    }
    const score = (Object.keys(parts) as (keyof EvidenceWeights)[]).reduce((s, key) => s + w[key] * parts[key], 0);
    return { item: c, facts, score };
  });
  return { recent, anchors, pattern, candidates: evidence };
}

// ---- rendering facts as sentences ------------------------------------------------------------

const list = (xs: readonly string[]) => (xs.length <= 1 ? xs.join("") : xs.length === 2 ? `${xs[0]} and ${xs[1]}` : `${xs.slice(0, -1).join(", ")} and ${xs.at(-1)}`);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const ordinal = (n: number) => `${n}${n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th"}`;

/** Renders facts to text; `sidOfId` turns a dataset id into its SID. Exported so tests check text ↔ facts. */
export function renderFact(f: Fact, sidOfId: (id: string) => string): string {
  const sids = (xs: readonly string[]) => list(xs.map(sidOfId));
  switch (f.kind) {
    case "history_category":
      return `${f.items.length} of the last ${f.of} purchases ${f.items.length === 1 ? "is" : "are"} in ${f.category} (${sids(f.items)})`;
    case "history_brand":
      return `${f.items.length} of the last ${f.of} purchases ${f.items.length === 1 ? "is" : "are"} from ${f.brand} (${sids(f.items)})`;
    case "category_overlap":
      return `is in ${f.category}, like ${sids(f.history)}`;
    case "complement":
      return `is in ${f.to}, which follows ${f.from} (${sids(f.history)}) ${plural(f.count, "time")} in the training sequences, lift ${f.lift}`;
    case "co_purchase":
      return `was bought within ${f.window} purchases after ${sidOfId(f.after)} by ${plural(f.users, "training user")}`;
    case "brand_overlap":
      return `shares the brand ${f.brand} with ${sids(f.history)}`;
    case "sid_prefix":
      return `shares the SID prefix ${f.prefix} with ${sidOfId(f.other)}`;
    case "upstream":
      return `was placed ${ordinal(f.position)} of ${f.of} by the upstream ranker`;
    case "no_link":
      return "has no category, brand, complement or co-purchase link to the recent purchases";
    case "popularity": {
      const where = f.rank === 1 ? `${f.tied ? "tied for " : ""}the most of the ${f.of} candidates` : `${f.tied ? "tied " : ""}${ordinal(f.rank)} most of the ${f.of} candidates`;
      return `was bought ${plural(f.count, "time")} in the training data, ${where}`;
    }
  }
}

/**
 * One rationale using every kind of fact, with placeholder names: the wording the evidence
 * teacher writes, for training the embedded models' tokenizer (see `promptScaffoldTexts`).
 */
export function rationaleScaffold(): string {
  const h = ["a", "b"];
  const facts: Fact[] = [
    { kind: "category_overlap", item: "c", category: "category", history: h },
    { kind: "brand_overlap", item: "c", brand: "brand", history: h },
    { kind: "co_purchase", item: "c", after: "a", users: 2, window: 3 },
    { kind: "complement", item: "c", from: "from", to: "to", history: h, count: 2, lift: 1.5 },
    { kind: "sid_prefix", item: "c", other: "a", length: 2, prefix: "prefix" },
    { kind: "popularity", item: "c", count: 2, rank: 1, of: 10, tied: true },
    { kind: "popularity", item: "c", count: 1, rank: 2, of: 10, tied: false },
    { kind: "upstream", item: "c", position: 2, of: 10 },
    { kind: "no_link", item: "c" },
  ];
  const pattern: Fact[] = [
    { kind: "history_category", category: "category", items: h, of: 5 },
    { kind: "history_brand", brand: "brand", items: ["a"], of: 5 },
  ];
  const name = (x: string) => x;
  return [
    `Step 1, pattern: ${pattern.map((f) => renderFact(f, name)).join("; ")}.`,
    "Step 1, pattern: there are no earlier purchases to compare with.",
    candidateSentence("Step 2, matching: ", "c", facts, name).text,
    candidateSentence("Step 1, matching: ", "c", facts, name).text,
    `Step 2, pattern: ${pattern.map((f) => renderFact(f, name)).join("; ")}.`,
    `Step 3, selection: c first, then ${list(h)}; the other candidates follow in the order shown.`,
    "; the other candidates follow by the same evidence.",
  ].join(" ");
}

/** One candidate's sentence: its SID, then its facts as clauses. */
function candidateSentence(lead: string, sid: string, facts: Fact[], sidOfId: (id: string) => string): Sentence {
  const clauses = facts.map((f, j) => (j === 0 ? renderFact(f, sidOfId) : `it ${renderFact(f, sidOfId)}`));
  return { text: `${lead}${sid} ${clauses.join("; ")}.`, facts };
}

export interface Rationale {
  text: string;
  sentences: Sentence[];
}

/**
 * The three-step rationale for `ranking` (upstream indices, best first): the history pattern,
 * the evidence of the first `explain` ranked candidates, and the selection. `maxFacts` caps the
 * facts stated for the pattern and per candidate (the first ones: links before popularity), so
 * a small model's answer fits its token budget; a subset of true facts is still true.
 * `labels` (the prompt's letters, upstream order) makes it cite a candidate as `<sid> F`, as
 * the full labels prompt lists it, so the letters the ranking copies follow the SIDs chosen;
 * `letterFirst` as `F <sid>`, as the SIDs-only prompts list it (`F*<sid>(…)`): the choice is
 * then the letter, the token the evidence-reading stage taught the student to pick.
 */
export function writeRationale(ctx: EvidenceContext, ev: ListEvidence, ranking: readonly number[], explain = 3, maxFacts = Infinity, labels?: readonly string[], ordered = explain, letterFirst = false): Rationale {
  const byId = new Map(ctx.items.map((it, i) => [it.id, i]));
  const sidOfId = (x: string) => ctx.sidOf(byId.get(x)!);
  const sidOf = (u: number) => ctx.sidOf(ev.candidates[u]!.item);
  // In the SIDs-only prompts a letter sits right next to its SID (`F*<sid>(…)`), so a letter-first
  // citation is the letter alone: the SID again would be six tokens that every training step and
  // every served answer pays for, and say nothing the prompt line does not.
  const cite = (u: number) => (!labels ? sidOf(u) : letterFirst ? labels[u]! : `${sidOf(u)} ${labels[u]!}`);
  // Letter-first citations also put the matching step first: the first pick is then the answer's
  // first choice, made right after a fixed lead as the reading stage makes it after "Ranking:".
  const [patternStep, matchingStep] = letterFirst ? ["Step 2, pattern: ", "Step 1, matching: "] : ["Step 1, pattern: ", "Step 2, matching: "];
  const patternSentence: Sentence =
    ev.recent.length === 0
      ? { text: `${patternStep}there are no earlier purchases to compare with.`, facts: [] }
      : ev.pattern.length === 0
        ? { text: `${patternStep}the recent purchases are ${list(ev.recent.map((i) => ctx.sidOf(i)))}.`, facts: [] }
        : { text: `${patternStep}${ev.pattern.slice(0, maxFacts).map((f) => renderFact(f, sidOfId)).join("; ")}.`, facts: ev.pattern.slice(0, maxFacts) };
  const top = ranking.slice(0, Math.max(1, explain));
  const matching = top.map((u, j) => candidateSentence(j === 0 ? matchingStep : "", cite(u), ev.candidates[u]!.facts.slice(0, Math.max(1, maxFacts)), sidOfId));
  // The selection step restates what the ranking line says; letter-first answers (the SIDs-only
  // prompts) have made their first choice in step 1 already and go straight to the ranking.
  const rationale = (sentences: Sentence[]): Rationale => ({ text: sanitizeRationale(sentences.map((s) => s.text).join(" ")), sentences });
  if (letterFirst) return rationale([...matching, patternSentence]);
  const [first, ...rest] = top.map(cite);
  // `ordered`: how many picks the teacher ordered by evidence (answerOrder); the rest are as shown.
  const more = Math.min(ordered, ranking.length) - top.length;
  const tail = ranking.length <= top.length ? "" : more > 0 ? `; the next ${more} by the same evidence, then the others in the order shown` : "; the other candidates follow in the order shown";
  return rationale([patternSentence, ...matching, { text: `Step 3, selection: ${first} first${rest.length ? `, then ${list(rest)}` : ""}${tail}.`, facts: [] }]);
}

// ---- the teacher ---------------------------------------------------------------------------

export interface EvidenceTeacherOptions extends EvidenceOptions {
  /** Plackett–Luce temperature over evidence scores (default 1; 0 = always the sorted order). */
  temperature?: number;
  /** Run seed; each (user, split, mode, attempt) gets its own stream. */
  seed?: number;
  /** Candidates explained in step 2 (default 3). */
  explain?: number;
  /** With a fitted scorer: picks ordered by it before the rest follow as shown (default 5; answerOrder). */
  head?: number;
  /** Facts stated for the pattern and per explained candidate (default all). */
  maxFacts?: number;
}

export class EvidenceTeacher implements Teacher {
  readonly name = "evidence";
  readonly batch = 1;
  readonly concurrency = 1;
  readonly usesPrompt = false;

  constructor(
    readonly ctx: EvidenceContext,
    readonly o: EvidenceTeacherOptions = {},
  ) {}

  /** Picks a fitted scorer orders (at least the explained ones). */
  get head(): number {
    return Math.max(this.explain, this.o.head ?? 5);
  }

  /** Candidates the teacher explains, and so orders (at least one). */
  get explain(): number {
    return Math.max(1, this.o.explain ?? 3);
  }

  /**
   * A ranking (upstream indices) for one attempt. The teacher orders the candidates it explains
   * (the first `explain`: target first in targeted mode, else sampled by Plackett–Luce, which at
   * temperature 0 is the scorer's own order); the
   * others follow in the order the prompt shows them.
   *
   * Why not a full sampled order: the teacher has reasons only for the candidates it explains,
   * and a student cannot learn an order that nothing in its prompt explains. It learns to copy
   * a random permutation of ten SIDs far more slowly than "these first, then the rest as
   * listed" (mid-training's candidates task has the same shape). On Beauty's valid lists the
   * ranking keeps its R@1 (0.323) and NDCG@5 is 0.540 (top 1 explained) or 0.551 (top 3),
   * against 0.558 for the full sorted order and 0.520 for the incoming order.
   */
  sampleRanking(ev: ListEvidence, req: TeacherRequest, attempt: number): number[] {
    const rng = new Rng(listSeed(this.o.seed ?? 0, req.list.user, req.list.split, req.mode, attempt));
    const scores = ev.candidates.map((c) => c.score);
    const t = this.o.temperature ?? 1;
    let ranked: number[];
    if (req.mode !== "targeted") ranked = samplePlackettLuce(scores, t, rng);
    else {
      const target = req.list.candidates.indexOf(req.list.target);
      const others = scores.map((_, i) => i).filter((i) => i !== target);
      ranked = [target, ...samplePlackettLuce(others.map((i) => scores[i]!), t, rng).map((j) => others[j]!)];
    }
    // A fitted scorer orders its first `head` picks (answerOrder says why not all ten); the
    // hand-weighted teacher only those it explains. (Its first pick then "the rest as shown"
    // made every A-pick an identity answer: 48% of accepted traces.)
    return answerOrder(ranked, this.ctx.scorer ? this.head : this.explain, req.prompt.shownOrder);
  }

  async attempts(req: TeacherRequest): Promise<TeacherAttempt[]> {
    // The history the student's prompt shows (after any budget cut): cite nothing it cannot see.
    const upstreamShown = req.prompt.shownOrder.every((u, j) => u === j);
    const scorer = this.ctx.scorer;
    const withheld = scorer ? withheldFor(scorer.source, req.list) : this.o.withheld;
    const ev = computeEvidence(this.ctx, req.prompt.history, req.list.candidates, { ...this.o, upstreamShown, withheld });
    if (scorer) {
      // The scorer reads the evidence the student's prompt shows (the same history, the same withholding).
      const scores = scorer.score(req.prompt.evidence ?? candidateEvidence(scorer.source, req.prompt.history, req.list.candidates, { withheld }));
      ev.candidates.forEach((c, i) => (c.score = scores[i]!));
    }
    const out: TeacherAttempt[] = [];
    for (let a = req.attempt; a < req.attempt + Math.max(1, req.count); a++) {
      const ranking = this.sampleRanking(ev, req, a);
      const { format, candidateSids, candidateNames } = req.prompt;
      const r = writeRationale(this.ctx, ev, ranking, this.explain, this.o.maxFacts, GRAMMARS[format].names === "label" ? candidateNames : undefined, scorer ? this.head : this.explain, req.prompt.layout !== "full");
      const raw = formatOutput(format, r.text, ranking.map((u) => candidateNames[u]!));
      out.push({
        raw,
        parsed: parseRerankOutput(raw, { format, candidateSids, candidateNames }),
        evidence: {
          recent: ev.recent.map((i) => id(this.ctx, i)),
          anchors: ev.anchors.map((i) => id(this.ctx, i)),
          window: this.ctx.train.window,
          scores: ev.candidates.map((c) => Math.round(c.score * 1e4) / 1e4),
          temperature: this.o.temperature ?? 1,
          sentences: r.sentences,
        },
      });
    }
    return out;
  }
}
