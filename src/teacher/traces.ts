/**
 * Reasoning traces: a teacher's rationale and ranking for each candidate list, the data SFT
 * distils into the student (docs/architecture.md, "One list", step 7).
 *
 * Two modes, as in the paper:
 * - targeted: the teacher is shown the true next item and explains it. The first valid answer
 *   is accepted and the target is moved to the top if the teacher did not put it there
 *   (`reordered`); invalid answers are retried up to `maxAttempts`.
 * - rejection: the target is hidden; answers are drawn until one ranks the target first or
 *   `maxAttempts` answers were drawn. Lists that never succeed are kept with accepted = false
 *   (SFT filters them; their count is the statistic that tells how hard the lists are).
 * - unfiltered (not in the paper): the target is hidden and the first valid answer is accepted
 *   whatever it ranks first (teacher.ts says when that is the better distillation).
 *
 * Each trace line (JSONL):
 *   user, split, mode, teacher, format
 *   attempts        answers examined up to the accepted one (all drawn when none was accepted)
 *   samples         answers drawn (more than `attempts` when a teacher answers in batches)
 *   accepted
 *   candidates      item ids, upstream order;  candidate_sids: their SIDs
 *   target, rank_pre
 *   shown_order     upstream index of each shown candidate (position-bias shuffling)
 *   messages        the student's prompt (what SFT trains on; the target is never in it)
 *   teacher_messages  what the LLM teacher was sent, when that differs (targeted reveal, format)
 *   response        the accepted (else last valid) answer re-written in the student's format
 *   raw_response    the teacher's own text of that answer (else of the last attempt)
 *   explanation, ranking (upstream indices, best first), ranking_ids, rank_re (target's 1-based place)
 *   reordered       targeted mode: the target was moved to the top
 *   failures        parse-failure reasons over all answers drawn
 *   evidence        the evidence teacher's facts behind each rationale sentence
 *
 * Runs are resumable: lists whose (split, user) is already in the output file are skipped, and
 * the statistics are recomputed from the whole file at the end.
 */
import { join, dirname, basename } from "node:path";
import type { ChatMessage } from "../lm/chat.js";
import { formatOutput, type OutputFormat } from "../prompt/output-format.js";
import type { ParseFailureReason, ParseSuccess } from "../prompt/parse-output.js";
import { buildRerankPrompt, listSeed, type PromptContext, type RerankPrompt, type RerankPromptOptions } from "../prompt/rerank-prompt.js";
import { writeJsonAtomic } from "../util/atomic.js";
import type { EvidenceTrace } from "./evidence-teacher.js";
import type { Teacher, TeacherAttempt, TeacherList, TraceMode } from "./teacher.js";
import { JsonLinesAppender, readJsonLines } from "./trace-file.js";
import { keyOfList, listKey } from "../rank/candidates.js";

export interface TraceRecord {
  user: string;
  split: string;
  /** The list's position (its history's length): names a train list among the user's several. */
  position?: number;
  mode: TraceMode;
  teacher: string;
  format: OutputFormat;
  attempts: number;
  samples: number;
  accepted: boolean;
  candidates: string[];
  candidate_sids: string[];
  target: string;
  rank_pre: number;
  shown_order: number[];
  messages: ChatMessage[];
  teacher_messages?: ChatMessage[];
  response: string | null;
  raw_response: string | null;
  explanation: string | null;
  ranking: number[] | null;
  ranking_ids: string[] | null;
  rank_re: number | null;
  reordered?: boolean;
  failures: Partial<Record<ParseFailureReason, number>>;
  evidence?: EvidenceTrace;
}

export interface TraceStats {
  file: string;
  mode: TraceMode;
  teacher: string;
  lists: number;
  accepted: number;
  acceptance_rate: number;
  attempts: { total: number; mean: number; mean_accepted: number | null; histogram: Record<string, number> };
  samples: number;
  /** Share of lists accepted at their first attempt. */
  first_attempt_rate: number;
  /** Parse failures per reason, and their share of all answers drawn. */
  parse_failures: Partial<Record<ParseFailureReason, number>>;
  invalid_rate: number;
  /** Targeted mode: lists where the teacher did not put the target first itself. */
  reordered: number;
  /** Acceptance by the target's upstream position (1-based). */
  by_rank_pre: Record<string, { lists: number; accepted: number }>;
}

