/**
 * `gr2 pipeline`: every stage, end to end, in one run folder.
 *
 *   data → semantic IDs → upstream ranker + candidate lists (valid, test, and time-cut train-prefix
 *        lists to learn from) → evidence scorer (fit on the learning lists) → baselines
 *        → pre-training → mid-training → evidence reading (the scorer's orders, SIDs-only prompt)
 *        → traces (evidence teacher) → SFT → DAPO → direct policy (DAPO from the reading model,
 *        SIDs-only prompt, no reasoning) → evaluation (test lists)
 *
 * Each stage records itself in runs/<name>/run.json; a stage already marked done is skipped,
 * and a stage interrupted mid-way resumes from its own checkpoints, so re-running the same
 * command continues where it stopped. Protocol (docs/architecture.md): the upstream ranker trains on
 * the train split; the re-ranker learns from the valid lists of all but a held-out slice of
 * users; every number in the final table comes from the test lists.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Dataset, Split } from "../data/types.js";
import { itemText } from "../data/text.js";
import { leaveOneOut, testWindow } from "../data/split.js";
import { buildSids, namedSources, writeSidArtefacts } from "../sid/build.js";
import { readSidMap, type SidMap } from "../sid/sidmap.js";
import { fitRanker } from "../rank/fit.js";
import { buildCandidateLists, defaultNegatives, formatNegatives, LIST_SIZE, readCandidateLists, writeCandidateLists, type CandidateList } from "../rank/candidates.js";
import { learningLists } from "../rank/learning-lists.js";
import { gradedRelevance } from "../rank/graded.js";
import { EvidenceScorer } from "../rank/evidence/scorer.js";
import { writeFileAtomic } from "../util/atomic.js";
import { trimAllocator } from "../torch/memory.js";
import { evaluateBaselines } from "../eval/baselines.js";
import { evaluateRanks, pairedDifference, vsIncomingOf, type MethodRanks, type MethodResult, type RerankEvaluation, type VsIncoming } from "../eval/evaluate.js";
import type { Interval } from "../eval/bootstrap.js";
import { machineInfo, writeReport, type EvalReport } from "../eval/report.js";
import { rerankWithModel, type InvalidPart } from "../eval/llm-rerank.js";
import { generativeCheck } from "../eval/generative.js";
import { orderByScore, rerankedRanks } from "../rank/baselines/reranker.js";
import { monitor } from "../reward/monitors.js";
import { pretrain, PRETRAIN_DEFAULTS } from "../train/pretrain.js";
import { midtrain, MIDTRAIN_DEFAULTS } from "../train/midtrain.js";
import { runSft, SFT_WEIGHTS } from "../train/sft.js";
import { runRl } from "../train/dapo/stage.js";
import { DAPO_DEFAULTS } from "../train/dapo/trainer.js";
import { readManifest, recordStage } from "../train/run.js";
import { loadHFModel, loadHFTokenizer } from "../lm/hf.js";
import { reRankerLists, runPromptContext, runScorerWeights, sample, scorerPathOf } from "./context.js";
import { EvidenceTeacher } from "../teacher/evidence-teacher.js";
import { generateTraces, type TraceRecord } from "../teacher/traces.js";
import { readJsonLines } from "../teacher/trace-file.js";
import { holdOutUsers } from "../rank/baselines/listwise-train.js";
import type { PresetName } from "../lm/presets.js";
import { Rng } from "../util/rng.js";
import { directSettings, PIPELINE_PRESETS, rerankSettings, runAnswerFormat, type PipelinePreset } from "./presets.js";
import { directTraces, evidenceReadingExamples, writeDirectTraces } from "../teacher/direct-traces.js";
import { COMPRESS_DEFAULTS } from "../train/compress.js";
import { runCompressStage, type CompressStageMetrics } from "./compress.js";

export interface PipelineOptions {
  dataset: Dataset;
  preset: PresetName;
  runDir: string;
  device: string;
  seed: number;
  /** Overrides of the preset's budgets. */
  overrides?: Partial<PipelinePreset>;
  /** The SIDs' embedding sources by name (src/sid/build.ts NAMED_SOURCES). Default tfidf + cooc. */
  sidEmbed?: readonly string[];
  log?: (line: string) => void;
}

