/**
 * `gr2 eval generative --model DIR --sids SID_DIR|SID_MAP.json --dataset NAME [--data-dir DIR]
 *                      [--users N] [--beam N] [--split test|valid] [--json]`
 * (--users samples that many users to evaluate; a synthetic catalogue's own size is --data-users.)
 * Next-item Recall@5/10 and NDCG@5/10 of a mid-trained model by constrained beam search over
 * the catalogue's SIDs. DIR is an HF folder or a run folder (its mid-trained model is used);
 * --sids defaults to the model folder's sid_map.json. --copy-probe also measures whether the
 * model writes back K shown candidate SIDs, each once (src/eval/copy-probe.ts).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { prepareGenerativeEval, runGenerativeEval } from "../eval/generative.js";
import { copyProbe } from "../eval/copy-probe.js";
import { encodeFragments, itemSidTokens } from "../train/tasks/context.js";
import { loadHFModel, loadHFTokenizer } from "../lm/hf.js";
import { readManifest } from "../train/run.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, numberFlag, runCommand, UsageError } from "./args.js";
import { readSidsFlag } from "./midtrain.js";

const USAGE = `usage: gr2 eval generative --model HF_DIR|RUN_DIR [--sids SID_DIR|SID_MAP.json]
                    --dataset NAME [--data-dir DIR] [--data-users N --items N --seed S]
                    [--users N] [--sample-seed S] [--beam N]
                    [--split test|valid] [--max-history N] [--batch N] [--precision fp32|bf16]
                    [--copy-probe] [--device cpu|cuda] [--json]
--users is the number of users evaluated; a synthetic catalogue's own user count is --data-users.
--seed seeds the synthetic catalogue, as in every gr2 command; --data-seed S, its old spelling here,
is deprecated but still read.`;

/** An HF folder as given, or a run folder's mid-trained model. */
function modelFolder(dir: string): string {
  if (existsSync(join(dir, "config.json"))) return dir;
  const stage = readManifest(dir).stages.midtrain;
  if (stage?.status === "done" && stage.outputs.model) return join(dir, stage.outputs.model);
  throw new UsageError(`--model ${dir}: neither an HF folder (config.json) nor a run folder with a finished midtrain stage`);
}

export async function evalGenerativeCommand(args: string[]): Promise<number> {
  return runCommand("eval generative", USAGE, async () => {
    const { values } = parseArgs({
      args,
      options: {
        ...DATASET_OPTIONS,
        "data-users": { type: "string" },
        /** Deprecated: --seed's old spelling here. */
        "data-seed": { type: "string" },
        users: { type: "string" },
        model: { type: "string" },
        sids: { type: "string" },
        "sample-seed": { type: "string" },
        beam: { type: "string" },
        split: { type: "string" },
        "max-history": { type: "string" },
        batch: { type: "string" },
        precision: { type: "string" },
        device: { type: "string" },
        json: { type: "boolean" },
        "copy-probe": { type: "boolean" },
      },
    });
    if (!values.model) throw new UsageError("--model DIR is required");
    const dir = modelFolder(values.model as string);
    const sidMap = await readSidsFlag((values.sids as string | undefined) ?? (existsSync(join(dir, "sid_map.json")) ? dir : undefined));
    // --users is the number of users evaluated; a synthetic catalogue's size is --data-users.
    const users = numberFlag(values, "users", undefined);
    if (values.seed !== undefined && values["data-seed"] !== undefined) throw new UsageError("--data-seed is the deprecated spelling of --seed: give one of them");
    const ds = await loadDataset(datasetFlags(values, { usersFlag: "data-users", seedAlias: "data-seed", warn: (text) => process.stderr.write(`gr2 eval generative: ${text}\n`) }));
    const tokenizer = loadHFTokenizer(dir);
    const model = loadHFModel(dir, (values.device as string | undefined) ?? "cpu");
    try {
      const sampleSeed = numberFlag(values, "sample-seed", 0);
      const set = await prepareGenerativeEval(ds, sidMap, tokenizer, {
        split: choiceFlag(values, "split", ["test", "valid"] as const, "test"),
        users,
        seed: sampleSeed,
        maxHistory: numberFlag(values, "max-history", 20),
      });
      const m = runGenerativeEval(model, set, {
        beams: numberFlag(values, "beam", 20),
        batchSize: numberFlag(values, "batch", 16),
        precision: choiceFlag(values, "precision", ["fp32", "bf16"] as const, "bf16"),
      });
      const probe = values["copy-probe"]
        ? copyProbe(model, set.examples, itemSidTokens(ds, sidMap, tokenizer), await encodeFragments(tokenizer), { seed: sampleSeed, eos: tokenizer.requireId(tokenizer.special.eos ?? "<|endoftext|>") })
        : null;
      const { ranks: _ranks, ...summary } = m;
      const out = { ...summary, seconds: Number(m.seconds.toFixed(2)), model: dir, ...(probe ? { copy_probe: probe } : {}) };
      if (values.json) process.stdout.write(JSON.stringify(out) + "\n");
      else {
        process.stdout.write(`generative next-item (${m.split}, ${m.users} users, beam ${m.beams}): recall@5 ${m["recall@5"].toFixed(4)}  ndcg@5 ${m["ndcg@5"].toFixed(4)}  recall@10 ${m["recall@10"].toFixed(4)}  ndcg@10 ${m["ndcg@10"].toFixed(4)}  (${m.seconds.toFixed(1)} s)\n`);
        if (probe) {
          const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
          process.stdout.write(`copy probe (${probe.lists} lists of ${probe.k}): SIDs that are candidates ${pc(probe.in_candidates)}, distinct ${pc(probe.distinct_candidates)}, valid permutations ${pc(probe.valid_rate)}, next item first ${pc(probe.top1)}\n`);
        }
      }
      return 0;
    } finally {
      model.dispose();
    }
  });
}
