/**
 * `gr2 midtrain --run RUN_DIR [--from HF_DIR] --sids SID_DIR|SID_MAP.json --dataset NAME
 *               [--data-dir DIR] --preset tiny|demo|beauty [--steps N] [--json] …`
 * Mid-trains the run's pre-trained model (or any HF folder) on the SID tasks; resumes from the
 * run's checkpoints when it has some.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generativeCheck } from "../eval/generative.js";
import { loadDataset } from "../data/load.js";
import { isPreset } from "../lm/presets.js";
import { readSidMap, type SidMap } from "../sid/sidmap.js";
import { MIDTRAIN_DEFAULTS, midtrain } from "../train/midtrain.js";
import { parseMixture } from "../train/tasks/mixture.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, numberFlag, runCommand, UsageError } from "./args.js";

const USAGE = `usage: gr2 midtrain --run RUN_DIR [--from HF_DIR] --sids SID_DIR|SID_MAP.json
                    --dataset NAME [--data-dir DIR] [--users N --items N --seed S]
                    [--preset tiny|demo|beauty] [--steps N] [--embed-warmup N] [--batch N]
                    [--seq-len N] [--lr X] [--precision fp32|bf16] [--max-history N]
                    [--mix sequential=0.5,candidates=0.15,caption=0.25,persona=0.05,general=0.05]
                    [--eval-users N] [--eval-beams N] [--device cpu|cuda] [--json]`;

/** A SID folder (as `gr2 sid build --out` writes) or the sid_map.json itself. */
export async function readSidsFlag(path: string | undefined): Promise<SidMap> {
  if (!path) throw new UsageError("--sids SID_DIR|SID_MAP.json is required");
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, "sid_map.json") : path;
  return readSidMap(file);
}

export async function midtrainCommand(args: string[]): Promise<number> {
  return runCommand("midtrain", USAGE, async () => {
    const { values } = parseArgs({
      args,
      options: {
        ...DATASET_OPTIONS,
        run: { type: "string" },
        from: { type: "string" },
        sids: { type: "string" },
        preset: { type: "string" },
        steps: { type: "string" },
        "embed-warmup": { type: "string" },
        batch: { type: "string" },
        "seq-len": { type: "string" },
        lr: { type: "string" },
        precision: { type: "string" },
        "max-history": { type: "string" },
        mix: { type: "string" },
        "eval-users": { type: "string" },
        "eval-beams": { type: "string" },
        device: { type: "string" },
        json: { type: "boolean" },
      },
    });
    const preset = (values.preset as string | undefined) ?? "tiny";
    if (!isPreset(preset)) throw new UsageError(`--preset must be tiny, demo or beauty, got "${preset}"`);
    if (!values.run) throw new UsageError("--run RUN_DIR is required");
    const d = MIDTRAIN_DEFAULTS[preset];
    const sidMap = await readSidsFlag(values.sids as string | undefined);
    const ds = await loadDataset(datasetFlags(values));
    const steps = numberFlag(values, "steps", d.steps);
    const r = await midtrain(ds, sidMap, {
      preset,
      runDir: values.run as string,
      from: values.from as string | undefined,
      steps,
      embedWarmupSteps: numberFlag(values, "embed-warmup", Math.min(d.embedWarmupSteps, Math.floor(steps / 2))),
      batch: numberFlag(values, "batch", d.batch),
      seqLen: numberFlag(values, "seq-len", d.seqLen),
      lr: numberFlag(values, "lr", d.lr),
      precision: choiceFlag(values, "precision", ["fp32", "bf16"] as const, d.precision),
      seed: d.seed,
      device: (values.device as string | undefined) ?? "cpu",
      mixture: values.mix ? parseMixture(values.mix as string) : d.mixture,
      maxHistory: numberFlag(values, "max-history", d.maxHistory),
      check: generativeCheck(ds, sidMap, { users: numberFlag(values, "eval-users", d.evalUsers), beams: numberFlag(values, "eval-beams", d.evalBeams), seed: d.seed, maxHistory: numberFlag(values, "max-history", d.maxHistory) }),
    });
    const summary = {
      params: r.params,
      vocab_size: r.vocabSize,
      added_tokens: r.addedTokens,
      first_loss: r.firstLoss,
      final_loss: r.finalLoss,
      tokens_per_s: Math.round(r.tokensPerSecond),
      train_seconds: Number(r.trainSeconds.toFixed(1)),
      resumed_from: r.resumedFrom,
      mixture: r.mixture,
      valid: r.valid,
      model_dir: r.modelDir,
    };
    if (values.json) process.stdout.write(JSON.stringify(summary) + "\n");
    else {
      process.stdout.write(`mid-trained ${r.params.toLocaleString()} parameters (vocabulary ${r.vocabSize}, +${r.addedTokens} SID tokens): loss ${r.firstLoss.toFixed(3)} → ${r.finalLoss.toFixed(3)}, ${Math.round(r.tokensPerSecond)} tok/s, ${r.trainSeconds.toFixed(0)} s\n`);
      if (r.valid) process.stdout.write(`valid check: recall@10 ${r.valid["recall@10"]!.toFixed(4)}, ndcg@10 ${r.valid["ndcg@10"]!.toFixed(4)}\n`);
      process.stdout.write(`model: ${r.modelDir}\n`);
    }
    return 0;
  });
}
