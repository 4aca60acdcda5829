/**
 * What the trace viewer shows, as plain JSON: one `TraceView` per trace line, already joined
 * with titles, histories and the model's ranking, so the page only lays out data and never
 * has to know the trace format. The page renders every string with textContent, so nothing
 * here is (or needs to be) HTML-escaped; titles go out exactly as the catalogue has them.
 */
import { candidateNames as namesOf } from "../prompt/output-format.js";
import { parseRerankOutput } from "../prompt/parse-output.js";
import type { TraceRecord } from "../teacher/traces.js";
import { listKey } from "../rank/candidates.js";

/** An item as the page shows it; `title` is null when no dataset was given. */
export interface ItemRef {
  id: string;
  title: string | null;
  sid: string | null;
}

/** One candidate, in the order the student was shown them. */
export interface CandidateView extends ItemRef {
  /** 0-based upstream index (what rankings refer to). */
  upstream: number;
  isTarget: boolean;
}

/** Reasoning text cut into plain text and SIDs, so SIDs can be drawn as chips. */
export type Segment = { text: string } | { sid: string; item: ItemRef | null };

/** A ranking (teacher's or model's): upstream indices best first, and where the target landed. */
export interface RankingView {
  ranking: number[];
  /** 1-based place of the target. */
  targetRank: number;
  /** The target is first. */
  hit: boolean;
}

/** The model's answer for a list: a ranking, or why there is none (unparseable text). */
export interface ModelView {
  ranking: RankingView | null;
  text: string | null;
  error: string | null;
}

export interface TraceView {
  /** Unique across the files shown: `<file index>:<split>:<user>`. */
  key: string;
  file: string;
  user: string;
  split: string;
  mode: string;
  teacher: string;
  accepted: boolean;
  attempts: number;
  samples: number;
  /** Targeted mode: the teacher did not put the target first; it was moved there. */
  reordered: boolean;
  failures: Record<string, number>;
  /** Oldest first; null when neither candidate files nor a dataset told the history. */
  history: ItemRef[] | null;
  candidates: CandidateView[];
  target: ItemRef;
  rankPre: number;
  reasoning: Segment[] | null;
  /** The teacher's own text, shown when no valid answer was parsed. */
  rawResponse: string | null;
  /**
   * The teacher's ranking; in targeted mode a reordered ranking has the target first only by
   * construction, so `hit` is false there (the teacher did not find it itself).
   */
  teacherRanking: RankingView | null;
  model: ModelView | null;
}

/** Lookups the builder joins traces with; any may be empty. */
export interface Lookups {
  titles: ReadonlyMap<string, string>;
  /** SID → item id, from the run's SID map (reasoning may cite history items too). */
  sidToId: ReadonlyMap<string, string>;
  idToSid: ReadonlyMap<string, string>;
  /** `split\0user` → history item ids. */
  histories: ReadonlyMap<string, readonly string[]>;
}

/** A line of the model-outputs file. */
export interface ModelOutput {
  user: string;
  split: string;
  ranking?: number[];
  text?: string;
}

const SID = /<\|sid_begin\|>(?:<s_[a-z]_\d+>)+<\|sid_end\|>/g;

function rankingView(ranking: readonly number[], target: number, hit = true): RankingView {
  const at = ranking.indexOf(target);
  const targetRank = at < 0 ? ranking.length + 1 : at + 1;
  return { ranking: [...ranking], targetRank, hit: hit && targetRank === 1 };
}

/** A model output as a ranking, checked against the list (a permutation of 0..K-1). */
function modelView(out: ModelOutput, r: TraceRecord, target: number): ModelView {
  const k = r.candidates.length;
  if (Array.isArray(out.ranking)) {
    const ok = out.ranking.length === k && new Set(out.ranking).size === k && out.ranking.every((u) => Number.isInteger(u) && u >= 0 && u < k);
    return ok
      ? { ranking: rankingView(out.ranking, target), text: out.text ?? null, error: null }
      : { ranking: null, text: out.text ?? null, error: `ranking is not a permutation of 0..${k - 1}` };
  }
  if (typeof out.text === "string") {
    const candidateNames = namesOf(r.format, r.candidate_sids, r.shown_order.length === r.candidate_sids.length ? r.shown_order : r.candidate_sids.map((_, u) => u));
    const parsed = parseRerankOutput(out.text, { format: r.format, candidateSids: r.candidate_sids, candidateNames, allowCodeFence: true });
    return parsed.ok
      ? { ranking: rankingView(parsed.ranking, target), text: out.text, error: null }
      : { ranking: null, text: out.text, error: `${parsed.reason}: ${parsed.detail}` };
  }
  return { ranking: null, text: null, error: "the output has neither a ranking nor a text" };
}

