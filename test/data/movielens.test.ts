import assert from "node:assert/strict";
import { test } from "node:test";
import { readMovieLens } from "../../src/data/movielens.js";
import { assertDataError, folderWith, lines } from "./helpers.js";

const flags = (...on: number[]) => Array.from({ length: 19 }, (_, g) => (on.includes(g) ? "1" : "0")).join("|");

/** u.item is ISO-8859-1: written through a latin1 Buffer, so "é" is the single byte 0xE9. */
const U_ITEM = Buffer.from(
  lines(
    `1|Toy Story (1995)|01-Jan-1995||http://x|${flags(3, 4, 5)}`,
    `2|Misérables, Les (1995)|01-Jan-1995||http://x|${flags(8, 12)}`,
    `3|unknown|||http://x|${flags(0)}`,
  ),
  "latin1",
);

// User 7 has three ratings in the same second: the u.data row order decides.
const U_DATA = lines(
  "7\t3\t5\t500",
  "5\t1\t3\t100",
  "7\t1\t2\t500",
  "5\t2\t4\t50",
  "7\t2\t4\t400",
  "5\t3\t5\t100",
  "10\t1\t4\t500",
  "10\t2\t5\t1",
  "10\t3\t5\t2",
);

const folder = (files: Record<string, string | Buffer> = {}) => folderWith({ "u.item": U_ITEM, "u.data": U_DATA, ...files });

test("decodes u.item as Latin-1 and turns genre flags into categories", () => {
  const items = readMovieLens(folder()).catalogue.items;
  assert.equal(items[1]!.title, "Misérables, Les (1995)");
  assert.deepEqual(items[0]!.categories, ["Animation", "Children's", "Comedy"]);
  assert.deepEqual(items[2]!.categories, ["unknown"]);
});

test("orders by (timestamp, row index in u.data); users by numeric id", () => {
  const ds = readMovieLens(folder());
  assert.deepEqual(ds.interactions.userIds, ["5", "7", "10"]);
  // user 5: item 2 @50, then items 1 and 3 @100 in row order; user 7: item 2 @400, then 3 and 1 @500 in row order
  assert.deepEqual(ds.interactions.sequences, [[1, 0, 2], [1, 2, 0], [1, 2, 0]]);
});

test("minRating keeps ratings ≥ R and drops users left with fewer than 3 items, counting both", () => {
  const ds = readMovieLens(folder(), { minRating: 4 });
  assert.deepEqual(ds.interactions.userIds, ["10"]);
  assert.deepEqual(ds.report.skipped, {
    "interactions rated below 4": 2,
    "users with fewer than 3 interactions after filtering": 2,
    "interactions of dropped users": 4,
  });
});

test("malformed lines name the file and line", () => {
  assertDataError(() => readMovieLens(folder({ "u.data": lines("5\t1\t3\t100", "5\t2\t4") })), "u.data", 2, /expected 4 TAB-separated fields \(user_id, item_id, rating, timestamp\), got 3/);
  assertDataError(() => readMovieLens(folder({ "u.data": lines("5\t1\t3\t100", "5\t9\t4\t1") })), "u.data", 2, /unknown item id "9": expected an id defined in .*u\.item/);
  assertDataError(() => readMovieLens(folder({ "u.data": lines("5\t1\tfour\t100") })), "u.data", 1, /expected an integer rating, got "four"/);
  assertDataError(() => readMovieLens(folder({ "u.item": lines(`1|A|||u|${flags(1)}`, `2|B|||u|${flags(1).replace(/^0/, "2")}`) })), "u.item", 2, /expected a 0\/1 flag for genre unknown, got "2"/);
  assertDataError(() => readMovieLens(folder({ "u.item": lines(`1|A|||u|${flags(1)}`, "2|B") })), "u.item", 2, /expected 24 "\|"-separated fields/);
  assertDataError(() => readMovieLens(folder({ "u.item": lines(`1|A|||u|${flags(1)}`, `1|B|||u|${flags(1)}`) })), "u.item", 2, /duplicate item id "1" \(first at line 1\)/);
});

test("a missing file is named", () => {
  const dir = folderWith({ "u.item": U_ITEM });
  assertDataError(() => readMovieLens(dir), "u.data", undefined, /cannot read the file \(ENOENT\)/);
});
