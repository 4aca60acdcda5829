import { generativeCheck } from "../../src/eval/generative.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as torch from "../../src/torch/index.js";
import { DecoderLM } from "../../src/lm/model.js";
import { loadHFModel, loadHFTokenizer, saveHFModel } from "../../src/lm/hf.js";
import { presetConfig } from "../../src/lm/presets.js";
import { readManifest } from "../../src/train/run.js";
import { midtrain, MIDTRAIN_DEFAULTS, type MidtrainOptions } from "../../src/train/midtrain.js";
import { readSidMap } from "../../src/sid/sidmap.js";
import { writeJsonAtomic } from "../../src/util/atomic.js";
import { CODEBOOK, fixture, LEVELS } from "./tasks-fixture.test.js";

/** A "pre-trained" tiny model: an HF folder with a catalogue tokenizer (no SID tokens yet). */
function baseModel(dir: string) {
  const f = fixture({ withSids: false });
  torch.manualSeed(1);
  const model = new DecoderLM(presetConfig("tiny", f.tokenizer.vocabSize));
  saveHFModel(dir, model, f.tokenizer);
  model.dispose();
  return f;
}

const options = (runDir: string, from: string, over: Partial<MidtrainOptions> = {}): MidtrainOptions => ({
  ...MIDTRAIN_DEFAULTS.tiny,
  runDir,
  from,
  preset: "tiny",
  device: "cpu",
  steps: 8,
  embedWarmupSteps: 2,
  batch: 4,
  seqLen: 64,
  maxHistory: 5,
  checkpointEvery: 2,
  ...over,
});

const weights = (dir: string) => {
  const m = loadHFModel(dir);
  const out = Object.fromEntries(m.namedParameters().map(([n, p]) => [n, Array.from(p.toFloat32Array())]));
  m.dispose();
  return out;
};

test("midtrain: SID tokens added, vocabulary grown, HF folder loadable, stage recorded", async () => {
  const root = mkdtempSync(join(tmpdir(), "gr2-midtrain-"));
  try {
    const base = join(root, "base");
    const { ds, sidMap, tokenizer: baseTok } = baseModel(base);
    const run = join(root, "run");
    const r = await midtrain(ds, sidMap, options(run, base, { check: generativeCheck(ds, sidMap, { users: 6, beams: 10, seed: 0, maxHistory: 5 }) }));
    assert.equal(r.addedTokens, 2 + LEVELS * CODEBOOK);
    assert.ok(Number.isFinite(r.finalLoss) && r.finalLoss < r.firstLoss, `loss falls: ${r.firstLoss} → ${r.finalLoss}`);
    assert.equal(r.log.length, 8);
    assert.ok(r.valid && r.valid["recall@10"]! >= 0 && r.valid["recall@10"]! <= 1, "the periodic generative check ran");

    const tok = loadHFTokenizer(r.modelDir);
    assert.deepEqual([tok.sid?.levels, tok.sid?.codebookSize], [LEVELS, CODEBOOK]);
    assert.equal(tok.vocabSize, baseTok.vocabSize + 2 + LEVELS * CODEBOOK);
    const model = loadHFModel(r.modelDir);
    assert.equal(model.config.vocabSize, tok.vocabSize, "vocab matches the tokenizer");
    model.dispose();
    assert.equal((await readSidMap(join(r.modelDir, "sid_map.json"))).sidOf(3), sidMap.sidOf(3), "the SID map travels with the model");
    const stage = readManifest(run).stages.midtrain!;
    assert.equal(stage.status, "done");
    assert.equal(stage.outputs.model, "midtrain/model");
    assert.ok((stage.metrics.tokens_per_s as number) > 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("midtrain: the embeddings-only warm-up trains nothing but the embeddings", async () => {
  const root = mkdtempSync(join(tmpdir(), "gr2-midtrain-warm-"));
  try {
    const base = join(root, "base");
    const { ds, sidMap } = baseModel(base);
    const r = await midtrain(ds, sidMap, options(join(root, "run"), base, { steps: 3, embedWarmupSteps: 3 }));
    const before = weights(base);
    const after = weights(r.modelDir);
    for (const [name, w] of Object.entries(after)) {
      if (name === "model.embed_tokens.weight") {
        const old = before[name]!;
        assert.notDeepEqual(w.slice(0, old.length), old, "old embedding rows train");
      } else assert.deepEqual(w, before[name], `${name} is frozen during the warm-up`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("midtrain: resuming after a crash in either phase reproduces the uninterrupted run", async () => {
  const root = mkdtempSync(join(tmpdir(), "gr2-midtrain-resume-"));
  try {
    const base = join(root, "base");
    const { ds, sidMap } = baseModel(base);
    const runA = join(root, "a");
    await midtrain(ds, sidMap, options(runA, base));
    const expected = weights(join(runA, "midtrain", "model"));

    // Crash 1: during the full phase, after its step-4 checkpoint (phase steps 2, 4, 6 were saved; 6 is lost).
    const runB = join(root, "b");
    cpSync(runA, runB, { recursive: true });
    const ckpts = join(runB, "midtrain", "train", "checkpoints");
    rmSync(join(ckpts, "step-000006"), { recursive: true });
    writeJsonAtomic(join(ckpts, "latest.json"), { step: 4, dir: "step-000004" });
    rmSync(join(runB, "midtrain", "model"), { recursive: true });
    const rb = await midtrain(ds, sidMap, options(runB, base));
    assert.deepEqual(rb.resumedFrom, { warmup: null, train: 4 });
    assert.deepEqual(weights(rb.modelDir), expected);
    const log = readFileSync(join(runB, "midtrain", "train", "metrics.jsonl"), "utf8").trim().split("\n");
    assert.equal(log.length, 6, "the metrics log has each step once");

    // Crash 2: right after the warm-up (the full phase never started).
    const runC = join(root, "c");
    cpSync(runA, runC, { recursive: true });
    rmSync(join(runC, "midtrain", "train"), { recursive: true });
    rmSync(join(runC, "midtrain", "model"), { recursive: true });
    const rc = await midtrain(ds, sidMap, options(runC, base));
    assert.deepEqual(rc.resumedFrom, { warmup: 2, train: null });
    assert.deepEqual(weights(rc.modelDir), expected);
    assert.ok(existsSync(join(runC, "midtrain", "model", "tokenizer.json")));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
