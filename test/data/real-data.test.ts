/**
 * Checks against the real datasets (read in place, never copied): the published figures of
 * Amazon Beauty (P5/S3-Rec/TIGER) and MovieLens 100K. Skips, saying why, where they are absent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { readAtomicFile } from "../../src/data/atomic.js";
import { datasetStats, loadDataset } from "../../src/data/load.js";
import { newReport } from "../../src/data/report.js";
import { leaveOneOut } from "../../src/data/split.js";
import { itemText } from "../../src/data/text.js";
import { REAL_DATA_DIR, realDataset } from "./realdata.js";

test("Amazon Beauty: 22,363 users, 12,101 items, 198,502 interactions; 12,101 .item records", async (t) => {
  const found = realDataset("amazon-beauty-2014", "Beauty.txt");
  if ("skip" in found) return t.skip(found.skip);

  const ds = await loadDataset({ name: "amazon-beauty", dataDir: REAL_DATA_DIR });
  const stats = datasetStats(ds);
  assert.deepEqual([stats.users, stats.items, stats.interactions], [22363, 12101, 198502]);
  assert.deepEqual([stats.min_seq_len, stats.median_seq_len, stats.max_seq_len], [5, 6, 204]);
  assert.ok(Math.abs(stats.avg_seq_len - 8.88) < 0.01);
  assert.deepEqual(ds.report.skipped, {});

  const table = readAtomicFile(join(found.dir, "Amazon_Beauty.item"), newReport());
  assert.equal(table.rows.length, 12101);
  assert.ok(table.rows.every((r) => r.fields.length === 7));

  // P5 user 1 = items 1..5 = these ASINs, in time order (datasets README).
  const first = ds.interactions.sequences[0]!.map((i) => ds.catalogue.items[i]!.id);
  assert.deepEqual(first, ["B004756YJA", "B004ZT0SSG", "B0020YLEYK", "7806397051", "B002WLWX82"]);
  assert.equal(ds.interactions.userIds[0], "A1YJEY40YUW4SE");

  const byId = new Map(ds.catalogue.items.map((i) => [i.id, i]));
  assert.equal(byId.get("B0001ZYL3Q")!.title, "TheraNeem Cream - Original Organix South 2 oz Cream Vanilla");
  assert.deepEqual(byId.get("9788072216")!.categories, ["Beauty", "Fragrance", "Women's", "Eau de Parfum"]);
  assert.equal(ds.catalogue.items.filter((i) => i.title !== "").length, 12094);
  assert.equal(ds.catalogue.items.filter((i) => i.price !== undefined).length, 11516);
  assert.equal(ds.catalogue.items.filter((i) => i.brand !== undefined).length, 10003);
  const leftover = ds.catalogue.items.filter((i) => /&(#\d+|#x[0-9a-f]+|[a-z]+);/i.test(itemText(i)));
  assert.deepEqual(leftover.map((i) => i.id), [], "no HTML entity survives cleaning");

  const split = leaveOneOut(ds.interactions);
  assert.equal(split.test.length, 22363);
  assert.equal(split.train.reduce((n, s) => n + s.length, 0), 198502 - 2 * 22363);
});

test("MovieLens 100K: 943 users, 1,682 items, 100,000 ratings; Latin-1 titles", async (t) => {
  const found = realDataset("movielens-100k", "u.data");
  if ("skip" in found) return t.skip(found.skip);

  const ds = await loadDataset({ name: "movielens-100k", dataDir: REAL_DATA_DIR });
  const stats = datasetStats(ds);
  assert.deepEqual([stats.users, stats.items, stats.interactions], [943, 1682, 100000]);
  assert.equal(stats.min_seq_len, 20);
  assert.equal(ds.catalogue.items[542]!.title, "Misérables, Les (1995)");
  assert.deepEqual(ds.catalogue.items[0]!.categories, ["Animation", "Children's", "Comedy"]);

  const positives = await loadDataset({ name: "movielens-100k", dataDir: REAL_DATA_DIR, minRating: 4 });
  assert.equal(datasetStats(positives).interactions, 34174 + 21201);
  assert.equal(positives.report.skipped["interactions rated below 4"], 6110 + 11370 + 27145);
});
