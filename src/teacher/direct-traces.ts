/**
 * Examples for the direct policy (technical report: a policy without chain of thought, for
 * low-latency serving), derived from reasoning traces: the same lists and the teacher's
 * ranking, but prompted in the `sids` layout and answered with the ranking line alone (an
 * empty rationale). SFT on these warms the model up for the direct prompt before its own RL
 * pass; the file is a trace file like any other, so `runSft` reads it unchanged.
 */
import { keyOfList, listKey, type CandidateList } from "../rank/candidates.js";
import { buildRerankPrompt, type PromptBudget, type PromptContext, type PromptLayout } from "../prompt/rerank-prompt.js";
import { formatOutput, type OutputFormat } from "../prompt/output-format.js";
import type { ChatMessage } from "../lm/chat.js";
import { writeFileAtomic } from "../util/atomic.js";
import type { SftTrace } from "./trace-file.js";
import type { TraceRecord } from "./traces.js";
import { orderByScore } from "../rank/baselines/reranker.js";
import { answerOrder, type EvidenceScorer } from "../rank/evidence/scorer.js";

export interface DirectTrace extends SftTrace {
  user: string;
  candidate_sids: string[];
  /** Upstream candidate indices, best first (the teacher's ranking). */
  ranking: number[];
  messages: ChatMessage[];
}

export interface DirectTraceOptions {
  context: PromptContext;
  format: OutputFormat;
  maxHistory?: number;
  budget?: PromptBudget;
  /**
   * The prompt layout (default `sids`, the direct policy's). `full` gives a direct policy that
   * reads the paper's full prompt (item text and evidence clauses) and answers without reasoning.
   */
  layout?: PromptLayout;
  /** Evidence reading: the scorer's picks before the rest follow as shown (default 5; answerOrder). */
  head?: number;
  /**
   * Evidence reading: copies of each list whose head the scorer moves (default 1). It keeps the
   * head in ~78% of lists, and a small student fits that majority first (docs/benchmarks.md).
   */
  movedRepeat?: number;
}

/**
 * One direct example per accepted trace with a ranking. The list (history and upstream
 * candidates) comes from `lists` by split and user, since a trace keeps only its own, reasoning-layout
 * prompt; a trace whose user has no list, or whose candidates differ from it, is an error
 * naming the user (the traces and lists come from different runs).
 */
export async function directTraces(traces: readonly TraceRecord[], lists: readonly Pick<CandidateList, "user" | "split" | "history" | "candidates">[], o: DirectTraceOptions): Promise<DirectTrace[]> {
  // A user may have a list in several splits (train and valid), so lists are found by both.
  const byList = new Map(lists.map((l) => [keyOfList(l), l]));
  const out: DirectTrace[] = [];
  for (const t of traces) {
    if (!t.accepted || !t.ranking) continue;
    const list = byList.get(listKey(t.split, t.user, t.position));
    if (!list) throw new Error(`direct traces: the trace of user ${JSON.stringify(t.user)} (${t.split}) has no candidate list among the ${lists.length} given`);
    const prompt = await buildRerankPrompt(o.context, list, { format: o.format, layout: o.layout ?? "sids", maxHistory: o.maxHistory, budget: o.budget });
    if (prompt.candidateSids.join("") !== t.candidate_sids.join("")) {
      throw new Error(`direct traces: user ${JSON.stringify(t.user)}'s trace has other candidates than its list (were they built from different runs?)`);
    }
    out.push({
      user: t.user,
      candidate_sids: prompt.candidateSids,
      ranking: [...t.ranking],
      messages: prompt.messages,
      response: formatOutput(o.format, "", t.ranking.map((u) => prompt.candidateNames[u]!)),
      format: o.format,
      accepted: true,
    });
  }
  return out;
}

/** Writes direct examples as a JSONL trace file, atomically. */
export function writeDirectTraces(path: string, traces: readonly DirectTrace[]): void {
  writeFileAtomic(path, traces.map((t) => JSON.stringify(t) + "\n").join(""));
}

/**
 * The evidence-reading task: every list in the direct policy's prompt (SIDs-only by default), answered with
 * the evidence scorer's first `head` picks and then the rest as shown (answerOrder; deterministic; the scorer reads the evidence that prompt
 * shows). Unlike rejection traces it needs no target and no sampling, so every learning list is
 * an example, and it teaches the one skill the upstream order lacks: moving a candidate whose
 * evidence is strong above the head. (A student trained on target-filtered traces alone kept
 * the incoming head in every list; docs/benchmarks.md.)
 */
export async function evidenceReadingExamples(lists: readonly CandidateList[], scorer: EvidenceScorer, o: DirectTraceOptions): Promise<{ examples: DirectTrace[]; headMoved: number }> {
  const examples: DirectTrace[] = [];
  let headMoved = 0;
  for (const list of lists) {
    const prompt = await buildRerankPrompt(o.context, list, { format: o.format, layout: o.layout ?? "sids", maxHistory: o.maxHistory, budget: o.budget });
    if (!prompt.evidence) throw new Error("evidence reading: the prompt context shows no evidence (--evidence none); there is nothing to read");
    const ranking = answerOrder(orderByScore(scorer.score(prompt.evidence)), o.head ?? 5, prompt.shownOrder);
    if (ranking[0] !== 0) headMoved++;
    const copies = ranking[0] !== 0 ? Math.max(1, o.movedRepeat ?? 1) : 1;
    for (let c = 0; c < copies; c++) examples.push({
      user: list.user,
      candidate_sids: prompt.candidateSids,
      ranking,
      messages: prompt.messages,
      response: formatOutput(o.format, "", ranking.map((u) => prompt.candidateNames[u]!)),
      format: o.format,
      accepted: true,
    });
  }
  return { examples, headMoved: lists.length ? headMoved / lists.length : 0 };
}
