import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

test("gr2 bench attention runs the three kernels in fresh processes and prints their ratios as JSON", () => {
  const r = spawnSync(process.execPath, ["dist/src/cli/main.js", "bench", "attention", "--batch", "1", "--seq", "24", "--layers", "2", "--steps", "1", "--json"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, any>;
  assert.deepEqual([out.tiled.kernel, out.blocked.kernel, out.plain.kernel], ["tiled", "blocked", "plain"]);
  assert.equal(out.options.seq, 24);
  for (const k of ["tiled", "blocked", "plain"]) {
    assert.ok(out[k].seconds > 0 && out[k].peak_rss_mb > 0, JSON.stringify(out[k]));
  }
  assert.ok(Math.abs(out.seconds_blocked_over_plain - out.blocked.seconds / out.plain.seconds) < 0.01 + 0.01 * out.seconds_blocked_over_plain);
  assert.ok(Math.abs(out.seconds_tiled_over_blocked - out.tiled.seconds / out.blocked.seconds) < 0.01 + 0.01 * out.seconds_tiled_over_blocked);
  assert.ok(Math.abs(out.peak_rss_blocked_over_plain - out.blocked.peak_rss_mb / out.plain.peak_rss_mb) < 0.01);
});
