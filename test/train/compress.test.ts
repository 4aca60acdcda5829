/**
 * The context compressor (technical report §5.1): its policy and prompt rendering, the report's
 * reward (Eq. 10–11), the judges, and RL that must learn which history items carry the evidence.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import type { Item } from "../../src/data/types.js";
import { compressHistory, COMPRESSOR_FEATURES, historyFeatures, initialCompressor, parseCompressorWeights, policyMode, summaryText } from "../../src/prompt/compress.js";
import { buildRerankPrompt, type PromptContext } from "../../src/prompt/rerank-prompt.js";
import { readPromptSettings, writePromptSettings } from "../../src/prompt/prompt-file.js";
import type { CandidateList } from "../../src/rank/candidates.js";
import { evidenceSource } from "../../src/rank/evidence/features.js";
import { EvidenceScorer } from "../../src/rank/evidence/scorer.js";
import { compressionReward, compressorReward, ellipsisPenalty, judgeReward, verdictOf } from "../../src/reward/compress.js";
import { EvidenceJudge, kendallTau, LlmJudge, parseVerdict } from "../../src/teacher/compress-judge.js";
import { ChatClient } from "../../src/teacher/openai-client.js";
import { measureCompressor, sectionTexts, trainCompressor, type CompressEnv, type CompressTrainConfig } from "../../src/train/compress.js";
import { tempDir } from "../prompt/helpers.js";

/**
 * A catalogue where one history item carries the evidence: each list's history is
 * [noise × 3, anchor, noise × 2], and its target is the one candidate many training users
 * bought after the anchor (as often as the other candidates are bought at all). The upstream
 * order puts the target anywhere from 2nd to 9th, so a ranking without the anchor's co-purchases gets it
 * wrong. Keeping the last three items keeps the anchor, and half the history.
 */
function world(lists = 60) {
  const cats = ["Lipstick", "Shampoo", "Nail Polish", "Serum"];
  const items: Item[] = Array.from({ length: 200 }, (_, i) => ({ index: i, id: `i${i}`, title: `product number ${i} with a rather long descriptive title`, categories: ["Beauty", cats[i % 4]!], brand: `Brand${i % 7}` }));
  const train: number[][] = [];
  const out: CandidateList[] = [];
  for (let l = 0; l < lists; l++) {
    const anchor = l % 20; // items 0..19 are anchors
    const target = 20 + (l % 20); // 20..39: each bought after its anchor by five users
    const noise = Array.from({ length: 5 }, (_, j) => 100 + ((l * 5 + j) % 60));
    const others = Array.from({ length: 9 }, (_, j) => 40 + ((l * 9 + j) % 60));
    const at = 1 + (l % 8); // the target's place varies, so the upstream position says nothing
    const candidates = [...others.slice(0, at), target, ...others.slice(at)];
    out.push({ user: `u${l}`, split: "valid", history: [...noise.slice(0, 3), anchor, ...noise.slice(3)], candidates, target, rankPre: at + 1, scores: null });
  }
  for (let a = 0; a < 20; a++) for (let k = 0; k < 5; k++) train.push([a, 20 + a]);
  for (let k = 0; k < 300; k++) train.push([160 + (k % 40), 40 + (k % 60)]);
  const source = evidenceSource(items, train);
  const sidOf = (i: number) => `<|sid_begin|><s_a_${i % 8}><s_b_${(i >> 3) % 8}><s_c_${i >> 6}><|sid_end|>`;
  return { items, source, lists: out, sidOf };
}

/** Whitespace words: the RL tests measure length in words; the pipeline measures it with the re-ranker's tokenizer. */
const words = async (texts: readonly string[]) => texts.map((t) => t.split(/\s+/).filter(Boolean).length);

function env(w: ReturnType<typeof world>): CompressEnv {
  const scorer = EvidenceScorer.fit(w.source, w.lists, "cobuy");
  return { context: { items: w.items, sidOf: w.sidOf }, source: w.source, judge: new EvidenceJudge(scorer), countTokens: words };
}

const cfg = (o: Partial<CompressTrainConfig> = {}): CompressTrainConfig => ({ steps: 30, listsPerStep: 16, groupSize: 8, lr: 0.1, reward: { alpha: 0.3, ellipsisFactor: 0 }, maxHistory: 20, checkpointEvery: 10, seed: 1, ...o });

