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
    // The target is never first, so every step measures the copy's advantage; as the policy
    // learns to promote the target, its samples overtake the copy (R_rank = 0).
    const copyA = logs.map((l) => l.copy_advantage!);
    assert.ok(copyA.every(Number.isFinite), `copy_advantage ${copyA}`);
    assert.ok(copyA.at(-1)! < copyA[0]! - 0.2, `copy's advantage ${copyA[0]!.toFixed(3)} → ${copyA.at(-1)!.toFixed(3)}`);
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

test("on-policy distillation: with no reward signal at all, the student moves to the teacher's distribution", async () => {
  const dirs = ["", "t-", "c-", "x-", "y-"].map((k) => mkdtempSync(join(tmpdir(), `gr2-opd-${k}`)));
  const [dir, dirT, dirC, dirX, dirY] = dirs as [string, string, string, string, string];
  const small = (seed: number) => {
    torch.manualSeed(seed);
    return new DecoderLM(makeConfig({ vocabSize: 24, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 32, maxPositions: 16 }));
  };
  try {
    // The teacher learns the game by DAPO (answer 2); the student never sees a reward that varies.
    const teacher = small(3);
    await trainDapo(teacher, tasks(), dirT, { ...DAPO_DEFAULTS, steps: 12, promptsPerStep: 3, groupSize: 8, maxNewTokens: 1, lr: 1e-2, checkpointEvery: 12 });
    const flat = tasks().map((t) => ({ ...t, score: () => ({ order: null }) })); // every answer "invalid": one reward for all
    const student = small(4);
    const before = p2(student);
    const cfg = { ...DAPO_DEFAULTS, steps: 15, promptsPerStep: 3, groupSize: 8, maxNewTokens: 1, lr: 1e-2, checkpointEvery: 15, distillCoef: 1 };
    const logs = await trainDapo(student, flat, dir, cfg, { teacher });
    const after = p2(student);
    assert.ok(p2(teacher) > 0.5, `teacher p(answer) ${p2(teacher).toFixed(3)}`);
    assert.ok(after > before + 0.2, `student p(answer) ${before.toFixed(3)} → ${after.toFixed(3)} (teacher ${p2(teacher).toFixed(3)})`);
    assert.ok(logs.every((l) => l.kept_group_fraction === 1), "every group is optimised, none filtered");
    assert.ok(logs.at(-1)!.distill_kl < logs[0]!.distill_kl, `KL ${logs[0]!.distill_kl.toFixed(3)} → ${logs.at(-1)!.distill_kl.toFixed(3)}`);
    // Without distillation the same flat rewards leave the student where it was (no group has signal).
    const control = small(4);
    await trainDapo(control, flat, dirC, { ...cfg, distillCoef: 0 });
    assert.ok(Math.abs(p2(control) - before) < 1e-6);
    // A teacher with another vocabulary, or distillation without a teacher, is refused.
    const other = new DecoderLM(makeConfig({ vocabSize: 30, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 32, maxPositions: 16 }));
    await assert.rejects(trainDapo(small(5), flat, dirX, cfg, { teacher: other }), /teacher's vocabulary has 30 tokens, the student's 24; they must share one tokenizer/);
    await assert.rejects(trainDapo(small(5), flat, dirY, cfg), /needs a teacher model/);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
