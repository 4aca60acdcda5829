import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as torch from "../../src/torch/index.js";
import { makeConfig } from "../../src/lm/config.js";
import { DecoderLM } from "../../src/lm/model.js";
import { train, type TrainConfig, type TrainHooks } from "../../src/train/loop.js";
import { checkpointDue, latestCheckpoint } from "../../src/train/checkpoint.js";

const config = makeConfig({ vocabSize: 64, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 64, maxPositions: 32 });

/** Batches that depend only on (step, micro), so a resumed run sees the same data. */
const hooks: TrainHooks = {
  batch(step, micro) {
    const B = 4, T = 16;
    const ids = Array.from({ length: B * (T + 1) }, (_, i) => (i * 7 + step * 13 + micro * 5 + ((i * i) % 11)) % 64);
    const t = torch.int64(ids, [B, T + 1]);
    return { ids: t.narrow(1, 0, T), targets: t.narrow(1, 1, T) };
  },
  // Dropout-free model: make the loss itself use the RNG so that restoring RNG state matters.
  loss(model, b) {
    const noise = torch.rand([1]).mul(1e-3);
    return model.loss(b.ids, b.targets).add(noise.sum());
  },
};

const cfg: TrainConfig = { steps: 6, lr: 3e-3, warmupSteps: 2, weightDecay: 0.1, gradClip: 1, gradAccum: 2, precision: "fp32", checkpointEvery: 3 };

function freshModel(): DecoderLM {
  torch.manualSeed(11);
  return new DecoderLM(config);
}
const snapshot = (m: DecoderLM) => m.namedParameters().map(([n, p]) => [n, Array.from(p.toFloat32Array())] as const);

test("save → load → continue equals an uninterrupted run, bit for bit", () => {
  const dirA = mkdtempSync(join(tmpdir(), "gr2-resume-a-"));
  const dirB = mkdtempSync(join(tmpdir(), "gr2-resume-b-"));
  try {
    const a = freshModel();
    const ra = train(a, dirA, cfg, hooks, { resume: false });
    const expected = snapshot(a);
    a.dispose();

    // Run B stops after step 3 (its checkpoint), then a new process-like start resumes it.
    const b1 = freshModel();
    train(b1, dirB, { ...cfg, steps: 3 }, hooks, { resume: false });
    b1.dispose();
    torch.manualSeed(999); // whatever the RNG did in between must not matter
    const b2 = freshModel();
    const rb = train(b2, dirB, cfg, hooks);
    assert.equal(rb.resumedFrom, 3);
    assert.deepEqual(snapshot(b2), expected);
    b2.dispose();

    const lossesA = ra.log.map((l) => l.loss);
    const logB = readFileSync(join(dirB, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).loss);
    assert.deepEqual(logB, lossesA, "the metrics log of the resumed run matches too");
    assert.ok(lossesA.at(-1)! < lossesA[0]!, "loss falls");
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});

test("checkpoints are complete folders with HF files, the pointer names the newest, old ones pruned", () => {
  const dir = mkdtempSync(join(tmpdir(), "gr2-ckpt-"));
  try {
    const m = freshModel();
    train(m, dir, { ...cfg, steps: 9, checkpointEvery: 3 }, hooks, { resume: false });
    m.dispose();
    const latest = latestCheckpoint(dir)!;
    assert.match(latest, /step-000009$/);
    for (const f of ["model.safetensors", "config.json", "optimizer.safetensors", "trainer.json"]) assert.ok(existsSync(join(latest, f)), f);
    const hf = JSON.parse(readFileSync(join(latest, "config.json"), "utf8"));
    assert.equal(hf.model_type, "llama");
    assert.deepEqual(readdirSync(join(dir, "checkpoints")).sort(), ["latest.json", "step-000006", "step-000009"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a crash between step-count checkpoints loses only the time since the last timed save, and resumes exactly", () => {
  const dirA = mkdtempSync(join(tmpdir(), "gr2-timed-a-"));
  const dirB = mkdtempSync(join(tmpdir(), "gr2-timed-b-"));
  try {
    const long = { ...cfg, steps: 6, checkpointEvery: 100 };
    const a = freshModel();
    train(a, dirA, long, hooks, { resume: false });
    const expected = snapshot(a);
    a.dispose();

    // checkpointSeconds 0: every step is past the time limit, so each one saves. The process
    // then dies while building step 5's batch, long before the step interval (100) comes round.
    const crashing: TrainHooks = { ...hooks, batch: (step, micro) => { if (step === 4) throw new Error("killed"); return hooks.batch(step, micro); } };
    const b1 = freshModel();
    assert.throws(() => train(b1, dirB, { ...long, checkpointSeconds: 0 }, crashing, { resume: false }), /killed/);
    b1.dispose();
    assert.match(latestCheckpoint(dirB)!, /step-000004$/, "the last completed step was saved by time");

    const b2 = freshModel();
    const rb = train(b2, dirB, long, hooks);
    assert.equal(rb.resumedFrom, 4);
    assert.deepEqual(snapshot(b2), expected);
    b2.dispose();
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});

test("checkpointDue: the step interval, the last step, and the time since the last save", () => {
  const o = { every: 375, steps: 1500, seconds: 600 };
  assert.equal(checkpointDue(375, { ...o, sinceLastSave: 10 }), true);
  assert.equal(checkpointDue(1500, { ...o, sinceLastSave: 10 }), true);
  assert.equal(checkpointDue(40, { ...o, sinceLastSave: 599 }), false);
  assert.equal(checkpointDue(40, { ...o, sinceLastSave: 600 }), true);
  assert.equal(checkpointDue(40, { every: 375, steps: 1500, sinceLastSave: 599 }), false, "the default limit is ten minutes");
  assert.equal(checkpointDue(40, { every: 375, steps: 1500, sinceLastSave: 600 }), true);
});
