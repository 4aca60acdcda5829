/**
 * The re-ranking prompt: one user's history and K candidates → chat messages, following the
 * GR2 paper's five principles (listed below; docs/architecture.md walks one list through them):
 *
 *  1. expert role and task (system message);
 *  2. the history and ALL candidates together, in one message, so the model compares them;
 *  3. domain-knowledge priming: complementary categories (shampoo → conditioner), mined from
 *     the train split (complements.ts) or supplied;
 *  4. items cited by SID: every item line starts with its SID, and the answer names SIDs only
 *     (the candidates' SIDs are also listed back to back, in the order shown, before their lines);
 *     in the labels format each candidate's SID is followed by a letter, the rationale cites
 *     candidates by SID and letter, and the ranking names letters (output-format.ts);
 *  5. three steps: pattern recognition → complementary/category matching → selection.
 *
 * Items are shown as `SID title | brand | category | price`. With a token budget the prompt is
 * measured with the real tokenizer and chat template; when it is too long the oldest history
 * items go first (down to `minHistory`), then titles are cut to fewer words, and only if that
 * is not enough does building fail (`PromptBudgetError`), since silently dropping candidates
 * would change the task.
 *
 * Candidate shuffling (seeded) guards against position bias: the shown order is recorded
 * (`shownOrder`), and answers are mapped back by SID, so the upstream order is never lost.
 *
 * The `sids` layout is the direct policy's prompt (technical report: a policy without chain of
 * thought for low-latency serving): items as bare SIDs, no text, hints or steps. The model
 * learned what SIDs mean in mid-training, and the prompt shrinks ~7× (K = 10, 8 history items:
 * ~150 tokens instead of ~1,000), which is what the prefill, and so the latency, is made of.
 */
import { Rng } from "../data/rng.js";
import { itemText } from "../data/text.js";
import type { Dataset, Item } from "../data/types.js";
import { CHATML, renderChat, type ChatMessage, type ChatTemplate } from "../lm/chat.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import { categoryKey } from "../data/text.js";
import { candidateEvidence, showsRank, withheldFor, type CandidateEvidence, type EvidenceSet, type EvidenceSource } from "../rank/evidence/features.js";
import { withScoreRanks, type ScorerWeights } from "../rank/evidence/scorer.js";
import type { Withheld } from "../rank/evidence/train-index.js";
import { evidenceClause, evidenceMark, evidenceSuffix } from "../rank/evidence/render.js";
import { compressHistory, summaryText, type CompressedHistory, type CompressorWeights } from "./compress.js";
import { ComplementTable, mineComplements, type ComplementHint } from "./complements.js";
import { candidateLabel, candidateNames, formatInstructions, formatOutput, GRAMMARS, type OutputFormat } from "./output-format.js";

/** What the prompt needs to know about the catalogue. */
export interface PromptContext {
  /** Catalogue items by dense index. */
  items: readonly Item[];
  /** Item index → SID string. */
  sidOf: (item: number) => string;
  /** Mined complements (complements.ts) or hand-written hints. */
  complements?: ComplementTable | readonly ComplementHint[];
  /** What the store sells, for the role line ("beauty", "movies"). Default from the catalogue name. */
  domain?: string;
  /**
   * Collaborative evidence shown on each candidate line (src/rank/evidence/), computed from
   * the train split only; absent or set `none` = no evidence. The `ranked` set also needs the
   * evidence scorer's weights, to rank each list's candidates by them.
   */
  evidence?: EvidenceContext;
  /**
   * The context compressor's policy (compress.ts): the history shown is the items it keeps, the
   * rest summarised in one line, and the evidence is counted against the kept items. Needs the
   * evidence statistics (`evidence.source`), also with the `none` set.
   */
  compressor?: CompressorWeights;
}

/** The evidence a prompt shows: its statistics, its set, and the scorer the `ranked` set ranks by. */
export interface EvidenceContext {
  source: EvidenceSource;
  set: EvidenceSet;
  scorer?: ScorerWeights;
}