export interface StageMetrics {
  "recall@1": number;
  "recall@3": number;
  "recall@5": number;
  "ndcg@3": number;
  "ndcg@5": number;
  /** With graded test lists (`--test-window`): graded NDCG@5 over each list's positives. */
  "graded_ndcg@5"?: number;
  valid_rate: number;
  identity_rate: number;
  /** Identity outputs among lists whose target is not first: copying that loses the target. */
  identity_rate_nonoptimal: number;
  /** Language-model stages: lists whose answer is not valid without the constraint, by where it went wrong (src/eval/llm-rerank.ts). */
  invalid_at?: Record<InvalidPart, number>;
  /** Paired difference against the incoming order on the same lists: [diff, lo, hi] (95% bootstrap). */
  vs_incoming: VsIncoming;
  /** Test lists this stage was evaluated on (a reasoning stage may use a subset; PipelinePreset.reasoningEvalUsers). */
  lists: number;
  /**
   * The direct policy only: its paired difference against the reasoning RL policy on the lists
   * both were evaluated on, and on the hard ones among them (the incoming order does not put the
   * target first): the technical report's direct-versus-reasoning comparison.
   */
  vs_reasoning?: { lists: number; all: VsIncoming; hard_lists: number; hard: VsIncoming | null };
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
const stageMetricsOf = (m: MethodResult) => ({ "recall@1": r4(m.metrics["recall@1"].mean), "recall@5": r4(m.metrics["recall@5"].mean), "ndcg@5": r4(m.metrics["ndcg@5"].mean) });
const fmtInterval = (i: Interval) => `${i.mean >= 0 ? "+" : ""}${i.mean.toFixed(3)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]`;

export interface PipelineResult {
  users: number;
  stages: Record<string, StageMetrics>;
  evaluation: RerankEvaluation;
  /** The reasoning stages' evaluation on a subset of the test lists, when they were not evaluated on all. */
  subset?: RerankEvaluation;
  reportDir: string;
  seconds: Record<string, number>;
  /** Peak resident memory per stage, MB (see `stagePeak`). */
  peakRssMb: Record<string, number>;
  /** With `context: "compressed"`: the compressor's measurements (the `compress` stage's metrics). */
  compression?: CompressStageMetrics;
}

/**
 * The peak resident set size of the process during a stage. The kernel's high-water mark
 * (getrusage maxrss) is exact when the stage raised it; otherwise the stage stayed below an
 * earlier peak, and the largest RSS sampled while it ran (every 250 ms, when the event loop
 * is free) stands for it.
 */
function stagePeak(): { stop: () => number } {
  const before = process.resourceUsage().maxRSS;
  let sampled = process.memoryUsage().rss;
  const timer = setInterval(() => (sampled = Math.max(sampled, process.memoryUsage().rss)), 250);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      const after = process.resourceUsage().maxRSS;
      const bytes = after > before ? after * 1024 : Math.max(sampled, process.memoryUsage().rss);
      return Math.round(bytes / 2 ** 20);
    },
  };
}

