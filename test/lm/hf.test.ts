import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import * as torch from "../../src/torch/index.js";
import { makeConfig, toHFConfig } from "../../src/lm/config.js";
import { DecoderLM } from "../../src/lm/model.js";
import { exportHF, loadHFModel, saveHFModel } from "../../src/lm/hf.js";
import { applyLoRA, mergeLoRA } from "../../src/nn/lora.js";

const tmp = () => mkdtempSync(join(tmpdir(), "gr2-hf-"));
const ids = () => torch.int64([3, 17, 42, 5, 9, 60], [1, 6]);
const logitsOf = (m: DecoderLM) => torch.noGrad(() => torch.tidy(() => Array.from(m.forward(ids()).toFloat32Array())));
const close = (a: number[], b: number[], tol: number) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) <= tol);

function tinyQwen3(): DecoderLM {
  torch.manualSeed(5);
  return new DecoderLM(makeConfig({ modelType: "qwen3", vocabSize: 64, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 48, tieWordEmbeddings: false }));
}

test("a checkpoint written the way transformers writes it (bf16 shards + index, extra tied copy) loads with the same weights", () => {
  const dir = tmp();
  try {
    const ref = tinyQwen3();
    // Hand-written HF folder: config.json with HF keys, two bf16 shards, the index.
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...toHFConfig(ref.config), torch_dtype: "bfloat16", use_cache: true, rope_scaling: null }));
    const names = Object.keys(ref.stateDict()).sort();
    const half = Math.ceil(names.length / 2);
    const weightMap: Record<string, string> = {};
    torch.tidy(() => {
      [names.slice(0, half), names.slice(half)].forEach((part, i) => {
        const file = `model-0000${i + 1}-of-00002.safetensors`;
        torch.saveSafetensors(join(dir, file), Object.fromEntries(part.map((n) => [n, ref.stateDict()[n]!.to("bfloat16")])), { format: "pt" });
        part.forEach((n) => (weightMap[n] = file));
      });
    });
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const loaded = loadHFModel(dir);
    // The reference rounded to bf16, as stored.
    torch.noGrad(() => torch.tidy(() => { for (const p of ref.parameters()) p.copy_(p.to("bfloat16")); }));
    assert.ok(close(logitsOf(loaded), logitsOf(ref), 1e-5));
    ref.dispose();
    loaded.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("export → load gives identical logits, single file and sharded", () => {
  const dir = tmp();
  try {
    const m = tinyQwen3();
    const expected = logitsOf(m);
    saveHFModel(join(dir, "one"), m);
    saveHFModel(join(dir, "sharded"), m, undefined, { maxShardBytes: 20_000 });
    assert.ok(existsSync(join(dir, "sharded", "model.safetensors.index.json")));
    for (const sub of ["one", "sharded"]) {
      const back = loadHFModel(join(dir, sub));
      assert.deepEqual(logitsOf(back), expected, sub);
      back.dispose();
    }
    const hf = JSON.parse(readFileSync(join(dir, "one", "config.json"), "utf8"));
    assert.deepEqual(hf.architectures, ["Qwen3ForCausalLM"]);
    assert.equal(hf.head_dim, 16);
    m.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("LoRA: only adapters train, the start equals the base model, and merging preserves the adapted function", () => {
  const m = tinyQwen3();
  const base = logitsOf(m);
  const adapted = applyLoRA(m, { rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj", "down_proj"] });
  assert.equal(adapted.length, 6);
  assert.deepEqual(logitsOf(m), base, "B = 0: an untrained adapter changes nothing");
  const trainable = m.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
  assert.ok(trainable.length === 12 && trainable.every((n) => /lora_[AB]/.test(n)));
  const frozenBefore = m.model.layers[0]!.attn.qProj.weight.toFloat32Array();
  const opt = new torch.AdamW(m.parameters().filter((p) => p.requiresGrad), { lr: 1e-2 });
  for (let i = 0; i < 3; i++) torch.tidy(() => { m.loss(ids(), torch.int64([17, 42, 5, 9, 60, 1], [1, 6])).backward(); opt.step(); opt.zeroGrad(); });
  opt.dispose();
  assert.deepEqual(m.model.layers[0]!.attn.qProj.weight.toFloat32Array(), frozenBefore, "base weights stay frozen");
  const withAdapters = logitsOf(m);
  assert.ok(!close(withAdapters, base, 1e-6), "training moved the output");
  assert.equal(mergeLoRA(m), 6);
  assert.ok(!m.namedParameters().some(([n]) => n.includes("lora_")));
  assert.ok(close(logitsOf(m), withAdapters, 1e-4));
  m.dispose();
});

test("exportHF merges adapters first, so transformers sees a plain model", () => {
  const dir = tmp();
  try {
    const m = tinyQwen3();
    applyLoRA(m, { rank: 2, alpha: 4, targetModules: ["o_proj"] });
    assert.throws(() => saveHFModel(join(dir, "x"), m), /merge them first/);
    assert.equal(exportHF(join(dir, "y"), m).mergedAdapters, 2);
    loadHFModel(join(dir, "y")).dispose();
    m.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad checkpoints fail with the file and the problem named", () => {
  const dir = tmp();
  try {
    assert.throws(() => loadHFModel(dir), /no config\.json/);
    const m = tinyQwen3();
    saveHFModel(dir, m);
    m.dispose();
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg, model_type: "gpt2" }));
    assert.throws(() => loadHFModel(dir), /model_type "gpt2" is not supported/);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg, hidden_size: 48, head_dim: 12 }));
    assert.throws(() => loadHFModel(dir), /shape/);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg, num_hidden_layers: 3 }));
    assert.throws(() => loadHFModel(dir), /lacks .* model\.layers\.2/);
    mkdirSync(join(dir, "empty"));
    writeFileSync(join(dir, "empty", "config.json"), JSON.stringify(cfg));
    assert.throws(() => loadHFModel(join(dir, "empty")), /no model\.safetensors/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gr2 lm logits prints the last position's logits over the whole vocabulary", () => {
  const dir = tmp();
  try {
    const m = tinyQwen3();
    saveHFModel(dir, m);
    const expected = torch.noGrad(() => torch.tidy(() => Array.from(m.forward(torch.int64([1, 5, 9], [1, 3])).select(1, 2).squeeze(0).toFloat32Array())));
    m.dispose();
    const out = execFileSync(process.execPath, ["dist/src/cli/main.js", "lm", "logits", "--model", dir, "--ids", "1,5,9", "--json"], { encoding: "utf8" });
    const { logits } = JSON.parse(out) as { logits: number[] };
    assert.equal(logits.length, 64);
    assert.ok(close(logits, expected, 1e-5));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