test("the report's reward: Eq. 10's judge term, Eq. 11's compression term and blend, and the ellipsis guard", () => {
  assert.equal(judgeReward({ solvable: 1, preservation: 10, quality: 10 }), 1);
  assert.equal(judgeReward({ solvable: 0, preservation: 10, quality: 10 }), 0, "unsolvable earns nothing from the judge");
  assert.ok(Math.abs(judgeReward({ solvable: 1, preservation: 5, quality: 10 }) - 0.9) < 1e-12, "0.2·5 + 0.8·10 over 10");
  assert.equal(compressionReward(20, 100), 0.8);
  assert.equal(compressionReward(150, 100), 0, "longer than the original: no compression reward, never negative");
  const o = { verdict: { solvable: 1 as const, preservation: 10, quality: 10 }, lenCompressed: 20, lenOriginal: 100, compressedText: "a b", originalText: "a b c" };
  assert.ok(Math.abs(compressorReward(o, { alpha: 0.5, ellipsisFactor: 0 }) - 0.9) < 1e-12);
  assert.equal(compressorReward({ ...o, compressedText: "a b…" }, { alpha: 0.5, ellipsisFactor: 0 }), 0, "truncating with an ellipsis zeroes the reward");
  assert.equal(ellipsisPenalty("Lip... Gloss", "Lip... Gloss and more", 0), 1, "an ellipsis the original had is not the compressor's");
  assert.deepEqual(verdictOf(true, 1, 0), { solvable: 1, preservation: 10, quality: 1 });
});

test("the judges' helpers: Kendall's τ, and a verdict parsed from an LLM's answer or refused", () => {
  assert.equal(kendallTau([0, 1, 2, 3], [0, 1, 2, 3]), 1);
  assert.equal(kendallTau([0, 1, 2, 3], [3, 2, 1, 0]), -1);
  assert.equal(kendallTau([0, 1, 2], [1, 0, 2]), 1 / 3);
  assert.deepEqual(parseVerdict('Sure. {"solvable": 1, "preservation": 7, "quality": 8}'), { solvable: 1, preservation: 7, quality: 8 });
  assert.equal(parseVerdict('{"solvable": 1, "preservation": 17, "quality": 8}'), null, "out of the 1–10 scale");
  assert.equal(parseVerdict("seven out of ten"), null);
});