export interface PromptBudget {
  /** Most tokens the rendered prompt (template and generation prompt included) may have. */
  maxTokens: number;
  tokenizer: TextTokenizer;
  template?: ChatTemplate;
  /** History items never dropped for the budget (default 1). */
  minHistory?: number;
  /** Titles are never cut below this many words (default 3). */
  minTitleWords?: number;
}

/**
 * `full`: items with titles, evidence clauses and the paper's reasoning steps; `sids`: bare SIDs
 * and compact evidence, answered by the ranking alone (the direct policy); `brief`: the `sids`
 * prompt answered with a short rationale before the ranking, a reasoning policy that reads
 * what the evidence-reading stage taught (a fifth of the `full` prompt's tokens).
 */
export type PromptLayout = "full" | "sids" | "brief";
export const PROMPT_LAYOUTS: readonly PromptLayout[] = ["full", "sids", "brief"];
/** Layouts that show bare SIDs with compact evidence (no item text, hints or steps). */
const sidsOnly = (layout: PromptLayout | undefined): boolean => layout === "sids" || layout === "brief";

export interface RerankPromptOptions {
  format: OutputFormat;
  /** Default `full`. */
  layout?: PromptLayout;
  /** Most recent history items shown at most (default 20). */
  maxHistory?: number;
  /** Complement hints shown at most (default 4). */
  maxHints?: number;
  /** Shuffle the shown candidates with this seed (see `listSeed`); absent = upstream order. */
  shuffleSeed?: number;
  budget?: PromptBudget;
  /**
   * Teacher prompts only (targeted mode): reveal the item the user actually chose and ask the
   * teacher to explain it and rank it first. Never used for the student's prompt.
   */
  revealTarget?: number;
}

export interface RerankListInput {
  /** The dataset's user id, when known: a list built inside the user's train prefix withholds their later purchases from its evidence. */
  user?: string;
  /** Item indices, oldest first. */
  history: readonly number[];
  /** Item indices in upstream order. */
  candidates: readonly number[];
}

export interface RerankPrompt {
  messages: ChatMessage[];
  format: OutputFormat;
  /** shownOrder[j] = upstream index of the j-th candidate shown. */
  shownOrder: number[];
  /** The candidates' SIDs in upstream order (what `parseRerankOutput` maps answers onto). */
  candidateSids: string[];
  /** How the answer names the candidates, upstream order: their SIDs, or (labels format) their letters. */
  candidateNames: string[];
  /** The history items shown (item indices, oldest first). */
  history: number[];
  /** Older history items left out (by `maxHistory` or the budget). */
  historyOmitted: number;
  /** Words titles were cut to for the budget, or null when shown whole. */
  titleWords: number | null;
  hints: ComplementHint[];
  /** The evidence shown per candidate (upstream order), or null when the prompt shows none. */
  evidence: CandidateEvidence[] | null;
  /** Prompt tokens as rendered for generation, when a budget was given. */
  tokens: number | null;
  /** The layout rendered (the teacher cites candidates in the order its lines show them). */
  layout: PromptLayout;
}

export class PromptBudgetError extends Error {
  constructor(readonly maxTokens: number, readonly minimumTokens: number) {
    super(`re-ranking prompt needs at least ${minimumTokens} tokens (history cut to the minimum, titles shortened) but the budget is ${maxTokens}`);
  }
}

/**
 * The prompt context of a dataset: its items, their SIDs, complement hints mined from the
 * training sequences only (never the evaluation targets), and the store's domain.
 */
export function datasetPromptContext(dataset: Dataset, sidOf: (item: number) => string, trainSequences: readonly (readonly number[])[]): PromptContext & { complements: ComplementTable } {
  const items = dataset.catalogue.items;
  return { items, sidOf, complements: mineComplements(trainSequences, items), domain: domainOf(dataset.catalogue.name) };
}

