/**
 * `gr2 distill`: on-policy distillation (GR2 technical report §OPD, Eq. 4) as a stage of its own.
 *
 * A student (any HF folder with the teacher's tokenizer: by default the run's mid-trained
 * model) samples its own answers to the run's learning lists, prompted exactly as the teacher
 * was trained (`gr2_prompt.json`: format, layout, evidence); every sampled token gets the
 * reverse KL from the student to the frozen teacher, plus DAPO's clipped policy gradient on
 * the verifiable reward (`src/train/dapo/`, `distillCoef`). The report runs it in place of SFT.
 *
 * Then the teacher, the student before and the student after re-rank the same test lists, and
 * the report gives each one's paired difference against the incoming order and the share of
 * the teacher's R@1 lift the student keeps (the report: a 1.7B student keeps 82% of a 32B
 * teacher's gain).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Dataset } from "../data/types.js";
import { leaveOneOut } from "../data/split.js";
import { readSidMap } from "../sid/sidmap.js";
import { readCandidateLists } from "../rank/candidates.js";
import { loadHFModel, loadHFTokenizer } from "../lm/hf.js";
import { isDirectPolicy, readPromptSettings } from "../prompt/prompt-file.js";
import type { RewardName } from "../reward/registry.js";
import { runRl } from "../train/dapo/stage.js";
import { DAPO_DEFAULTS } from "../train/dapo/trainer.js";
import { requireStage } from "../train/run.js";
import { rerankWithModel } from "../eval/llm-rerank.js";
import { evaluateRanks, pairedDifference, vsIncomingOf, type VsIncoming } from "../eval/evaluate.js";
import { Resamples, type BootstrapOptions } from "../eval/bootstrap.js";
import { incomingRanks } from "../rank/baselines/reranker.js";
import { metricAtRank } from "../rank/metrics.js";
import { trimAllocator } from "../torch/memory.js";
import { writeJsonAtomic } from "../util/atomic.js";
import type { PresetName } from "../lm/presets.js";
import { PIPELINE_PRESETS, settingsAsTrained } from "./presets.js";
import { reRankerLists, runEvidenceSet, runPromptContext, runScorerWeights, sample } from "./context.js";

export interface DistillOptions {
  dataset: Dataset;
  runDir: string;
  preset: PresetName;
  /** The teacher's HF folder (a trained re-ranker with gr2_prompt.json). */
  teacher: string;
  /** The student's starting HF folder (default: the run's mid-trained model). */
  from?: string;
  steps: number;
  promptsPerStep?: number;
  groupSize?: number;
  lr?: number;
  /** Weight of the reverse KL (report Eq. 4). */
  coef: number;
  estimator: "exact" | "k3";
  reward: RewardName;
  /** Test lists re-ranked for the comparison (0 = all). */
  evalUsers: number;
  device: string;
  seed: number;
  log?: (line: string) => void;
}

export interface DistillPoint {
  name: "teacher" | "student_before" | "student";
  "recall@1": number;
  "ndcg@5": number;
  valid_rate: number;
  identity_rate: number;
  vs_incoming: VsIncoming;
}

export interface DistillResult {
  points: DistillPoint[];
  /** Student's R@1 lift over the incoming order divided by the teacher's (null when the teacher has none). */
  retained_recall1: number | null;
  /**
   * Its 95% bootstrap interval, [lo, hi], both lifts resampled on the same lists (null when the
   * teacher's own lift interval reaches zero): whether a share such as the report's 82% is
   * resolvable on this many lists.
   */
  retained_recall1_interval: [number, number] | null;
  /**
   * Paired differences on the same lists, [diff, lo, hi]: the student after against before
   * (what distillation added to its starting point, e.g. an SFT student of the same size) and
   * against the teacher (what it still lacks).
   */
  student_vs_before: VsIncoming;
  student_vs_teacher: VsIncoming;
  lists: number;
  modelDir: string;
  reportPath: string;
}

