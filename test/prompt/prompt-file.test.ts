import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { PROMPT_FILE, readPromptSettings, writePromptSettings } from "../../src/prompt/prompt-file.js";
import { featureNames } from "../../src/rank/evidence/scorer.js";

test("a model prompted with the ranked evidence set keeps the scorer's weights beside it, checked on read", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gr2-prompt-file-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const features = featureNames("ranked");
  const scorer = { set: "ranked" as const, features, weights: features.map((_, i) => i / 10) };
  assert.throws(() => writePromptSettings(dir, { format: "labels", layout: "sids", evidence: "ranked" }), /needs the evidence scorer's weights/);
  writePromptSettings(dir, { format: "labels", layout: "sids", evidence: "ranked", scorer });
  assert.deepEqual(readPromptSettings(dir), { format: "labels", layout: "sids", evidence: "ranked", scorer });
  // Other sets do not carry it.
  writePromptSettings(dir, { format: "labels", layout: "sids", evidence: "all", scorer });
  assert.equal(JSON.parse(readFileSync(join(dir, PROMPT_FILE), "utf8")).scorer, undefined);
  // A hand-edited file is named with the field that is wrong.
  const path = join(dir, PROMPT_FILE);
  writeFileSync(path, JSON.stringify({ format: "labels", layout: "sids", evidence: "ranked" }));
  assert.throws(() => readPromptSettings(dir), /"ranked" evidence set needs "scorer"/);
  writeFileSync(path, JSON.stringify({ format: "labels", layout: "sids", evidence: "ranked", scorer: { ...scorer, weights: [1, 2] } }));
  assert.throws(() => readPromptSettings(dir), new RegExp(`"scorer.weights" must be ${features.length} finite numbers`));
  writeFileSync(path, JSON.stringify({ format: "labels", layout: "sids", evidence: "ranked", scorer: { ...scorer, features: ["x"] } }));
  assert.throws(() => readPromptSettings(dir), /"scorer.features" must be \[position_2/);
});