/** The domain word for the role line: "amazon-beauty" → "beauty"; the synthetic catalogue is a beauty store. */
export function domainOf(catalogueName: string): string {
  const n = catalogueName.replace(/^amazon-/i, "").toLowerCase();
  return n === "synthetic" ? "beauty" : n;
}

/** A per-list seed from a run seed and the user id (FNV-1a), so shuffles differ per user but repeat per run. */
export function listSeed(seed: number, user: string, ...parts: (string | number)[]): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const s of [user, ...parts.map(String)]) {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xff, 0x01000193); // separator: ("ab","c") ≠ ("a","bc")
  }
  return h >>> 0;
}

/**
 * The first `words` words of a title. No ellipsis is added: the item is identified by its SID
 * anyway, and a marker costs up to 3 tokens per item in a small byte-level vocabulary, which
 * can eat the whole saving of the cut.
 */
export function shortenTitle(title: string, words: number | null): string {
  if (words === null) return title;
  const parts = title.split(/\s+/).filter(Boolean);
  return parts.length <= words ? title : parts.slice(0, words).join(" ");
}

/**
 * One item line: `SID title | brand: … | category: … | price: …` (titles cut to `titleWords`);
 * with a letter (labels format), `SID F: title | …`.
 */
export function itemLine(item: Item, sid: string, titleWords: number | null, label?: string): string {
  return `${sid}${label === undefined ? "" : ` ${label}:`} ${itemText({ ...item, title: shortenTitle(item.title, titleWords) })}`;
}

/**
 * What a prompt shows of a compressed history: the kept items (of `history`) and the line that
 * summarises the rest. One rendering for the prompts and the compressor's reward.
 */
export function compressedView(history: readonly number[], c: CompressedHistory): { history: number[]; compressed: NonNullable<View["compressed"]> } {
  return { history: c.kept.map((j) => history[j]!), compressed: { summary: c.summary ? summaryText(c.summary) : null } };
}

/** The most recent `maxHistory` items of a history: all a prompt (or the compressor) ever reads of it. */
export function cappedHistory(history: readonly number[], maxHistory: number): number[] {
  return history.slice(Math.max(0, history.length - maxHistory));
}

/** A history item as the compressed history shows it: `SID leaf category; brand`. */
export function keptItemLine(item: Item, sid: string): string {
  const parts = [item.categories.at(-1), item.brand].filter((x): x is string => !!x);
  return parts.length ? `${sid} ${parts.join("; ")}` : sid;
}

function hintsFor(ctx: PromptContext, history: readonly number[], candidates: readonly number[], max: number): ComplementHint[] {
  if (!ctx.complements || max <= 0) return [];
  const table = ctx.complements instanceof ComplementTable ? ctx.complements : new ComplementTable(ctx.complements);
  const cats = (ids: readonly number[]) => ids.map((i) => categoryKey(ctx.items[i]!)).filter((c) => c !== "");
  // Recent categories first: the last items say most about the next one.
  return table.relevant(cats([...history].reverse()), cats(candidates), max);
}

export interface View {
  history: readonly number[];
  historyOmitted: number;
  titleWords: number | null;
  /** Evidence against this view's history (upstream order), or null. */
  evidence: CandidateEvidence[] | null;
  evidenceSet: EvidenceSet;
  /** With the compressor: the line that summarises what it left out (null when it kept everything). */
  compressed: { summary: string | null } | null;
}

const SYSTEM_TEMPLATE = (domain: string) =>
  `You are an expert recommender for an online ${domain} store. Your task is to re-rank a short list of candidate products for one customer: ` +
  `read the customer's purchase history and all candidates together, decide which candidate the customer is most likely to buy next, ` +
  `and order every candidate from most to least likely. Each product is named by its semantic ID (SID), a code such as ` +
  `<|sid_begin|><s_a_12><s_b_7>…<|sid_end|>; products with similar SIDs are similar. Always refer to products by their SID.`;