export async function runPipeline(o: PipelineOptions): Promise<PipelineResult> {
  const P: PipelinePreset = { ...PIPELINE_PRESETS[o.preset], ...o.overrides };
  // Checked before hours of training, not when the direct stage finds no model to start from.
  if (P.policies?.length === 0) throw new Error("policies: name at least one of reasoning, direct");
  if (P.policies && !P.policies.includes("reasoning") && !(P.read && P.evidence !== "none")) {
    throw new Error(`a direct-only run needs the reading stage (without one the direct policy starts from the reasoning RL model); use policies reasoning,direct, or evidence other than none`);
  }
  if (P.policies?.includes("direct") && !P.direct) throw new Error(`policies: the ${o.preset} preset trains no direct policy`);
  const log = o.log ?? (() => {});
  // Under a test window every stage sees only what is left once the window is set aside.
  const W = P.testWindow ?? 1;
  const aside = testWindow(o.dataset.interactions, W);
  const ds = { ...o.dataset, interactions: aside.interactions };
  const items = ds.catalogue.items;
  const split: Split = leaveOneOut(ds.interactions, { skipShortUsers: true });
  const seconds: Record<string, number> = {};
  const peakRssMb: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const done = readManifest(o.runDir).stages[name]?.status === "done";
    log(`${done ? "✓" : "▶"} ${name}${done ? " (done earlier; skipped)" : ""}`);
    const t0 = performance.now();
    const peak = stagePeak();
    const r = await f();
    seconds[name] = (performance.now() - t0) / 1000;
    peakRssMb[name] = peak.stop();
    // The next stage's tensors have other shapes: blocks cached for this one would only sit resident.
    trimAllocator(0);
    return r;
  };
  const isDone = (name: string) => readManifest(o.runDir).stages[name]?.status === "done";

  // ---- semantic IDs ----
  const sidPath = join(o.runDir, "sids", "sid_map.json");
  const embed = o.sidEmbed ?? ["tfidf", "cooc"];
  const sidMap: SidMap = await timed("sids", async () => {
    // Runs from before --embed recorded none: they were built from tfidf + cooc.
    const recordedEmbed = (readManifest(o.runDir).stages.sids?.config?.embed as string | undefined) ?? "tfidf,cooc";
    if (isDone("sids") && recordedEmbed !== embed.join(",")) throw new Error(`${o.runDir}: its SIDs were built from ${recordedEmbed} embeddings, not ${embed.join(",")}; run with --embed ${recordedEmbed}, or start a new run folder (--out)`);
    if (isDone("sids") && existsSync(sidPath)) return readSidMap(sidPath);
    const result = await buildSids(
      { ids: items.map((i) => i.id), texts: items.map(itemText), trainSequences: split.train, categories: items.map((i) => i.categories) },
      { sources: namedSources(embed, { seed: o.seed, cacheDir: join(".cache", "embeddings") }), method: "rqkmeans", quantiser: { levels: 4, codebookSize: P.codebookSize, randomLastLevels: 1, seed: o.seed } },
    );
    writeSidArtefacts(join(o.runDir, "sids"), result);
    recordStage(o.runDir, "sids", { status: "done", outputs: { sid_map: "sids/sid_map.json" }, metrics: { natural_uniqueness: result.report.natural_uniqueness, final_uniqueness: result.report.final_uniqueness }, config: { codebookSize: P.codebookSize, embed: embed.join(",") } });
    return result.map;
  });

  // ---- upstream ranker and candidate lists ----
  const itemIds = items.map((i) => i.id);
  const listPath = (s: string) => join(o.runDir, "candidates", `${s}.jsonl`);
  const splits = P.trainLists ? (["train", "valid", "test"] as const) : (["valid", "test"] as const);
  const { valid, test, train } = await timed("prerank", () => {
    const recordedWindow = (readManifest(o.runDir).stages.prerank?.config?.testWindow as number | undefined) ?? 1;
    if (isDone("prerank") && recordedWindow !== W) throw new Error(`${o.runDir}: its lists were built with a test window of ${recordedWindow}, not ${W}; run with --test-window ${recordedWindow}, or start a new run folder (--out)`);
    if (isDone("prerank") && splits.every((s) => existsSync(listPath(s)))) {
      const read = (s: string) => readCandidateLists(listPath(s), itemIds);
      return { valid: read("valid"), test: read("test"), train: P.trainLists ? read("train") : [] };
    }
    const fit = { sasrec: P.sasrec, sasrecTrain: { ...P.sasrecTrain, seed: o.seed } };
    const { ranker } = fitRanker(P.ranker, split, items.length, fit);
    const negatives = defaultNegatives();
    const v = buildCandidateLists(ranker, split.valid, "valid", ds.interactions.userIds, { negatives, seed: o.seed }).lists;
    const later = W > 1 ? { later: aside.later } : {};
    const t = buildCandidateLists(ranker, split.test, "test", ds.interactions.userIds, { negatives, seed: o.seed, ...later }).lists;
    // Under `hits` only the users the ranker retrieved get a list; too few and nothing downstream means anything.
    for (const [name, lists] of [["valid", v], ["test", t]] as const) {
      if (lists.length < 10) throw new Error(`prerank: the ${P.ranker} ranker put the target in its top ${LIST_SIZE} for only ${lists.length} of ${split[name].length} ${name} users; the re-ranker needs lists to learn from and be measured on (a stronger ranker, or more users)`);
    }
    // Many lists to learn from, inside the train prefixes of every user but the held-out ones,
    // each scored by a ranker that never saw its target (see PipelinePreset.trainLists).
    const heldOut = new Set(holdOutUsers(v, 0.1, o.seed).heldOut.map((l) => l.user));
    const learners = new Set(ds.interactions.userIds.flatMap((id, u) => (heldOut.has(id) ? [] : [u])));
    const tr = P.trainLists ? learningLists(P.ranker, split, items.length, ds.interactions.userIds, { ...P.trainLists, users: learners, negatives, fit, seed: o.seed, log }) : [];
    writeCandidateLists(listPath("valid"), v, itemIds);
    writeCandidateLists(listPath("test"), t, itemIds);
    if (P.trainLists) writeCandidateLists(listPath("train"), tr, itemIds);
    // The learning lists must be as hard as the test lists: their incoming R@1 side by side.
    const r1 = (ls: readonly CandidateList[]) => (ls.length === 0 ? null : Math.round((1e4 * ls.filter((l) => l.rankPre === 1).length) / ls.length) / 1e4);
    const positives = t.length && t[0]!.grades ? { test_positives: r4(t.reduce((s, l) => s + l.grades!.filter((g) => g > 0).length, 0) / t.length) } : {};
    const metrics = { valid_lists: v.length, valid_users: split.valid.length, test_lists: t.length, test_users: split.test.length, train_lists: tr.length, incoming_recall1: { train: r1(tr), valid: r1(v), test: r1(t) }, ...positives };
    log(`  lists: ${tr.length} train (scored by a ranker that never saw their targets), ${v.length} valid, ${t.length} test; incoming R@1 ${JSON.stringify(metrics.incoming_recall1)}`);
    if (W > 1) log(`  test window ${W}: ${t.length} test lists hold at least one of the user's next ${W} items, ${metrics.test_positives ?? 0} positives a list`);
    const outputs = Object.fromEntries(splits.map((s) => [s, `candidates/${s}.jsonl`]));
    recordStage(o.runDir, "prerank", { status: "done", outputs, metrics, config: { ranker: P.ranker, negatives: formatNegatives(negatives), trainLists: P.trainLists, testWindow: W } });
    return { valid: v, test: t, train: tr };
  });
  // The re-ranker learns from the valid lists of most users; a held-out slice is for model selection.
  // ...and from the train-prefix lists of the same users (never the held-out users').
  const { learnLists, heldOutValid } = reRankerLists(valid, train, P.learnUsers, o.seed);
  const evalLists = sample(test, P.evalUsers, o.seed);

  // ---- collaborative evidence and the scorer over it (the teacher's ranker, and a baseline) ----
  const base = runPromptContext(ds, sidMap, split, P.evidence);
  const evidenceSrc = base.evidence.source;
  const scorerPath = scorerPathOf(o.runDir);
  const scorer = await timed("evidence", () => {
    const recorded = readManifest(o.runDir).stages.evidence?.config?.set;
    if (isDone("evidence") && recorded !== P.evidence) throw new Error(`${o.runDir}: its prompts show the ${String(recorded)} evidence set, not ${P.evidence}; run with --evidence ${String(recorded)}, or start a new run folder (--out)`);
    const saved = isDone("evidence") ? runScorerWeights(o.runDir) : undefined;
    if (saved) return new EvidenceScorer(evidenceSrc, saved);
    const fitted = EvidenceScorer.fit(evidenceSrc, learnLists, P.evidence);
    writeFileAtomic(scorerPath, JSON.stringify(fitted.model, null, 1) + "\n");
    // A teacher that does not beat the ranker cannot teach a student to: its own numbers on the
    // held-out users' valid lists, which it never learned from.
    const held = evaluateRanks(heldOutValid, [{ name: "evidence", ranks: rerankedRanks(heldOutValid, fitted.scoreLists(heldOutValid)) }], { seed: o.seed }).methods[0]!;
    const metrics = { fit_lists: learnLists.length, held_out_lists: heldOutValid.length, held_out: stageMetricsOf(held), vs_incoming: vsIncomingOf(held), weights: Object.fromEntries(fitted.model.features.map((f, i) => [f, fitted.model.weights[i]!])) };
    log(`  evidence scorer (${P.evidence}) on ${heldOutValid.length} held-out valid lists: R@1 ${held.metrics["recall@1"].mean.toFixed(3)}, vs incoming ${fmtInterval(held.vsIncoming["recall@1"])}`);
    recordStage(o.runDir, "evidence", { status: "done", outputs: { scorer: "evidence/scorer.json" }, metrics, config: { set: P.evidence } });
    return fitted;
  });
  // Every prompt from here on: the `ranked` set shows each candidate's rank under this scorer.
  const scoredContext = { ...base, evidence: { ...base.evidence, scorer: scorer.model } };

  // ---- baselines (incoming, random, popularity, listwise) on the same test lists ----
  const baselines = await timed("listwise", () => evaluateBaselines({ items, trainSequences: split.train, validLists: valid, testLists: evalLists, randomSeed: o.seed, bootstrap: { seed: o.seed }, extra: [scorer] }));
  // Each baseline scored once: its ranks feed the joint evaluation, its copy rates the stage metrics.
  const baselineScores = new Map(baselines.rerankers.map((r) => [r.name, r.scoreLists(evalLists)] as const));
  const baselineRanks: MethodRanks[] = baselines.evaluation.methods.map((m) => {
    const scores = scoresOf(baselineScores, m.name);
    return { name: m.name, ranks: rerankedRanks(evalLists, scores), orders: scores.map(orderByScore), seconds: m.seconds };
  });

  // ---- language model stages ----
  await timed("pretrain", () => (isDone("pretrain") ? null : pretrain(ds, { ...PRETRAIN_DEFAULTS[o.preset], ...P.pretrain, preset: o.preset, runDir: o.runDir, device: o.device })));
  const mid = await timed("midtrain", async () => {
    if (!isDone("midtrain")) {
      const { evalUsers, evalBeams, ...m } = { ...MIDTRAIN_DEFAULTS[o.preset], ...P.midtrain };
      await midtrain(ds, sidMap, { ...m, runDir: o.runDir, preset: o.preset, device: o.device, check: generativeCheck(ds, sidMap, { users: evalUsers, beams: evalBeams, seed: m.seed, maxHistory: m.maxHistory }) });
    }
    return join(o.runDir, "midtrain", "model");
  });

  const tokenizer = loadHFTokenizer(mid);
  tokenizer.addSidTokens();

  // ---- the context compressor (technical report §5.1), when prompts show a compressed context ----
  const recordedContext = (readManifest(o.runDir).stages.traces?.config?.context as string | undefined) ?? "full";
  if (isDone("traces") && recordedContext !== (P.context ?? "full")) {
    throw new Error(`${o.runDir}: its prompts show the ${recordedContext} context, not ${P.context ?? "full"}; run with --context ${recordedContext}, or start a new run folder (--out)`);
  }
  const compressor = P.context === "compressed"
    ? await timed("compress", () =>
        runCompressStage({ runDir: o.runDir, context: scoredContext, layout: rerankSettings(P).layout, scorer, tokenizer, learnLists, heldOutValid, testLists: evalLists, maxHistory: P.maxHistory, cfg: { ...COMPRESS_DEFAULTS, ...P.compress, seed: o.seed }, log }),
      )
    : undefined;
  // Every prompt from here on, the teacher's, the students', the evaluation's and (through
  // gr2_prompt.json) serving's, shows the compressed history when there is a compressor.
  const context = compressor ? { ...scoredContext, compressor } : scoredContext;
  // What every SFT stage (reading, reasoning, direct) shares: seeds, loss weights, and the
  // evidence and compressor its prompts show, recorded beside each model so serving prompts the same way.
  const sftShared = { seed: o.seed, device: o.device, weights: SFT_WEIGHTS, evidence: P.evidence, scorer: scorer.model, ...(compressor ? { compressor } : {}) };

  // ---- traces (evidence teacher, valid lists) ----
  // The reasoning stages' prompt layout: traces, SFT, RL and evaluation all use it.
  const reasoningLayout = rerankSettings(P).layout;
  const tracePath = join(o.runDir, "traces", `evidence-${P.traceMode}.jsonl`);
  await timed(`traces`, async () => {
    if (isDone("traces")) {
      // Later stages learn the answer format from these traces: a run cannot change it midway.
      const written = runAnswerFormat(o.runDir);
      if (written !== undefined && written !== P.format) {
        throw new Error(`${o.runDir}: its traces were written in the ${written} answer format, not ${P.format}; run with --format ${written}, or start a new run folder (--out)`);
      }
      const layout = (readManifest(o.runDir).stages.traces?.config?.layout as string | undefined) ?? "full";
      if (layout !== reasoningLayout) {
        throw new Error(`${o.runDir}: its traces were written in the ${layout} prompt layout, not ${reasoningLayout}; run with --reasoning-layout ${layout}, or start a new run folder (--out)`);
      }
      return;
    }
    const teacher = new EvidenceTeacher({ items, sidOf: context.sidOf, train: evidenceSrc.train, complements: context.complements, scorer }, { seed: o.seed, explain: P.explain, head: P.teacherHead, maxFacts: P.maxFacts, temperature: P.teacherTemperature });
    const r = await generateTraces({
      lists: learnLists,
      teacher,
      mode: P.traceMode,
      prompt: { context, options: { layout: reasoningLayout, maxHistory: P.maxHistory, budget: { maxTokens: P.maxPromptTokens, tokenizer } }, seed: o.seed },
      format: P.format,
      out: tracePath,
    });
    // A student cannot finish an answer longer than its generation budget; say so before
    // training on such traces rather than after an evaluation full of truncated answers.
    const responses = readJsonLines<TraceRecord>(tracePath).records.flatMap((t) => (t.response === null ? [] : [t.response]));
    const lengths = (await tokenizer.encodeBatch(responses)).map((ids) => ids.length).sort((a, b) => a - b);
    const p99 = lengths[Math.floor(0.99 * (lengths.length - 1))] ?? 0;
    const over = lengths.filter((n) => n >= P.maxNewTokens).length;
    log(`  ${r.stats.accepted}/${r.stats.lists} accepted; answers ${lengths[lengths.length >> 1] ?? 0} tokens (median), ${p99} (p99), budget ${P.maxNewTokens}`);
    if (over > 0) log(`  warning: ${over} of ${lengths.length} answers reach maxNewTokens (${P.maxNewTokens}); the student cannot finish those`);
    recordStage(o.runDir, "traces", { status: "done", outputs: { traces: `traces/evidence-${P.traceMode}.jsonl` }, metrics: { accepted: r.stats.accepted, lists: r.stats.lists, answer_tokens_p99: p99, answers_over_budget: over }, config: { mode: P.traceMode, format: P.format, layout: reasoningLayout, context: P.context ?? "full" } });
  });

  // ---- evidence reading: the scorer's orders on every learning list, in the direct policy's prompt ----
  const policies = new Set(P.policies ?? ["reasoning", "direct"]);
  const reasoning = policies.has("reasoning");
  const D = policies.has("direct") ? P.direct : null;
  // The reading model serves the direct policy, and the reasoning SFT when it starts from it.
  const read = P.read && P.evidence !== "none" && (D || (reasoning && P.sftFrom === "read"))
    ? await timed("read", async () => {
        const readLayout = (readManifest(o.runDir).stages.read?.config?.layout as string | undefined) ?? "sids";
        if (isDone("read") && readLayout !== directSettings(P).layout) {
          throw new Error(`${o.runDir}: its reading model was trained in the ${readLayout} prompt layout, not ${directSettings(P).layout}; run with --direct-layout ${readLayout}, or start a new run folder (--out)`);
        }
        if (!isDone("read")) {
          const { layout, maxPromptTokens } = directSettings(P);
          const budget = { maxTokens: maxPromptTokens, tokenizer };
          const { examples, headMoved } = await evidenceReadingExamples(learnLists, scorer, { context, format: P.format, layout, maxHistory: P.maxHistory, budget, head: P.teacherHead, movedRepeat: P.readMovedRepeat });
          const path = join(o.runDir, "traces", "reading.jsonl");
          writeDirectTraces(path, examples);
          // The share of lists whose head the teacher moves: what the student should learn to do.
          log(`  ${examples.length} reading examples from ${learnLists.length} lists; the scorer moves the incoming head in ${(100 * headMoved).toFixed(1)}% of them`);
          await runSft({ runDir: o.runDir, stage: "read", layout, direct: true, maxHistory: P.maxHistory, maxPromptTokens, from: mid, traces: [path], ...P.read!, ...sftShared });
          const rec = readManifest(o.runDir).stages.read!;
          recordStage(o.runDir, "read", { ...rec, metrics: { ...rec.metrics, lists: learnLists.length, examples: examples.length, teacher_head_moved: Math.round(headMoved * 1e4) / 1e4 } });
        }
        return join(o.runDir, "read", "model");
      })
    : null;

  const sft = reasoning ? await timed("sft", async () => {
    if (!isDone("sft")) await runSft({ runDir: o.runDir, layout: reasoningLayout, maxHistory: P.maxHistory, maxPromptTokens: P.maxPromptTokens, from: P.sftFrom === "read" && read ? read : mid, traces: [tracePath], ...P.sft, ...(P.sftMovedRepeat ? { movedRepeat: P.sftMovedRepeat } : {}), ...sftShared });
    return join(o.runDir, "sft", "model");
  }) : null;

  // DAPO on the learning lists, from `from`, prompting and decoding as `settings` say.
  const sequenceOf = new Map(ds.interactions.userIds.map((u, i) => [u, ds.interactions.sequences[i]!]));
  const graded = P.gradedWindow ? (l: CandidateList) => gradedRelevance(l, sequenceOf.get(l.user) ?? [], P.gradedWindow!) : undefined;
  const rlPass = (stage: string, from: string, settings: ReturnType<typeof rerankSettings> | ReturnType<typeof directSettings>, dapo: PipelinePreset["dapo"]) =>
    runRl({ runDir: o.runDir, stage, from, lists: learnLists, context, ...settings, constrained: P.rlRollouts === "constrained", shuffle: false, dapo: { ...DAPO_DEFAULTS, ...dapo, seed: o.seed }, device: o.device, ...(graded ? { relevance: graded } : {}) });

  const rl = sft ? await timed("rl", async () => {
    if (!isDone("rl")) await rlPass("rl", sft, rerankSettings(P), P.dapo);
    return join(o.runDir, "rl", "model");
  }) : null;

  // ---- the direct policy: no reasoning, SIDs-only prompt (technical report) ----
  // With the reading stage it starts from that model (already trained on this prompt); without,
  // from the RL model, after SFT on the teacher's rankings in this prompt.
  const direct = D
    ? await timed("direct", async () => {
        if (read) {
          if (!isDone("direct")) await rlPass("direct", read, directSettings(P), D.dapo);
          return join(o.runDir, "direct", "model");
        }
        if (!rl) throw new Error("unreachable: a direct policy without a reading stage needs the reasoning policy (checked at the start of runPipeline)");
        const directTracePath = join(o.runDir, "traces", "direct.jsonl");
        if (!isDone("direct-sft")) {
          const records = readJsonLines<TraceRecord>(tracePath).records;
          const { layout, maxPromptTokens } = directSettings(P);
          const examples = await directTraces(records, learnLists, { context, format: P.format, layout, maxHistory: P.maxHistory, budget: { maxTokens: maxPromptTokens, tokenizer } });
          writeDirectTraces(directTracePath, examples);
          await runSft({ runDir: o.runDir, stage: "direct-sft", layout, direct: true, maxHistory: P.maxHistory, maxPromptTokens, from: rl, traces: [directTracePath], ...D.sft, ...sftShared });
        }
        if (!isDone("direct")) await rlPass("direct", join(o.runDir, "direct-sft", "model"), directSettings(P), D.dapo);
        return join(o.runDir, "direct", "model");
      })
    : null;

  // ---- evaluation on the test lists ----
  const llm: Record<string, { ranks: MethodRanks; valid: number; identity: number; identityNonoptimal: number; invalidAt: Record<InvalidPart, number> }> = {};
  const evaluated = new Set(P.evaluate ?? ["sft", "rl", "direct"]);
  const trained = [
    ...(sft && rl ? [{ name: "sft", dir: sft, settings: rerankSettings(P), maxNewTokens: P.maxNewTokens }, { name: "rl", dir: rl, settings: rerankSettings(P), maxNewTokens: P.maxNewTokens }] : []),
    ...(direct && D ? [{ name: "direct", dir: direct, settings: directSettings(P), maxNewTokens: D.maxNewTokens }] : []),
  ].filter((p) => evaluated.has(p.name as "sft"));
  // Reasoning stages may be evaluated on a seeded subset of the test lists (a reasoning decode
  // costs ~0.5 s a list on 2 cores); their metrics then come from a second evaluation on that
  // subset, with its own paired intervals against the incoming order on the same lists.
  const subsetIdx = P.reasoningEvalUsers && P.reasoningEvalUsers < evalLists.length ? sample(evalLists.map((_, i) => i), P.reasoningEvalUsers, o.seed ^ 0x51) : null;
  const reasoningLists = subsetIdx ? subsetIdx.map((i) => evalLists[i]!) : evalLists;
  const onSubset = new Set<string>();
  await timed("evaluate", async () => {
    for (const { name, dir, settings, maxNewTokens } of trained) {
      const model = loadHFModel(dir, o.device);
      const lists = settings.maxRationaleTokens > 0 ? reasoningLists : evalLists;
      if (lists !== evalLists) onSubset.add(name);

      // What a user is served is the constrained decode; valid_rate is the share of lists where
      // the constraint never changed the model's greedy choice, i.e. where the unconstrained
      // output is this same valid answer (one pass; see src/eval/llm-rerank.ts).
      const r = await rerankWithModel(model, tokenizer, context, lists, { ...settings, batch: P.evalBatch, maxNewTokens, label: `eval ${name}` });
      model.dispose();
      trimAllocator(0);
      // The order each list was served in (the incoming one where the answer did not parse), for graded NDCG.
      const orders = r.outputs.map((x, i) => x.ranking ?? lists[i]!.candidates.map((_, j) => j));
      llm[name] = { ranks: { name, ranks: r.ranks, orders, seconds: r.seconds }, valid: r.freeRate, identity: r.identityRate, identityNonoptimal: r.identityRateNonoptimal, invalidAt: r.invalidAt };
    }
  });
  const evaluation = evaluateRanks(evalLists, [...baselineRanks, ...Object.entries(llm).filter(([n]) => !onSubset.has(n)).map(([, l]) => l.ranks)], { seed: o.seed });
  const subset = subsetIdx && onSubset.size > 0
    ? evaluateRanks(reasoningLists, [...baselineRanks.map((b) => ({ ...b, ranks: Int32Array.from(subsetIdx, (i) => b.ranks[i]!), orders: subsetIdx.map((i) => b.orders![i]!) })), ...[...onSubset].map((n) => llm[n]!.ranks)], { seed: o.seed })
    : undefined;
  const stages: Record<string, StageMetrics> = {};
  const compression = compressor ? (readManifest(o.runDir).stages.compress?.metrics as unknown as CompressStageMetrics) : undefined;
  const pick = (name: string, valid: number, identity: number, identityNonoptimal: number): StageMetrics | undefined => {
    const m = (onSubset.has(name) ? subset! : evaluation).methods.find((x) => x.name === name);
    if (!m) return undefined;
    return {
      lists: onSubset.has(name) ? reasoningLists.length : evalLists.length, "recall@1": m.metrics["recall@1"].mean, "recall@3": m.metrics["recall@3"].mean, "recall@5": m.metrics["recall@5"].mean, "ndcg@3": m.metrics["ndcg@3"].mean, "ndcg@5": m.metrics["ndcg@5"].mean, ...(m.graded ? { "graded_ndcg@5": m.graded["ndcg@5"].mean } : {}), valid_rate: valid, identity_rate: identity, identity_rate_nonoptimal: identityNonoptimal, vs_incoming: vsIncomingOf(m) };
  };
  // The baselines always write a valid order; their copy rates are counted from those orders.
  const pickBaseline = (name: string) => {
    const outcomes = scoresOf(baselineScores, name).map((scores, l) => ({ order: orderByScore(scores), rankPre: evalLists[l]!.rankPre }));
    const mon = monitor(outcomes, evalLists[0]!.candidates.length);
    return pick(name, mon.valid_rate, mon.identity_rate, mon.identity_rate_nonoptimal);
  };
  const prerank = pickBaseline("incoming");
  const listwise = pickBaseline("listwise");
  const evidence = pickBaseline("evidence");
  if (prerank) stages.prerank = prerank;
  if (listwise) stages.listwise = listwise;
  if (evidence) stages.evidence = evidence;
  for (const [name, l] of Object.entries(llm)) stages[name] = { ...pick(name, l.valid, l.identity, l.identityNonoptimal)!, invalid_at: l.invalidAt };
  if (stages.direct && llm.rl && llm.direct) stages.direct.vs_reasoning = directVsReasoning(evalLists, llm.direct.ranks.ranks, llm.rl.ranks.ranks, onSubset.has("rl") ? subsetIdx : null, o.seed);

  const report: EvalReport = {
    title: `GR2 pipeline — ${ds.catalogue.name}, preset ${o.preset}`,
    dataset: ds.catalogue.name,
    createdAt: new Date().toISOString(),
    machine: machineInfo(),
    seeds: { pipeline: o.seed, bootstrap: o.seed },
    rerank: evaluation,
    notes: [
      "valid_rate: share of outputs that parse to a valid permutation without decoding constraints; the metrics rank each list by that output when valid, else by the constrained decode (always a valid permutation).",
      "invalid_at (language-model stages): the lists whose output is not valid without constraints, by where it first left the answer grammar: rationale, format (fixed text), ranking_first (the ranking's first SID or letter), ranking_rest (a later one), unfinished (stopped or out of tokens).",
      "identity_rate: share of outputs equal to the incoming order; identity_rate_nonoptimal: the same among lists whose target the incoming order does not put first, the copying that loses the target (keeping the order is right when the target is first).",
      `evaluated on ${evalLists.length} test lists${subset ? ` (the reasoning stages ${[...onSubset].join(", ")} on a seeded subset of ${reasoningLists.length}, compared with the incoming order and baselines on those same lists: extra.reasoning_subset)` : ""}; the re-ranker learned from ${learnLists.length} lists (${learnLists.filter((l) => l.split === "valid").length} valid, ${learnLists.filter((l) => l.split === "train").length} train-prefix lists); held out for model selection: ${heldOutValid.length} valid lists.`,
      `evidence (${P.evidence}): computed from the train split only, withholding a train-prefix list's own later purchases; "evidence" is the listwise logistic scorer over it (src/rank/evidence/scorer.ts), the teacher's ranker.`,
      ...(W > 1 ? [`test window ${W}: each user's last ${W - 1} items were set aside before anything was trained; a test list's positives are the user's next ${W} items that the ranker put in its top ${LIST_SIZE} (the first of them is the list's target, grade 2; the others grade 1), and graded_ndcg@5 is NDCG@5 with gains 2^g − 1 over them.`] : []),
      `candidate lists (see docs/candidates-format.md): ${test.length} of ${split.test.length} test users and ${valid.length} of ${split.valid.length} valid users have one (under the default \`hits\` protocol, those whose target the upstream ranker put in its top ${LIST_SIZE}).`,
    ],
    extra: { stages, seconds, peak_rss_mb: peakRssMb, context: P.context ?? "full", ...(compression ? { compression } : {}), ...(subset ? { reasoning_subset: subset } : {}) },
  };
  const reportDir = join(o.runDir, "report");
  writeReport(reportDir, report);
  return { users: evalLists.length, stages, evaluation, ...(subset ? { subset } : {}), reportDir, seconds, peakRssMb, ...(compression ? { compression } : {}) };
}

/**
 * The direct policy against the reasoning policy, paired on the lists the reasoning policy was
 * evaluated on (`subset`: their indices among the test lists, or all), and on the hard ones.
 */
function directVsReasoning(lists: readonly CandidateList[], direct: Int32Array, reasoning: Int32Array, subset: readonly number[] | null, seed: number): NonNullable<StageMetrics["vs_reasoning"]> {
  const idx = subset ?? lists.map((_, i) => i);
  const d = Int32Array.from(idx, (i) => direct[i]!);
  const hard = idx.flatMap((i, j) => (lists[i]!.rankPre !== 1 ? [j] : []));
  return {
    lists: idx.length,
    all: pairedDifference(d, reasoning, { seed }),
    hard_lists: hard.length,
    hard: hard.length > 0 ? pairedDifference(Int32Array.from(hard, (j) => d[j]!), Int32Array.from(hard, (j) => reasoning[j]!), { seed }) : null,
  };
}

/** A baseline's per-list scores, by name. */
function scoresOf(scores: ReadonlyMap<string, Float32Array[]>, name: string): Float32Array[] {
  const s = scores.get(name);
  if (!s) throw new Error(`baseline ${name} has no reranker`);
  return s;
}

