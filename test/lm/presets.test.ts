import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MODEL_PRESETS, presetConfig } from "../../src/lm/presets.js";
import { loadDataset } from "../../src/data/load.js";
import { pretrain, PRETRAIN_DEFAULTS } from "../../src/train/pretrain.js";

test("presetConfig: the preset's shape, its depth overridable, a bad depth refused", () => {
  const c = presetConfig("demo", 1000);
  assert.equal(c.numLayers, MODEL_PRESETS.demo.numLayers);
  assert.equal(c.hiddenSize, MODEL_PRESETS.demo.hiddenSize);
  const d = presetConfig("demo", 1000, 5);
  assert.equal(d.numLayers, 5);
  assert.equal(d.hiddenSize, c.hiddenSize);
  assert.throws(() => presetConfig("demo", 1000, 0), /layers must be an integer ≥ 1/);
});

test("pretrain --layers: the saved model has the depth asked for, and the run records it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gr2-layers-"));
  try {
    const ds = await loadDataset({ name: "synthetic", users: 30, items: 40, seed: 5 });
    await pretrain(ds, { ...PRETRAIN_DEFAULTS.tiny, steps: 2, preset: "tiny", runDir: dir, device: "cpu", layers: 3 });
    const config = JSON.parse(readFileSync(join(dir, "pretrain", "model", "config.json"), "utf8"));
    assert.equal(config.num_hidden_layers, 3);
    assert.notEqual(MODEL_PRESETS.tiny.numLayers, 3, "the override differs from the preset");
    const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8"));
    assert.equal(run.stages.pretrain.config.layers, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
