/**
 * `gr2 pipeline --dataset NAME --preset tiny|demo|beauty [--data-dir DIR] [--out RUN_DIR] [--json]`
 * Runs every stage (resumable from the run folder) and prints the comparison table, or with
 * --json one line: {"stages": {"prerank", "listwise", "sft", "rl", "direct": {R@1/3/5, NDCG@3/5, valid_rate, identity_rate, identity_rate_nonoptimal}}, "users", ...}.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { isPreset } from "../lm/presets.js";
import { runPipeline, type PipelineResult } from "../pipeline/pipeline.js";
import { NAMED_SOURCES } from "../sid/build.js";
import { PIPELINE_PRESETS, type PipelinePreset } from "../pipeline/presets.js";
import { OUTPUT_FORMATS } from "../prompt/output-format.js";
import { parseMixture } from "../train/tasks/mixture.js";
import { EVIDENCE_SETS } from "../rank/evidence/features.js";
import { REWARD_NAMES } from "../reward/registry.js";
import { DEFAULT_COMPRESSION_REWARD } from "../reward/compress.js";
import { TRACE_MODES } from "../teacher/teacher.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, integerFlag, numberFlag, runCommand, UsageError } from "./args.js";

/** The preset overrides given on the command line. */
export function overridesFrom(values: Record<string, unknown>, preset: PipelinePreset): Partial<PipelinePreset> {
  const o: Partial<PipelinePreset> = {};
  if (values.format !== undefined) o.format = choiceFlag(values, "format", OUTPUT_FORMATS, preset.format);
  if (values["trace-mode"] !== undefined) o.traceMode = choiceFlag(values, "trace-mode", TRACE_MODES, preset.traceMode);
  const learn = integerFlag(values, "learn-users", 0);
  if (learn !== undefined) o.learnUsers = learn;
  const evalUsers = integerFlag(values, "eval-users", 0);
  if (evalUsers !== undefined) o.evalUsers = evalUsers;
  const layers = integerFlag(values, "layers", 1);
  if (layers !== undefined) o.pretrain = { ...preset.pretrain, layers };
  const midtrain = integerFlag(values, "midtrain-steps", 1);
  if (midtrain !== undefined) o.midtrain = { ...preset.midtrain, steps: midtrain };
  if (values.mix !== undefined) o.midtrain = { ...(o.midtrain ?? preset.midtrain), mixture: parseMixture(values.mix as string) };
  const sft = integerFlag(values, "sft-steps", 1);
  if (sft !== undefined) o.sft = { ...preset.sft, steps: sft };
  if (values["reasoning-layout"] !== undefined) o.reasoningLayout = choiceFlag(values, "reasoning-layout", ["full", "brief"] as const, preset.reasoningLayout ?? "full");
  if (values["direct-layout"] !== undefined) o.directLayout = choiceFlag(values, "direct-layout", ["sids", "full"] as const, preset.directLayout ?? "sids");
  const movedRepeat = integerFlag(values, "sft-moved-repeat", 1);
  if (movedRepeat !== undefined) o.sftMovedRepeat = movedRepeat;
  if (values["sft-from"] !== undefined) o.sftFrom = choiceFlag(values, "sft-from", ["mid", "read"] as const, preset.sftFrom);
  const readSteps = integerFlag(values, "read-steps", 1);
  if (readSteps !== undefined && preset.read) o.read = { ...preset.read, steps: readSteps };
  // Beauty's 14k reading examples want about two epochs at a lower rate than the demo's (docs/benchmarks.md).
  const readLr = numberFlag(values, "read-lr", undefined, { min: 0 });
  if (readLr !== undefined && preset.read) o.read = { ...(o.read ?? preset.read), lr: readLr };
  const rl = integerFlag(values, "rl-steps", 1);
  if (rl !== undefined) o.dapo = { ...preset.dapo, steps: rl };
  if (values.policies !== undefined) o.policies = parsePolicies(values.policies as string);
  if (values["rl-rollouts"] !== undefined) o.rlRollouts = choiceFlag(values, "rl-rollouts", ["constrained", "free"] as const, preset.rlRollouts);
  if (values["rl-reward"] !== undefined) {
    const reward = choiceFlag(values, "rl-reward", REWARD_NAMES, "conditional");
    o.dapo = { ...(o.dapo ?? preset.dapo), reward };
    if (preset.direct) o.direct = { ...preset.direct, dapo: { ...preset.direct.dapo, reward } };
  }
  const directRl = integerFlag(values, "direct-rl-steps", 1);
  if (directRl !== undefined) {
    if (!preset.direct) throw new UsageError(`--direct-rl-steps: the preset trains no direct policy`);
    const direct = o.direct ?? preset.direct;
    o.direct = { ...direct, dapo: { ...direct.dapo, steps: directRl } };
  }
  if (values["rl-format-credit"] !== undefined) {
    const formatCredit = choiceFlag(values, "rl-format-credit", ["sequence", "first_error"] as const, "sequence");
    o.dapo = { ...(o.dapo ?? preset.dapo), formatCredit };
  }
  if (values.evidence !== undefined) o.evidence = choiceFlag(values, "evidence", EVIDENCE_SETS, preset.evidence);
  if (values["train-lists"] !== undefined) o.trainLists = parseTrainLists(values["train-lists"] as string);
  const window = integerFlag(values, "graded-window", 0);
  if (window !== undefined) o.gradedWindow = window;
  const testWindow = integerFlag(values, "test-window", 1);
  if (testWindow !== undefined) o.testWindow = testWindow;
  // Catalogues with long titles need a larger budget than the preset's for the reasoning prompt.
  const maxPrompt = integerFlag(values, "max-prompt-tokens", 64);
  if (maxPrompt !== undefined) o.maxPromptTokens = maxPrompt;
  if (values.context !== undefined) o.context = choiceFlag(values, "context", ["full", "compressed"] as const, preset.context ?? "full");
  const compressSteps = integerFlag(values, "compress-steps", 1);
  if (compressSteps !== undefined) o.compress = { ...preset.compress, steps: compressSteps };
  const alpha = numberFlag(values, "compress-alpha", undefined, { min: 0, max: 1 });
  if (alpha !== undefined) o.compress = { ...(o.compress ?? preset.compress), reward: { ...DEFAULT_COMPRESSION_REWARD, ...(o.compress ?? preset.compress)?.reward, alpha } };
  const temperature = numberFlag(values, "teacher-temperature", undefined, { min: 0 });
  if (temperature !== undefined) o.teacherTemperature = temperature;
  return o;
}

