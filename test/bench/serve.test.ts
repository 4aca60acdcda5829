import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { benchServe, SERVE_BENCH_DEFAULTS } from "../../src/bench/serve.js";
import { writePromptSettings } from "../../src/prompt/prompt-file.js";
import { writeSyntheticCheckpoint } from "../../src/serve/checkpoint.js";

test("bench serve on a direct policy's own folder measures direct mode and reports no reasoning (the server refuses it)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gr2-bench-direct-"));
  try {
    const ck = await writeSyntheticCheckpoint(dir, { users: 60, items: 80, seed: 3, model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64, maxPositions: 1024 }, codebookSize: 16 });
    writePromptSettings(ck.dir, { format: "labels", layout: "sids", maxHistory: 10 });
    const datasetArgs = ["--dataset", "synthetic", "--users", String(ck.dataset.users), "--items", String(ck.dataset.items), "--seed", String(ck.dataset.seed)];
    const r = await benchServe({ ...SERVE_BENCH_DEFAULTS, model: ck.dir, datasetArgs, requests: 3, reasoningRequests: 2, warmup: 1, rssRequests: 2, rssConcurrency: 1, comparePeers: false });
    assert.equal(r.reasoning, null);
    assert.equal(r.direct.requests, 3);
    assert.ok(r.direct.p50_ms > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
