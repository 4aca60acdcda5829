// Runs every compiled test file (dist/test/**/*.test.js) on Node's built-in test runner.
// Arguments filter the files by substring: `node scripts/run-tests.mjs sid data`.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".test.js") ? [p] : [];
  });
}
const filters = process.argv.slice(2);
const files = walk("dist/test").filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(", ") || "dist/test/**/*.test.js"}`);
  process.exit(1);
}
// One file at a time: each file's libtorch already uses every core. A test that hangs fails
// after 15 minutes instead of holding the whole run.
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-timeout=900000", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
