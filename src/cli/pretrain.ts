/**
 * `gr2 pretrain --dataset NAME [--data-dir DIR] --preset tiny|demo|beauty --out RUN_DIR
 *               [--steps N] [--batch N] [--seq-len N] [--lr X] [--precision fp32|bf16] [--json]`
 * Pre-trains the embedded model on the catalogue text (resumes from RUN_DIR when it has a checkpoint).
 */
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { isPreset } from "../lm/presets.js";
import { pretrain, PRETRAIN_DEFAULTS } from "../train/pretrain.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, integerFlag, numberFlag, runCommand, UsageError } from "./args.js";

const USAGE = `usage: gr2 pretrain --dataset NAME [--data-dir DIR] [--users N --items N --seed S]
                    --preset tiny|demo|beauty --out RUN_DIR [--steps N] [--batch N] [--seq-len N]
                    [--lr X] [--precision fp32|bf16] [--layers N (default: the preset's)] [--device cpu|cuda] [--json]`;

export async function pretrainCommand(args: string[]): Promise<number> {
  return runCommand("pretrain", USAGE, async () => {
    const { values } = parseArgs({
      args,
      options: {
        ...DATASET_OPTIONS,
        preset: { type: "string" },
        out: { type: "string" },
        steps: { type: "string" },
        batch: { type: "string" },
        "seq-len": { type: "string" },
        lr: { type: "string" },
        precision: { type: "string" },
        layers: { type: "string" },
        device: { type: "string" },
        json: { type: "boolean" },
      },
    });
    const preset = (values.preset as string | undefined) ?? "tiny";
    if (!isPreset(preset)) throw new UsageError(`--preset must be tiny, demo or beauty, got "${preset}"`);
    if (!values.out) throw new UsageError("--out RUN_DIR is required");
    const d = PRETRAIN_DEFAULTS[preset];
    const ds = await loadDataset(datasetFlags(values));
    const r = await pretrain(ds, {
      preset,
      runDir: values.out as string,
      steps: numberFlag(values, "steps", d.steps),
      batch: numberFlag(values, "batch", d.batch),
      seqLen: numberFlag(values, "seq-len", d.seqLen),
      lr: numberFlag(values, "lr", d.lr),
      precision: choiceFlag(values, "precision", ["fp32", "bf16"] as const, d.precision),
      seed: d.seed,
      layers: integerFlag(values, "layers", 1),
      device: (values.device as string | undefined) ?? "cpu",
      samplePrompts: ds.catalogue.items.slice(0, 3).map((it) => it.title.split(" ").slice(0, 2).join(" ")),
    });
    const summary = {
      params: r.params,
      vocab_size: r.vocabSize,
      corpus_tokens: r.corpusTokens,
      first_loss: r.firstLoss,
      final_loss: r.finalLoss,
      held_out_loss: r.heldOutLoss,
      tokens_per_s: Math.round(r.tokensPerSecond),
      resumed_from: r.train.resumedFrom,
      model_dir: r.modelDir,
      samples: r.samples,
    };
    if (values.json) process.stdout.write(JSON.stringify(summary) + "\n");
    else {
      process.stdout.write(`pre-trained ${r.params.toLocaleString()} parameters on ${r.corpusTokens.toLocaleString()} tokens: loss ${r.firstLoss.toFixed(3)} → ${r.finalLoss.toFixed(3)} (held-out ${r.heldOutLoss.toFixed(3)}), ${Math.round(r.tokensPerSecond)} tok/s\n`);
      for (const s of r.samples) process.stdout.write(`  sample: ${s.text}\n`);
      process.stdout.write(`model: ${r.modelDir}\n`);
    }
    return 0;
  });
}
