/**
 * Model-folder commands:
 *   gr2 lm logits --model HF_DIR --ids 1,5,9 [--json]     last position's logits over the vocabulary
 *   gr2 export --format hf (--model DIR | --run RUN_DIR [--stage NAME]) --out DIR [--max-shard-mb N]
 *   gr2 import --from HF_DIR --out RUN_DIR                 validate an HF checkpoint and register it in a run
 * `lm logits` lets any implementation be checked against ours on the same weights.
 */
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { int64, noGrad, tidy } from "../torch/index.js";
import { exportHF, loadHFModel, loadHFTokenizer, saveHFModel } from "../lm/hf.js";
import { readManifest, recordStage } from "../train/run.js";
import { PROMPT_FILE } from "../prompt/prompt-file.js";
import { numberFlag, runCommand, runSubcommands, UsageError } from "./args.js";

const LOGITS_USAGE = "usage: gr2 lm logits --model HF_DIR --ids 1,5,9 [--device cpu|cuda] [--json]";

export function lmCommand(args: string[]): Promise<number> {
  return runSubcommands("lm", LOGITS_USAGE, { logits: logitsCommand }, args);
}

function logitsCommand(args: string[]): number {
  const { values } = parseArgs({ args, options: { model: { type: "string" }, ids: { type: "string" }, device: { type: "string" }, json: { type: "boolean" } } });
  if (!values.model) throw new UsageError("--model HF_DIR is required");
  if (!values.ids) throw new UsageError("--ids is required (comma-separated token ids)");
  const ids = values.ids.split(",").map((s, i) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--ids: item ${i + 1} ("${s}") is not a non-negative integer`);
    return n;
  });
  const model = loadHFModel(values.model, values.device ?? "cpu");
  const bad = ids.find((i) => i >= model.config.vocabSize);
  if (bad !== undefined) throw new UsageError(`--ids: ${bad} is outside the vocabulary (size ${model.config.vocabSize})`);
  const logits = noGrad(() => tidy(() => Array.from(model.forward(int64(ids, [1, ids.length], model.device)).select(1, ids.length - 1).squeeze(0).toFloat32Array())));
  model.dispose();
  if (values.json) process.stdout.write(JSON.stringify({ logits }) + "\n");
  else {
    const top = logits.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 10);
    process.stdout.write(`top next tokens: ${top.map(([v, i]) => `${i} (${v.toFixed(3)})`).join(", ")}\n`);
  }
  return 0;
}

const EXPORT_USAGE = "usage: gr2 export --format hf (--model DIR | --run RUN_DIR [--stage NAME]) --out DIR [--max-shard-mb N] [--json]";

/** The newest finished stage's model folder in a run (or the named stage's). */
function runModelDir(runDir: string, stage?: string): string {
  const stages = readManifest(runDir).stages;
  const order = stage ? [stage] : ["rl", "sft", "midtrain", "pretrain", "import"];
  for (const s of order) {
    const rec = stages[s];
    if (rec?.status === "done" && rec.outputs.model) return join(runDir, rec.outputs.model);
  }
  throw new Error(`${join(runDir, "run.json")}: no finished stage with a model${stage ? ` named "${stage}"` : ""}`);
}

export async function exportCommand(args: string[]): Promise<number> {
  return runCommand("export", EXPORT_USAGE, () => {
    const { values } = parseArgs({ args, options: { format: { type: "string" }, model: { type: "string" }, run: { type: "string" }, stage: { type: "string" }, out: { type: "string" }, "max-shard-mb": { type: "string" }, json: { type: "boolean" } } });
    if ((values.format ?? "hf") !== "hf") throw new UsageError(`--format: only "hf" is supported, got "${values.format}"`);
    if (!values.out) throw new UsageError("--out DIR is required");
    const src = values.model ?? (values.run ? runModelDir(values.run, values.stage) : undefined);
    if (!src) throw new UsageError("give --model DIR or --run RUN_DIR");
    const model = loadHFModel(src);
    const tokenizer = existsSync(join(src, "tokenizer.json")) ? loadHFTokenizer(src) : undefined;
    const maxMb = numberFlag(values, "max-shard-mb", 0);
    const r = exportHF(values.out, model, tokenizer, maxMb > 0 ? { maxShardBytes: maxMb * 1024 * 1024 } : {});
    // What serving needs beside the weights travels with them: the SID map and the prompt settings.
    const sidMap = [join(src, "sid_map.json"), ...(values.run ? [join(values.run, "sids", "sid_map.json")] : [])].find((f) => existsSync(f));
    if (sidMap) copyFileSync(sidMap, join(values.out, "sid_map.json"));
    if (existsSync(join(src, PROMPT_FILE))) copyFileSync(join(src, PROMPT_FILE), join(values.out, PROMPT_FILE));
    const summary = { from: src, out: values.out, params: model.numParams(), merged_adapters: r.mergedAdapters, tokenizer: Boolean(tokenizer) };
    model.dispose();
    process.stdout.write(values.json ? JSON.stringify(summary) + "\n" : `exported ${summary.params.toLocaleString()} parameters from ${src} to ${values.out}\n`);
    return 0;
  });
}

const IMPORT_USAGE = "usage: gr2 import --from HF_DIR --out RUN_DIR [--json]";

export async function importCommand(args: string[]): Promise<number> {
  return runCommand("import", IMPORT_USAGE, () => {
    const { values } = parseArgs({ args, options: { from: { type: "string" }, out: { type: "string" }, json: { type: "boolean" } } });
    if (!values.from || !values.out) throw new UsageError("--from HF_DIR and --out RUN_DIR are required");
    const model = loadHFModel(values.from);
    const tokenizer = loadHFTokenizer(values.from);
    const dir = join(values.out, "import", "model");
    saveHFModel(dir, model, tokenizer);
    const summary = { from: values.from, model: dir, model_type: model.config.modelType, params: model.numParams(), vocab_size: model.config.vocabSize };
    recordStage(values.out, "import", { status: "done", outputs: { model: "import/model" }, metrics: { params: summary.params }, config: { from: values.from } });
    model.dispose();
    process.stdout.write(values.json ? JSON.stringify(summary) + "\n" : `imported ${summary.model_type} (${summary.params.toLocaleString()} parameters) into ${dir}\n`);
    return 0;
  });
}
