import assert from "node:assert/strict";
import { test } from "node:test";
import { join } from "node:path";
import { readRecbole, resolveRecbolePaths } from "../../src/data/recbole.js";
import { assertDataError, folderWith, lines, tempDir, writeFiles } from "./helpers.js";
import { mkdirSync } from "node:fs";

const ITEM = lines(
  "item_id:token\tmovie_title:token_seq\tclass:token_seq\tprice:float",
  "i1\tToy Story\tAnimation Children's\t3.5",
  'i2\t"Heat\tNight"\tCrime\t',
  "i3\tAlien\t\t",
);

const INTER = lines(
  "user_id:token\titem_id:token\trating:float\ttimestamp:float",
  "u2\ti3\t5\t300",
  "u1\ti2\t4\t200",
  "u1\ti1\t2\t100",
  "u2\ti1\t4\t100",
  "u1\ti3\t5\t200",
  "u2\ti2\t1\t100",
);

function recboleFolder(files: Record<string, string> = {}): string {
  const dir = join(tempDir(), "ml");
  mkdirSync(dir);
  return writeFiles(dir, { "ml.inter": INTER, "ml.item": ITEM, ...files });
}

test("sorts each user by (timestamp, row index) and keeps users in first-seen order", () => {
  const ds = readRecbole(recboleFolder());
  assert.equal(ds.catalogue.name, "ml");
  assert.deepEqual(ds.interactions.userIds, ["u2", "u1"]);
  // u2: ts 100 rows 4 (i1) then 6 (i2), then ts 300 (i3); u1: ts 100 (i1), ts 200 rows 2 (i2) then 5 (i3)
  assert.deepEqual(ds.interactions.sequences, [[0, 1, 2], [0, 1, 2]]);
});

test("item columns by their usual names; token_seq titles joined, quoted TAB kept as text", () => {
  const [i1, i2, i3] = readRecbole(recboleFolder()).catalogue.items;
  assert.deepEqual(i1, { index: 0, id: "i1", title: "Toy Story", categories: ["Animation", "Children's"], price: 3.5 });
  assert.equal(i2!.title, "Heat Night");
  assert.deepEqual(i3!.categories, []);
});

test("the path may be the folder, the .inter file or the stem", () => {
  const dir = recboleFolder();
  for (const path of [dir, join(dir, "ml.inter"), join(dir, "ml")]) {
    assert.deepEqual(resolveRecbolePaths(path), { name: "ml", inter: join(dir, "ml.inter"), item: join(dir, "ml.item") });
  }
});

test("minRating drops low ratings and users left too short, and counts both", () => {
  const ds = readRecbole(recboleFolder(), { minRating: 4, minUserItems: 3 });
  assert.deepEqual(ds.interactions.userIds, []);
  assert.deepEqual(ds.report.skipped, {
    "interactions rated below 4": 2,
    "users with fewer than 3 interactions after filtering": 2,
    "interactions of dropped users": 4,
  });
});

test("without an .item file, items are created from the interactions", () => {
  const dir = folderWith({ "x.inter": lines("user_id:token\titem_id:token", "a\tp", "a\tq", "b\tp") });
  const ds = readRecbole(dir);
  assert.deepEqual(ds.catalogue.items.map((i) => i.id), ["p", "q"]);
  assert.deepEqual(ds.interactions.sequences, [[0, 1], [0]]);
  assert.equal(ds.report.notes.length, 2); // no .item; no timestamp column
});

test("malformed .inter rows name the file and line", () => {
  const bad = (row: string) => recboleFolder({ "ml.inter": lines("user_id:token\titem_id:token\trating:float\ttimestamp:float", "u1\ti1\t4\t1", row) });
  assertDataError(() => readRecbole(bad("u1\ti9\t4\t2")), "ml.inter", 3, /unknown item id "i9": expected an id defined in .*ml\.item/);
  assertDataError(() => readRecbole(bad("u1\ti2\t4\tyesterday")), "ml.inter", 3, /expected a number in column timestamp/);
  assertDataError(() => readRecbole(bad("u1\ti2\t4\t")), "ml.inter", 3, /expected a number in column timestamp, got an empty cell/);
  assertDataError(() => readRecbole(bad("\ti2\t4\t5")), "ml.inter", 3, /expected a value in column user_id/);
  assertDataError(() => readRecbole(bad("u1\ti2\t4")), "ml.inter", 3, /expected 4 TAB-separated fields/);
  const noUser = recboleFolder({ "ml.inter": lines("user:token\titem_id:token", "u\ti1") });
  assertDataError(() => readRecbole(noUser), "ml.inter", 1, /expected a user_id column/);
  const badType = recboleFolder({ "ml.inter": lines("user_id:token\titem_id:int", "u\ti1") });
  assertDataError(() => readRecbole(badType), "ml.inter", 1, /type one of token, token_seq, float, float_seq, got "item_id:int"/);
});

test("duplicate item ids in .item name both lines", () => {
  const dir = recboleFolder({ "ml.item": lines("item_id:token\ttitle:token", "i1\ta", "i2\tb", "i1\tc") });
  assertDataError(() => readRecbole(dir), "ml.item", 4, /duplicate item id "i1" \(first at line 2\)/);
});

test("blank lines are skipped and counted", () => {
  const ds = readRecbole(recboleFolder({ "ml.item": `${ITEM}\n` }));
  assert.equal(Object.values(ds.report.skipped)[0], 1);
});
