/**
 * The package's entry point: package.json's `main` is the compiled src/index.ts, and it
 * exposes the main functions of every stage.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as gr2 from "../src/index.js";

// This file runs as dist/test/index.test.js: the repository root is two folders up.
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("package.json's main is the built entry point", async () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { main: string };
  const main = join(root, pkg.main);
  assert.ok(existsSync(main), `${pkg.main} does not exist after the build`);
  assert.equal(await import(pathToFileURL(main).href), await import("../src/index.js"));
});

test("the entry point exports each stage's main functions", () => {
  const stages = {
    data: [gr2.loadDataset, gr2.generateSynthetic, gr2.leaveOneOut],
    sid: [gr2.buildSids, gr2.readSidMap],
    rank: [gr2.fitRanker, gr2.buildCandidateLists, gr2.readCandidateLists],
    prompt: [gr2.buildRerankPrompt, gr2.parseRerankOutput, gr2.permutationConstraint],
    teacher: [gr2.generateTraces, gr2.EvidenceTeacher],
    reward: [gr2.R_rank, gr2.conditionalReward, gr2.naiveReward, gr2.aucReward, gr2.ndcgReward, gr2.guardedListReward],
    train: [gr2.runSft, gr2.runRl],
    eval: [gr2.evaluateRanks, gr2.rerankWithModel],
    serve: [gr2.Gr2Server, gr2.ModelSession],
    pipeline: [gr2.runPipeline],
  };
  for (const [stage, fns] of Object.entries(stages)) {
    fns.forEach((f, i) => assert.equal(typeof f, "function", `${stage}: export ${i} is ${typeof f}`));
  }
});

test("the exported rewards and parser work through the entry point", () => {
  // The target moves from third to first of ten: R_rank 0.2, plus the format bonus α = 0.2.
  assert.ok(Math.abs(gr2.conditionalReward({ rankPre: 3, rankRe: 1, listSize: 10 }) - 0.4) < 1e-12);
  assert.equal(gr2.DEFAULT_REWARD.alpha, 0.2);
  const sids = ["<|sid_begin|><s_a_1><|sid_end|>", "<|sid_begin|><s_a_2><|sid_end|>"];
  const answer = gr2.formatOutput("compact", "the second fits", [sids[1]!, sids[0]!]);
  const parsed = gr2.parseRerankOutput(answer, { format: "compact", candidateSids: sids });
  assert.ok(parsed.ok, JSON.stringify(parsed));
  assert.deepEqual(parsed.ranking, [1, 0]);
});