/** `--policies reasoning,direct | reasoning | direct` (see PipelinePreset.policies). */
export function parsePolicies(v: string): NonNullable<PipelinePreset["policies"]> {
  const names = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const known = ["reasoning", "direct"] as const;
  for (const n of names) if (!(known as readonly string[]).includes(n)) throw new UsageError(`--policies: "${n}" is not a policy; expected a comma-separated list of ${known.join(", ")}`);
  if (names.length === 0) throw new UsageError(`--policies: expected a comma-separated list of ${known.join(", ")}`);
  return [...new Set(names)] as NonNullable<PipelinePreset["policies"]>;
}

/** `--train-lists cut:N | folds:F:N | none` (see PipelinePreset.trainLists). */
/** `--json`'s one line (gr2 pipeline, gr2 demo): each stage's metrics, seconds and peak resident memory. */
export function pipelineJson(r: PipelineResult) {
  return { stages: r.stages, users: r.users, report: r.reportDir, seconds: r.seconds, peak_rss_mb: r.peakRssMb, ...(r.compression ? { compression: r.compression } : {}) };
}

export function parseTrainLists(text: string): PipelinePreset["trainLists"] {
  if (text === "none") return null;
  const cut = /^cut:(\d+)$/.exec(text);
  if (cut && Number(cut[1]) >= 1) return { method: "cut", positionsPerUser: Number(cut[1]) };
  const folds = /^folds:(\d+):(\d+)$/.exec(text);
  if (folds && Number(folds[1]) >= 2 && Number(folds[2]) >= 1) return { method: "folds", folds: Number(folds[1]), positionsPerUser: Number(folds[2]) };
  throw new UsageError(`--train-lists expects cut:N (N ≥ 1 positions per user, time cut), folds:F:N (F ≥ 2 folds) or none, got "${text}"`);
}