export interface GenerateTracesOptions {
  /** The lists (items as dense indices); `rankPre` is the target's 1-based upstream position. */
  lists: readonly (TeacherList & { rankPre: number })[];
  teacher: Teacher;
  mode: TraceMode;
  /** Answers drawn per list at most (default 8 rejection, else 2: one retry of an invalid answer). */
  maxAttempts?: number;
  prompt: {
    context: PromptContext;
    options?: Omit<RerankPromptOptions, "format" | "shuffleSeed" | "revealTarget">;
    /** Shuffle the shown candidates per list (seeded by `seed` and the user). */
    shuffle?: boolean;
    seed?: number;
  };
  /** The format the student learns (`messages` and `response`). */
  format: OutputFormat;
  /** The format an LLM teacher is asked for (default json: what large models follow best). */
  teacherFormat?: OutputFormat;
  /** Output JSONL; statistics go to `<name>.stats.json` beside it. */
  out: string;
  /** Lists in flight (default: the teacher's concurrency). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface GenerateTracesResult {
  stats: TraceStats;
  statsPath: string;
  /** Lists written by this call. */
  written: number;
  /** Lists skipped because the file already had them. */
  skipped: number;
}

/** Answers worth drawing per list: rejection resamples until the target is first; the other modes retry an invalid answer once. */
export function defaultMaxAttempts(mode: TraceMode): number {
  return mode === "rejection" ? 8 : 2;
}

export function statsPathFor(out: string): string {
  return join(dirname(out), `${basename(out).replace(/\.jsonl$/, "")}.stats.json`);
}

/** Generates traces for every list not yet in `out` (see the file comment). */
export async function generateTraces(o: GenerateTracesOptions): Promise<GenerateTracesResult> {
  const maxAttempts = o.maxAttempts ?? defaultMaxAttempts(o.mode);
  if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) throw new RangeError(`maxAttempts must be an integer ≥ 1, got ${maxAttempts}`);
  const existing = readJsonLines<TraceRecord>(o.out).records;
  for (const r of existing) {
    if (r.mode !== o.mode || r.teacher !== o.teacher.name) {
      throw new Error(`${o.out} holds ${r.mode} traces by "${r.teacher}"; this run makes ${o.mode} traces by "${o.teacher.name}" (use another output file)`);
    }
  }
  const done = new Set(existing.map((r) => listKey(r.split, r.user, r.position)));
  const todo = o.lists.filter((l) => !done.has(keyOfList(l)));
  const skipped = o.lists.length - todo.length;
  const writer = new JsonLinesAppender(o.out);
  let finished = 0;
  try {
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const list = todo[next++]!;
        writer.append(await traceOne(list, o, maxAttempts));
        finished++;
        o.onProgress?.(finished, todo.length);
      }
    };
    const workers = Math.max(1, Math.min(o.concurrency ?? o.teacher.concurrency, todo.length));
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    writer.close();
  }
  const stats = traceStats(readJsonLines<TraceRecord>(o.out).records, o.out, o.mode, o.teacher.name);
  const statsPath = statsPathFor(o.out);
  writeJsonAtomic(statsPath, stats);
  return { stats, statsPath, written: finished, skipped };
}

async function buildPrompts(list: TeacherList, o: GenerateTracesOptions): Promise<{ prompt: RerankPrompt; teacherPrompt: RerankPrompt }> {
  const shuffleSeed = o.prompt.shuffle ? listSeed(o.prompt.seed ?? 0, list.user, list.split) : undefined;
  const base = { ...o.prompt.options, shuffleSeed };
  const prompt = await buildRerankPrompt(o.prompt.context, list, { ...base, format: o.format });
  const teacherFormat = o.teacherFormat ?? "json";
  // An LLM teacher reads item text: it is prompted in the full layout even when the student
  // learns a SIDs-only one (whose SIDs only a mid-trained model can read).
  const studentLayout = base.layout ?? "full";
  const teacherPrompt =
    o.teacher.usesPrompt && (o.mode === "targeted" || teacherFormat !== o.format || studentLayout !== "full")
      ? await buildRerankPrompt(o.prompt.context, list, { ...base, layout: "full", format: teacherFormat, revealTarget: o.mode === "targeted" ? list.target : undefined })
      : prompt;
  return { prompt, teacherPrompt };
}

