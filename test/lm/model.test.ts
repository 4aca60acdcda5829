import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../../src/torch/index.js";
import { makeConfig, type LMConfig, type ModelType } from "../../src/lm/config.js";
import { DecoderLM } from "../../src/lm/model.js";
import { KVCache } from "../../src/lm/kv-cache.js";
import { generate } from "../../src/lm/generate.js";

function tinyModel(modelType: ModelType = "llama", extra: Partial<LMConfig> = {}): DecoderLM {
  torch.manualSeed(7);
  return new DecoderLM(makeConfig({ modelType, vocabSize: 97, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, maxPositions: 64, ...extra }));
}

const maxAbsDiff = (a: torch.Tensor, b: torch.Tensor) => torch.tidy(() => a.sub(b).abs().amax([...a.shape.keys()]).item());

for (const type of ["llama", "qwen2", "qwen3"] as const) {
  test(`${type}: KV-cache decoding gives the logits of a full forward pass`, () => {
    const model = tinyModel(type, { tieWordEmbeddings: type !== "llama" });
    torch.noGrad(() =>
      torch.tidy(() => {
        const ids = torch.randint(0, 97, [3, 10]);
        const full = model.forward(ids);
        const cache = new KVCache(model.config, 3, 16);
        const parts = [model.forward(ids.narrow(1, 0, 6), { cache })];
        for (let t = 6; t < 10; t++) parts.push(model.forward(ids.narrow(1, t, 1), { cache }));
        cache.dispose();
        assert.ok(maxAbsDiff(full, torch.cat(parts, 1)) < 1e-5);
      }),
    );
    model.dispose();
  });
}

test("parameter names follow HF (qwen3 has q/k norms, qwen2 has q/k/v biases, untied head)", () => {
  const q3 = tinyModel("qwen3", { tieWordEmbeddings: false });
  const names = q3.namedParameters().map(([n]) => n);
  for (const n of ["model.embed_tokens.weight", "model.layers.1.self_attn.q_norm.weight", "model.layers.0.mlp.gate_proj.weight", "model.norm.weight", "lm_head.weight"]) assert.ok(names.includes(n), n);
  q3.dispose();
  const q2 = tinyModel("qwen2");
  assert.ok(q2.namedParameters().some(([n]) => n === "model.layers.0.self_attn.k_proj.bias"));
  assert.ok(!q2.namedParameters().some(([n]) => n === "lm_head.weight"), "tied: no lm_head");
  q2.dispose();
});

test("batched greedy generation with left padding equals generating each prompt alone", () => {
  const model = tinyModel();
  const prompts = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15]];
  const together = generate(model, prompts, { maxNewTokens: 6, temperature: 0 });
  prompts.forEach((p, i) => {
    const alone = generate(model, [p], { maxNewTokens: 6, temperature: 0 });
    assert.deepEqual(together.tokens[i], alone.tokens[0], `prompt ${i}`);
    together.logprobs[i]!.forEach((lp, j) => assert.ok(Math.abs(lp - alone.logprobs[0]![j]!) < 1e-4));
  });
  model.dispose();
});

test("prefilling a batch in row slices (bounded attention memory) gives the same tokens and log-probs", () => {
  const model = tinyModel("qwen3");
  const prompts = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15], [16, 17, 18, 19], [20]];
  const live = torch.liveTensors();
  const whole = generate(model, prompts, { maxNewTokens: 5, temperature: 0 });
  // One byte allows one row per slice; 2 rows fit in 2 × 4 heads × 6² × 4 bytes.
  for (const bytes of [1, 2 * 4 * 36 * 4]) {
    const sliced = generate(model, prompts, { maxNewTokens: 5, temperature: 0, prefillScoreBytes: bytes });
    assert.deepEqual(sliced.tokens, whole.tokens, `${bytes} bytes`);
    sliced.logprobs.forEach((lps, i) => lps.forEach((lp, j) => assert.ok(Math.abs(lp - whole.logprobs[i]![j]!) < 1e-4)));
  }
  assert.equal(torch.liveTensors(), live, "slice views are freed");
  model.dispose();
});

test("recorded log-probs equal a forward pass over prompt + generated tokens", () => {
  const model = tinyModel();
  torch.manualSeed(3);
  const prompt = [1, 2, 3, 4];
  const r = generate(model, [prompt], { maxNewTokens: 5, temperature: 0.7 });
  torch.noGrad(() =>
    torch.tidy(() => {
      const seq = [...prompt, ...r.tokens[0]!];
      const logits = model.forward(torch.int64(seq, [1, seq.length])).squeeze(0).div(0.7).logSoftmax(-1);
      r.tokens[0]!.forEach((tok, j) => {
        const expected = logits.select(0, prompt.length - 1 + j).select(0, tok).item();
        assert.ok(Math.abs(expected - r.logprobs[0]![j]!) < 1e-4, `token ${j}`);
      });
    }),
  );
  model.dispose();
});

test("the constraint hook limits every sampled token, and stop tokens end a row", () => {
  const model = tinyModel();
  const allowed = new Set([3, 4, 5]);
  const r = generate(model, [[1, 2], [7]], {
    maxNewTokens: 12,
    temperature: 1.5,
    stopTokens: [5],
    constraint: (_step, _generated, logits) => {
      const mask = new Uint8Array(logits.numel);
      for (let b = 0; b < logits.size(0); b++) for (const t of allowed) mask[b * logits.size(1) + t] = 1;
      return torch.tensor(mask, logits.shape, { dtype: "bool" });
    },
  });
  for (let b = 0; b < 2; b++) {
    assert.ok(r.tokens[b]!.every((t) => allowed.has(t)));
    if (r.finish[b] === "stop") assert.equal(r.tokens[b]!.at(-1), 5);
    else assert.equal(r.tokens[b]!.length, 12);
  }
  model.dispose();
});

