/**
 * The RL stage: DAPO on re-ranking prompts built from the *valid* candidate lists (the
 * upstream ranker never trained on their targets; docs/architecture.md, Protocol), starting from the SFT model.
 * Optionally the shown candidates are shuffled (position-bias guard) while rank_pre stays the
 * target's upstream position.
 */
import { join } from "node:path";
import type { CandidateList } from "../../rank/candidates.js";
import { loadHFModel, loadHFTokenizer, saveHFModel } from "../../lm/hf.js";
import { tokenizerMismatch } from "../../lm/tokenizer.js";
import { stopTokenIds } from "../../lm/chat.js";
import { listSeed, type PromptContext, type PromptLayout } from "../../prompt/rerank-prompt.js";
import { answerConstraint, padTokenId, prepareEpisode, readAnswer } from "../../prompt/episode.js";
import type { OutputFormat } from "../../prompt/output-format.js";
import { recordStage } from "../run.js";
import { writePromptSettings } from "../../prompt/prompt-file.js";
import { Rng } from "../../util/rng.js";
import { trainDapo, type DapoConfig, type DapoStepLog, type RerankTask } from "./trainer.js";

export interface RlStageOptions {
  runDir: string;
  from: string;
  lists: readonly CandidateList[];
  context: PromptContext;
  format: OutputFormat;
  /** Prompt layout (default `full`; `sids` with maxRationaleTokens 0 trains the direct policy). */
  layout?: PromptLayout;
  maxPromptTokens: number;
  /** Most recent history items shown (default 20). */
  maxHistory?: number;
  /** Decode under the permutation constraint (rationale of at most maxRationaleTokens tokens). */
  constrained: boolean;
  maxRationaleTokens: number;
  /** Shuffle the shown candidates (position-bias guard). */
  shuffle: boolean;
  dapo: DapoConfig;
  device: string;
  stage?: string;
  /**
   * On-policy distillation: the teacher's HF folder (its tokenizer must equal the student's);
   * `dapo.distillCoef` weighs the reverse KL to it.
   */
  teacher?: string;
  /** Relevance grades per incoming candidate of a list (several positives), for the list rewards; default: the list's own `grades`, if any. */
  relevance?: (list: CandidateList) => number[];
}

export interface RlStageResult {
  modelDir: string;
  log: DapoStepLog[];
}

interface RerankTaskWithNames extends RerankTask {
  /** How the answer names the candidates (SIDs or letters), for the decoding constraint. */
  candidateNames: string[];
}

export async function runRl(o: RlStageOptions): Promise<RlStageResult> {
  const stage = o.stage ?? "rl";
  const stageDir = join(o.runDir, stage);
  // The prompt settings are recorded so `gr2 serve` prompts the model as it was trained.
  const config = { ...(o.teacher ? { teacher: o.teacher } : {}), format: o.format, layout: o.layout ?? "full", maxRationaleTokens: o.maxRationaleTokens, maxHistory: o.maxHistory, maxPromptTokens: o.maxPromptTokens, constrained: o.constrained, shuffle: o.shuffle, dapo: o.dapo };
  recordStage(o.runDir, stage, { status: "running", outputs: {}, metrics: {}, config });
  const tokenizer = loadHFTokenizer(o.from);
  if (o.teacher) {
    const mismatch = tokenizerMismatch(tokenizer, loadHFTokenizer(o.teacher));
    if (mismatch) throw new Error(`on-policy distillation: the student (${o.from}) and the teacher (${o.teacher}) must share one tokenizer; theirs differ: ${mismatch}`);
  }
  const policy = loadHFModel(o.from, o.device);
  const teacher = o.teacher ? loadHFModel(o.teacher, o.device) : undefined;
  const stop = stopTokenIds(tokenizer);
  const tasks: RerankTaskWithNames[] = [];
  // A run draws at most steps × maxGenBatches × promptsPerStep prompts: building (and measuring
  // against the token budget) a prompt for each of tens of thousands of lists would take longer
  // than the run. A seeded sample of that many lists is as random and resumes identically.
  const draws = o.dapo.steps * o.dapo.maxGenBatches * o.dapo.promptsPerStep;
  const lists = o.lists.length <= draws ? o.lists : Array.from(new Rng(o.dapo.seed ^ 0x5eed).sample(o.lists.length, draws)).sort((a, b) => a - b).map((i) => o.lists[i]!);
  for (const list of lists) {
    const episode = await prepareEpisode(o.context, list, {
      tokenizer,
      format: o.format,
      layout: o.layout,
      maxHistory: o.maxHistory,
      maxPromptTokens: o.maxPromptTokens,
      ...(o.shuffle ? { shuffleSeed: listSeed(o.dapo.seed, list.user, "rl") } : {}),
    });
    const relevance = o.relevance?.(list) ?? list.grades;
    tasks.push({
      promptIds: episode.ids,
      rankPre: list.rankPre,
      listSize: list.candidates.length,
      shownPosition: episode.shownPosition,
      ...(relevance ? { relevance } : {}),
      candidateNames: episode.candidateNames,
      score: (resp) => ({ order: readAnswer(tokenizer, episode, resp, stop).order }),
    });
  }
  if (o.dapo.formatCredit === "first_error") {
    // The answer grammar over each task's candidates, with room for any rationale the free
    // rollout may write, locates where an invalid answer went wrong.
    const grammar = await answerConstraint(tokenizer, o.format, tasks, o.dapo.maxNewTokens);
    tasks.forEach((t, row) => (t.firstInvalidToken = (resp) => grammar.firstViolation(resp, row)));
  }
  const log = await trainDapo(policy, tasks, stageDir, o.dapo, {
    label: stage,
    teacher,
    pad: padTokenId(tokenizer),
    stopTokens: stop,
    constraint: o.constrained ? async (rows) => (await answerConstraint(tokenizer, o.format, rows as RerankTaskWithNames[], o.maxRationaleTokens)).constraint : undefined,
  });
  const modelDir = join(stageDir, "model");
  saveHFModel(modelDir, policy, tokenizer);
  writePromptSettings(modelDir, { format: o.format, layout: o.layout ?? "full", ...(o.maxRationaleTokens === 0 ? { direct: true } : {}), ...(o.maxHistory !== undefined ? { maxHistory: o.maxHistory } : {}), ...(o.maxPromptTokens !== undefined ? { maxPromptTokens: o.maxPromptTokens } : {}), evidence: o.context.evidence?.set, ...(o.context.evidence?.scorer ? { scorer: o.context.evidence.scorer } : {}), ...(o.context.compressor ? { compressor: o.context.compressor } : {}) });
  policy.dispose();
  teacher?.dispose();
  const last = log.at(-1);
  recordStage(o.runDir, stage, {
    status: "done",
    outputs: { model: `${stage}/model`, metrics: `${stage}/metrics.jsonl` },
    // kept_group_fraction over the run: the share of sampled groups whose rewards varied. Near 0,
    // every group scored alike and the run learned nothing (a stalled run is visible here).
    metrics: last ? { reward_mean: last.reward_mean, valid_rate: last.valid_rate, identity_rate: last.identity_rate, kept_group_fraction: Math.round((1e4 * log.reduce((a, l) => a + l.kept_group_fraction, 0)) / log.length) / 1e4 } : {},
    config,
  });
  return { modelDir, log };
}