// The SIDs-only prompts' system line. It looks like the place to save tokens, and is not: with a
// 13-token one the demo's three-layer students wrote a repeated letter in their rankings far
// more often (direct policy 84% valid against 96%, reasoning 97.7% against 98.7%;
// docs/benchmarks.md, session 19). Small models probably use a long constant prefix as somewhere
// to park attention; the instruction line below is the one that was cut.
const DIRECT_SYSTEM_TEMPLATE = (domain: string) =>
  `You re-rank candidate products for a customer of an online ${domain} store. Products are named by semantic IDs (SIDs); similar SIDs mean similar products.`;

/**
 * The SIDs-only prompts' last line: what to answer (the ranking alone, or `reasoning` first).
 * Short, because every training step and served request pays for it and the embedded students
 * learn the answer's shape from their examples, not from this text (23 → 13 tokens).
 */
function sidsOnlyInstructions(format: OutputFormat, K: number, reasoning: boolean): string {
  if (GRAMMARS[format].names !== "label") return reasoning ? formatInstructions(format, K) : `Answer "Ranking: " and all ${K} candidate SIDs, most likely next purchase first, each once.`;
  return `Answer ${reasoning ? "one line of reasons citing letters, then " : ""}"Ranking:" and all ${K} letters, likeliest first.`;
}

/**
 * The SIDs-only prompt: the direct policy's (the answer is the ranking line alone) or, with
 * `reasoning`, the `brief` layout's (the format's reasoning line, then the ranking).
 */
function renderDirectMessages(ctx: PromptContext, list: RerankListInput, shown: readonly number[], view: View, format: OutputFormat, reasoning: boolean): ChatMessage[] {
  const K = list.candidates.length;
  const sid = (u: number) => ctx.sidOf(list.candidates[u]!);
  const byLabel = GRAMMARS[format].names === "label";
  const ev = (u: number) => (view.evidence ? evidenceSuffix(view.evidence[u]!, view.evidenceSet) : "");
  const mark = (u: number) => (view.evidence ? evidenceMark(view.evidence[u]!, view.evidenceSet) : "");
  const user = [
    directHistoryLine(ctx, view),
    // The product-line marker right after the letter: the answer names letters, and a marker
    // next to its letter is one attention hop from it (at the end of the suffix, eight tokens
    // away, a 4M student followed it in 6% of the lists it was trained on).
    byLabel ? `Candidates:${shown.map((u, j) => ` ${candidateLabel(j)}${mark(u)}${sid(u)}${ev(u)}`).join("")}` : `Candidates: ${shown.map((u) => mark(u) + sid(u) + ev(u)).join("")}`,
    sidsOnlyInstructions(format, K, reasoning),
  ];
  return [
    { role: "system", content: DIRECT_SYSTEM_TEMPLATE(ctx.domain ?? "retail") },
    { role: "user", content: user.join("\n") },
  ];
}

/** The SIDs-only layouts' history: one line of bare SIDs (and, compressed, the summary of what was left out). */
export function directHistoryLine(ctx: Pick<PromptContext, "sidOf">, view: Pick<View, "history" | "compressed">): string {
  return `History, oldest first: ${view.history.map((i) => ctx.sidOf(i)).join("")}${view.compressed?.summary ? ` (${view.compressed.summary})` : ""}`;
}

/**
 * The history as a layout shows it: the full layout's section (`historySection`) or the
 * SIDs-only line. What the context compressor's reward measures, so it pays for the tokens the
 * re-ranker actually reads.
 */
export function historyText(ctx: Pick<PromptContext, "items" | "sidOf">, view: Pick<View, "history" | "historyOmitted" | "titleWords" | "compressed">, layout: PromptLayout = "full"): string {
  return sidsOnly(layout) ? directHistoryLine(ctx, view) : historySection(ctx, view).join("\n");
}

/**
 * The full layout's history section: a header, one line per item shown, and with the context
 * compressor the line summarising what it left out. The compressor's reward measures this text
 * (src/train/compress.ts), so it is the one rendering of it.
 */
