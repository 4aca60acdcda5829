/**
 * Real data: SIDs for Amazon Beauty (12,101 items) with the default recipe (TF-IDF + train-split
 * co-occurrence embeddings, RQ-KMeans 4 × 256, balanced, random last level). Skipped when the
 * dataset folder is absent; GR2_DATA_DIR overrides where it is looked for.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readSidMap } from "../../src/sid/sidmap.js";
import { tempDir, run } from "./helpers.js";

const DATA_DIR = process.env.GR2_DATA_DIR ?? "/work/shared/datasets";
const present = ["", "amazon-beauty-2014"].some((sub) => existsSync(join(DATA_DIR, sub, "Beauty.txt")));

test("Amazon Beauty: ≥ 99% natural uniqueness, a bijective SID map, healthy codebooks", async (t) => {
  if (!present) {
    t.skip(`Amazon Beauty not found under ${DATA_DIR} (set GR2_DATA_DIR to the folder holding amazon-beauty-2014/)`);
    return;
  }
  const dir = tempDir();
  const r = await run(["build", "--dataset", "amazon-beauty", "--data-dir", DATA_DIR, "--out", dir, "--json"]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.items, 12101);
  assert.equal(s.levels, 4);
  assert.equal(s.codebook_size, 256);
  assert.ok(s.natural_uniqueness >= 0.99, `natural uniqueness ${s.natural_uniqueness}`);
  assert.equal(s.final_uniqueness, 1);
  assert.ok(s.perplexity.every((p: number) => p > 128), `perplexity per level ${s.perplexity}`);
  const map = await readSidMap(join(dir, "sid_map.json"));
  assert.equal(map.ids.length, 12101);
  const alignment = map.extra.category_alignment as { code_prefix: number; nmi: number }[];
  assert.ok(alignment.some((a) => a.code_prefix === 1 && a.nmi > 0.3), "level-1 codes carry category information");
});
