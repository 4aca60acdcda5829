import { test } from "node:test";
import assert from "node:assert/strict";
import { copyProbe, scoreCopy } from "../../src/eval/copy-probe.js";
import { encodeFragments, itemSidTokens } from "../../src/train/tasks/context.js";
import { leaveOneOut } from "../../src/data/split.js";
import { loadHFModel, loadHFTokenizer } from "../../src/lm/hf.js";
import { loadDataset } from "../../src/data/load.js";
import { tinyCheckpoint } from "../serve/helpers.js";

test("scoreCopy: candidates written, distinct ones, full permutations and the next item first", () => {
  const shown = [5, 7, 9, 11];
  assert.deepEqual(scoreCopy([7, 5, 11, 9], shown, 7), { inCandidates: 1, distinct: 1, valid: true, top1: true });
  assert.deepEqual(scoreCopy([5, 5, 5, 5], shown, 7), { inCandidates: 1, distinct: 0.25, valid: false, top1: false });
  assert.deepEqual(scoreCopy([5, 3, undefined, 9], shown, 5), { inCandidates: 0.5, distinct: 0.5, valid: false, top1: true });
  assert.deepEqual(scoreCopy([9, 11], shown, 9), { inCandidates: 0.5, distinct: 0.5, valid: false, top1: true }, "a short answer is not a permutation");
  assert.equal(scoreCopy([7, 5, 11, 9, 9], shown, 7).valid, true, "SIDs past the K-th do not count");
});

test("copyProbe decodes every list and reports shares in [0, 1], the same for the same seed", async () => {
  const ckpt = await tinyCheckpoint();
  const ds = await loadDataset(ckpt.dataset);
  const tokenizer = loadHFTokenizer(ckpt.dir);
  const model = loadHFModel(ckpt.dir, "cpu");
  try {
    const examples = leaveOneOut(ds.interactions, { skipShortUsers: true }).test.slice(0, 12);
    const sids = itemSidTokens(ds, ckpt.sids, tokenizer);
    const fragments = await encodeFragments(tokenizer);
    const eos = tokenizer.requireId(tokenizer.special.eos ?? "<|endoftext|>");
    const a = copyProbe(model, examples, sids, fragments, { k: 5, seed: 3, batch: 5, eos });
    assert.equal(a.lists, 12);
    assert.equal(a.k, 5);
    for (const key of ["in_candidates", "distinct_candidates", "valid_rate", "top1"] as const) assert.ok(a[key] >= 0 && a[key] <= 1, `${key} ${a[key]}`);
    assert.ok(a.distinct_candidates <= a.in_candidates);
    assert.deepEqual(copyProbe(model, examples, sids, fragments, { k: 5, seed: 3, batch: 12, eos }), a, "batching does not change the result");
    assert.throws(() => copyProbe(model, examples, sids.slice(0, 3), fragments, { k: 5, eos }), /fewer than k = 5/);
  } finally {
    model.dispose();
  }
});
