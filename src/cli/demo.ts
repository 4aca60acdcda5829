/**
 * `gr2 demo [--out RUN_DIR] [--preset demo|tiny]`: what `npm run demo` runs — the pipeline as
 * far as it exists, end to end, on the embedded default: the synthetic catalogue, or Amazon
 * Beauty when GR2_DATA_DIR holds it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { datasetStats, loadDataset } from "../data/load.js";
import { DATA_DIR_ENV } from "../data/load.js";
import { isPreset } from "../lm/presets.js";
import { pretrain, PRETRAIN_DEFAULTS } from "../train/pretrain.js";
import { runCommand, UsageError } from "./args.js";

const USAGE = "usage: gr2 demo [--out RUN_DIR] [--preset demo|tiny] [--dataset synthetic|amazon-beauty]";

function defaultDataset(): string {
  const dir = process.env[DATA_DIR_ENV];
  if (dir && (existsSync(join(dir, "Beauty.txt")) || existsSync(join(dir, "amazon-beauty-2014", "Beauty.txt")))) return "amazon-beauty";
  return "synthetic";
}

export async function demoCommand(args: string[]): Promise<number> {
  return runCommand("demo", USAGE, async () => {
    const { values } = parseArgs({ args, options: { out: { type: "string" }, preset: { type: "string" }, dataset: { type: "string" } } });
    const preset = (values.preset as string | undefined) ?? "demo";
    if (!isPreset(preset)) throw new UsageError(`--preset must be tiny, demo or beauty, got "${preset}"`);
    const name = (values.dataset as string | undefined) ?? defaultDataset();
    const runDir = (values.out as string | undefined) ?? join("runs", `demo-${name}`);
    const t0 = performance.now();
    const ds = await loadDataset(name === "synthetic" ? { name, users: 2000, items: 1000, seed: 42 } : { name });
    const stats = datasetStats(ds);
    process.stdout.write(`GR2 demo — dataset ${name}: ${stats.users} users, ${stats.items} items, ${stats.interactions} interactions\n`);
    process.stdout.write(`stage 1/1: pre-train the ${preset} model on the catalogue text (run folder ${runDir})\n`);
    const d = PRETRAIN_DEFAULTS[preset];
    const r = await pretrain(ds, { ...d, preset, runDir, device: "cpu", samplePrompts: ds.catalogue.items.slice(0, 3).map((it) => it.title.split(" ").slice(0, 2).join(" ")) });
    const every = Math.max(1, Math.floor(r.train.log.length / 6));
    process.stdout.write(`\n  step   loss    held-out\n`);
    for (const e of r.train.log.filter((e, i) => i % every === 0 || i === r.train.log.length - 1)) {
      process.stdout.write(`  ${String(e.step).padStart(4)}   ${e.loss.toFixed(3)}   ${e.held_out_loss !== undefined ? e.held_out_loss.toFixed(3) : ""}\n`);
    }
    process.stdout.write(`\n${r.params.toLocaleString()} parameters, ${Math.round(r.tokensPerSecond)} tokens/s; loss ${r.firstLoss.toFixed(2)} → ${r.finalLoss.toFixed(2)}\n`);
    for (const s of r.samples) process.stdout.write(`  sample: ${s.text}\n`);
    process.stdout.write(`model saved in Hugging Face layout: ${r.modelDir}\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    return 0;
  });
}
