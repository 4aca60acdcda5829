/**
 * The import order of docs/architecture.md, enforced: a folder of src/ may import folders on
 * its own layer's left, never one to its right (or, for `reward`, anything outside itself).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// dist/test/architecture.test.js → the repository root.
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const src = join(root, "src");

/** Engine below every stage, then the stages in data order, then what strings them together. */
const LAYER: Record<string, number> = {
  util: 0, torch: 1, nn: 2, lm: 3, reward: 3,
  data: 4, sid: 5, rank: 6, prompt: 7, teacher: 8, train: 9, eval: 10,
  serve: 11, viewer: 11,
  bench: 12, pipeline: 12,
  cli: 13,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : name.endsWith(".ts") ? [p] : [];
  });
}

test("every import in src/ runs down the layers of docs/architecture.md", () => {
  const backwards: string[] = [];
  const files = sources(src).filter((f) => relative(src, f).includes(sep));
  assert.ok(files.length > 100, `found ${files.length} source files under ${src}`);
  for (const file of files) {
    const from = relative(src, file).split(sep)[0]!;
    assert.ok(from in LAYER, `src/${from}/ is not in the layer table (add it here and in docs/architecture.md)`);
    for (const m of readFileSync(file, "utf8").matchAll(/from "(\.[^"]+)"/g)) {
      const to = relative(src, normalize(join(dirname(file), m[1]!))).split(sep);
      if (to.length < 2 || to[0] === from) continue;
      const ok = from === "reward" ? false : LAYER[to[0]!]! < LAYER[from]!;
      if (!ok) backwards.push(`src/${relative(src, file)} imports src/${to.join("/")}`);
    }
  }
  assert.deepEqual(backwards, [], `imports that run back up the layers:\n${backwards.join("\n")}`);
});
