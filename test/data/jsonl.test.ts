import assert from "node:assert/strict";
import { test } from "node:test";
import { readJsonl } from "../../src/data/jsonl.js";
import { assertDataError, folderWith, lines } from "./helpers.js";

const ITEMS = lines(
  JSON.stringify({ id: "sku-1", title: "Acme Hydrating Shampoo", categories: ["Hair Care", "Shampoo"], brand: "Acme", price: 7.5 }),
  JSON.stringify({ id: "sku-2", title: "Acme &amp; Co Conditioner", categories: ["Hair Care", "Conditioner"], brand: null, description: " Silky\n " }),
  "",
  JSON.stringify({ id: 3, title: "Lip Balm", extra: "ignored" }),
);

const INTERACTIONS = lines(
  JSON.stringify({ user: "u1", item: "sku-2", timestamp: 20 }),
  JSON.stringify({ user: "u2", items: ["sku-1", 3] }),
  JSON.stringify({ user: "u1", item: "sku-1", timestamp: 10 }),
  JSON.stringify({ user: "u1", item: 3, timestamp: 20 }),
  JSON.stringify({ user: 9, item: "sku-1", timestamp: "2024-05-02T00:00:00Z" }),
  JSON.stringify({ user: "u2", items: ["sku-2"] }),
  JSON.stringify({ user: 9, item: 3, timestamp: "2024-05-01T00:00:00Z" }),
);

const folder = (files: Record<string, string> = {}) => folderWith({ "items.jsonl": ITEMS, "interactions.jsonl": INTERACTIONS, ...files });

test("reads items, cleaning text; integer ids become strings; null and extra keys are ignored", () => {
  const ds = readJsonl(folder(), { name: "shop" });
  assert.equal(ds.catalogue.name, "shop");
  assert.deepEqual(ds.catalogue.items, [
    { index: 0, id: "sku-1", title: "Acme Hydrating Shampoo", categories: ["Hair Care", "Shampoo"], brand: "Acme", price: 7.5 },
    { index: 1, id: "sku-2", title: "Acme & Co Conditioner", categories: ["Hair Care", "Conditioner"], description: "Silky" },
    { index: 2, id: "3", title: "Lip Balm", categories: [] },
  ]);
  assert.deepEqual(ds.report.skipped, { [`blank lines in ${ds.report.files[0]}`]: 1 });
});

test("events sort by (timestamp, line); items lines and untimed lines keep file order", () => {
  const ds = readJsonl(folder());
  assert.deepEqual(ds.interactions.userIds, ["u1", "u2", "9"]);
  assert.deepEqual(ds.interactions.sequences, [
    [0, 1, 2], // sku-1 @10, then sku-2 and 3 @20 in line order
    [0, 2, 1], // two "items" lines concatenated
    [2, 0], // ISO dates
  ]);
});

test("malformed lines name the file and line and say what was expected", () => {
  const items = (line: string) => folder({ "items.jsonl": lines(JSON.stringify({ id: "a", title: "A" }), line) });
  assertDataError(() => readJsonl(items('{"id": "b", "title": ')), "items.jsonl", 2, /expected valid JSON/);
  assertDataError(() => readJsonl(items("[1, 2]")), "items.jsonl", 2, /expected a JSON object/);
  assertDataError(() => readJsonl(items('{"id": "b"}')), "items.jsonl", 2, /missing field "title": expected a string/);
  assertDataError(() => readJsonl(items('{"id": "b", "title": "B", "price": "9.99"}')), "items.jsonl", 2, /expected "price" to be a number, got string "9.99"/);
  assertDataError(() => readJsonl(items('{"id": "b", "title": "B", "categories": "Hair"}')), "items.jsonl", 2, /expected "categories" to be an array of strings/);
  assertDataError(() => readJsonl(items('{"id": 1.5, "title": "B"}')), "items.jsonl", 2, /expected "id" to be a non-empty string or integer id/);
  assertDataError(() => readJsonl(items('{"id": "a", "title": "again"}')), "items.jsonl", 2, /duplicate item id "a" \(first at line 1\)/);

  const events = (line: string) => folder({ "interactions.jsonl": lines(JSON.stringify({ user: "u", item: "sku-1", timestamp: 1 }), line) });
  assertDataError(() => readJsonl(events('{"user": "u", "item": "nope", "timestamp": 2}')), "interactions.jsonl", 2, /unknown item id "nope": expected an id defined in .*items\.jsonl/);
  assertDataError(() => readJsonl(events('{"user": "u", "item": "sku-2"}')), "interactions.jsonl", 2, /expected a "timestamp", like this user's first line \(.*interactions\.jsonl:1\)/);
  assertDataError(() => readJsonl(events('{"item": "sku-2"}')), "interactions.jsonl", 2, /missing field "user"/);
  assertDataError(() => readJsonl(events('{"user": "v", "item": "sku-2", "items": ["sku-1"]}')), "interactions.jsonl", 2, /exactly one of "item"/);
  assertDataError(() => readJsonl(events('{"user": "v", "items": []}')), "interactions.jsonl", 2, /"items" to be a non-empty array/);
  assertDataError(() => readJsonl(events('{"user": "v", "item": "sku-2", "timestamp": "soon"}')), "interactions.jsonl", 2, /"timestamp" to be a number or an ISO 8601 date string/);
});
