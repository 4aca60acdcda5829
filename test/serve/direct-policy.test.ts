import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveModel } from "../../src/serve/load.js";
import { PROMPT_FILE, readPromptSettings, writePromptSettings } from "../../src/prompt/prompt-file.js";
import { Gr2Server } from "../../src/serve/server.js";
import { ModelSession } from "../../src/serve/session.js";
import { isPermutation, post, tempDir, tinyCheckpoint } from "./helpers.js";

/** A pipeline-shaped run: rl (full prompt) and the direct policy's two stages (sids prompt). */
async function runWithDirectPolicy(): Promise<string> {
  const ckpt = await tinyCheckpoint();
  const run = tempDir("gr2-serve-direct-");
  for (const stage of ["rl", "direct-sft", "direct"]) {
    cpSync(ckpt.dir, join(run, stage, "model"), { recursive: true });
    rmSync(join(run, stage, "model", "sid_map.json"));
  }
  mkdirSync(join(run, "sids"));
  cpSync(join(ckpt.dir, "sid_map.json"), join(run, "sids", "sid_map.json"));
  const stage = (config: object, finishedAt: string, model: string) => ({ status: "done", outputs: { model }, metrics: {}, config, finishedAt });
  writeFileSync(
    join(run, "run.json"),
    JSON.stringify({
      version: 1,
      stages: {
        rl: stage({ format: "compact", layout: "full", maxHistory: 5 }, "2026-01-03T00:00:00Z", "rl/model"),
        "direct-sft": stage({ layout: "sids" }, "2026-01-04T00:00:00Z", "direct-sft/model"),
        direct: stage({ format: "compact", layout: "sids", maxHistory: 4 }, "2026-01-05T00:00:00Z", "direct/model"),
      },
    }),
  );
  return run;
}

test("a run's direct policy is resolved beside its main model, with its own prompt settings", async () => {
  const run = await runWithDirectPolicy();
  const r = resolveModel(run);
  assert.equal(r.stage, "rl", "the newest stage that is not the direct policy");
  assert.deepEqual(r.prompt, { format: "compact", maxHistory: 5, layout: "full" });
  assert.equal(r.direct?.stage, "direct");
  assert.equal(r.direct?.modelDir, join(run, "direct", "model"));
  assert.deepEqual(r.direct?.prompt, { format: "compact", maxHistory: 4, layout: "sids" });
  assert.equal(r.direct?.sidMapPath, join(run, "sids", "sid_map.json"));
});

test("the reward ablation's stages are never served from a run, and a finished stage whose model is gone is an error naming it", async () => {
  const run = await runWithDirectPolicy();
  const manifest = JSON.parse(readFileSync(join(run, "run.json"), "utf8"));
  // gr2 ablate rewards records its stages after the pipeline's; their folders may be deleted.
  manifest.stages["ablate-conditional"] = { status: "done", outputs: { model: "ablate-conditional/model" }, metrics: {}, config: { layout: "full" }, finishedAt: "2026-01-06T00:00:00Z" };
  writeFileSync(join(run, "run.json"), JSON.stringify(manifest));
  const r = resolveModel(run);
  assert.equal(r.stage, "rl");
  assert.equal(r.direct?.stage, "direct");
  rmSync(join(run, "direct", "model"), { recursive: true });
  assert.throws(() => resolveModel(run), /stage "direct" finished with model .*direct\/model, which has no config\.json/);
});

