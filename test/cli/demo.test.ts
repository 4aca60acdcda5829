import assert from "node:assert/strict";
import { test } from "node:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// `gr2 demo --json` is the benchmark form of `npm run demo`: one JSON line on stdout (the stage
// times and peaks the time and memory targets are read from), progress on stderr. The tiny
// preset runs the same command end to end in about a minute.
test("gr2 demo --json: one line with every stage's metrics, seconds, peak memory and the wall time; progress on stderr", () => {
  const out = mkdtempSync(join(tmpdir(), "gr2-demo-"));
  try {
    const r = spawnSync(process.execPath, ["dist/src/cli/main.js", "demo", "--preset", "tiny", "--json", "--out", out], { encoding: "utf8", env: { ...process.env, GR2_DATA_DIR: join(out, "no-data") } });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1, "stdout is the JSON line alone");
    const j = JSON.parse(lines[0]!);
    assert.equal(j.dataset, "synthetic");
    assert.equal(j.preset, "tiny");
    for (const stage of ["prerank", "sft", "rl", "direct"]) assert.ok(j.stages[stage]?.vs_incoming, `stage ${stage} has its paired difference`);
    for (const stage of ["prerank", "midtrain", "sft", "rl", "evaluate"]) {
      assert.ok(j.seconds[stage] >= 0, `seconds of ${stage}`);
      assert.ok(j.peak_rss_mb[stage] > 0, `peak of ${stage}`);
    }
    assert.ok(j.wall_seconds >= j.seconds.midtrain, "the wall time covers the stages");
    assert.match(r.stderr, /GR2 demo — synthetic: 4000 users/);
    assert.ok(existsSync(join(out, "report", "report.md")));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