/** Joins one trace line with the lookups (see the file comment). */
export function buildTraceView(r: TraceRecord, fileIndex: number, file: string, look: Lookups, model: ModelOutput | undefined): TraceView {
  const candSid = new Map(r.candidates.map((id, u) => [id, r.candidate_sids[u] ?? null]));
  const item = (id: string): ItemRef => ({ id, title: look.titles.get(id) ?? null, sid: candSid.get(id) ?? look.idToSid.get(id) ?? null });
  const target = r.candidates.indexOf(r.target);
  // Candidate SIDs first: they are what the prompt showed, even if the SID map was rebuilt.
  const sidItem = new Map<string, string>(look.sidToId);
  r.candidate_sids.forEach((sid, u) => sidItem.set(sid, r.candidates[u]!));
  const segments = (text: string): Segment[] => {
    const out: Segment[] = [];
    let last = 0;
    for (const m of text.matchAll(SID)) {
      if (m.index! > last) out.push({ text: text.slice(last, m.index) });
      const id = sidItem.get(m[0]);
      out.push({ sid: m[0], item: id === undefined ? null : item(id) });
      last = m.index! + m[0].length;
    }
    if (last < text.length) out.push({ text: text.slice(last) });
    return out;
  };
  const order = r.shown_order.length === r.candidates.length ? r.shown_order : r.candidates.map((_, u) => u);
  const history = look.histories.get(listKey(r.split, r.user));
  return {
    key: `${fileIndex}:${r.split}:${r.user}`,
    file,
    user: r.user,
    split: r.split,
    mode: r.mode,
    teacher: r.teacher,
    accepted: r.accepted,
    attempts: r.attempts,
    samples: r.samples,
    reordered: r.reordered === true,
    failures: Object.fromEntries(Object.entries(r.failures ?? {}).map(([k, v]) => [k, v ?? 0])),
    history: history ? history.map(item) : null,
    candidates: order.map((u) => ({ ...item(r.candidates[u]!), upstream: u, isTarget: u === target })),
    target: item(r.target),
    rankPre: r.rank_pre,
    reasoning: r.explanation === null ? null : segments(r.explanation),
    rawResponse: r.ranking === null ? r.raw_response : null,
    teacherRanking: r.ranking ? rankingView(r.ranking, target, r.reordered !== true) : null,
    model: model ? modelView(model, r, target) : null,
  };
}

export const FILTERS = ["all", "accepted", "rejected", "hit", "miss"] as const;
export type Filter = (typeof FILTERS)[number];

/**
 * Whether a list was "hit": by the model when model outputs were given (that is what is being
 * evaluated), else by the teacher. Lists without the relevant ranking count as misses.
 */
export function isHit(t: TraceView, byModel: boolean): boolean {
  return byModel ? t.model?.ranking?.hit === true : t.teacherRanking?.hit === true;
}

export function matches(t: TraceView, filter: Filter, byModel: boolean): boolean {
  switch (filter) {
    case "all":
      return true;
    case "accepted":
      return t.accepted;
    case "rejected":
      return !t.accepted;
    case "hit":
      return isHit(t, byModel);
    case "miss":
      return !isHit(t, byModel);
  }
}

export interface ModeSummary {
  lists: number;
  accepted: number;
  acceptance_rate: number;
}

export interface Summary {
  run: string;
  files: string[];
  lists: number;
  accepted: number;
  rejected: number;
  by_mode: Record<string, ModeSummary>;
  /** What hit/miss means here: the model's ranking when outputs were given, else the teacher's. */
  correctness_by: "model" | "teacher";
  hit: number;
  miss: number;
  has_titles: boolean;
  has_history: boolean;
  has_model: boolean;
  /** Model outputs that matched no trace (wrong file, or other users). */
  unmatched_outputs: number;
}

export function summarize(run: string, files: readonly string[], traces: readonly TraceView[], o: { hasTitles: boolean; hasModel: boolean; unmatchedOutputs: number }): Summary {
  const byMode: Record<string, ModeSummary> = {};
  for (const t of traces) {
    const m = (byMode[t.mode] ??= { lists: 0, accepted: 0, acceptance_rate: 0 });
    m.lists++;
    if (t.accepted) m.accepted++;
  }
  for (const m of Object.values(byMode)) m.acceptance_rate = m.lists ? Math.round((m.accepted / m.lists) * 1e4) / 1e4 : 0;
  const hit = traces.filter((t) => isHit(t, o.hasModel)).length;
  const accepted = traces.filter((t) => t.accepted).length;
  return {
    run,
    files: [...files],
    lists: traces.length,
    accepted,
    rejected: traces.length - accepted,
    by_mode: byMode,
    correctness_by: o.hasModel ? "model" : "teacher",
    hit,
    miss: traces.length - hit,
    has_titles: o.hasTitles,
    has_history: traces.some((t) => t.history !== null),
    has_model: o.hasModel,
    unmatched_outputs: o.unmatchedOutputs,
  };
}