const USAGE = `usage: gr2 pipeline --dataset NAME [--data-dir DIR] [--users N --items N --seed S]
                    --preset tiny|demo|beauty [--out RUN_DIR] [--device cpu|cuda] [--json]
                    [--format json|compact|labels] [--trace-mode targeted|rejection|unfiltered] [--learn-users N] [--eval-users N]
                    [--layers N (the model's depth; default the preset's)] [--midtrain-steps N] [--mix sequential=0.3,candidates=0.45,…]
                    [--policies reasoning,direct (the language-model policies trained; direct alone skips the reasoning SFT and RL)]
                    [--read-steps N] [--read-lr LR] [--sft-steps N] [--sft-from mid|read] [--sft-moved-repeat N]
                    [--reasoning-layout full|brief] [--direct-layout sids|full (the reading stage's and direct policy's prompt)] [--rl-steps N] [--direct-rl-steps N] [--rl-rollouts constrained|free]
                    [--rl-format-credit sequence|first_error] [--rl-reward ${REWARD_NAMES.join("|")}]
                    [--evidence none|meta|cobuy|all|ranked] [--train-lists cut:N|folds:F:N|none]
                    [--teacher-temperature T] [--max-prompt-tokens N (the reasoning prompt's budget)]
                    [--graded-window W (later purchases within W are positives; for --rl-reward auc|ndcg)]
                    [--test-window W (test lists with several positives: the user's next W items; graded NDCG@5)]
                    [--embed tfidf,cooc|use-lite[,cooc] (the SIDs' item embeddings; use-lite: a pretrained sentence encoder)]
                    [--context full|compressed (compressed: histories rewritten by the context compressor, trained by RL)]
                    [--compress-steps N] [--compress-alpha A (the compression term's weight in its reward, 0..1)]

  The last flags override the preset's budgets (0 users = all); a finished stage is not re-run.`;

export async function pipelineCommand(args: string[]): Promise<number> {
  return runCommand("pipeline", USAGE, async () => {
    const { values } = parseArgs({
      args,
      options: {
        ...DATASET_OPTIONS,
        preset: { type: "string" },
        out: { type: "string" },
        device: { type: "string" },
        json: { type: "boolean" },
        format: { type: "string" },
        "trace-mode": { type: "string" },
        "learn-users": { type: "string" },
        "eval-users": { type: "string" },
        "midtrain-steps": { type: "string" },
        mix: { type: "string" },
        "sft-steps": { type: "string" },
        layers: { type: "string" },
        "sft-from": { type: "string" },
        "reasoning-layout": { type: "string" },
        "direct-layout": { type: "string" },
        "sft-moved-repeat": { type: "string" },
        "read-steps": { type: "string" },
        "read-lr": { type: "string" },
        policies: { type: "string" },
        "rl-steps": { type: "string" },
        "rl-rollouts": { type: "string" },
        "rl-reward": { type: "string" },
        "direct-rl-steps": { type: "string" },
        "max-prompt-tokens": { type: "string" },
        "graded-window": { type: "string" },
        "test-window": { type: "string" },
        "rl-format-credit": { type: "string" },
        evidence: { type: "string" },
        "train-lists": { type: "string" },
        "teacher-temperature": { type: "string" },
        embed: { type: "string" },
        context: { type: "string" },
        "compress-steps": { type: "string" },
        "compress-alpha": { type: "string" },
      },
    });
    const preset = (values.preset as string | undefined) ?? "tiny";
    if (!isPreset(preset)) throw new UsageError(`--preset must be tiny, demo or beauty, got "${preset}"`);
    const flags = datasetFlags(values);
    const sidEmbed = values.embed === undefined ? undefined : parseEmbed(values.embed as string);
    const ds = await loadDataset(flags);
    const runDir = (values.out as string | undefined) ?? join("runs", `${flags.name}-${preset}`);
    const r = await runPipeline({ dataset: ds, preset, runDir, device: (values.device as string | undefined) ?? "cpu", seed: numberFlag(values, "seed", 0), overrides: overridesFrom(values, PIPELINE_PRESETS[preset]), sidEmbed, log: values.json ? undefined : (l) => process.stderr.write(`${l}\n`) });
    if (values.json) process.stdout.write(JSON.stringify(pipelineJson(r)) + "\n");
    else process.stdout.write(comparisonTable(r));
    return 0;
  });
}