export async function distill(o: DistillOptions): Promise<DistillResult> {
  const P = PIPELINE_PRESETS[o.preset];
  const teacherPrompt = readPromptSettings(o.teacher);
  if (!teacherPrompt) throw new Error(`${o.teacher}: no gr2_prompt.json; the teacher must be a re-ranker trained by this package (its prompt format and layout decide the student's)`);
  const from = o.from ?? join(o.runDir, requireStage(o.runDir, "midtrain").outputs.model ?? "midtrain/model");
  const direct = isDirectPolicy(teacherPrompt);
  const settings = settingsAsTrained(P, teacherPrompt);
  const maxNewTokens = direct ? (P.direct?.maxNewTokens ?? P.maxNewTokens) : P.maxNewTokens;

  const items = o.dataset.catalogue.items;
  const ids = items.map((i) => i.id);
  const split = leaveOneOut(o.dataset.interactions, { skipShortUsers: true });
  const sidMap = await readSidMap(join(o.runDir, "sids", "sid_map.json"));
  const path = (s: string) => join(o.runDir, "candidates", `${s}.jsonl`);
  const read = (s: string) => (s === "train" && !existsSync(path(s)) ? [] : readCandidateLists(path(s), ids));
  const { learnLists } = reRankerLists(read("valid"), read("train"), P.learnUsers, o.seed);
  const evalLists = sample(read("test"), o.evalUsers, o.seed);
  const evidence = teacherPrompt.evidence ?? runEvidenceSet(o.runDir);
  const context = runPromptContext(o.dataset, sidMap, split, evidence, teacherPrompt.scorer ?? runScorerWeights(o.runDir));

  const dapo = { ...DAPO_DEFAULTS, ...(direct ? P.direct?.dapo : P.dapo), maxNewTokens, steps: o.steps, distillCoef: o.coef, distillEstimator: o.estimator, reward: o.reward, seed: o.seed, checkpointEvery: Math.max(1, Math.round(o.steps / 4)) };
  if (o.promptsPerStep) dapo.promptsPerStep = o.promptsPerStep;
  if (o.groupSize) dapo.groupSize = o.groupSize;
  if (o.lr) dapo.lr = o.lr;
  o.log?.(`distilling ${o.teacher} into ${from} on ${learnLists.length} lists (${settings.layout} prompt, ${settings.format} answers), ${o.steps} steps`);
  const r = await runRl({ runDir: o.runDir, stage: "opd", from, teacher: o.teacher, lists: learnLists, context, ...settings, constrained: true, shuffle: false, dapo, device: o.device });

  const tokenizer = loadHFTokenizer(from);
  const runs: { name: DistillPoint["name"]; dir: string }[] = [
    { name: "teacher", dir: o.teacher },
    { name: "student_before", dir: from },
    { name: "student", dir: r.modelDir },
  ];
  const outcomes: { name: DistillPoint["name"]; ranks: Int32Array; seconds: number; valid: number; identity: number }[] = [];
  for (const { name, dir } of runs) {
    const model = loadHFModel(dir, o.device);
    const rr = await rerankWithModel(model, tokenizer, context, evalLists, { ...settings, batch: P.evalBatch, maxNewTokens, label: `eval ${name}` });
    model.dispose();
    trimAllocator(0);
    outcomes.push({ name, ranks: rr.ranks, seconds: rr.seconds, valid: rr.freeRate, identity: rr.identityRate });
  }
  const evaluation = evaluateRanks(evalLists, outcomes.map((x) => ({ name: x.name, ranks: x.ranks, seconds: x.seconds })), { seed: o.seed });
  const points: DistillPoint[] = outcomes.map((x) => {
    const m = evaluation.methods.find((mm) => mm.name === x.name)!;
    return { name: x.name, "recall@1": m.metrics["recall@1"].mean, "ndcg@5": m.metrics["ndcg@5"].mean, valid_rate: x.valid, identity_rate: x.identity, vs_incoming: vsIncomingOf(m) };
  });
  const lift = (n: DistillPoint["name"]) => points.find((p) => p.name === n)!.vs_incoming["recall@1"][0];
  const retained = lift("teacher") > 0 ? Math.round((1e4 * lift("student")) / lift("teacher")) / 1e4 : null;
  const ranksOf = (n: DistillPoint["name"]) => outcomes.find((x) => x.name === n)!.ranks;
  const retainedInterval = retainedLiftInterval(ranksOf("student"), ranksOf("teacher"), incomingRanks(evalLists), { seed: o.seed });
  const paired = { student_vs_before: pairedDifference(ranksOf("student"), ranksOf("student_before"), { seed: o.seed }), student_vs_teacher: pairedDifference(ranksOf("student"), ranksOf("teacher"), { seed: o.seed }) };
  const reportPath = join(o.runDir, "opd", "report.json");
  writeJsonAtomic(reportPath, { teacher: o.teacher, from, lists: evalLists.length, steps: o.steps, coef: o.coef, estimator: o.estimator, reward: o.reward, retained_recall1: retained, retained_recall1_interval: retainedInterval, ...paired, points });
  for (const p of points) o.log?.(`${p.name}: R@1 ${p["recall@1"].toFixed(4)} (vs incoming ${p.vs_incoming["recall@1"].join(" / ")}), NDCG@5 ${p["ndcg@5"].toFixed(4)}, valid ${(p.valid_rate * 100).toFixed(1)}%`);
  o.log?.(`student − student before: R@1 ${paired.student_vs_before["recall@1"].join(" / ")}, NDCG@5 ${paired.student_vs_before["ndcg@5"].join(" / ")}`);
  return { points, retained_recall1: retained, retained_recall1_interval: retainedInterval, ...paired, lists: evalLists.length, modelDir: r.modelDir, reportPath };
}

/**
 * The share of the teacher's R@1 lift over the incoming order that the student keeps, with its
 * bootstrap interval: per list, hit@1 of each minus the incoming order's, resampled together.
 * Ranks are 1-based target positions after re-ranking.
 */
export function retainedLiftInterval(student: ArrayLike<number>, teacher: ArrayLike<number>, incoming: ArrayLike<number>, o: BootstrapOptions = {}): [number, number] | null {
  const lift = (r: ArrayLike<number>) => Float64Array.from({ length: incoming.length }, (_, i) => metricAtRank("recall@1", r[i]!) - metricAtRank("recall@1", incoming[i]!));
  const r = new Resamples(incoming.length, o).ratio(lift(student), lift(teacher));
  return r ? [Math.round(r.lo * 1e4) / 1e4, Math.round(r.hi * 1e4) / 1e4] : null;
}
