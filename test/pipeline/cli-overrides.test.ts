import assert from "node:assert/strict";
import { test } from "node:test";
import { overridesFrom } from "../../src/cli/pipeline.js";
import { PIPELINE_PRESETS } from "../../src/pipeline/presets.js";
import { RERANK_MIXTURE } from "../../src/train/tasks/mixture.js";

const demo = PIPELINE_PRESETS.demo;

test("the pipeline's budget flags override only what they name", () => {
  assert.deepEqual(overridesFrom({}, demo), {});
  const o = overridesFrom({ "midtrain-steps": "3000", "sft-steps": "300" }, demo);
  assert.deepEqual(o.midtrain, { ...demo.midtrain, steps: 3000 });
  assert.equal(o.midtrain!.mixture, RERANK_MIXTURE, "the preset's mixture is kept");
  assert.deepEqual(o.sft, { ...demo.sft, steps: 300 });
  assert.equal(o.dapo, undefined);
});

test("--mix sets mid-training's task mixture, and a bad one is a clear error", () => {
  const o = overridesFrom({ mix: "sequential=0.5,candidates=0.5" }, demo);
  assert.deepEqual(o.midtrain!.mixture, { sequential: 0.5, candidates: 0.5, caption: 0, persona: 0, general: 0 });
  assert.equal(o.midtrain!.steps, demo.midtrain.steps);
  assert.throws(() => overridesFrom({ mix: "ranking=1" }, demo), /unknown task "ranking"/);
  assert.throws(() => overridesFrom({ "midtrain-steps": "0" }, demo), /midtrain-steps/);
});

test("--rl-rollouts switches DAPO's rollouts between constrained and free; anything else is a clear error", () => {
  assert.equal(demo.rlRollouts, "constrained");
  assert.deepEqual(overridesFrom({ "rl-rollouts": "free" }, demo), { rlRollouts: "free" });
  assert.throws(() => overridesFrom({ "rl-rollouts": "loose" }, demo), /rl-rollouts/);
});

test("--rl-format-credit sets where DAPO credits an invalid answer, keeping the other DAPO overrides", () => {
  const demo = PIPELINE_PRESETS.demo;
  assert.deepEqual(overridesFrom({ "rl-format-credit": "first_error" }, demo).dapo, { ...demo.dapo, formatCredit: "first_error" });
  assert.deepEqual(overridesFrom({ "rl-steps": "40", "rl-format-credit": "sequence" }, demo).dapo, { ...demo.dapo, steps: 40, formatCredit: "sequence" });
  assert.throws(() => overridesFrom({ "rl-format-credit": "last_error" }, demo), /rl-format-credit/);
});

test("--format picks the answer format of every language-model stage", () => {
  const demo = PIPELINE_PRESETS.demo;
  assert.equal(overridesFrom({ format: "labels" }, demo).format, "labels");
  assert.equal(overridesFrom({}, demo).format, undefined, "the preset's format unless given");
  assert.throws(() => overridesFrom({ format: "yaml" }, demo), /format/);
});

test("--rl-reward picks a registered reward for both DAPO stages; --max-prompt-tokens sets the reasoning prompt's budget", () => {
  const o = overridesFrom({ "rl-reward": "ndcg", "max-prompt-tokens": "1280" }, demo);
  assert.equal(o.dapo!.reward, "ndcg");
  assert.equal(o.direct!.dapo.reward, "ndcg");
  assert.equal(o.dapo!.steps, demo.dapo.steps);
  assert.equal(o.maxPromptTokens, 1280);
  assert.throws(() => overridesFrom({ "rl-reward": "ndgc" }, demo), /--rl-reward must be one of conditional, naive, auc, ndcg/);
  assert.throws(() => overridesFrom({ "max-prompt-tokens": "10" }, demo), /max-prompt-tokens/);
});

test("--read-steps and --read-lr set the reading stage's budget together; --context and --compress-alpha the compressor's", () => {
  const o = overridesFrom({ "read-steps": "1800", "read-lr": "1e-3" }, demo);
  assert.deepEqual(o.read, { ...demo.read!, steps: 1800, lr: 1e-3 });
  assert.throws(() => overridesFrom({ "read-lr": "-1" }, demo), /--read-lr/);
  const c = overridesFrom({ context: "compressed", "compress-steps": "30", "compress-alpha": "0.3" }, demo);
  assert.equal(c.context, "compressed");
  assert.equal(c.compress!.steps, 30);
  assert.equal(c.compress!.reward!.alpha, 0.3);
  assert.throws(() => overridesFrom({ context: "short" }, demo), /--context/);
  assert.throws(() => overridesFrom({ "compress-alpha": "1.5" }, demo), /--compress-alpha/);
});

test("--layers sets the model's depth at pre-training, keeping the preset's pre-training budget; a bad one is a clear error", () => {
  const o = overridesFrom({ layers: "4" }, demo);
  assert.deepEqual(o.pretrain, { ...demo.pretrain, layers: 4 });
  assert.throws(() => overridesFrom({ layers: "0" }, demo), /--layers/);
  assert.throws(() => overridesFrom({ layers: "2.5" }, demo), /--layers/);
});

test("--direct-layout full gives the reading stage and the direct policy the reasoning stages' full prompt and budget; a model trained so is prompted as trained", async () => {
  const { directSettings, settingsAsTrained } = await import("../../src/pipeline/presets.js");
  assert.equal(directSettings(demo).layout, "sids");
  assert.equal(directSettings(demo).maxPromptTokens, demo.direct!.maxPromptTokens, "the SIDs-only prompt's own budget");
  const o = overridesFrom({ "direct-layout": "full", "max-prompt-tokens": "1280" }, demo);
  assert.equal(o.directLayout, "full");
  const full = directSettings({ ...demo, ...o });
  assert.deepEqual([full.layout, full.maxPromptTokens, full.maxRationaleTokens], ["full", 1280, 0], "the full prompt needs the reasoning budget, and answers without a rationale");
  assert.throws(() => overridesFrom({ "direct-layout": "brief" }, demo), /direct-layout/);
  // Prompting a trained model (gr2 distill, gr2 ablate rewards): the gr2_prompt.json's direct mark decides, not the layout alone.
  const asDirect = settingsAsTrained(demo, { format: "labels", layout: "full", direct: true });
  assert.deepEqual([asDirect.layout, asDirect.maxRationaleTokens], ["full", 0]);
  const asReasoning = settingsAsTrained(demo, { format: "labels", layout: "full" });
  assert.deepEqual([asReasoning.layout, asReasoning.maxRationaleTokens], ["full", demo.maxRationaleTokens]);
  assert.equal(settingsAsTrained(demo, { format: "labels", layout: "sids" }).maxRationaleTokens, 0);
});

test("--direct-rl-steps sets the direct policy's DAPO steps, beside --rl-reward; --test-window is an integer ≥ 1", () => {
  const o = overridesFrom({ "direct-rl-steps": "30", "rl-reward": "ndcg" }, demo);
  assert.deepEqual(o.direct!.dapo, { ...demo.direct!.dapo, steps: 30, reward: "ndcg" });
  assert.equal(o.dapo!.reward, "ndcg");
  assert.equal(o.dapo!.steps, demo.dapo.steps, "the reasoning RL keeps its own steps");
  assert.throws(() => overridesFrom({ "direct-rl-steps": "0" }, demo), /direct-rl-steps/);
  assert.equal(overridesFrom({ "test-window": "6" }, demo).testWindow, 6);
  assert.throws(() => overridesFrom({ "test-window": "0" }, demo), /test-window/);
});