/** `--embed use-lite,cooc` → the source names, each one of NAMED_SOURCES and none twice. */
export function parseEmbed(text: string): string[] {
  const kinds = text.split(",").map((k) => k.trim()).filter(Boolean);
  const known: readonly string[] = NAMED_SOURCES;
  for (const k of kinds) if (!known.includes(k)) throw new UsageError(`--embed names "${k}"; expected some of ${NAMED_SOURCES.join(", ")}`);
  if (kinds.length === 0 || new Set(kinds).size !== kinds.length) throw new UsageError(`--embed expects distinct names among ${NAMED_SOURCES.join(", ")}, got "${text}"`);
  return kinds;
}

/** The final table: every stage and baseline side by side, with its paired difference against the incoming order. */
export function comparisonTable(r: PipelineResult): string {
  const out = [`\nTest lists: ${r.users} (95% bootstrap intervals; Δ = paired difference against the incoming order, ▲/▼ when its interval excludes zero)\n`, ...methodRows(r, r.evaluation)];
  if (r.subset) out.push(`\nReasoning stages, on a seeded subset of ${r.subset.users} of those test lists (the methods above re-scored on the same lists):\n`, ...methodRows(r, r.subset));
  const vr = r.stages.direct?.vs_reasoning;
  if (vr) {
    const fmt = (v: [number, number, number]) => `${v[0] >= 0 ? "+" : ""}${v[0].toFixed(3)} [${v[1].toFixed(3)}, ${v[2].toFixed(3)}]`;
    const line = (label: string, n: number, v: NonNullable<typeof vr.hard>) => `${label} (${n} lists): Δ R@1 ${fmt(v["recall@1"])}, Δ R@5 ${fmt(v["recall@5"])}, Δ NDCG@5 ${fmt(v["ndcg@5"])}`;
    out.push(`\nDirect policy − reasoning RL, paired: ${line("all", vr.lists, vr.all)}${vr.hard ? `; ${line("hard, target not first", vr.hard_lists, vr.hard)}` : ""}`);
  }
  const c = r.compression;
  if (c) out.push(`\nContext compressor: the test lists' history sections at ${(100 * c.test.token_ratio).toFixed(1)}% of their tokens (${c.test.history_tokens_compressed.toFixed(0)} of ${c.test.history_tokens_full.toFixed(0)} on average, ${(100 * c.test.keep_rate).toFixed(0)}% of items kept); evidence judge on held-out lists ${c.held_out.judge.toFixed(3)} (keep-the-last-three rule: ${c.initial_held_out.judge.toFixed(3)})`);
  out.push(`\nreport: ${r.reportDir}/report.md\n`);
  return out.join("\n");
}

function methodRows(r: PipelineResult, evaluation: PipelineResult["evaluation"]): string[] {
  const graded = Boolean(evaluation.graded);
  const rows = evaluation.methods.map((m) => {
    const f = (k: keyof typeof m.metrics) => fmt(m.metrics[k]);
    const d = (v: { mean: number; lo: number; hi: number } | undefined) => {
      if (m.name === "incoming" || !v) return "";
      const sign = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(3)}`;
      return `${sign(v.mean)} [${sign(v.lo)}, ${sign(v.hi)}]${v.lo > 0 ? " ▲" : v.hi < 0 ? " ▼" : ""}`;
    };
    const stage = r.stages[m.name === "incoming" ? "prerank" : m.name];
    const extra = stage ? `${(stage.valid_rate * 100).toFixed(1)}% / ${(stage.identity_rate * 100).toFixed(1)}%` : "";
    const g = graded ? ` ${m.graded ? fmt(m.graded["ndcg@5"]) : ""} | ${d(m.graded?.vsIncoming)} |` : "";
    return `| ${m.name} | ${f("recall@1")} | ${d(m.vsIncoming["recall@1"])} | ${f("recall@5")} | ${f("ndcg@5")} | ${d(m.vsIncoming["ndcg@5"])} |${g} ${extra} |`;
  });
  const head = `| method | R@1 | Δ R@1 | R@5 | NDCG@5 | Δ NDCG@5 |${graded ? " graded NDCG@5 | Δ graded |" : ""} valid / copy |`;
  const rule = `|---|---|---|---|---|---|${graded ? "---|---|" : ""}---|`;
  const note = evaluation.graded ? [`(graded NDCG@5: ${evaluation.graded.lists} lists with several positives, ${evaluation.graded.positives} a list; gains 2^g − 1)\n`] : [];
  return [...note, head, rule, ...rows];
}

const fmt = (i: { mean: number; lo: number; hi: number }) => `${i.mean.toFixed(4)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]`;