export function historySection(ctx: Pick<PromptContext, "items" | "sidOf">, view: Pick<View, "history" | "historyOmitted" | "titleWords" | "compressed">): string[] {
  const n = view.history.length;
  const lines = [
    view.compressed
      ? `History, oldest first (${n} of ${n + view.historyOmitted}):`
      : view.historyOmitted > 0
        ? `Purchase history (oldest first; the last ${n} of ${n + view.historyOmitted} purchases):`
        : `Purchase history (oldest first, ${n} purchase${n === 1 ? "" : "s"}):`,
  ];
  // The compressor's rewrite: a kept item is its SID, leaf category and brand (~11 tokens on
  // Beauty against ~52 with title and price); the SID carries what mid-training taught about it.
  const line = view.compressed ? (i: number) => keptItemLine(ctx.items[i]!, ctx.sidOf(i)) : (i: number) => itemLine(ctx.items[i]!, ctx.sidOf(i), view.titleWords);
  view.history.forEach((item, j) => lines.push(`${j + 1}. ${line(item)}`));
  if (view.compressed?.summary) lines.push(`(${view.compressed.summary})`);
  return lines;
}

function renderMessages(ctx: PromptContext, list: RerankListInput, shown: readonly number[], view: View, hints: readonly ComplementHint[], o: RerankPromptOptions): ChatMessage[] {
  if (sidsOnly(o.layout)) return renderDirectMessages(ctx, list, shown, view, o.format, o.layout === "brief");
  const K = list.candidates.length;
  const domain = ctx.domain ?? "retail";
  const line = (i: number, label?: string) => itemLine(ctx.items[i]!, ctx.sidOf(i), view.titleWords, label);
  const withEvidence = (u: number, text: string) => (view.evidence ? `${text} | ${evidenceClause(view.evidence[u]!, view.evidenceSet)}` : text);
  const lines: string[] = historySection(ctx, view);
  if (GRAMMARS[o.format].names === "label") {
    // Each line is the SID, then the letter the answer names the candidate by (" F", the same
    // word as in the ranking), then the item. The rationale picks a candidate by its SID, coarse
    // codes first, which is what mid-training taught; the letter after a cited SID is then a
    // copy of what follows that SID here.
    lines.push("", `Candidates (${K}):`);
    shown.forEach((u, j) => lines.push(`- ${withEvidence(u, line(list.candidates[u]!, candidateLabel(j)))}`));
  } else {
    // The SIDs back to back first, then one line per candidate: the answer's ranking is a copy of
    // this line with the chosen items moved up, the pattern mid-training's candidates task
    // teaches (copying from SIDs separated by item text is much harder for a small model).
    lines.push("", `Candidates (${K}): ${shown.map((u) => ctx.sidOf(list.candidates[u]!)).join("")}`);
    for (const u of shown) lines.push(`- ${withEvidence(u, line(list.candidates[u]!))}`);
  }
  if (view.evidence) {
    lines.push("", "Evidence from other customers' purchases: co-bought = customers who bought the candidate within a few purchases after one of the last purchases (#n: the history item).");
  }
  lines.push("", "Domain knowledge: customers often buy complementary products one after another (for example conditioner after shampoo).");
  if (hints.length > 0) {
    lines.push("In this store, purchases in the first category are often followed by purchases in the second:");
    for (const h of hints) lines.push(`- ${h.from} → ${h.to}`);
  }
  lines.push(
    "",
    "Think in three steps:",
    "1. Pattern recognition: which categories, brands and price range does the recent history show?",
    "2. Complementary and category matching: which candidates continue those patterns or complement the recent purchases?",
    `3. Selection: order all ${K} candidates from most to least likely next purchase.`,
  );
  if (o.revealTarget !== undefined) {
    lines.push(
      "",
      `The customer actually bought ${ctx.sidOf(o.revealTarget)} next. Explain, following the three steps and citing the evidence in the history, ` +
        "why it is the best choice, without saying that you were told; rank it first.",
    );
  }
  lines.push("", formatInstructions(o.format, K));
  return [
    { role: "system", content: SYSTEM_TEMPLATE(domain) },
    { role: "user", content: lines.join("\n") },
  ];
}

