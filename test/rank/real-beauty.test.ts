/**
 * Amazon Beauty, read in place (never copied). Skips with a clear message where the data
 * folder is absent. Kept fast: item-KNN (fitted in about a second), a sample of users.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadDataset } from "../../src/data/load.js";
import { leaveOneOut } from "../../src/data/split.js";
import { fullRankingMetrics } from "../../src/rank/metrics.js";
import { buildCandidateLists, readCandidateLists, writeCandidateLists } from "../../src/rank/candidates.js";
import { ItemKnnRanker } from "../../src/rank/item-knn.js";
import { tempDir } from "./helpers.js";

const REPO = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
const DATA_DIR = process.env.GR2_DATA_DIR ?? join(REPO, "..", "shared", "datasets");

test("Amazon Beauty: item-KNN full ranking is in the published range, and its lists round-trip", async (t) => {
  const file = join(DATA_DIR, "amazon-beauty-2014", "Beauty.txt");
  if (!existsSync(file)) return t.skip(`real data not found: ${file} is absent (set GR2_DATA_DIR to the folder holding amazon-beauty-2014/)`);
  const ds = await loadDataset({ name: "amazon-beauty", dataDir: DATA_DIR });
  const split = leaveOneOut(ds.interactions);
  const numItems = ds.catalogue.items.length;
  assert.equal(split.test.length, 22363);
  const knn = ItemKnnRanker.fit(split.train, numItems);
  const sample = split.test.filter((_, i) => i % 10 === 0); // 2,237 users
  const m = fullRankingMetrics(knn, sample);
  // Item-KNN on Beauty test: R@10 ≈ 0.06 on all users (a strong classic baseline here).
  assert.ok(m["recall@10"] > 0.04 && m["recall@10"] < 0.1, `recall@10 ${m["recall@10"]}`);

  const { lists } = buildCandidateLists(knn, sample.slice(0, 500), "test", ds.interactions.userIds);
  const path = join(tempDir(), "beauty-candidates.jsonl");
  const ids = ds.catalogue.items.map((i) => i.id);
  writeCandidateLists(path, lists, ids);
  assert.deepEqual(readCandidateLists(path, ids), lists);
  assert.ok(lists.every((l) => l.candidates.length === 10 && l.candidates.includes(l.target)));
});
