import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { loadDataset } from "../../src/data/load.js";
import { leaveOneOut } from "../../src/data/split.js";
import { writePromptSettings } from "../../src/prompt/prompt-file.js";
import { COMPRESSOR_FEATURES } from "../../src/prompt/compress.js";
import { candidateEvidence, evidenceSource } from "../../src/rank/evidence/features.js";
import { evidenceClause } from "../../src/rank/evidence/render.js";
import { ModelSession } from "../../src/serve/session.js";
import { parseRerank } from "../../src/serve/validation.js";
import { tempDir, tinyCheckpoint } from "./helpers.js";

test("a model trained with evidence is served with it, from the catalogue's training interactions; without a catalogue it refuses to start", async () => {
  const ckpt = await tinyCheckpoint();
  const dir = tempDir("gr2-serve-evidence-");
  cpSync(ckpt.dir, dir, { recursive: true });
  writePromptSettings(dir, { format: "compact", layout: "full", evidence: "all" });
  await assert.rejects(ModelSession.load({ model: dir }), /trained with "all" evidence on its candidate lines .* serve it with --dataset/);

  const s = await ModelSession.load({ model: dir, dataset: ckpt.dataset });
  try {
    const ids = ckpt.itemIds;
    const history = ids.slice(0, 4);
    const documents = [...ids.slice(20, 25), { text: "a product the catalogue does not know" }];
    const job = await s.prepareRerank(parseRerank({ query: { history }, documents, mode: "reasoning", max_reasoning_tokens: 10 }, "v2"));
    const prompt = s.tokenizer.decodeSync(job.ids, { skipSpecial: false });
    // What the pipeline's prompts showed for the same items: the train split's statistics.
    const ds = await loadDataset(ckpt.dataset);
    const index = new Map(ds.catalogue.items.map((it) => [it.id, it.index]));
    const source = evidenceSource(ds.catalogue.items, leaveOneOut(ds.interactions).train);
    const expected = candidateEvidence(source, history.map((id) => index.get(id)!), ids.slice(20, 25).map((id) => index.get(id)!));
    for (const e of expected) assert.ok(prompt.includes(evidenceClause(e, "all")), `missing "${evidenceClause(e, "all")}"`);
    // The text-only document has no catalogue statistics: no co-buyers, lowest band.
    assert.ok(prompt.includes("a product the catalogue does not know | co-bought: 0 | popularity: low | same category: 0 | same brand: 0"), prompt);
  } finally {
    s.dispose();
  }
});

test("a model trained on compressed histories is served with its compressor: the served prompt shows the kept items and the summary", async () => {
  const ckpt = await tinyCheckpoint();
  const dir = tempDir("gr2-serve-compress-");
  cpSync(ckpt.dir, dir, { recursive: true });
  // Keep the last purchase only, whatever else the history holds.
  const compressor = { features: [...COMPRESSOR_FEATURES], weights: COMPRESSOR_FEATURES.map((f) => (f === "bias" ? -4 : f === "last" ? 8 : 0)) };
  writePromptSettings(dir, { format: "compact", layout: "full", compressor });
  await assert.rejects(ModelSession.load({ model: dir }), /histories compressed by the context compressor .* serve it with --dataset/);
  const s = await ModelSession.load({ model: dir, dataset: ckpt.dataset });
  try {
    const ids = ckpt.itemIds;
    const job = await s.prepareRerank(parseRerank({ query: { history: ids.slice(0, 5) }, documents: ids.slice(20, 25), mode: "reasoning", max_reasoning_tokens: 10 }, "v2"));
    const prompt = s.tokenizer.decodeSync(job.ids, { skipSpecial: false });
    assert.match(prompt, /History, oldest first \(1 of 5\):\n1\. [^\n]+\n\(\+4 more/);
  } finally {
    s.dispose();
  }
});
