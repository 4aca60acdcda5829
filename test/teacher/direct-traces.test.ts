import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { renderChat } from "../../src/lm/chat.js";
import { parseRerankOutput } from "../../src/prompt/parse-output.js";
import { buildRerankPrompt } from "../../src/prompt/rerank-prompt.js";
import { directTraces, writeDirectTraces } from "../../src/teacher/direct-traces.js";
import { EvidenceTeacher } from "../../src/teacher/evidence-teacher.js";
import { readJsonLines } from "../../src/teacher/trace-file.js";
import { generateTraces, type TraceRecord } from "../../src/teacher/traces.js";
import { TrainIndex } from "../../src/rank/evidence/train-index.js";
import { sftExample, type SftTrace } from "../../src/train/sft.js";
import { makeLists, makeWorld, tempDir, tokenizer } from "../prompt/helpers.js";

const world = makeWorld(120, 150, 7);
const items = world.dataset.catalogue.items;
const lists = makeLists(world.split.valid, items.length, world.dataset.interactions.userIds, "valid");

test("the sids layout shows every history and candidate SID in order, no titles, and is several times shorter", async () => {
  const tok = tokenizer();
  const list = lists.reduce((a, b) => (b.history.length > a.history.length ? b : a));
  const direct = await buildRerankPrompt(world.context, list, { format: "compact", layout: "sids", maxHistory: 8 });
  const full = await buildRerankPrompt(world.context, list, { format: "compact", maxHistory: 8 });
  const user = direct.messages[1]!.content;
  const shownHistory = list.history.slice(-8);
  assert.ok(user.includes(`History, oldest first: ${shownHistory.map(world.context.sidOf).join("")}`));
  assert.ok(user.includes(`Candidates: ${list.candidates.map(world.context.sidOf).join("")}`));
  for (const c of list.candidates) assert.ok(!user.includes(items[c]!.title), `title of ${c} left out`);
  assert.deepEqual(direct.hints, []);
  assert.deepEqual(direct.candidateSids, full.candidateSids);
  const n = async (p: typeof direct) => (await renderChat(p.messages, tok, { addGenerationPrompt: true })).ids.length;
  assert.ok((await n(direct)) * 3 < (await n(full)), `direct ${await n(direct)} vs full ${await n(full)} tokens`);
});

test("direct traces: the teacher's ranking without reasoning, on the sids prompt, for accepted traces only", async () => {
  const dir = tempDir("gr2-direct-");
  const teacher = new EvidenceTeacher({ items, sidOf: world.context.sidOf, train: TrainIndex.build(world.split.train, items.length), complements: world.complements }, { temperature: 1, seed: 0 });
  const out = join(dir, "r.jsonl");
  await generateTraces({ lists, teacher, mode: "rejection", maxAttempts: 2, prompt: { context: world.context, options: { maxHistory: 10 } }, format: "compact", out });
  const records = readJsonLines<TraceRecord>(out).records;
  const accepted = records.filter((r) => r.accepted);
  assert.ok(accepted.length > 0 && accepted.length < records.length, `${accepted.length} of ${records.length} accepted`);

  const examples = await directTraces(records, lists, { context: world.context, format: "compact", maxHistory: 10 });
  assert.equal(examples.length, accepted.length);
  for (const [i, e] of examples.entries()) {
    const rec = accepted[i]!;
    assert.equal(e.user, rec.user);
    assert.ok(e.response!.startsWith("\nRanking: "), JSON.stringify(e.response));
    const parsed = parseRerankOutput(e.response!, { format: "compact", candidateSids: e.candidate_sids });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.ranking, rec.ranking);
    assert.equal(parsed.explanation, "");
    assert.match(e.messages[1]!.content, /^History, oldest first: /);
  }
  // In the labels format the answer is the letters of the candidates as the sids prompt shows them.
  for (const e of await directTraces(records, lists, { context: world.context, format: "labels", maxHistory: 10 })) {
    const rec = accepted.find((r) => r.user === e.user)!;
    assert.match(e.response!, /^\nRanking:( [A-J]){10}$/);
    const names = e.candidate_sids.map((_, u) => "ABCDEFGHIJ"[u]!); // shown in upstream order
    const parsed = parseRerankOutput(e.response!, { format: "labels", candidateSids: e.candidate_sids, candidateNames: names });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.ranking, rec.ranking);
  }
  // In the full layout (--direct-layout full) the prompt is the reasoning stages' (item text) and the answer still the ranking alone.
  const full = await directTraces(records, lists, { context: world.context, format: "compact", layout: "full", maxHistory: 10 });
  assert.equal(full.length, examples.length);
  for (const [i, e] of full.entries()) {
    assert.deepEqual(e.candidate_sids, examples[i]!.candidate_sids);
    assert.equal(e.response, examples[i]!.response, "the same answer, without a rationale");
    assert.doesNotMatch(e.messages[1]!.content, /^History, oldest first: /);
    const list = lists.find((l) => l.user === e.user)!;
    assert.ok(list.candidates.some((c) => e.messages[1]!.content.includes(items[c]!.title)), "the full prompt shows the candidates' titles");
  }
  // An SFT example of it: the whole answer is ranking (weight λ_o), nothing is reasoning.
  const path = join(dir, "direct.jsonl");
  writeDirectTraces(path, examples);
  const back = readJsonLines<SftTrace>(path).records;
  assert.equal(back.length, examples.length);
  const ex = await sftExample(back[0]!, tokenizer(), { lambda_r: 0.25, lambda_o: 1 });
  const weights = ex.weights.filter((w) => w > 0);
  assert.ok(weights.length >= 10);
  // The only rationale token is the empty rationale's closer (the newline).
  assert.ok(weights.filter((w) => w === 0.25).length <= 1, `${weights.filter((w) => w === 0.25).length} rationale tokens`);

  // Traces from other lists are an error naming the user.
  await assert.rejects(directTraces(records, lists.filter((l) => l.user !== accepted[0]!.user), { context: world.context, format: "compact" }), /has no candidate list/);
});
