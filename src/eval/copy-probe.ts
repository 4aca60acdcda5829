/**
 * The copy probe: can a model write back a list of candidate SIDs it was shown, each once?
 * Every re-ranking answer needs that, and next-SID prediction never teaches it (mid-training's
 * `candidates` task does; see src/train/tasks/candidates.ts). Per held-out user, the history
 * and K candidates (the user's next item among K − 1 seeded catalogue items, clustered by SID
 * prefix as a ranker's lists are — see src/train/tasks/confusable.ts — and shuffled)
 * are prompted as that task is, and K SIDs are decoded greedily, unconstrained. Reported:
 *
 *   in_candidates        share of written SIDs that are one of the candidates
 *   distinct_candidates  distinct candidates among the K written, over K
 *   valid_rate           share of answers that are a permutation of the candidates
 *   top1                 share of answers that put the user's next item first
 */
import type { Example } from "../data/types.js";
import { generate } from "../lm/generate.js";
import type { DecoderLM } from "../lm/model.js";
import { candidatesPrompt, type Fragments } from "../train/tasks/context.js";
import { drawConfusableList, RANKER_LIKE, SidNeighbours, type ConfusableDraw } from "../train/tasks/confusable.js";
import { Rng } from "../util/rng.js";

export interface CopyProbeOptions {
  /** Candidates per list (default 10). */
  k?: number;
  /** History items shown (default 8, as the candidates task). */
  maxHistory?: number;
  seed?: number;
  /** How the K − 1 other candidates are drawn (default: clustered like a ranker's lists). */
  draw?: ConfusableDraw;
  /** Lists per generate() call (default 32). */
  batch?: number;
  eos: number;
}

export interface CopyProbeResult {
  lists: number;
  k: number;
  in_candidates: number;
  distinct_candidates: number;
  valid_rate: number;
  top1: number;
}

export function copyProbe(model: DecoderLM, examples: readonly Example[], sids: readonly (readonly number[])[], fragments: Fragments, o: CopyProbeOptions): CopyProbeResult {
  const k = o.k ?? 10;
  const maxHistory = o.maxHistory ?? 8;
  if (sids.length < k) throw new Error(`copy probe: the catalogue has ${sids.length} items, fewer than k = ${k}`);
  const L = sids[0]!.length;
  const key = (t: readonly number[]) => t.join(",");
  const itemOf = new Map(sids.map((s, i) => [key(s), i]));
  const rng = new Rng(o.seed ?? 0);
  const neighbours = new SidNeighbours(sids);
  const lists = examples.map((e) => {
    const history = e.history.slice(Math.max(0, e.history.length - maxHistory));
    const shown = drawConfusableList(e.target, history, k, neighbours, o.draw ?? RANKER_LIKE, () => rng.int(sids.length), rng);
    return { history, shown, target: e.target };
  });
  let inCandidates = 0;
  let distinct = 0;
  let valid = 0;
  let top1 = 0;
  const batch = o.batch ?? 32;
  for (let start = 0; start < lists.length; start += batch) {
    const chunk = lists.slice(start, start + batch);
    const prompts = chunk.map((l) => candidatesPrompt(fragments, sids, l.history, l.shown));
    const out = generate(model, prompts, { maxNewTokens: k * L + 1, temperature: 0, stopTokens: [o.eos] });
    chunk.forEach((l, b) => {
      const tokens = out.tokens[b]!;
      const written: (number | undefined)[] = [];
      for (let i = 0; i + L <= tokens.length && written.length < k; i += L) written.push(itemOf.get(key(tokens.slice(i, i + L))));
      const s = scoreCopy(written, l.shown, l.target);
      inCandidates += s.inCandidates;
      distinct += s.distinct;
      if (s.valid) valid++;
      if (s.top1) top1++;
    });
  }
  const n = Math.max(1, lists.length);
  return { lists: lists.length, k, in_candidates: inCandidates / n, distinct_candidates: distinct / n, valid_rate: valid / n, top1: top1 / n };
}

/** One answer's scores: `written` are the items the answer names in order (undefined: a SID no item has). */
export function scoreCopy(written: readonly (number | undefined)[], shown: readonly number[], target: number): { inCandidates: number; distinct: number; valid: boolean; top1: boolean } {
  const k = shown.length;
  const candidates = new Set(shown);
  const known = written.slice(0, k).filter((x): x is number => x !== undefined && candidates.has(x));
  const distinct = new Set(known).size;
  return { inCandidates: known.length / k, distinct: distinct / k, valid: known.length === k && distinct === k, top1: written[0] === target };
}
