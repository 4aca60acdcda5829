import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as torch from "../../src/torch/index.js";
import { makeConfig } from "../../src/lm/config.js";
import { DecoderLM } from "../../src/lm/model.js";
import { trainDapo, DAPO_DEFAULTS, type RerankTask } from "../../src/train/dapo/trainer.js";

/**
 * A toy re-ranking game: 4 candidates, the answer is one token k ∈ {0..3} meaning "candidate
 * k first, the rest in incoming order". The target is always candidate 2 (rank_pre = 3).
 * Tokens 4..7 are "invalid outputs". The conditional reward pays promotion only.
 */
function tasks(): RerankTask[] {
  return [10, 11, 12].map((p) => ({
    promptIds: [p, 20, 21],
    rankPre: 3,
    listSize: 4,
    score: (resp) => {
      const k = resp[0]!;
      if (k > 3) return { order: null };
      return { order: [k, ...[0, 1, 2, 3].filter((i) => i !== k)] };
    },
  }));
}

const p2 = (m: DecoderLM) =>
  torch.noGrad(() => torch.tidy(() => m.forward(torch.int64([10, 20, 21], [1, 3])).select(1, 2).squeeze(0).narrow(0, 0, 8).softmax(-1).select(0, 2).item()));

test("DAPO raises the probability of the rewarded answer and logs every monitor", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gr2-dapo-"));
  try {
    torch.manualSeed(3);
    const m = new DecoderLM(makeConfig({ vocabSize: 24, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 32, maxPositions: 16 }));
    const before = p2(m);
    const logs = await trainDapo(m, tasks(), dir, { ...DAPO_DEFAULTS, steps: 12, promptsPerStep: 3, groupSize: 8, maxNewTokens: 1, lr: 1e-2, checkpointEvery: 6, filterMetric: "rank_re", miniBatches: 2 });
    const after = p2(m);
    assert.ok(after > before + 0.2, `p(answer) ${before.toFixed(3)} → ${after.toFixed(3)}`);
    assert.ok(logs.at(-1)!.reward_mean > logs[0]!.reward_mean);
    for (const key of ["reward_mean", "reward_std", "r_rank", "valid_rate", "identity_rate", "identity_rate_nonoptimal", "entropy", "clip_frac_low", "clip_frac_high", "response_length", "kept_group_fraction", "tokens_per_s", "seconds_generation", "seconds_scoring", "seconds_optimisation"]) {
      assert.ok(Number.isFinite((logs[0] as unknown as Record<string, number>)[key]), key);
    }
    assert.equal(logs[0]!.top1_position_hist.length, 4);
    assert.equal(readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").length, 12);
    m.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a resumed DAPO run continues from its checkpoint to the same parameters", async () => {
  const dirA = mkdtempSync(join(tmpdir(), "gr2-dapo-a-"));
  const dirB = mkdtempSync(join(tmpdir(), "gr2-dapo-b-"));
  const cfg = { ...DAPO_DEFAULTS, steps: 4, promptsPerStep: 2, groupSize: 4, maxNewTokens: 1, lr: 1e-2, checkpointEvery: 2 };
  const fresh = () => {
    torch.manualSeed(9);
    return new DecoderLM(makeConfig({ vocabSize: 24, hiddenSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 16, maxPositions: 16 }));
  };
  const snap = (m: DecoderLM) => m.parameters().map((p) => Array.from(p.toFloat32Array()));
  try {
    const a = fresh();
    await trainDapo(a, tasks(), dirA, cfg);
    const b1 = fresh();
    await trainDapo(b1, tasks(), dirB, { ...cfg, steps: 2 });
    b1.dispose();
    const b2 = fresh();
    await trainDapo(b2, tasks(), dirB, cfg);
    assert.deepEqual(snap(b2), snap(a));
    a.dispose();
    b2.dispose();
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});