/**
 * The prompt's fixed wording (every line that is not an item), in both output formats, for
 * training the embedded models' tokenizer: a catalogue-only BPE splits this English into
 * near-single bytes (~1,000 tokens of scaffold for the demo), where a real LLM's tokenizer
 * spends a few hundred.
 */
export function promptScaffoldTexts(domain: string, k = 10): string[] {
  const ctx: PromptContext = { items: [], sidOf: () => "", domain };
  const list: RerankListInput = { history: [], candidates: Array.from({ length: k }, () => 0) };
  const view: View = { history: [], historyOmitted: 1, titleWords: null, evidence: null, evidenceSet: "none", compressed: null };
  const hint: ComplementHint = { from: "", to: "", count: 0, lift: 0 };
  const texts: string[] = [];
  for (const format of ["compact", "json", "labels"] as const) {
    for (const revealTarget of [undefined, 0]) {
      for (const m of renderMessages(ctx, list, [], view, [hint], { format, revealTarget })) texts.push(m.content);
    }
  }
  // The evidence phrases, on every line of an evidence prompt.
  for (const m of renderMessages(ctx, list, [], { ...view, evidence: [] }, [], { format: "labels" })) texts.push(m.content);
  const sample: CandidateEvidence = { position: 0, coBuy: 5, coBuyAfter: 6, coBuyBest: 5, coBuyTop: true, coBuyLine: 3, popularity: 9, band: "high", sameCategory: 2, sameBrand: 1, repeat: true };
  for (const band of ["high", "mid", "low"] as const) texts.push(evidenceClause({ ...sample, band }, "all"), evidenceSuffix({ ...sample, band }, "all"));
  for (let r = 1; r <= k; r++) texts.push(evidenceClause({ ...sample, scoreRank: r }, "ranked"), evidenceSuffix({ ...sample, scoreRank: r }, "ranked"));
  for (const format of ["compact", "labels"] as const) {
    for (const layout of ["sids", "brief"] as const) for (const m of renderMessages(ctx, list, [], view, [], { format, layout })) texts.push(m.content);
  }
  // The letters as the labels format writes them: each " A" … becomes one token.
  const letters = Array.from({ length: k }, (_, j) => candidateLabel(j));
  texts.push(letters.map((l) => `- ${l}`).join("\n"), formatOutput("labels", "", letters));
  return [...new Set(texts)];
}

async function countTokens(messages: ChatMessage[], b: PromptBudget): Promise<number> {
  return (await renderChat(messages, b.tokenizer, { template: b.template ?? CHATML, addGenerationPrompt: true })).ids.length;
}

