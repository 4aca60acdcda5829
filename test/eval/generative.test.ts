import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as torch from "../../src/torch/index.js";
import { DecoderLM } from "../../src/lm/model.js";
import { saveHFModel } from "../../src/lm/hf.js";
import { presetConfig } from "../../src/lm/presets.js";
import { constrainedBeamSearch } from "../../src/lm/beam.js";
import { writeSidMap } from "../../src/sid/sidmap.js";
import { prepareGenerativeEval, runGenerativeEval } from "../../src/eval/generative.js";
import { evalGenerativeCommand } from "../../src/cli/eval-generative.js";
import { fixture } from "../train/tasks-fixture.test.js";

function setup() {
  const f = fixture({ users: 30 });
  torch.manualSeed(2);
  const model = new DecoderLM(presetConfig("tiny", f.tokenizer.vocabSize));
  return { ...f, model };
}

test("generative eval: prompts are the test histories; metrics come from the target's place in the beam", async () => {
  const { ds, tokenizer, sidMap, model } = setup();
  const set = await prepareGenerativeEval(ds, sidMap, tokenizer, { maxHistory: 5 });
  assert.equal(set.examples.length, 30);
  assert.equal(set.trie.size, ds.catalogue.items.length);
  const seq = ds.interactions.sequences[0]!;
  assert.equal(set.examples[0]!.target, seq.at(-1));
  assert.deepEqual(set.examples[0]!.history, seq.slice(-6, -1));

  // Plant targets: users 0..9 get their beam's best item (rank 1), users 10..19 the 7th
  // (rank 7), the rest an item outside the beam.
  const beams = constrainedBeamSearch(model, set.prompts, { beams: 10, trie: set.trie });
  const outside = (u: number) => ds.catalogue.items.findIndex((_, i) => !beams[u]!.some((h) => h.value === i));
  const planted = { ...set, examples: set.examples.map((e, u) => ({ ...e, target: u < 10 ? beams[u]![0]!.value : u < 20 ? beams[u]![6]!.value : outside(u) })) };
  const m = runGenerativeEval(model, planted, { beams: 10, batchSize: 7, precision: "fp32" });
  assert.deepEqual(m.ranks, Array.from({ length: 30 }, (_, u) => (u < 10 ? 1 : u < 20 ? 7 : 0)));
  assert.equal(m["recall@5"], 10 / 30);
  assert.equal(m["recall@10"], 20 / 30);
  assert.ok(Math.abs(m["ndcg@5"] - 10 / 30) < 1e-12);
  assert.ok(Math.abs(m["ndcg@10"] - (10 + 10 / Math.log2(8)) / 30) < 1e-12);
  assert.equal(m.users, 30);
  model.dispose();
});

test("generative eval: a sequence that is not a valid item's SID is an error; beam < k is refused", async () => {
  const { ds, tokenizer, sidMap, model } = setup();
  const set = await prepareGenerativeEval(ds, sidMap, tokenizer, { users: 4, seed: 1 });
  assert.equal(set.examples.length, 4);
  assert.throws(() => runGenerativeEval(model, { ...set, itemOfTokens: () => undefined }, { beams: 10 }), /not a valid item's SID/);
  assert.throws(() => runGenerativeEval(model, set, { beams: 5 }), /below the largest k/);
  model.dispose();
});

test("gr2 eval generative --json prints the four metrics and the user count", async () => {
  const { ds, tokenizer, sidMap, model } = setup();
  const dir = mkdtempSync(join(tmpdir(), "gr2-evalgen-"));
  const write = process.stdout.write.bind(process.stdout);
  let out = "";
  try {
    saveHFModel(dir, model, tokenizer);
    await writeSidMap(join(dir, "sid_map.json"), sidMap);
    process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
    const code = await evalGenerativeCommand(["--model", dir, "--dataset", "synthetic", "--data-users", "40", "--items", "60", "--data-seed", "7", "--users", "5", "--beam", "10", "--json"]);
    process.stdout.write = write;
    assert.equal(code, 0);
    const r = JSON.parse(out);
    for (const k of ["recall@5", "ndcg@5", "recall@10", "ndcg@10"]) assert.ok(r[k] >= 0 && r[k] <= 1, k);
    assert.equal(r.users, 5);
  } finally {
    process.stdout.write = write;
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  void ds;
});