async function traceOne(list: TeacherList & { rankPre: number }, o: GenerateTracesOptions, maxAttempts: number): Promise<TraceRecord> {
  const { prompt, teacherPrompt } = await buildPrompts(list, o);
  const target = list.candidates.indexOf(list.target);
  if (target < 0) throw new Error(`user ${list.user} (${list.split}): the target is not among the candidates`);
  const failures: Partial<Record<ParseFailureReason, number>> = {};
  let samples = 0;
  let attempts = 0;
  let accepted: { a: TeacherAttempt; parsed: ParseSuccess } | null = null;
  let lastValid: { a: TeacherAttempt; parsed: ParseSuccess } | null = null;
  let last: TeacherAttempt | null = null;
  while (samples < maxAttempts && !accepted) {
    const batch = await o.teacher.attempts({ list, prompt, teacherPrompt, mode: o.mode, attempt: samples, count: Math.min(o.teacher.batch, maxAttempts - samples) });
    if (batch.length === 0) throw new Error(`teacher ${o.teacher.name} returned no answer for user ${list.user}`);
    for (const a of batch.slice(0, maxAttempts - samples)) {
      samples++;
      if (!accepted) attempts++;
      last = a;
      if (!a.parsed.ok) {
        failures[a.parsed.reason] = (failures[a.parsed.reason] ?? 0) + 1;
        continue;
      }
      if (accepted) continue;
      lastValid = { a, parsed: a.parsed };
      if (o.mode !== "rejection" || a.parsed.ranking[0] === target) accepted = lastValid;
    }
  }
  const chosen = accepted ?? lastValid;
  let ranking = chosen ? [...chosen.parsed.ranking] : null;
  const reordered = o.mode === "targeted" && ranking !== null && ranking[0] !== target;
  if (ranking && reordered) ranking = [target, ...ranking.filter((u) => u !== target)];
  const ids = (xs: readonly number[]) => xs.map((u) => o.prompt.context.items[list.candidates[u]!]!.id);
  const teacherMessages = teacherPrompt !== prompt ? { teacher_messages: teacherPrompt.messages } : {};
  const evidence = (chosen?.a ?? last)?.evidence;
  return {
    user: list.user,
    split: list.split,
    position: list.history.length,
    mode: o.mode,
    teacher: o.teacher.name,
    format: o.format,
    attempts,
    samples,
    accepted: accepted !== null,
    candidates: ids(list.candidates.map((_, u) => u)),
    candidate_sids: prompt.candidateSids,
    target: o.prompt.context.items[list.target]!.id,
    rank_pre: list.rankPre,
    shown_order: prompt.shownOrder,
    messages: prompt.messages,
    ...teacherMessages,
    response: chosen && ranking ? formatOutput(o.format, chosen.parsed.explanation, ranking.map((u) => prompt.candidateNames[u]!)) : null,
    raw_response: (chosen?.a ?? last)?.raw ?? null,
    explanation: chosen?.parsed.explanation ?? null,
    ranking,
    ranking_ids: ranking ? ids(ranking) : null,
    rank_re: ranking ? ranking.indexOf(target) + 1 : null,
    ...(o.mode === "targeted" ? { reordered } : {}),
    failures,
    ...(evidence ? { evidence } : {}),
  };
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

/** Acceptance statistics over a file's traces (one mode and teacher). */
export function traceStats(records: readonly TraceRecord[], file: string, mode: TraceMode, teacher: string): TraceStats {
  const n = records.length;
  const acc = records.filter((r) => r.accepted);
  const histogram: Record<string, number> = {};
  const failures: Partial<Record<ParseFailureReason, number>> = {};
  const byRankPre: Record<string, { lists: number; accepted: number }> = {};
  let samples = 0;
  for (const r of records) {
    histogram[r.attempts] = (histogram[r.attempts] ?? 0) + 1;
    samples += r.samples;
    for (const [k, v] of Object.entries(r.failures)) failures[k as ParseFailureReason] = (failures[k as ParseFailureReason] ?? 0) + v!;
    const b = (byRankPre[r.rank_pre] ??= { lists: 0, accepted: 0 });
    b.lists++;
    if (r.accepted) b.accepted++;
  }
  const total = records.reduce((s, r) => s + r.attempts, 0);
  const invalid = Object.values(failures).reduce((s, v) => s + v!, 0);
  return {
    file,
    mode,
    teacher,
    lists: n,
    accepted: acc.length,
    acceptance_rate: n ? round(acc.length / n) : 0,
    attempts: {
      total,
      mean: n ? round(total / n) : 0,
      mean_accepted: acc.length ? round(acc.reduce((s, r) => s + r.attempts, 0) / acc.length) : null,
      histogram,
    },
    samples,
    first_attempt_rate: n ? round(acc.filter((r) => r.attempts === 1).length / n) : 0,
    parse_failures: failures,
    invalid_rate: samples ? round(invalid / samples) : 0,
    reordered: records.filter((r) => r.reordered).length,
    by_rank_pre: byRankPre,
  };
}
