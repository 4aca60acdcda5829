import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readSidMap } from "../../src/sid/sidmap.js";
import { tempDir, run } from "./helpers.js";

test("gr2 sid build on the synthetic catalogue prints the JSON summary and writes a readable SID map", async () => {
  const dir = tempDir();
  const r = await run(["build", "--dataset", "synthetic", "--users", "150", "--items", "200", "--out", dir, "--levels", "3", "--codebook-size", "16", "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "", "--json keeps stderr quiet");
  const s = JSON.parse(r.out);
  for (const k of ["items", "levels", "codebook_size", "natural_uniqueness", "final_uniqueness", "seconds"]) assert.ok(k in s, `missing ${k}`);
  assert.equal(s.items, 200);
  assert.equal(s.levels, 3);
  assert.equal(s.codebook_size, 16);
  assert.equal(s.final_uniqueness, 1);
  assert.ok(existsSync(join(dir, "codebooks.safetensors")));
  const map = await readSidMap(join(dir, "sid_map.json"));
  assert.equal(map.ids.length, 200);
  assert.equal(map.itemOfSid(map.sidOf(7)), 7);

  const inspect = await run(["inspect", join(dir, "sid_map.json"), "--json"]);
  assert.equal(inspect.code, 0, inspect.err);
  assert.equal(JSON.parse(inspect.out).final_uniqueness, 1);
});

test("gr2 sid reports bad command lines and failures as one stderr line with exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [[], /missing subcommand/],
    [["frobnicate"], /unknown subcommand "frobnicate"/],
    [["build", "--dataset", "synthetic"], /missing --out DIR/],
    [["build", "--dataset", "synthetic", "--out", "x", "--method", "magic"], /--method must be one of rqkmeans, rqvae, got "magic"/],
    [["build", "--dataset", "synthetic", "--out", "x", "--levels", "two"], /--levels expects an integer ≥ 1, got "two"/],
    [["build", "--dataset", "synthetic", "--out", "x", "--embed", "tfidf,telepathy"], /unknown embedding source "telepathy"/],
    [["build", "--dataset", "synthetic", "--out", "x", "--weights", "cooc=abc"], /--weights expects NAME=WEIGHT/],
    [["build", "--dataset", "synthetic", "--out", "x", "--bogus"], /Unknown option '--bogus'/],
    [["inspect", "/nonexistent/sid_map.json"], /cannot read SID map \(ENOENT\)/],
  ];
  for (const [args, expected] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.out, "");
    assert.match(r.err, expected);
    assert.ok(r.err.startsWith("gr2 sid: ") && r.err.endsWith("\n") && r.err.split("\n").length === 2, `one line: ${JSON.stringify(r.err)}`);
  }
});

test("gr2 sid bench-encode runs small and reports JSON", async () => {
  const r = await run(["bench-encode", "--rows", "3000", "--dim", "8", "--codebook-size", "16", "--chunk-rows", "1000", "--json"]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.rows, 3000);
  assert.ok(s.encode_seconds >= 0 && s.peak_rss_mb > 0 && s.level0_codes_used > 1);
});