test("direct-mode reranks go to the direct policy (a several times shorter prompt); reasoning and text-only requests to the main model", async (t) => {
  const ckpt = await tinyCheckpoint();
  const run = await runWithDirectPolicy();
  const main = await ModelSession.load({ model: run, dataset: ckpt.dataset });
  const direct = await ModelSession.load({ model: run, resolved: main.resolved.direct!, dataset: ckpt.dataset });
  const server = new Gr2Server(main, { host: "127.0.0.1", port: 0 }, direct);
  const { port } = await server.listen();
  t.after(async () => {
    await server.shutdown();
    main.dispose();
    direct.dispose();
  });
  assert.equal(direct.layout, "sids");
  const ids = ckpt.itemIds;
  const body = (extra: object) => ({ query: { history: ids.slice(0, 6) }, documents: ids.slice(10, 20), ...extra });

  const d = await post(port, "/v2/rerank", body({ mode: "direct" }));
  assert.equal(d.status, 200, JSON.stringify(d.json));
  const dm = d.json.meta as { gr2: { stage: string; ranking: number[]; history_shown: number }; tokens: { input_tokens: number } };
  assert.equal(dm.gr2.stage, "direct");
  assert.ok(isPermutation(dm.gr2.ranking, 10));
  assert.equal(dm.gr2.history_shown, 4, "the direct stage's own history cap");

  const r = await post(port, "/v2/rerank", body({ mode: "reasoning", max_reasoning_tokens: 8 }));
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const rm = r.json.meta as typeof dm;
  assert.equal(rm.gr2.stage, "rl");
  assert.equal(rm.gr2.history_shown, 5);
  assert.ok(dm.tokens.input_tokens * 2 < rm.tokens.input_tokens, `direct ${dm.tokens.input_tokens} vs full ${rm.tokens.input_tokens} prompt tokens`);

  // A text-only document cannot be shown as a bare SID: the main model, which reads text, answers.
  const text = await post(port, "/v2/rerank", { query: { history: ids.slice(0, 3) }, documents: [...ids.slice(10, 14), { text: "a new lipstick" }], mode: "direct" });
  assert.equal(text.status, 200, JSON.stringify(text.json));
  assert.equal((text.json.meta as typeof dm).gr2.stage, "rl");

  // Asked to reason, the direct policy itself refuses with a 400 naming "mode".
  await assert.rejects(direct.prepareRerank({ ...(await import("../../src/serve/validation.js")).parseRerank(body({ mode: "reasoning" }), "v2") }), /direct policy/);
});

test("a model folder's gr2_prompt.json says how to prompt it, also without its run; a malformed one is an error naming the field", async () => {
  const ckpt = await tinyCheckpoint();
  const dir = join(tempDir("gr2-serve-promptfile-"), "model");
  cpSync(ckpt.dir, dir, { recursive: true });
  assert.equal(readPromptSettings(dir), undefined);
  writePromptSettings(dir, { format: "compact", layout: "sids", maxHistory: 4 });
  assert.deepEqual(readPromptSettings(dir), { format: "compact", layout: "sids", maxHistory: 4 });
  assert.deepEqual(resolveModel(dir).prompt, { format: "compact", layout: "sids", maxHistory: 4 });
  const s = await ModelSession.load({ model: dir });
  try {
    assert.equal(s.layout, "sids");
    assert.equal(s.format, "compact");
    assert.equal(s.maxHistory, 4);
  } finally {
    s.dispose();
  }
  // In a run, the model folder's file wins over the manifest's record.
  const run = await runWithDirectPolicy();
  writePromptSettings(join(run, "rl", "model"), { format: "json", layout: "full", maxHistory: 7 });
  assert.deepEqual(resolveModel(run).prompt, { format: "json", layout: "full", maxHistory: 7 });

  writeFileSync(join(dir, PROMPT_FILE), JSON.stringify({ format: "compact", layout: "bare" }));
  assert.throws(() => readPromptSettings(dir), /gr2_prompt\.json: "layout" must be one of full, sids, brief, got "bare"/);
  writeFileSync(join(dir, PROMPT_FILE), JSON.stringify({ format: "yaml", layout: "sids" }));
  assert.throws(() => resolveModel(dir), /"format" must be one of json, compact/);
  writeFileSync(join(dir, PROMPT_FILE), "{");
  assert.throws(() => readPromptSettings(dir), /gr2_prompt\.json: not valid JSON/);
});

