import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveModel } from "../../src/serve/load.js";
import { ModelSession } from "../../src/serve/session.js";
import { bf16Support } from "../../src/torch/index.js";
import { parseRerank } from "../../src/serve/validation.js";
import { isPermutation, tempDir, tinyCheckpoint } from "./helpers.js";

test("a run folder serves its newest finished stage's model and finds its SID map", async () => {
  const ckpt = await tinyCheckpoint();
  const run = tempDir("gr2-serve-run-");
  cpSync(ckpt.dir, join(run, "midtrain", "model"), { recursive: true });
  mkdirSync(join(run, "pretrain", "model"), { recursive: true });
  writeFileSync(
    join(run, "run.json"),
    JSON.stringify({
      version: 1,
      stages: {
        pretrain: { status: "done", outputs: { model: "pretrain/model" }, metrics: {}, config: {}, finishedAt: "2026-01-01T00:00:00Z" },
        midtrain: { status: "done", outputs: { model: "midtrain/model", sid_map: "midtrain/model/sid_map.json" }, metrics: {}, config: {}, finishedAt: "2026-01-02T00:00:00Z" },
        sft: { status: "running", outputs: {}, metrics: {}, config: {} },
      },
    }),
  );
  const r = resolveModel(run);
  assert.equal(r.stage, "midtrain");
  assert.equal(r.modelDir, join(run, "midtrain", "model"));
  assert.equal(r.sidMapPath, join(run, "midtrain", "model", "sid_map.json"));
  assert.equal(resolveModel(ckpt.dir).sidMapPath, join(ckpt.dir, "sid_map.json"), "an HF folder's own sid_map.json");
  assert.throws(() => resolveModel(join(run, "nope")), /no such folder/);
  assert.throws(() => resolveModel(join(run, "pretrain")), /no config.json/);
  // A pipeline run: later stages record no map of their own; the run's sids/ map is used.
  const pipelineRun = tempDir("gr2-serve-pipeline-run-");
  cpSync(ckpt.dir, join(pipelineRun, "rl", "model"), { recursive: true });
  rmSync(join(pipelineRun, "rl", "model", "sid_map.json"));
  mkdirSync(join(pipelineRun, "sids"));
  cpSync(join(ckpt.dir, "sid_map.json"), join(pipelineRun, "sids", "sid_map.json"));
  writeFileSync(join(pipelineRun, "run.json"), JSON.stringify({ version: 1, stages: { rl: { status: "done", outputs: { model: "rl/model" }, metrics: {}, config: { format: "compact", maxHistory: 3 }, finishedAt: "2026-01-03T00:00:00Z" } } }));
  assert.equal(resolveModel(pipelineRun).sidMapPath, join(pipelineRun, "sids", "sid_map.json"));
  assert.deepEqual(resolveModel(pipelineRun).prompt, { format: "compact", maxHistory: 3 }, "the run's prompt settings");
  assert.equal(resolveModel(run).prompt, undefined);
  const served = await ModelSession.load({ model: pipelineRun });
  try {
    assert.equal(served.format, "compact");
    assert.equal(served.maxHistory, 3);
  } finally {
    served.dispose();
  }
  const s = await ModelSession.load({ model: run });
  try {
    assert.equal(s.name, run.split("/").at(-1));
    assert.equal(s.sidMap?.ids.length, ckpt.itemIds.length);
  } finally {
    s.dispose();
  }
});

test("compact answers, the generate() decoder and bf16 all give permutations; greedy decoders agree", async () => {
  const ckpt = await tinyCheckpoint();
  const ids = ckpt.itemIds;
  const requests = [0, 1, 2].map((i) => parseRerank({ query: { history: ids.slice(i, i + 3) }, documents: ids.slice(20 + 6 * i, 26 + 6 * i), mode: i === 2 ? "reasoning" : "direct", max_reasoning_tokens: 10 }, "v2"));
  const rankings: Record<string, number[][]> = {};
  for (const [name, o] of [
    ["jump-json", {}],
    ["generate-json", { decoder: "generate" }],
    ["jump-compact", { format: "compact" }],
    ["generate-compact", { format: "compact", decoder: "generate" }],
    ["jump-labels", { format: "labels" }],
    ["generate-labels", { format: "labels", decoder: "generate" }],
    ["jump-bf16", { precision: "bf16" }],
  ] as const) {
    const s = await ModelSession.load({ model: ckpt.dir, ...o });
    if (name === "jump-bf16") assert.equal(s.precision, bf16Support("cpu").hardware ? "bf16" : "fp32", "the session reports the precision it runs at");
    try {
      const jobs = await Promise.all(requests.map((r) => s.prepareRerank(r)));
      // Direct rows together, the reasoning row alone (as the queue would batch them).
      const out = [...(await s.runRerankBatch(jobs.slice(0, 2))), ...(await s.runRerankBatch(jobs.slice(2)))];
      out.forEach((r, i) => {
        assert.ok(isPermutation(r.ranking, 6), `${name} row ${i}: ${r.ranking}`);
        assert.equal(r.repaired, null, `${name} row ${i} parsed as generated`);
        assert.equal(r.finish, "stop");
        assert.ok(r.choiceLogprobs.every((lp) => Number.isFinite(lp) && lp <= 0), `${name} row ${i}: a log-probability per choice`);
        if (name.endsWith("labels")) assert.match(r.text, /Ranking:( [A-F]){6}$/);
      });
      rankings[name] = out.map((r) => r.ranking);
    } finally {
      s.dispose();
    }
  }
  assert.deepEqual(rankings["generate-json"], rankings["jump-json"]);
  assert.deepEqual(rankings["generate-compact"], rankings["jump-compact"]);
  assert.deepEqual(rankings["generate-labels"], rankings["jump-labels"]);
});

test("a model without SID tokens still chats; its rerank endpoints say why they cannot answer", async () => {
  const ckpt = await tinyCheckpoint();
  const dir = tempDir("gr2-serve-nosid-");
  cpSync(ckpt.dir, dir, { recursive: true });
  // Strip the SID tokens from the tokenizer: a pre-trained (not mid-trained) checkpoint.
  const tokPath = join(dir, "tokenizer.json");
  const tok = JSON.parse((await import("node:fs")).readFileSync(tokPath, "utf8"));
  tok.added_tokens = tok.added_tokens.filter((t: { content: string }) => !t.content.startsWith("<s_") && !t.content.startsWith("<|sid_"));
  writeFileSync(tokPath, JSON.stringify(tok));
  (await import("node:fs")).rmSync(join(dir, "sid_map.json"));
  const s = await ModelSession.load({ model: dir });
  try {
    assert.equal(s.canRerank, false);
    await assert.rejects(s.prepareRerank(parseRerank({ query: "x", documents: ["a"] }, "v2")), (e: { status?: number }) => e.status === 501);
    const job = await s.prepareChat({ messages: [{ role: "user", content: "hi" }], temperature: 0, topP: 1, n: 1, maxTokens: 4, stop: [], logprobs: false, stream: false, includeUsage: false });
    const [out] = s.runChatBatch([job]);
    assert.equal(out!.choices.length, 1);
  } finally {
    s.dispose();
  }
});
