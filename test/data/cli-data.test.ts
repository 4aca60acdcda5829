import assert from "node:assert/strict";
import { test } from "node:test";
import { dataCommand } from "../../src/cli/data.js";
import { folderWith, lines } from "./helpers.js";

/** Runs the command with captured output. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await dataCommand(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

test("stats --json prints one JSON line with users, items, interactions and avg_seq_len", async () => {
  const r = await run("stats", "--dataset", "synthetic", "--users", "40", "--items", "30", "--seed", "2", "--json");
  assert.equal(r.code, 0);
  assert.equal(r.err, "");
  assert.equal(r.out.trimEnd().split("\n").length, 1);
  const stats = JSON.parse(r.out);
  assert.equal(stats.dataset, "synthetic");
  assert.equal(stats.users, 40);
  assert.equal(stats.items, 30);
  assert.ok(stats.interactions >= 200 && typeof stats.avg_seq_len === "number");
});

test("stats without --json prints a short table", async () => {
  const dir = folderWith({ "items.jsonl": lines('{"id":"a","title":"A"}', '{"id":"b","title":"B"}'), "interactions.jsonl": lines('{"user":"u","items":["a","b"]}', '{"user":"v","items":["b"]}') });
  const r = await run("stats", "--dataset", `jsonl:${dir}`);
  assert.equal(r.code, 0);
  assert.match(r.out, /^users +2$/m);
  assert.match(r.out, /^interactions +3$/m);
  assert.match(r.out, /^avg_seq_len +1\.50$/m);
});

test("errors print one line on stderr and return 2", async () => {
  for (const args of [
    ["stats", "--dataset", "netflix"],
    ["stats"],
    ["stats", "--dataset", "synthetic", "--users", "many"],
    ["stats", "--dataset", "synthetic", "--bogus"],
    ["fetch"],
    ["fetch", "imagenet", "--cache-dir", folderWith({})],
    ["frobnicate"],
    [],
  ]) {
    const r = await run(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.out, "");
    assert.match(r.err, /^gr2 data: [^\n]+\n$/, args.join(" "));
  }
  const bad = await run("stats", "--dataset", `jsonl:${folderWith({ "items.jsonl": '{"id": 1}\n', "interactions.jsonl": "" })}`);
  assert.match(bad.err, /items\.jsonl:1: missing field "title"/);
});

test("help prints the usage and returns 0", async () => {
  const r = await run("help");
  assert.equal(r.code, 0);
  assert.match(r.out, /gr2 data stats --dataset NAME/);
});