test("a direct policy trained in the full prompt (gr2_prompt.json marks it direct) is served as the run's direct policy and refuses to reason", async () => {
  const ckpt = await tinyCheckpoint();
  const run = await runWithDirectPolicy();
  writePromptSettings(join(run, "direct", "model"), { format: "compact", layout: "full", direct: true, maxHistory: 4 });
  assert.deepEqual(JSON.parse(readFileSync(join(run, "direct", "model", PROMPT_FILE), "utf8")).direct, true);
  writePromptSettings(join(run, "rl", "model"), { format: "compact", layout: "full", maxHistory: 5 });
  const r = resolveModel(run);
  assert.equal(r.stage, "rl", "the full-layout reasoning model stays the main one");
  assert.equal(r.direct?.stage, "direct", "the full-layout direct policy is the direct one, by its mark");
  assert.deepEqual(r.direct?.prompt, { format: "compact", layout: "full", direct: true, maxHistory: 4 });
  const direct = await ModelSession.load({ model: run, resolved: r.direct!, dataset: ckpt.dataset });
  try {
    assert.equal(direct.layout, "full");
    assert.equal(direct.direct, true);
    const ids = ckpt.itemIds;
    const { parseRerank } = await import("../../src/serve/validation.js");
    await assert.rejects(direct.prepareRerank({ ...parseRerank({ query: { history: ids.slice(0, 6) }, documents: ids.slice(10, 20), mode: "reasoning" }, "v2") }), /direct policy/);
  } finally {
    direct.dispose();
  }
  // A hand-edited mark that is not a boolean is named.
  writeFileSync(join(run, "direct", "model", PROMPT_FILE), JSON.stringify({ format: "compact", layout: "full", direct: "yes" }));
  assert.throws(() => readPromptSettings(join(run, "direct", "model")), /"direct" must be true or false, got "yes"/);
});

test("a model trained on a prompt budget (gr2_prompt.json maxPromptTokens) is served prompts cut to it, history first, as in training", async () => {
  const ckpt = await tinyCheckpoint();
  const dir = join(tempDir("gr2-serve-budget-"), "model");
  cpSync(ckpt.dir, dir, { recursive: true });
  const { parseRerank } = await import("../../src/serve/validation.js");
  const ids = ckpt.itemIds;
  const req = () => parseRerank({ query: { history: ids.slice(0, 8) }, documents: ids.slice(10, 20), mode: "direct" }, "v2");
  const served = async () => {
    const s = await ModelSession.load({ model: dir, dataset: ckpt.dataset });
    try {
      const job = await s.prepareRerank(req());
      return { tokens: job.ids.length, history: job.historyShown };
    } finally {
      s.dispose();
    }
  };
  writePromptSettings(dir, { format: "compact", layout: "full", maxHistory: 8 });
  const free = await served();
  assert.equal(free.history, 8, "no budget: every history item the model was trained to see");
  const budget = free.tokens - 20;
  writePromptSettings(dir, { format: "compact", layout: "full", maxHistory: 8, maxPromptTokens: budget });
  assert.equal(readPromptSettings(dir)?.maxPromptTokens, budget);
  const cut = await served();
  assert.ok(cut.history < 8 && cut.history >= 1, `${cut.history} history items shown`);
  assert.ok(cut.tokens < free.tokens, `${cut.tokens} tokens against ${free.tokens}`);
  writeFileSync(join(dir, PROMPT_FILE), JSON.stringify({ format: "compact", layout: "full", maxPromptTokens: 0 }));
  assert.throws(() => readPromptSettings(dir), /"maxPromptTokens" must be an integer ≥ 1, got 0/);
});

test("gr2 export takes the SID map and the prompt settings along, so the exported direct policy serves as trained", async () => {
  const run = await runWithDirectPolicy();
  writePromptSettings(join(run, "direct", "model"), { format: "compact", layout: "sids", maxHistory: 4 });
  const out = join(tempDir("gr2-serve-export-"), "direct-policy");
  execFileSync(process.execPath, ["dist/src/cli/main.js", "export", "--run", run, "--stage", "direct", "--out", out, "--json"], { encoding: "utf8" });
  const r = resolveModel(out);
  assert.equal(r.sidMapPath, join(out, "sid_map.json"), "the run's sids/ map, copied");
  assert.deepEqual(r.prompt, { format: "compact", layout: "sids", maxHistory: 4 });
});
