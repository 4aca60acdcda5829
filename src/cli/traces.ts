/**
 * `gr2 traces generate`: reasoning traces from a teacher for each candidate list. Thin: parses
 * flags, loads the artefacts, calls src/teacher, prints. Errors become one stderr line, exit 2.
 */
import { viewTracesCommand } from "./viewer.js";
import { existsSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { leaveOneOut } from "../data/split.js";
import { TextTokenizer } from "../lm/tokenizer.js";
import { LIST_SPLITS, readCandidateLists, type ListSplit } from "../rank/candidates.js";
import { OUTPUT_FORMATS } from "../prompt/output-format.js";
import { datasetPromptContext, type PromptBudget } from "../prompt/rerank-prompt.js";
import { readSidMap } from "../sid/sidmap.js";
import { EvidenceTeacher } from "../teacher/evidence-teacher.js";
import { LlmTeacher } from "../teacher/llm-teacher.js";
import { ChatClient } from "../teacher/openai-client.js";
import { TRACE_MODES, type Teacher } from "../teacher/teacher.js";
import { defaultMaxAttempts, generateTraces } from "../teacher/traces.js";
import { TrainIndex } from "../rank/evidence/train-index.js";
import { readManifest, recordStage } from "../train/run.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, integerFlag, numberFlag, type Output, PROCESS_OUTPUT, requiredFlag, runSubcommands, UsageError } from "./args.js";

/** Where `gr2 traces` writes (args.ts's Output). */
export type TracesOutput = Output;

const USAGE = `usage:
  gr2 traces view RUN_DIR [--file TRACES.jsonl] [--dataset NAME --data-dir DIR] [--outputs FILE] [--port N]
  gr2 traces generate --run RUN_DIR --candidates FILE --sids FILE --dataset NAME [--data-dir DIR]
      [--users N --items N --seed S] --teacher evidence|openai --mode targeted|rejection|unfiltered
      [--max-attempts N] [--split train|valid|test|all] [--format json|compact] [--limit N] [--shuffle]
      [--trace-seed 0] [--temperature T] [--max-history 20] [--budget TOKENS [--tokenizer PATH]]
      [--out FILE] [--json]
    openai teacher: --base-url URL --model M [--api-key-env OPENAI_API_KEY] [--n 1] [--max-tokens 1024]
      [--concurrency 4] [--timeout-ms 120000] [--max-retries 5] [--teacher-format json|compact]
      [--cache-dir DIR | --no-cache]
Lists come from the candidate file (default: the valid split, the lists the re-ranker learns from);
evidence is computed from the train split only. Traces go to RUN_DIR/traces/<teacher>-<mode>.jsonl
(resumable: lists already there are skipped), statistics to <same>.stats.json.`;

export function tracesCommand(args: string[], io: TracesOutput = PROCESS_OUTPUT): Promise<number> {
  return runSubcommands("traces", USAGE, { generate: generateCommand, view: viewTracesCommand }, args, io);
}

/** The tokenizer to measure the budget with: --tokenizer, else the run's latest model stage. */
function budgetTokenizer(runDir: string, flag: string | undefined): TextTokenizer {
  if (flag) return TextTokenizer.load(flag);
  const stages = readManifest(runDir).stages;
  for (const stage of ["sft", "midtrain", "pretrain"]) {
    const model = stages[stage]?.status === "done" ? stages[stage]!.outputs.model : undefined;
    if (model) return TextTokenizer.load(isAbsolute(model) ? model : join(runDir, model));
  }
  throw new UsageError("--budget needs a tokenizer: pass --tokenizer PATH (or run gr2 pretrain into RUN_DIR first)");
}

async function generateCommand(args: string[], io: TracesOutput): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...DATASET_OPTIONS,
      run: { type: "string" },
      candidates: { type: "string" },
      sids: { type: "string" },
      teacher: { type: "string" },
      mode: { type: "string" },
      "max-attempts": { type: "string" },
      split: { type: "string", default: "valid" },
      format: { type: "string", default: "json" },
      "teacher-format": { type: "string", default: "json" },
      limit: { type: "string" },
      shuffle: { type: "boolean", default: false },
      "trace-seed": { type: "string" },
      temperature: { type: "string" },
      "max-history": { type: "string" },
      budget: { type: "string" },
      tokenizer: { type: "string" },
      out: { type: "string" },
      "base-url": { type: "string" },
      model: { type: "string" },
      "api-key-env": { type: "string" },
      n: { type: "string" },
      "max-tokens": { type: "string" },
      concurrency: { type: "string" },
      "timeout-ms": { type: "string" },
      "max-retries": { type: "string" },
      "cache-dir": { type: "string" },
      "no-cache": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    allowPositionals: false,
  });
  const runDir = requiredFlag(v, "run");
  const candidatesPath = requiredFlag(v, "candidates");
  const sidsPath = requiredFlag(v, "sids");
  const datasetOptions = datasetFlags(v, { required: true });
  const teacherKind = choiceFlag(v, "teacher", ["evidence", "openai"] as const, "evidence");
  if (v.teacher === undefined) throw new UsageError("missing --teacher evidence|openai");
  if (v.mode === undefined) throw new UsageError("missing --mode targeted|rejection|unfiltered");
  const mode = choiceFlag(v, "mode", TRACE_MODES, "targeted");
  const split = choiceFlag(v, "split", [...LIST_SPLITS, "all"] as const, "valid");
  const format = choiceFlag(v, "format", OUTPUT_FORMATS, "json");
  const teacherFormat = choiceFlag(v, "teacher-format", OUTPUT_FORMATS, "json");
  const maxAttempts = integerFlag(v, "max-attempts", 1) ?? defaultMaxAttempts(mode);
  const seed = integerFlag(v, "trace-seed", 0) ?? 0;
  const temperature = numberFlag(v, "temperature", undefined, { min: 0 });

  const dataset = await loadDataset(datasetOptions);
  const items = dataset.catalogue.items;
  const itemIds = items.map((it) => it.id);
  // The same split the candidate lists were built on (users too short for it have no lists).
  const train = leaveOneOut(dataset.interactions, { skipShortUsers: true }).train;
  let lists = readCandidateLists(candidatesPath, itemIds, split === "all" ? {} : { splits: [split as ListSplit] });
  const limit = integerFlag(v, "limit", 1);
  if (limit !== undefined) lists = lists.slice(0, limit);
  if (lists.length === 0) throw new Error(`${candidatesPath}: no ${split === "all" ? "" : `${split} `}lists`);
  if (split === "test" || split === "all") io.err(`gr2 traces: warning: traces of test lists must not be trained on; the final numbers come from those lists (docs/architecture.md, Protocol)\n`);

  const sidMap = await readSidMap(sidsPath);
  const sidIndex = new Map(sidMap.ids.map((id, i) => [id, i]));
  const sids = itemIds.map((id) => {
    const j = sidIndex.get(id);
    return j === undefined ? null : sidMap.sidOf(j);
  });
  for (const l of lists) {
    for (const i of [...l.history, ...l.candidates]) {
      if (sids[i] === null) throw new Error(`${sidsPath}: item "${itemIds[i]}" (user ${l.user}) has no SID; rebuild the SID map for this catalogue`);
    }
  }
  let budget: PromptBudget | undefined;
  const maxTokens = integerFlag(v, "budget", 1);
  if (maxTokens !== undefined) budget = { maxTokens, tokenizer: budgetTokenizer(runDir, v.tokenizer as string | undefined) };
  const context = datasetPromptContext(dataset, (i) => sids[i]!, train);

  let teacher: Teacher;
  let slug: string;
  if (teacherKind === "evidence") {
    teacher = new EvidenceTeacher({ items, sidOf: context.sidOf, train: TrainIndex.build(train, items.length), complements: context.complements }, { temperature, seed });
    slug = "evidence";
  } else {
    const model = requiredFlag(v, "model");
    const client = new ChatClient({
      baseUrl: requiredFlag(v, "base-url"),
      model,
      apiKeyEnv: (v["api-key-env"] as string | undefined) ?? "OPENAI_API_KEY",
      maxTokens: integerFlag(v, "max-tokens", 1) ?? 1024,
      concurrency: integerFlag(v, "concurrency", 1) ?? 4,
      timeoutMs: integerFlag(v, "timeout-ms", 1) ?? 120_000,
      maxRetries: integerFlag(v, "max-retries", 0) ?? 5,
      cacheDir: v["no-cache"] ? undefined : ((v["cache-dir"] as string | undefined) ?? join(runDir, "cache", "chat")),
    });
    teacher = new LlmTeacher(client, { batch: integerFlag(v, "n", 1) ?? 1, temperature, seed });
    slug = `openai-${model.replace(/[^A-Za-z0-9._-]+/g, "_")}`;
  }
  const out = (v.out as string | undefined) ?? join(runDir, "traces", `${slug}-${mode}.jsonl`);
  const resumed = existsSync(out);

  let last = Date.now();
  const r = await generateTraces({
    lists: lists.map((l) => ({ user: l.user, split: l.split, history: l.history, candidates: l.candidates, target: l.target, rankPre: l.rankPre })),
    teacher,
    mode,
    maxAttempts,
    prompt: { context, options: { maxHistory: integerFlag(v, "max-history", 1) ?? 20, budget }, shuffle: v.shuffle as boolean, seed },
    format,
    teacherFormat,
    out,
    onProgress: (done, total) => {
      const now = Date.now();
      if (done < total && now - last < (io.tty ? 200 : 10_000)) return;
      last = now;
      const text = `traces ${mode}: ${done}/${total}`;
      if (io.tty) io.err(`\r\x1b[2K${text}${done === total ? "\n" : ""}`);
      else if (total >= 50) io.err(`${text}\n`);
    },
  });
  const rel = (p: string) => (relative(runDir, p).startsWith("..") ? p : relative(runDir, p));
  recordStage(runDir, `traces-${mode}`, {
    status: "done",
    outputs: { traces: rel(out), stats: rel(r.statsPath) },
    metrics: { lists: r.stats.lists, accepted: r.stats.accepted, acceptance_rate: r.stats.acceptance_rate, mean_attempts: r.stats.attempts.mean, invalid_rate: r.stats.invalid_rate },
    config: { teacher: teacher.name, mode, max_attempts: maxAttempts, split, format, teacher_format: teacherFormat, shuffle: v.shuffle, seed, temperature: temperature ?? null, candidates: candidatesPath, sids: sidsPath, dataset: v.dataset },
  });
  const summary = { ...r.stats, written: r.written, skipped: r.skipped, resumed, stats_file: r.statsPath };
  if (v.json) io.out(`${JSON.stringify(summary)}\n`);
  else {
    const s = r.stats;
    io.out(
      `${s.mode} traces by ${s.teacher}: ${s.accepted}/${s.lists} accepted (${(100 * s.acceptance_rate).toFixed(1)}%), ` +
        `${s.attempts.mean} attempts per list, ${(100 * s.invalid_rate).toFixed(1)}% invalid answers` +
        `${r.skipped ? `; ${r.skipped} lists already done` : ""}\ntraces: ${out}\nstats:  ${r.statsPath}\n`,
    );
  }
  return 0;
}