test("resizeVocab keeps the old rows and adds new ones", () => {
  const model = tinyModel();
  const before = model.model.embedTokens.weight.narrow(0, 0, 97).toFloat32Array();
  const grown = model.resizeVocab(120);
  assert.deepEqual(grown.model.embedTokens.weight.shape, [120, 32]);
  assert.deepEqual(grown.model.embedTokens.weight.narrow(0, 0, 97).toFloat32Array(), before);
  grown.dispose();
});

test("bad model configs are refused with the field named", () => {
  assert.throws(() => makeConfig({ vocabSize: 10, hiddenSize: 30, numLayers: 1, numHeads: 4, numKvHeads: 3 }), /multiple of numKvHeads/);
  assert.throws(() => makeConfig({ vocabSize: 0, hiddenSize: 32, numLayers: 1, numHeads: 4 }), /vocabSize/);
});

test("the loss projects (and runs the last layer at) only the positions with a target, and equals the full forward's loss and gradient", () => {
  torch.manualSeed(3);
  const m = new DecoderLM(makeConfig({ modelType: "qwen3", vocabSize: 50, hiddenSize: 16, numLayers: 2, numHeads: 2, numKvHeads: 1, intermediateSize: 32, maxPositions: 64 }), "cpu");
  const ids = torch.int64([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 6]);
  const targets = torch.int64([-100, -100, 3, 4, -100, 6, -100, 9, 10, -100, 12, 13], [2, 6]);
  const weights = torch.tensor(new Float32Array([0, 0, 1, 0.5, 0, 2, 0, 1, 1, 0, 0.3, 1]), [2, 6]);
  for (const reduction of ["mean", "sum"] as const) {
    const grad = (f: () => torch.Tensor) => {
      for (const p of m.parameters()) p.grad?.zero_();
      const l = f();
      l.backward();
      return { value: l.toArray()[0]!, g: m.parameters().flatMap((p) => Array.from(p.grad!.toFloat32Array())) };
    };
    const kept = grad(() => m.loss(ids, targets, { weights, reduction }));
    const full = grad(() => torch.crossEntropy(m.forward(ids).view(-1, 50), targets.reshape(-1), { weights: weights.reshape(-1), reduction }));
    assert.ok(Math.abs(kept.value - full.value) < 1e-5, `${reduction}: ${kept.value} vs ${full.value}`);
    const maxDiff = kept.g.reduce((d, x, i) => Math.max(d, Math.abs(x - full.g[i]!)), 0);
    assert.ok(maxDiff < 1e-5, `${reduction}: gradients differ by ${maxDiff}`);
  }
});

test("logitsAt gives the full forward pass's logits at the chosen positions", () => {
  const model = tinyModel("qwen3", { tieWordEmbeddings: true });
  torch.noGrad(() =>
    torch.tidy(() => {
      const ids = torch.randint(0, 97, [2, 9]);
      const at = torch.int64([3, 4, 5, 8, 0, 1, 2, 2], [2, 4]);
      const full = model.forward(ids);
      const picked = full.gather(1, at.view(2, 4, 1).expand(2, 4, 97));
      assert.deepEqual(model.logitsAt(ids, at).shape, [2, 4, 97]);
      assert.ok(maxAbsDiff(model.logitsAt(ids, at), picked) < 1e-5);
      // Left padding, as DAPO scores its rollouts: the key mask and positions reach the last layer too.
      const keyMask = torch.tensor(Uint8Array.from([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), [2, 9], { dtype: "bool" });
      const positions = torch.int64([0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 7, 8], [2, 9]);
      const at2 = torch.int64([5, 6, 7, 8, 5, 6, 7, 8], [2, 4]);
      const full2 = model.forward(ids, { keyMask, positions });
      const picked2 = full2.gather(1, at2.view(2, 4, 1).expand(2, 4, 97));
      assert.ok(maxAbsDiff(model.logitsAt(ids, at2, { keyMask, positions }), picked2) < 1e-5);
    }),
  );
  model.dispose();
});

test("lastHidden after cached keys equals the full forward's last position, and fills the cache as hidden does", () => {
  const model = tinyModel("qwen3", { tieWordEmbeddings: true });
  torch.noGrad(() =>
    torch.tidy(() => {
      const ids = torch.randint(0, 97, [2, 12]);
      const full = model.hidden(ids);
      // A prefix of 7 tokens, then the last layer at one position for the 5 that follow.
      const cache = new KVCache(model.config, 2, 16);
      model.hidden(ids.narrow(1, 0, 7), { cache });
      const last = model.lastHidden(ids.narrow(1, 7, 5), { cache });
      assert.deepEqual(last.shape, [2, 32]);
      assert.ok(maxAbsDiff(last, full.select(1, 11)) < 1e-5);
      // The next token decodes from that cache exactly as after a full prefill.
      const next = torch.randint(0, 97, [2, 1]);
      const step = model.forward(next, { cache });
      const ref = model.forward(torch.cat([ids, next], 1)).narrow(1, 12, 1);
      assert.ok(maxAbsDiff(step, ref) < 1e-5);
      cache.dispose();
    }),
  );
  model.dispose();
});
