/** `gr2 sid ablate` on a small synthetic catalogue: six configurations, Markdown/JSON, files written. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ABLATION_CONFIGS, BASE_ROW } from "../../src/sid/ablate.js";
import { run, tempDir } from "./helpers.js";

const SMALL = [
  "--dataset", "synthetic", "--users", "150", "--items", "200", "--levels", "3", "--codebook-size", "16",
  "--epochs", "6", "--batch-size", "64", "--hidden", "32", "--latent-dim", "8",
];
const NAMES = ["none", "+EMA", "+EMA +random last level", "base +diversity", "base +dead-code reset", "base +contrastive"];

test("gr2 sid ablate prints a Markdown table with all six configurations and writes ablation.md/.json", async () => {
  assert.deepEqual(ABLATION_CONFIGS.map((c) => c.name), NAMES);
  const dir = tempDir();
  const r = await run(["ablate", ...SMALL, "--out", dir]);
  assert.equal(r.code, 0, r.err);
  const tableRows = r.out.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| configuration"));
  assert.deepEqual(tableRows.map((l) => l.split("|")[1]!.trim()), NAMES);
  for (const row of tableRows) assert.match(row, /\| \d+\.\d\d% \|/, "natural uniqueness as a percentage");
  assert.match(r.err, /ablate: none: natural uniqueness/);
  assert.equal(readFileSync(join(dir, "ablation.md"), "utf8"), r.out);
  const saved = JSON.parse(readFileSync(join(dir, "ablation.json"), "utf8"));
  assert.equal(saved.rows.length, 6);
});

test("gr2 sid ablate --json: per-level utilisation and perplexity, Δ against the base row", async () => {
  const r = await run(["ablate", ...SMALL, "--json", "--dead-reset", "2"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "", "--json keeps stderr quiet");
  const s = JSON.parse(r.out);
  assert.equal(s.dataset, "synthetic");
  assert.equal(s.items, 200);
  assert.equal(s.strengths.deadCodeTau, 2);
  assert.deepEqual(s.rows.map((row: { name: string }) => row.name), NAMES);
  const byName = new Map<string, any>(s.rows.map((row: { name: string }) => [row.name, row]));
  for (const row of s.rows) {
    assert.equal(row.utilisation.length, 3);
    assert.equal(row.perplexity.length, 3);
    assert.ok(row.natural_uniqueness > 0 && row.natural_uniqueness <= 1);
    assert.ok(Number.isFinite(row.reconstruction_relative));
  }
  assert.equal(byName.get("none").options.ema, false);
  assert.equal(byName.get("+EMA").options.randomLastLevels, 0);
  assert.equal(byName.get(BASE_ROW).options.randomLastLevels, 1);
  const base = byName.get(BASE_ROW).natural_uniqueness;
  const contrastive = byName.get("base +contrastive");
  assert.ok(Math.abs(contrastive.delta_vs_base - 100 * (contrastive.natural_uniqueness - base)) < 1e-9);
  assert.equal(byName.get("none").delta_vs_base, null);
});

test("gr2 sid ablate rejects --ema and a missing dataset", async () => {
  for (const [args, expected] of [[["ablate"], /missing --dataset NAME/], [["ablate", ...SMALL, "--ema"], /--ema is not an ablate flag/]] as const) {
    const r = await run([...args]);
    assert.equal(r.code, 2);
    assert.match(r.err, expected);
  }
});