test("the compressor keeps what its policy says, summarises the rest, and the prompt counts evidence against the kept items", async () => {
  const w = world(4);
  const list = w.lists[0]!;
  const c = compressHistory(initialCompressor(), w.source, list.history, list.candidates);
  assert.deepEqual(c.kept, [3, 4, 5], "the initial rule keeps the last three");
  const anchorAt = 3;
  assert.equal(c.summary!.count, 3);
  assert.match(summaryText(c.summary!), /^\+3 more: (Lipstick|Shampoo|Nail Polish|Serum), Brand\d$/);
  const ctx: PromptContext = { items: w.items, sidOf: w.sidOf, evidence: { source: w.source, set: "cobuy" } };
  const full = await buildRerankPrompt(ctx, list, { format: "labels" });
  const comp = await buildRerankPrompt({ ...ctx, compressor: initialCompressor() }, list, { format: "labels" });
  assert.deepEqual(comp.history, [list.history[3], list.history[4], list.history[5]]);
  assert.equal(comp.historyOmitted, 3);
  const text = comp.messages[1]!.content;
  assert.match(text, /History, oldest first \(3 of 6\):\n1\. <\|sid_begin\|>[^\n]*<\|sid_end\|> (Lipstick|Shampoo|Nail Polish|Serum); Brand\d\n2\. .*\n3\. .*\n\(\+3 more: /);
  // The target is co-bought after the anchor: the full prompt and the compressed one both say so.
  const t = list.rankPre - 1;
  assert.equal(full.evidence![t]!.coBuy, 5);
  assert.equal(comp.evidence![t]!.coBuy, 5);
  assert.ok(text.length < full.messages[1]!.content.length);
  // A policy that keeps only the last item loses that evidence; one that keeps the anchor alone keeps it.
  const weightsOf = (w: Record<string, number>) => ({ features: [...COMPRESSOR_FEATURES], weights: COMPRESSOR_FEATURES.map((f) => w[f] ?? 0) });
  const lastOnly = await buildRerankPrompt({ ...ctx, compressor: weightsOf({ bias: -3, last: 6 }) }, list, { format: "labels" });
  assert.deepEqual(lastOnly.history, [list.history[5]]);
  assert.equal(lastOnly.evidence![t]!.coBuy, 0);
  const anchorKeeper = weightsOf({ bias: -2, cobuy_max: 4 });
  const kept = await buildRerankPrompt({ ...ctx, compressor: anchorKeeper }, list, { format: "labels" });
  assert.deepEqual(kept.history, [list.history[anchorAt]]);
  assert.equal(kept.evidence![t]!.coBuy, 5);
  // Without the catalogue's statistics the compressor cannot run: a clear error.
  await assert.rejects(buildRerankPrompt({ items: w.items, sidOf: w.sidOf, compressor: anchorKeeper }, list, { format: "labels" }), /context compressor needs the catalogue's training statistics/);
  assert.deepEqual(policyMode([0.1, 0.2, 0.05]), [1], "at least the most probable item stays");
  // The reward measures the history as the run's layout shows it: the SIDs-only line is far shorter than the full section.
  const sids = sectionTexts({ context: ctx, layout: "sids" }, list, list.history, [3, 4, 5]);
  assert.match(sids.compressed, /^History, oldest first: (<\|sid_begin\|>(<s_\w+>)+<\|sid_end\|>){3} \(\+3 more: /);
  assert.ok(sids.full.length < sectionTexts({ context: ctx }, list, list.history, [3, 4, 5]).full.length / 2);
  assert.equal(historyFeatures(w.source, list.history, list.candidates).length, 6);
});

test("compressor weights: written beside a model, read back, and malformed ones named", () => {
  const dir = tempDir("gr2-compress-");
  const compressor = initialCompressor();
  writePromptSettings(dir, { format: "labels", layout: "full", evidence: "cobuy", compressor });
  assert.deepEqual(readPromptSettings(dir)!.compressor, compressor);
  assert.throws(() => parseCompressorWeights({ features: ["bias"], weights: [1] }, "x.json"), /x\.json: compressor features must be bias, last/);
  assert.throws(() => parseCompressorWeights({ features: [...COMPRESSOR_FEATURES], weights: COMPRESSOR_FEATURES.map(() => Number.NaN) }, "x.json"), /finite numbers/);
});

test("RL on the judge's reward learns to keep the history item the evidence hangs on, and to drop the rest", async () => {
  const w = world();
  const e = env(w);
  const init = initialCompressor();
  const before = await measureCompressor(init, w.lists, e, { maxHistory: 20 });
  const dir = tempDir("gr2-compress-");
  const { weights, logs } = await trainCompressor(init, w.lists, dir, cfg(), e);
  const afterRl = await measureCompressor(weights, w.lists, e, { maxHistory: 20 });
  assert.ok(afterRl.judge >= before.judge - 0.02, `judge ${before.judge} → ${afterRl.judge}`);
  assert.ok(afterRl.token_ratio < before.token_ratio - 0.05, `history tokens ${before.token_ratio} → ${afterRl.token_ratio}`);
  assert.ok(afterRl.keep_rate < 0.25 && before.keep_rate === 0.5, `items kept ${before.keep_rate} → ${afterRl.keep_rate}`);
  const kept = w.lists.map((l) => compressHistory(weights, w.source, l.history, l.candidates).kept);
  assert.ok(kept.filter((k) => k.includes(3)).length >= 0.9 * w.lists.length, "the anchor is kept");
  // Keeping only the last item (the cheapest rule) loses the evidence: the judge says so.
  const last = { features: [...COMPRESSOR_FEATURES], weights: COMPRESSOR_FEATURES.map((f) => (f === "bias" ? -3 : f === "last" ? 6 : 0)) };
  assert.ok((await measureCompressor(last, w.lists, e, { maxHistory: 20 })).judge < afterRl.judge - 0.3);
  assert.equal(logs.length, 30);
  assert.equal(readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").length, 30);
  // With the compression term alone (α = 1) the policy keeps as little as it can.
  const { weights: terse } = await trainCompressor(init, w.lists, tempDir("gr2-compress-"), cfg({ reward: { alpha: 1, ellipsisFactor: 0 } }), e);
  assert.ok((await measureCompressor(terse, w.lists, e, { maxHistory: 20 })).keep_rate < before.keep_rate);
});

test("compressor RL resumes exactly from its checkpoint", async () => {
  const w = world(30);
  const e = env(w);
  const straight = await trainCompressor(initialCompressor(), w.lists, tempDir("gr2-compress-"), cfg({ steps: 20 }), e);
  const dir = tempDir("gr2-compress-");
  await trainCompressor(initialCompressor(), w.lists, dir, cfg({ steps: 10 }), e);
  const resumed = await trainCompressor(initialCompressor(), w.lists, dir, cfg({ steps: 20 }), e);
  assert.deepEqual(resumed.weights, straight.weights);
  assert.equal(readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").length, 20);
});

test("the LLM judge asks an OpenAI-compatible server the report's questions, and its answers are cached", async () => {
  const answers = ['{"solvable": 1, "preservation": 6, "quality": 9}', "I cannot say."];
  let requests = 0;
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw) as { messages: { content: string }[] };
      assert.match(body.messages[1]!.content, /Compressed history:/);
      const text = answers[requests++ % answers.length]!;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ model: "judge", choices: [{ message: { content: text }, finish_reason: "stop" }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cacheDir = tempDir("gr2-judge-");
    const w = world(2);
    const req = (l: CandidateList, text: string) => ({ list: l, history: l.history, kept: [0], fullText: "1. a\n2. b", compressedText: text, candidatesText: "- c" });
    const judge = new LlmJudge(new ChatClient({ baseUrl: base, model: "judge", cacheDir, env: {} }));
    const v = await judge.judge([req(w.lists[0]!, "1. a")]);
    assert.deepEqual(v, [{ solvable: 1, preservation: 6, quality: 9 }]);
    const bad = await judge.judge([req(w.lists[0]!, "2. b")]);
    assert.deepEqual(bad, [{ solvable: 0, preservation: 1, quality: 1 }], "an answer that does not parse scores as unsolvable");
    assert.equal(judge.unparsed, 1);
    const again = new LlmJudge(new ChatClient({ baseUrl: base, model: "judge", cacheDir, env: {} }));
    assert.deepEqual(await again.judge([req(w.lists[0]!, "1. a")]), v);
    assert.equal(requests, 2, "the repeated question came from the cache");
  } finally {
    server.close();
  }
});