/** Largest x in [lo, hi] with ok(x), given ok is monotone (true up to some point); lo - 1 if none. */
async function largest(lo: number, hi: number, ok: (x: number) => Promise<boolean>): Promise<number> {
  let best = lo - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (await ok(mid)) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/** The evidence a prompt shows for its candidates, ranked by the scorer for the `ranked` set. */
function evidenceOf(E: EvidenceContext, history: readonly number[], candidates: readonly number[], withheld: Withheld | undefined): CandidateEvidence[] {
  const ev = candidateEvidence(E.source, history, candidates, { withheld });
  if (!showsRank(E.set)) return ev;
  if (!E.scorer) throw new Error('re-ranking prompt: the "ranked" evidence set needs the evidence scorer\'s weights (a run\'s evidence/scorer.json, or "scorer" in the model\'s gr2_prompt.json)');
  return withScoreRanks(E.scorer, ev);
}

/** Builds the prompt for one candidate list (see the file comment). */
export async function buildRerankPrompt(ctx: PromptContext, list: RerankListInput, o: RerankPromptOptions): Promise<RerankPrompt> {
  const K = list.candidates.length;
  if (K < 1) throw new RangeError("re-ranking prompt: the list has no candidates");
  const shownOrder = Array.from({ length: K }, (_, i) => i);
  const shown = o.shuffleSeed === undefined ? shownOrder : new Rng(o.shuffleSeed).shuffle(shownOrder);
  const full = cappedHistory(list.history, o.maxHistory ?? 20);
  const E = ctx.evidence && ctx.evidence.set !== "none" ? ctx.evidence : undefined;
  // With evidence on the lines, the budget goes to history and evidence, not generic hint lines.
  const hints = sidsOnly(o.layout) ? [] : hintsFor(ctx, full, list.candidates, o.maxHints ?? (E ? 0 : 4));
  const source = ctx.evidence?.source;
  const withheld = source && list.user !== undefined ? withheldFor(source, { user: list.user, history: [...list.history] }) : undefined;
  let compressed: CompressedHistory | null = null;
  if (ctx.compressor) {
    if (!source) throw new Error("re-ranking prompt: the context compressor needs the catalogue's training statistics (PromptContext.evidence.source)");
    compressed = compressHistory(ctx.compressor, source, full, list.candidates, withheld);
  }
  // What the budget trims from: the compressor's kept items, or the whole (capped) history.
  const shownCompressed = compressed ? compressedView(full, compressed) : null;
  const shownHistory = shownCompressed?.history ?? full;
  const viewOf = (keep: number, titleWords: number | null): View => {
    const history = shownHistory.slice(shownHistory.length - keep);
    return {
      history,
      historyOmitted: list.history.length - keep,
      titleWords,
      evidence: E ? evidenceOf(E, history, list.candidates, withheld) : null,
      evidenceSet: E?.set ?? "none",
      compressed: shownCompressed?.compressed ?? null,
    };
  };
  const candidateSids = list.candidates.map((c) => ctx.sidOf(c));
  const names = candidateNames(o.format, candidateSids, shown);
  const result = (view: View, tokens: number | null): RerankPrompt => ({
    messages: renderMessages(ctx, list, shown, view, hints, o),
    format: o.format,
    shownOrder: shown,
    candidateSids: [...candidateSids],
    candidateNames: [...names],
    history: [...view.history],
    historyOmitted: view.historyOmitted,
    titleWords: view.titleWords,
    hints: [...hints],
    evidence: view.evidence,
    tokens,
    layout: o.layout ?? "full",
  });

  const b = o.budget;
  if (!b) return result(viewOf(shownHistory.length, null), null);
  const measure = (v: View) => countTokens(renderMessages(ctx, list, shown, v, hints, o), b);
  const fits = async (v: View) => (await measure(v)) <= b.maxTokens;

  const whole = viewOf(shownHistory.length, null);
  const wholeTokens = await measure(whole);
  if (wholeTokens <= b.maxTokens) return result(whole, wholeTokens);
  // 1. Drop the oldest history items: keep the most that fit.
  const minHistory = Math.min(shownHistory.length, Math.max(0, b.minHistory ?? 1));
  const keep = await largest(minHistory, shownHistory.length - 1, (k) => fits(viewOf(k, null)));
  if (keep >= minHistory) {
    const v = viewOf(keep, null);
    return result(v, await measure(v));
  }
  // 2. Shorten titles (every item's), as little as needed.
  const shownItems = [...viewOf(minHistory, null).history, ...list.candidates];
  const longest = Math.max(1, ...shownItems.map((i) => ctx.items[i]!.title.split(/\s+/).filter(Boolean).length));
  const minWords = Math.max(1, b.minTitleWords ?? 3);
  const words = await largest(minWords, longest - 1, (w) => fits(viewOf(minHistory, w)));
  if (words >= minWords) {
    const v = viewOf(minHistory, words);
    return result(v, await measure(v));
  }
  throw new PromptBudgetError(b.maxTokens, await measure(viewOf(minHistory, minWords)));
}
