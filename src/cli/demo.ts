/**
 * `gr2 demo [--out RUN_DIR] [--preset demo|tiny] [--dataset synthetic|amazon-beauty] [--json]`: what
 * `npm run demo` runs — the whole pipeline (`gr2 pipeline`) on the embedded default: the
 * synthetic catalogue, or Amazon Beauty when GR2_DATA_DIR holds it — ending with the
 * comparison table of every stage and baseline.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { datasetStats, loadDataset, DATA_DIR_ENV } from "../data/load.js";
import { isPreset } from "../lm/presets.js";
import { runPipeline } from "../pipeline/pipeline.js";
import { comparisonTable, pipelineJson } from "./pipeline.js";
import { runCommand, UsageError } from "./args.js";

const USAGE = "usage: gr2 demo [--out RUN_DIR] [--preset demo|tiny] [--dataset synthetic|amazon-beauty] [--json (one line: gr2 pipeline's JSON and the wall seconds, instead of the table)]";

/**
 * Synthetic catalogue for the demo: 4,000 users give ~1,070 test lists (only users whose target
 * the ranker retrieves get one, ~27% here), enough for intervals that can show a lift. Product
 * lines (a complement step often buys the item's own line partner) give it the item-level
 * co-purchase structure real catalogues have; without them the upstream ranker already knows
 * everything the catalogue holds and no re-ranker can beat it (docs/benchmarks.md).
 */
const DEMO_SYNTHETIC = { users: 4000, items: 2000, seed: 42, productLines: 0.8 };

function defaultDataset(): string {
  const dir = process.env[DATA_DIR_ENV];
  if (dir && (existsSync(join(dir, "Beauty.txt")) || existsSync(join(dir, "amazon-beauty-2014", "Beauty.txt")))) return "amazon-beauty";
  return "synthetic";
}

export async function demoCommand(args: string[]): Promise<number> {
  return runCommand("demo", USAGE, async () => {
    const { values } = parseArgs({ args, options: { out: { type: "string" }, preset: { type: "string" }, dataset: { type: "string" }, json: { type: "boolean" } } });
    const preset = (values.preset as string | undefined) ?? "demo";
    if (!isPreset(preset)) throw new UsageError(`--preset must be tiny, demo or beauty, got "${preset}"`);
    const name = (values.dataset as string | undefined) ?? defaultDataset();
    const runDir = (values.out as string | undefined) ?? join("runs", `demo-${name}-${preset}`);
    const t0 = performance.now();
    const ds = await loadDataset(name === "synthetic" ? { name, ...DEMO_SYNTHETIC } : { name });
    const stats = datasetStats(ds);
    // With --json the progress goes to stderr and stdout carries the one JSON line.
    const say = values.json ? (l: string) => process.stderr.write(`${l}\n`) : (l: string) => process.stdout.write(`${l}\n`);
    say(`GR2 demo — ${name}: ${stats.users} users, ${stats.items} items, ${stats.interactions} interactions; preset ${preset}; run folder ${runDir}`);
    const r = await runPipeline({ dataset: ds, preset, runDir, device: "cpu", seed: 0, log: say });
    if (values.json) {
      process.stdout.write(JSON.stringify({ dataset: name, preset, ...pipelineJson(r), wall_seconds: Math.round((performance.now() - t0) / 100) / 10 }) + "\n");
      return 0;
    }
    process.stdout.write(comparisonTable(r));
    const s = Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(0)}s`).join(", ");
    const mem = Object.entries(r.peakRssMb).map(([k, v]) => `${k} ${v}`).join(", ");
    process.stdout.write(`stage times: ${s}\npeak resident memory (MB): ${mem}\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s (re-running resumes: finished stages are skipped)\n`);
    return 0;
  });
}
