import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DataError } from "../../src/data/errors.js";
import { DATA_DIR_ENV, datasetStats, loadDataset } from "../../src/data/load.js";
import { folderWith, lines, tempDir, writeFiles } from "./helpers.js";

const AMAZON = {
  "Beauty.txt": lines("1 1 2 3", "2 2 3 1 4"),
  "datamaps.json": JSON.stringify({ id2item: { "1": "A", "2": "B", "3": "C", "4": "D" }, id2user: { "1": "R1", "2": "R2" } }),
  "Amazon_Beauty.item": lines("item_id:token\ttitle:token", "A\ta", "B\tb", "C\tc", "D\td"),
};

test("synthetic: users, items and seed pass through", async () => {
  const ds = await loadDataset({ name: "synthetic", users: 30, items: 40, seed: 9 });
  assert.equal(ds.interactions.sequences.length, 30);
  assert.equal(ds.catalogue.items.length, 40);
  assert.ok(ds.planted);
});

test("amazon-beauty is found in the data dir itself or in its amazon-beauty-2014/ folder", async () => {
  const flat = folderWith(AMAZON);
  assert.equal((await loadDataset({ name: "amazon-beauty", dataDir: flat })).interactions.sequences.length, 2);
  const root = tempDir();
  mkdirSync(join(root, "amazon-beauty-2014"));
  writeFiles(join(root, "amazon-beauty-2014"), AMAZON);
  const ds = await loadDataset({ name: "amazon-beauty", dataDir: root });
  assert.deepEqual(ds.interactions.userIds, ["R1", "R2"]);
});

test("the data dir defaults to $GR2_DATA_DIR; without either the error says how to set it", async (t) => {
  const saved = process.env[DATA_DIR_ENV];
  t.after(() => (saved === undefined ? delete process.env[DATA_DIR_ENV] : (process.env[DATA_DIR_ENV] = saved)));
  process.env[DATA_DIR_ENV] = folderWith(AMAZON);
  assert.equal((await loadDataset({ name: "amazon-beauty" })).catalogue.items.length, 4);
  delete process.env[DATA_DIR_ENV];
  await assert.rejects(loadDataset({ name: "amazon-beauty" }), /no data dir .* pass --data-dir \(dataDir\) or set GR2_DATA_DIR/);
});

test("a data dir without the dataset lists where it looked", async () => {
  const empty = tempDir();
  await assert.rejects(loadDataset({ name: "movielens-100k", dataDir: empty }), (err: unknown) => err instanceof DataError && /movielens-100k\/ or ml-100k\/; not found/.test(err.message));
});

test("recbole:<path> and jsonl:<dir> read the named folder", async () => {
  const rb = folderWith({ "shop.inter": lines("user_id:token\titem_id:token\ttimestamp:float", "u\tb\t2", "u\ta\t1") });
  // Without an .item file, items are numbered as first seen (b = 0, a = 1); a comes first in time.
  assert.deepEqual((await loadDataset({ name: `recbole:${rb}` })).interactions.sequences, [[1, 0]]);
  const js = folderWith({ "items.jsonl": lines('{"id":"a","title":"A"}'), "interactions.jsonl": lines('{"user":"u","items":["a"]}') });
  assert.equal((await loadDataset({ name: `jsonl:${js}` })).catalogue.items[0]!.title, "A");
});

test("an unknown name lists the supported ones", async () => {
  await assert.rejects(loadDataset({ name: "netflix" }), /unknown dataset "netflix"; expected one of: amazon-<name>/);
});

test("datasetStats: users, items, interactions, mean / min / median / max length", () => {
  const stats = datasetStats({
    catalogue: { name: "x", items: [] },
    interactions: { userIds: ["a", "b", "c", "d"], sequences: [[1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 4], [1, 2, 3, 4, 5, 6, 7, 8]] },
    report: { files: [], skipped: {}, notes: [] },
  });
  assert.deepEqual(stats, { name: "x", users: 4, items: 0, interactions: 20, avg_seq_len: 5, min_seq_len: 3, median_seq_len: 4.5, max_seq_len: 8 });
});
