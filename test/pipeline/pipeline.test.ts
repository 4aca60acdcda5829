import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { runPipeline } from "../../src/pipeline/pipeline.js";
import { distill } from "../../src/pipeline/distill.js";
import { ablateRewards } from "../../src/pipeline/ablate-rewards.js";

test("the tiny pipeline runs every stage end to end, reports each, and a re-run skips finished stages", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gr2-pipeline-"));
  try {
    const ds = generateSynthetic({ users: 120, items: 80, seed: 3 });
    // Free rollouts: the tiny model writes few valid lists, so DAPO must cope with groups that all take the invalid penalty.
    const overrides = { evalUsers: 24, reasoningEvalUsers: 12, rlRollouts: "free" as const, dapo: { steps: 2, promptsPerStep: 2, groupSize: 2, maxNewTokens: 240, lr: 1e-4, checkpointEvery: 2, formatCredit: "first_error" as const } };
    const r = await runPipeline({ dataset: ds, preset: "tiny", runDir: dir, device: "cpu", seed: 0, overrides });
    assert.equal(r.users, 24);
    // The reasoning stages on a seeded subset, compared with the incoming order on those lists; the direct policy on all.
    assert.equal(r.stages.rl!.lists, 12);
    assert.equal(r.stages.sft!.lists, 12);
    assert.equal(r.stages.direct!.lists, 24);
    assert.equal(r.subset?.users, 12);
    assert.deepEqual(r.subset!.methods.map((m) => m.name).sort(), ["evidence", "incoming", "listwise", "popularity", "random", "rl", "sft"]);
    for (const stage of ["prerank", "listwise", "sft", "rl", "direct"]) {
      const m = r.stages[stage]!;
      assert.ok(m, stage);
      for (const k of ["recall@1", "recall@3", "recall@5", "ndcg@3", "ndcg@5", "valid_rate", "identity_rate", "identity_rate_nonoptimal"] as const) {
        assert.ok(m[k] >= 0 && m[k] <= 1, `${stage} ${k} = ${m[k]}`);
      }
    }
    // Every language-model answer that is not valid without the constraint is placed somewhere.
    for (const stage of ["sft", "rl", "direct"]) {
      const m = r.stages[stage]!;
      const placed = Object.values(m.invalid_at!).reduce((a, b) => a + b, 0);
      assert.equal(placed, Math.round((1 - m.valid_rate) * m.lists), `${stage}: ${JSON.stringify(m.invalid_at)}`);
    }
    // The incoming order copies itself by definition; the listwise baseline's copy rate is counted from its orders.
    assert.equal(r.stages.prerank!.identity_rate, 1);
    assert.equal(r.stages.prerank!.identity_rate_nonoptimal, 1);
    assert.ok(r.stages.listwise!.identity_rate < 1, "the trained listwise re-ranker moves some list");
    const manifest = JSON.parse(readFileSync(join(dir, "run.json"), "utf8"));
    for (const s of ["sids", "prerank", "evidence", "pretrain", "midtrain", "read", "traces", "sft", "rl", "direct"]) assert.equal(manifest.stages[s]?.status, "done", s);
    for (const s of ["rl", "direct"]) assert.equal(manifest.stages[s].config.constrained, false, `${s} sampled free rollouts`);
    assert.equal(manifest.stages.rl.config.dapo.formatCredit, "first_error", "free rollouts credited at their first error");
    for (const f of ["report.md", "report.json"]) assert.ok(existsSync(join(r.reportDir, f)), f);
    // SFT also learns from cross-fitted train-prefix lists, several per user, never a held-out user's.
    assert.ok(existsSync(join(dir, "candidates", "train.jsonl")));
    const traces = readFileSync(join(dir, "traces", "evidence-targeted.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { user: string; split: string; position: number });
    const validUsers = readFileSync(join(dir, "candidates", "valid.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { user: string }).user);
    const learners = new Set(traces.filter((t) => t.split === "valid").map((t) => t.user));
    const heldOut = validUsers.filter((u) => !learners.has(u));
    assert.ok(heldOut.length > 0, "a slice of valid users is held out");
    const trainTraces = traces.filter((t) => t.split === "train");
    assert.ok(trainTraces.length > 0 && trainTraces.every((t) => !heldOut.includes(t.user)), `${trainTraces.length} train traces`);
    assert.ok(new Set(trainTraces.map((t) => `${t.user}@${t.position}`)).size === trainTraces.length, "train traces are named by user and position");
    assert.ok(trainTraces.length > new Set(trainTraces.map((t) => t.user)).size, "several positions per user");
    assert.equal(traces.length, learners.size + trainTraces.length, "only valid and train lists are traced");
    // The evidence scorer is fit, saved, and evaluated beside the baselines; every stage reports its paired difference.
    assert.equal(manifest.stages.evidence?.status, "done");
    assert.ok(existsSync(join(dir, "evidence", "scorer.json")));
    // The reading stage learns from every learning list, answered with the scorer's order.
    assert.equal(manifest.stages.read.metrics.lists, traces.length);
    assert.ok(manifest.stages.read.metrics.examples >= traces.length, "head-moving lists are repeated");
    assert.ok(manifest.stages.read.metrics.teacher_head_moved >= 0 && manifest.stages.read.metrics.teacher_head_moved <= 1);
    // Its answers order the scorer's first five picks, then the rest as shown (answerOrder).
    for (const line of readFileSync(join(dir, "traces", "reading.jsonl"), "utf8").trim().split("\n")) {
      const ex = JSON.parse(line) as { ranking: number[] };
      const rest = ex.ranking.slice(5);
      assert.deepEqual(rest, [...rest].sort((a, b) => a - b), `the rest of ${ex.ranking} follow the shown order`);
    }
    assert.ok(r.stages.evidence, "the evidence scorer is a row of the comparison");
    for (const [stage, m] of Object.entries(r.stages)) {
      for (const k of ["recall@1", "recall@5", "ndcg@5"] as const) {
        const [d, lo, hi] = m.vs_incoming[k];
        assert.ok(lo <= d && d <= hi, `${stage} ${k} vs incoming ${m.vs_incoming[k]}`);
      }
    }
    assert.deepEqual(r.stages.prerank!.vs_incoming["recall@1"], [0, 0, 0]);
    // The direct policy against the reasoning policy, paired on the lists both were evaluated on.
    const vr = r.stages.direct!.vs_reasoning!;
    assert.equal(vr.lists, r.stages.rl!.lists);
    assert.ok(vr.hard_lists <= vr.lists);
    const [d1, lo1, hi1] = vr.all["recall@1"];
    assert.ok(lo1 <= d1 && d1 <= hi1);
    // The evidence probe reads the run's lists: one row per set, each with its paired interval.
    const probe = spawnSync(process.execPath, ["dist/src/cli/main.js", "eval", "evidence", "--run", dir, "--dataset", "synthetic", "--users", "120", "--items", "80", "--seed", "3", "--sets", "none,all", "--fit", "valid+train", "--json"], { encoding: "utf8" });
    assert.equal(probe.status, 0, probe.stderr);
    const rows = (JSON.parse(probe.stdout) as { rows: { set: string; vs_incoming: Record<string, number[]>; weights: Record<string, number> }[] }).rows;
    assert.deepEqual(rows.map((r) => r.set), ["none", "all"]);
    for (const r of rows) assert.ok(r.vs_incoming["recall@1"]![1]! <= r.vs_incoming["recall@1"]![0]! && r.vs_incoming["recall@1"]![0]! <= r.vs_incoming["recall@1"]![2]!);
    assert.ok("log_cobuy" in rows[1]!.weights && !("log_cobuy" in rows[0]!.weights));
    const bad = spawnSync(process.execPath, ["dist/src/cli/main.js", "eval", "evidence", "--run", dir, "--dataset", "synthetic", "--sets", "all,most"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown evidence set "most"/);
    // Every finished stage is skipped on a re-run; the evaluation is recomputed from the saved models.
    const lines: string[] = [];
    await runPipeline({ dataset: ds, preset: "tiny", runDir: dir, device: "cpu", seed: 0, overrides, log: (l) => lines.push(l) });
    assert.ok(lines.filter((l) => l.includes("skipped")).length >= 6, lines.join("\n"));
    // Another answer format would train on traces written in this one: refused, naming both.
    await assert.rejects(runPipeline({ dataset: ds, preset: "tiny", runDir: dir, device: "cpu", seed: 0, overrides: { ...overrides, format: "json" } }), /traces were written in the \w+ answer format, not json/);

    // On-policy distillation from the direct policy into the mid-trained model, compared on test lists.
    const teacher = join(dir, "direct", "model");
    const d = await distill({ dataset: ds, runDir: dir, preset: "tiny", teacher, steps: 2, promptsPerStep: 2, groupSize: 2, coef: 1, estimator: "exact", reward: "conditional", evalUsers: 12, device: "cpu", seed: 0 });
    assert.deepEqual(d.points.map((p) => p.name), ["teacher", "student_before", "student"]);
    assert.equal(d.lists, 12);
    // The paired differences are of the same lists: student − teacher is minus teacher − student's R@1 gap.
    const r1 = (n: string) => d.points.find((p) => p.name === n)!["recall@1"];
    assert.ok(Math.abs(d.student_vs_teacher["recall@1"][0] - (r1("student") - r1("teacher"))) < 1e-3, `${d.student_vs_teacher["recall@1"]}`);
    assert.ok(Math.abs(d.student_vs_before["recall@1"][0] - (r1("student") - r1("student_before"))) < 1e-3);
    assert.ok(existsSync(join(d.modelDir, "model.safetensors")) && existsSync(d.reportPath));
    // The kept share's interval is there exactly when the teacher's lift interval excludes zero.
    const tLift = d.points.find((p) => p.name === "teacher")!.vs_incoming["recall@1"];
    if (d.retained_recall1_interval) assert.ok(tLift[1] > 0 || tLift[2] < 0, `${tLift}`);
    assert.deepEqual(JSON.parse(readFileSync(d.reportPath, "utf8")).retained_recall1_interval, d.retained_recall1_interval);
    const opd = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")).stages.opd;
    assert.equal(opd.status, "done");
    assert.equal(opd.config.teacher, teacher);
    const kl = readFileSync(join(dir, "opd", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).distill_kl as number);
    assert.ok(kl.length === 2 && kl.every((x) => x > 0), `distill_kl ${kl}`);
    // A student with another tokenizer (the pre-trained model has no SID tokens) is refused.
    await assert.rejects(distill({ dataset: ds, runDir: dir, preset: "tiny", teacher, from: join(dir, "pretrain", "model"), steps: 1, coef: 1, estimator: "exact", reward: "conditional", evalUsers: 4, device: "cpu", seed: 0 }), /must share one tokenizer; theirs differ: \d+ tokens against \d+/);

    // The reward ablation from the SFT model: both rewards re-rank the same held-out lists at
    // steps 0 and 2, and each trained point carries the copy's advantage its training groups gave.
    const ab = await ablateRewards({ dataset: ds, runDir: dir, preset: "tiny", steps: 2, evalEvery: 2, evalUsers: 4, device: "cpu", seed: 0 });
    assert.deepEqual(ab.points.map((p) => `${p.reward}@${p.step}`), ["naive@0", "naive@2", "conditional@0", "conditional@2"]);
    for (const p of ab.points) assert.ok(p.step === 0 ? p.copy_advantage === null : p.copy_advantage === null || Number.isFinite(p.copy_advantage), `${p.reward}@${p.step}: ${p.copy_advantage}`);
    for (const reward of ["naive", "conditional"]) {
      const logged = readFileSync(join(dir, `ablate-${reward}`, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { copy_advantage?: number | null });
      assert.ok(logged.length === 2 && logged.every((l) => l.copy_advantage === null || Number.isFinite(l.copy_advantage)), `${reward}: ${JSON.stringify(logged.map((l) => l.copy_advantage))}`);
    }
    assert.match(readFileSync(ab.reportPath, "utf8"), /\| copy's advantage in training \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a direct-only run (policies: direct) trains the reading model and the direct policy and skips the reasoning SFT and RL; under a test window its test lists are graded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gr2-pipeline-"));
  try {
    const ds = generateSynthetic({ users: 120, items: 80, seed: 3 });
    // Refused before any stage runs: without a reading stage the direct policy would start from the reasoning RL model.
    await assert.rejects(runPipeline({ dataset: ds, preset: "tiny", runDir: dir, device: "cpu", seed: 0, overrides: { policies: ["direct"], evidence: "none" } }), /a direct-only run needs the reading stage/);
    assert.ok(!existsSync(join(dir, "run.json")) || !JSON.parse(readFileSync(join(dir, "run.json"), "utf8")).stages.sids, "nothing was trained before the refusal");
    const overrides = { policies: ["direct" as const], evalUsers: 12, testWindow: 3 };
    const r = await runPipeline({ dataset: ds, preset: "tiny", runDir: dir, device: "cpu", seed: 0, overrides });
    // The test window: graded test lists, graded NDCG@5 for every method beside the target's metrics.
    const lists = readFileSync(join(dir, "candidates", "test.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { grades?: number[] });
    assert.ok(lists.every((l) => l.grades && l.grades.includes(2)));
    assert.ok(r.evaluation.graded && r.evaluation.graded.lists === 12);
    for (const m of r.evaluation.methods) assert.ok(m.graded, `${m.name} has graded NDCG@5`);
    const graded = r.stages.direct!.vs_incoming["graded_ndcg@5"]!;
    assert.ok(graded[1] <= graded[0] && graded[0] <= graded[2]);
    await assert.rejects(runPipeline({ dataset: ds, preset: "tiny", runDir: dir, device: "cpu", seed: 0, overrides: { ...overrides, testWindow: 1 } }), /built with a test window of 3, not 1/);
    const stages = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")).stages as Record<string, { status: string }>;
    assert.equal(stages.read?.status, "done");
    assert.equal(stages.direct?.status, "done");
    assert.equal(stages.sft, undefined);
    assert.equal(stages.rl, undefined);
    assert.ok(!existsSync(join(dir, "sft")) && !existsSync(join(dir, "rl")));
    assert.deepEqual(Object.keys(r.stages).filter((s) => ["sft", "rl", "direct"].includes(s)), ["direct"]);
    assert.equal(r.stages.direct!.lists, 12);
    assert.equal(r.stages.direct!.vs_reasoning, undefined, "no reasoning policy to compare with");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("with --context compressed the compressor is trained after mid-training and every later prompt and model carries it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gr2-pipeline-"));
  try {
    const ds = generateSynthetic({ users: 120, items: 80, seed: 3 });
    const overrides = { context: "compressed" as const, compress: { steps: 4, listsPerStep: 8, groupSize: 4 }, evalUsers: 12, evaluate: ["direct" as const], dapo: { steps: 1, promptsPerStep: 2, groupSize: 2, maxNewTokens: 240, lr: 1e-4, checkpointEvery: 1 } };
    const r = await runPipeline({ dataset: ds, preset: "tiny", runDir: dir, device: "cpu", seed: 0, overrides });
    const manifest = JSON.parse(readFileSync(join(dir, "run.json"), "utf8"));
    const c = manifest.stages.compress;
    assert.equal(c.status, "done");
    assert.equal(c.metrics.judge, "evidence");
    assert.equal(c.metrics.layout, "full", "the tiny preset reasons in the full prompt, so the reward counts its history section");
    assert.ok(c.metrics.test_sids.token_ratio > 0 && c.metrics.test_sids.token_ratio <= 1.5, "and the direct policy's SIDs-only history beside it");
    assert.ok(c.metrics.test.token_ratio > 0 && c.metrics.test.token_ratio < 1, `history tokens ${JSON.stringify(c.metrics.test)}`);
    assert.ok(c.metrics.held_out.judge >= 0 && c.metrics.held_out.judge <= 1);
    assert.equal(readFileSync(join(dir, "compress", "metrics.jsonl"), "utf8").trim().split("\n").length, 4);
    assert.equal(r.compression?.test.token_ratio, c.metrics.test.token_ratio, "the pipeline's result reports the compression");
    // The teacher's traces were written on compressed prompts, and each model keeps the compressor beside it for serving.
    const trace = JSON.parse(readFileSync(join(dir, "traces", "evidence-targeted.jsonl"), "utf8").split("\n")[0]!) as { messages: { content: string }[] };
    assert.match(trace.messages[1]!.content, /History, oldest first \(\d+ of \d+\):\n1\. /);
    const compressor = JSON.parse(readFileSync(join(dir, "compress", "compressor.json"), "utf8"));
    for (const stage of ["sft", "rl", "direct"]) assert.deepEqual(JSON.parse(readFileSync(join(dir, stage, "model", "gr2_prompt.json"), "utf8")).compressor, compressor, stage);
    assert.ok(r.stages.direct!.valid_rate >= 0);
    // The compressor probe on the same run: the two fixed rules and one trained policy, on the held-out valid lists.
    const probe = spawnSync(process.execPath, ["dist/src/cli/main.js", "eval", "compress", "--run", dir, "--dataset", "synthetic", "--users", "120", "--items", "80", "--seed", "3", "--alphas", "0.5", "--steps", "2", "--json"], { encoding: "utf8" });
    assert.equal(probe.status, 0, probe.stderr);
    const rows = (JSON.parse(probe.stdout) as { rows: { policy: string; token_ratio: number; judge: number }[] }).rows;
    assert.deepEqual(rows.map((r) => r.policy), ["keep last 3", "keep all", "rl α=0.5"]);
    assert.ok(rows.every((r) => r.token_ratio > 0 && r.token_ratio <= 1 && r.judge >= 0 && r.judge <= 1), JSON.stringify(rows));
    const bad = spawnSync(process.execPath, ["dist/src/cli/main.js", "eval", "compress", "--run", dir, "--dataset", "synthetic", "--alphas", "2"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--alphas expects numbers in \[0, 1\], got "2"/);
    // A run folder cannot change its context midway.
    await assert.rejects(runPipeline({ dataset: ds, preset: "tiny", runDir: dir, device: "cpu", seed: 0, overrides: { ...overrides, context: "full" } }), /prompts show the compressed context, not full/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
