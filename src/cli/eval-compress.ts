/**
 * `gr2 eval compress --run RUN_DIR --dataset NAME [...] [--alphas 0.1,0.2,0.3] [--steps 60]
 * [--max-history 8] [--layout full|sids|brief] [--json]`: the compressor probe (src/eval/compress-probe.ts) on a run's
 * learning lists, measured on its held-out valid lists with the offline evidence judge.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compressProbe } from "../eval/compress-probe.js";
import { loadHFTokenizer } from "../lm/hf.js";
import { reRankerLists, runScorerWeights } from "../pipeline/context.js";
import { readCandidateLists } from "../rank/candidates.js";
import { evidenceSource } from "../rank/evidence/features.js";
import { EvidenceScorer } from "../rank/evidence/scorer.js";
import { readSidMap } from "../sid/sidmap.js";
import { evidenceCompressEnv } from "../train/compress.js";
import { choiceFlag, integerFlag, PROCESS_OUTPUT, UsageError, type Output } from "./args.js";
import { PROMPT_LAYOUTS } from "../prompt/rerank-prompt.js";
import { DATA_OPTIONS, loadFromFlags } from "./rank.js";

export async function evalCompressCommand(args: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  const { values: v } = parseArgs({ args, options: { ...DATA_OPTIONS, run: { type: "string" }, alphas: { type: "string" }, steps: { type: "string" }, "max-history": { type: "string" }, layout: { type: "string" } } });
  const run = v.run as string | undefined;
  if (!run) throw new UsageError("missing --run RUN_DIR (a gr2 pipeline run folder past its evidence and mid-training stages)");
  const alphas = ((v.alphas as string | undefined) ?? "0.1,0.2,0.3").split(",").map((x) => {
    const a = Number(x);
    if (!(x.trim() !== "" && a >= 0 && a <= 1)) throw new UsageError(`--alphas expects numbers in [0, 1], got "${x}"`);
    return a;
  });
  const weights = runScorerWeights(run);
  if (!weights) throw new UsageError(`${run}: no evidence/scorer.json (run gr2 pipeline on it first)`);
  const data = await loadFromFlags(v);
  const items = data.dataset.catalogue.items;
  const read = (s: string) => readCandidateLists(join(run, "candidates", `${s}.jsonl`), data.itemIds);
  const seed = integerFlag(v, "seed", 0) ?? 0;
  const { learnLists, heldOutValid } = reRankerLists(read("valid"), read("train"), 0, seed);
  const sidMap = await readSidMap(join(run, "sids", "sid_map.json"));
  const tokenizer = loadHFTokenizer(join(run, "midtrain", "model"));
  tokenizer.addSidTokens();
  const source = evidenceSource(items, data.split.train, data.userIds);
  const layout = choiceFlag(v, "layout", PROMPT_LAYOUTS, "full");
  const env = evidenceCompressEnv({ items, sidOf: (i) => sidMap.sidOf(i) }, layout, new EvidenceScorer(source, weights), tokenizer);
  const rows = await compressProbe(env, learnLists, heldOutValid, { alphas, steps: integerFlag(v, "steps", 1) ?? 60, maxHistory: integerFlag(v, "max-history", 1) ?? 8, seed, workDir: join(run, "compress-probe") });
  if (v.json) io.out(JSON.stringify({ run, layout, lists: { learn: learnLists.length, held_out: heldOutValid.length }, rows }) + "\n");
  else {
    io.out(`Held-out valid lists: ${heldOutValid.length} (the compressor learns from ${learnLists.length}); history tokens as the ${layout} prompt shows it\n\n| policy | judge | history tokens | of full | items kept |\n|---|---|---|---|---|\n`);
    for (const r of rows) io.out(`| ${r.policy} | ${r.judge.toFixed(3)} | ${r.history_tokens_compressed.toFixed(1)} of ${r.history_tokens_full.toFixed(1)} | ${(100 * r.token_ratio).toFixed(1)}% | ${(100 * r.keep_rate).toFixed(0)}% |\n`);
  }
  return 0;
}
