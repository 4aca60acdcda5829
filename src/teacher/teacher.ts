/**
 * What every teacher provides to the trace generator (traces.ts): given one candidate list
 * and its prompts, a batch of attempts, each an answer text and its parse. The LLM teacher
 * (llm-teacher.ts) asks a model through the OpenAI-compatible client; the evidence teacher
 * (evidence-teacher.ts) computes its answer offline from train-split statistics.
 */
import type { ParseResult } from "../prompt/parse-output.js";
import type { RerankPrompt } from "../prompt/rerank-prompt.js";
import type { EvidenceTrace } from "./evidence-teacher.js";

/**
 * targeted: the teacher is shown the true next item and explains it (it is put first);
 * rejection: the target is hidden, and answers are resampled until the top-1 is the target;
 * unfiltered: the target is hidden and the teacher's first valid answer is kept whatever it
 * ranks first: its policy is distilled as it is, which is what a student should copy when the
 * teacher beats the ranker on held-out lists (the evidence teacher's scorer does). Rejection
 * keeps a trace only where the target is first, so its answers move the incoming head where
 * the target happened to lie, which the prompt does not show; a small student learned from
 * them to keep the head (docs/benchmarks.md, session 15).
 */
export type TraceMode = "targeted" | "rejection" | "unfiltered";
export const TRACE_MODES: readonly TraceMode[] = ["targeted", "rejection", "unfiltered"];

/** One list as the teachers see it (items as dense catalogue indices). */
export interface TeacherList {
  user: string;
  split: string;
  history: readonly number[];
  /** Upstream order. */
  candidates: readonly number[];
  target: number;
}

export interface TeacherRequest {
  list: TeacherList;
  /** The student's prompt (what SFT will train on). */
  prompt: RerankPrompt;
  /**
   * The prompt a language-model teacher receives: the student's, in the teacher's format, plus
   * the revealed target in targeted mode. Equal to `prompt` for teachers that do not read prompts.
   */
  teacherPrompt: RerankPrompt;
  mode: TraceMode;
  /** 0-based index of the first attempt in this batch (seeds differ per attempt). */
  attempt: number;
  /** Attempts wanted in this batch (a teacher may return fewer, never none). */
  count: number;
}

export interface TeacherAttempt {
  /** The answer text exactly as the teacher produced it. */
  raw: string;
  /** `raw` parsed against the list's candidates (upstream indices). */
  parsed: ParseResult;
  /** The evidence teacher's structured facts behind its rationale. */
  evidence?: EvidenceTrace;
}

export interface Teacher {
  /** Recorded in every trace, e.g. "evidence" or "openai:gpt-4o-mini". */
  readonly name: string;
  /** Attempts worth drawing per call (an LLM's `n`); the generator asks for at most this many. */
  readonly batch: number;
  /** Lists worth processing at once (an LLM client's concurrency; 1 for offline teachers). */
  readonly concurrency: number;
  /** Whether the teacher reads `teacherPrompt` (an LLM does; the evidence teacher does not, so none is built). */
  readonly usesPrompt: boolean;
  attempts(req: TeacherRequest): Promise<TeacherAttempt[]>;
}
