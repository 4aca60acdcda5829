import assert from "node:assert/strict";
import { test } from "node:test";
import { readAmazon } from "../../src/data/amazon.js";
import { assertDataError, folderWith, lines } from "./helpers.js";

const HEADER = "item_id:token\ttitle:token\tsales_type:token\tsales_rank:float\tcategories:token_seq\tprice:float\tbrand:token";

const DATAMAPS = JSON.stringify({
  user2id: { R1: "1", R2: "2" },
  id2user: { "1": "R1", "2": "R2" },
  id2item: { "1": "A1", "2": "A2", "3": "A3", "10": "A10" },
  attribute2id: { X: 1 },
});

/** The Amazon_Beauty.item traps in miniature: quoted TAB, quoted NEWLINE, "" and entities. */
const ITEMS = lines(
  HEADER,
  "A2\tXtreme Brite Gel 1oz.\tBeauty\t52254.0\t'Beauty', 'Hair Care'\t19.99\tXtreme Brite",
  `A1\t"Prada Candy\tEau De Parfum"\tBeauty\t78916.0\t"'Beauty', 'Fragrance', ""Women's"", 'Eau de Parfum'"\t65.86\tPrada`,
  'A3\t"TheraNeem Cream \nVanilla"\t\t\t\'Beauty\', \'Skin Care\'\t\t',
  "A10\tL&#39;Oreal &amp; Co\tHome &amp; Kitchen\t\t'Beauty'\t5\tL&#39;Oreal Paris",
  "ZZ\tnot in the sequences\tBeauty\t\t'Beauty'\t1\tX",
);

function beautyFolder(overrides: Record<string, string> = {}): string {
  return folderWith({ "Beauty.txt": lines("1 1 2 3", "2 10 3 1 2"), "datamaps.json": DATAMAPS, "Amazon_Beauty.item": ITEMS, ...overrides });
}

test("reads sequences in file order, items in P5 id order, joined with the metadata by ASIN", () => {
  const ds = readAmazon(beautyFolder());
  assert.equal(ds.catalogue.name, "amazon-beauty");
  assert.deepEqual(ds.catalogue.items.map((i) => i.id), ["A1", "A2", "A3", "A10"]);
  assert.deepEqual(ds.interactions.userIds, ["R1", "R2"]);
  assert.deepEqual(ds.interactions.sequences, [[0, 1, 2], [3, 2, 0, 1]]);
});

test("metadata traps: quoted TAB and NEWLINE, Python-list categories with \"…'s\", HTML entities, empty cells", () => {
  const [a1, a2, a3, a10] = readAmazon(beautyFolder()).catalogue.items;
  assert.deepEqual(a1, { index: 0, id: "A1", title: "Prada Candy Eau De Parfum", categories: ["Beauty", "Fragrance", "Women's", "Eau de Parfum"], brand: "Prada", price: 65.86 });
  assert.equal(a2!.price, 19.99);
  assert.deepEqual(a3, { index: 2, id: "A3", title: "TheraNeem Cream Vanilla", categories: ["Beauty", "Skin Care"] });
  assert.equal(a10!.title, "L'Oreal & Co");
  assert.equal(a10!.brand, "L'Oreal Paris");
});

test("what is left out is counted in the report", () => {
  const ds = readAmazon(beautyFolder());
  assert.deepEqual(ds.report.skipped, { "metadata rows for ASINs not in datamaps.json id2item": 1 });
  assert.equal(ds.report.files.length, 3);
});

test("finds the files by name, ignoring case, and works without the .item file", () => {
  const dir = folderWith({ "sports_and_outdoors.txt": lines("1 1 2"), "datamaps.json": DATAMAPS });
  const ds = readAmazon(dir, { name: "sports-and-outdoors" });
  assert.equal(ds.catalogue.name, "amazon-sports_and_outdoors");
  assert.equal(ds.catalogue.items[0]!.title, "");
  assert.match(ds.report.notes.join(" "), /no Amazon_sports_and_outdoors\.item file/);
});

test("malformed sequence lines name Beauty.txt and the line", () => {
  assertDataError(() => readAmazon(beautyFolder({ "Beauty.txt": lines("1 1 2", "2 3 x") })), "Beauty.txt", 2, /expected space-separated integer ids.*"x"/);
  assertDataError(() => readAmazon(beautyFolder({ "Beauty.txt": lines("1 1 2", "2") })), "Beauty.txt", 2, /at least one item id/);
  assertDataError(() => readAmazon(beautyFolder({ "Beauty.txt": lines("1 1 2", "2 1", "3 99") })), "Beauty.txt", 3, /unknown item id "99".*id2item/);
  assertDataError(() => readAmazon(beautyFolder({ "Beauty.txt": lines("1 1 2", "1 3") })), "Beauty.txt", 2, /duplicate user id "1" \(first at line 1\)/);
});

test("malformed metadata names the .item file and the line", () => {
  const dup = ITEMS + "A2\tagain\t\t\t'Beauty'\t\t\n";
  assertDataError(() => readAmazon(beautyFolder({ "Amazon_Beauty.item": dup })), "Amazon_Beauty.item", 8, /duplicate item id "A2" \(first at line 2\)/);
  const badPrice = lines(HEADER, "A1\tt\t\t\t'Beauty'\tcheap\tb");
  assertDataError(() => readAmazon(beautyFolder({ "Amazon_Beauty.item": badPrice })), "Amazon_Beauty.item", 2, /expected a number in column price, got "cheap"/);
  const badList = lines(HEADER, "A1\tt\t\t\t'Beauty', 'Hair\t1\tb");
  assertDataError(() => readAmazon(beautyFolder({ "Amazon_Beauty.item": badList })), "Amazon_Beauty.item", 2, /expected a list like/);
  const short = lines(HEADER, "A1\tt\t\t\t'Beauty'\t1");
  assertDataError(() => readAmazon(beautyFolder({ "Amazon_Beauty.item": short })), "Amazon_Beauty.item", 2, /expected 7 TAB-separated fields as in the header, got 6/);
  const badHeader = lines("item_id\ttitle:token", "A1\tt");
  assertDataError(() => readAmazon(beautyFolder({ "Amazon_Beauty.item": badHeader })), "Amazon_Beauty.item", 1, /expected a header field name:type/);
});

test("a broken or incomplete datamaps.json is named, with the line of a JSON syntax error", () => {
  assertDataError(() => readAmazon(beautyFolder({ "datamaps.json": '{\n"id2item": {"1": "A1",}\n}' })), "datamaps.json", 2, /expected valid JSON/);
  assertDataError(() => readAmazon(beautyFolder({ "datamaps.json": JSON.stringify({ id2item: { "1": 5 }, id2user: {} }) })), "datamaps.json", undefined, /"id2item" to be an object mapping ids to strings/);
});

test("a folder without the sequence file says what it looked for", () => {
  const dir = folderWith({ "datamaps.json": DATAMAPS, "Amazon_Beauty.item": ITEMS });
  assertDataError(() => readAmazon(dir), dir, undefined, /expected exactly one Beauty\.txt sequence file/);
});
