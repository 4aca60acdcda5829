/**
 * Judges of the context compressor (technical report §5.1): each reads a list's full history
 * and a compression of it and returns the report's verdict (s, p, q; src/reward/compress.ts).
 *
 * - `EvidenceJudge` (offline, no LLM, verifiable): the evidence scorer ranks the list twice,
 *   with the evidence counted against the full history and against the kept items. q is the
 *   target's NDCG under the compressed ranking, p the agreement of the two rankings
 *   (Kendall's τ), s whether anything was kept. It needs the list's target, so it judges the
 *   learning lists only, the lists the scorer itself was fit on.
 * - `LlmJudge`: any OpenAI-compatible model, asked the report's three questions; its answers are
 *   cached on disk by the chat client (the same request is never paid for twice).
 */
import { candidateEvidence, withheldFor } from "../rank/evidence/features.js";
import type { EvidenceScorer } from "../rank/evidence/scorer.js";
import type { CandidateList } from "../rank/candidates.js";
import { verdictOf, type JudgeVerdict } from "../reward/compress.js";
import type { ChatClient } from "./openai-client.js";

export interface JudgeRequest {
  list: CandidateList;
  /** The history the full prompt shows (item indices, oldest first). */
  history: readonly number[];
  /** Positions in `history` the compressor kept (ascending). */
  kept: readonly number[];
  /** The history section as the full prompt and the compressed prompt render it. */
  fullText: string;
  compressedText: string;
  /** The candidates as the prompt lists them (the LLM judge's view of the task). */
  candidatesText: string;
}

export interface CompressionJudge {
  readonly name: string;
  judge(requests: readonly JudgeRequest[]): Promise<JudgeVerdict[]>;
}

/** Kendall's τ between two orders of the same items (1 = equal, −1 = reversed). */
export function kendallTau(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  if (n < 2) return 1;
  const pos = new Map(b.map((x, i) => [x, i]));
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += Math.sign(pos.get(a[j]!)! - pos.get(a[i]!)!);
  return s / ((n * (n - 1)) / 2);
}

const orderOf = (scores: Float32Array) => Array.from(scores.keys()).sort((x, y) => scores[y]! - scores[x]! || x - y);

export class EvidenceJudge implements CompressionJudge {
  readonly name = "evidence";
  constructor(private readonly scorer: EvidenceScorer) {}

  judge(requests: readonly JudgeRequest[]): Promise<JudgeVerdict[]> {
    const source = this.scorer.source;
    return Promise.resolve(
      requests.map(({ list, history, kept }) => {
        const withheld = withheldFor(source, list);
        const full = orderOf(this.scorer.score(candidateEvidence(source, history, list.candidates, { withheld })));
        const comp = orderOf(this.scorer.score(candidateEvidence(source, kept.map((j) => history[j]!), list.candidates, { withheld })));
        const rank = comp.indexOf(list.rankPre - 1) + 1;
        return verdictOf(kept.length > 0 || history.length === 0, (1 + kendallTau(comp, full)) / 2, 1 / Math.log2(1 + rank));
      }),
    );
  }
}

const JUDGE_SYSTEM =
  "You judge compressed contexts for a product re-ranking task. You see a customer's full purchase history, a compressed version of it, and the candidate products to be re-ranked. " +
  'Answer with one JSON object and nothing else: {"solvable": 0 or 1, "preservation": 1-10, "quality": 1-10}. ' +
  "solvable: can the candidates still be ranked sensibly from the compressed history alone? preservation: how much of the information that matters for this ranking does it keep? " +
  "quality: how good a ranking does the compressed history allow, compared with the full one?";

/** Parses the judge's answer (the first JSON object in it); null when it is not one. */
export function parseVerdict(text: string): JudgeVerdict | null {
  const m = text.match(/\{[^{}]*\}/);
  if (!m) return null;
  try {
    const o = JSON.parse(m[0]) as Record<string, unknown>;
    const num = (v: unknown, lo: number, hi: number) => (typeof v === "number" && v >= lo && v <= hi ? v : null);
    const s = num(o.solvable, 0, 1);
    const p = num(o.preservation, 1, 10);
    const q = num(o.quality, 1, 10);
    return s === null || p === null || q === null ? null : { solvable: s >= 0.5 ? 1 : 0, preservation: p, quality: q };
  } catch {
    return null;
  }
}

export class LlmJudge implements CompressionJudge {
  readonly name: string;
  /** Answers that did not parse (each scored as unsolvable). */
  unparsed = 0;
  constructor(private readonly client: ChatClient) {
    this.name = `llm:${client.url}`;
  }

  async judge(requests: readonly JudgeRequest[]): Promise<JudgeVerdict[]> {
    return Promise.all(
      requests.map(async (r) => {
        const user = [`Candidates:\n${r.candidatesText}`, `Full history:\n${r.fullText}`, `Compressed history:\n${r.compressedText}`].join("\n\n");
        const out = await this.client.complete([{ role: "system", content: JUDGE_SYSTEM }, { role: "user", content: user }], { temperature: 0, maxTokens: 64 });
        const v = parseVerdict(out.choices[0]?.text ?? "");
        if (!v) this.unparsed++;
        return v ?? { solvable: 0, preservation: 1, quality: 1 };
      }),
    );
  }
}
