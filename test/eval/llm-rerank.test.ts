/**
 * rerankWithModel's one-pass validity: a constrained greedy decode marks an output `free` only
 * when the constraint never changed the model's argmax, so a free output must be exactly the
 * unconstrained decode of the same prompt, and that decode must be valid.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { rerankWithModel } from "../../src/eval/llm-rerank.js";
import { loadHFModel, loadHFTokenizer } from "../../src/lm/hf.js";
import type { CandidateList } from "../../src/rank/candidates.js";
import { tinyCheckpoint } from "../serve/helpers.js";

test("constrained evaluation: free outputs are the unconstrained outputs, and freeRate ≤ the unconstrained valid rate", async () => {
  const ckpt = await tinyCheckpoint();
  const ds = generateSynthetic(ckpt.dataset);
  const tokenizer = loadHFTokenizer(ckpt.dir);
  const model = loadHFModel(ckpt.dir, "cpu");
  try {
    const context = { items: ds.catalogue.items, sidOf: (i: number) => ckpt.sids.sidOf(i), domain: "beauty" };
    const lists: CandidateList[] = Array.from({ length: 12 }, (_, u) => {
      const candidates = [0, 1, 2, 3].map((j) => 10 + ((u * 4 + j) % 50));
      return { user: `u${u}`, split: "test", history: [u % 10, (u + 3) % 10], candidates, target: candidates[u % 4]!, rankPre: (u % 4) + 1, scores: null };
    });
    // Direct answers (no rationale): a random-weight model's outputs stay short.
    const o = { format: "compact" as const, batch: 6, maxNewTokens: 40, maxRationaleTokens: 0, maxPromptTokens: 4000 };
    const constrained = await rerankWithModel(model, tokenizer, context, lists, { ...o, constrained: true });
    const free = await rerankWithModel(model, tokenizer, context, lists, { ...o, maxNewTokens: 120, constrained: false });
    assert.equal(constrained.validRate, 1, "the constraint always yields a permutation");
    for (const [i, out] of constrained.outputs.entries()) {
      // Greedy decoding: the two texts agree exactly when the constraint never overrode the argmax.
      const same = free.outputs[i]!.text === out.text && free.outputs[i]!.valid;
      assert.equal(out.free, same, `list ${i}: free=${out.free}, constrained ${JSON.stringify(out.text)}, unconstrained ${JSON.stringify(free.outputs[i]!.text)}`);
    }
    assert.ok(constrained.freeRate <= free.validRate + 1e-12, `${constrained.freeRate} ≤ ${free.validRate}`);
    assert.equal(free.freeRate, free.validRate, "unconstrained: free means valid");
    // Every answer that is not valid without the constraint is placed, once, in both decodes;
    // up to the first override the two decodes are the same tokens, so they place it alike.
    for (const r of [constrained, free]) {
      assert.equal(Object.values(r.invalidAt).reduce((a, b) => a + b, 0), Math.round((1 - r.freeRate) * lists.length));
      for (const out of r.outputs) assert.equal(out.invalidAt === null, out.free);
    }
    let compared = 0;
    constrained.outputs.forEach((out, i) => {
      const other = free.outputs[i]!.invalidAt;
      if (out.invalidAt === null || out.invalidAt === "unfinished" || other === null || other === "unfinished") return;
      assert.equal(out.invalidAt, other, `list ${i}`);
      compared++;
    });
    assert.ok(compared > 0, "a random model gets some answers wrong in both decodes");
  } finally {
    model.dispose();
  }
});
