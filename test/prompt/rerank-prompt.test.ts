import assert from "node:assert/strict";
import { test } from "node:test";
import { renderChat } from "../../src/lm/chat.js";
import { formatOutput } from "../../src/prompt/output-format.js";
import { parseRerankOutput } from "../../src/prompt/parse-output.js";
import { buildRerankPrompt, itemLine, listSeed, PromptBudgetError, shortenTitle } from "../../src/prompt/rerank-prompt.js";
import { makeLists, makeWorld, tokenizer } from "./helpers.js";

const world = makeWorld();
const { dataset, context } = world;
const lists = makeLists(world.split.valid, dataset.catalogue.items.length, dataset.interactions.userIds, "valid");
/** A user with a long history, so budgets have something to cut. */
const long = lists.reduce((a, b) => (b.history.length > a.history.length ? b : a));

test("the prompt follows the five principles: role, history + all candidates, priming, SIDs, three steps", async () => {
  const list = lists[0]!;
  const p = await buildRerankPrompt(context, list, { format: "json" });
  assert.equal(p.messages.length, 2);
  const [system, user] = p.messages as [{ role: string; content: string }, { role: string; content: string }];
  assert.equal(system.role, "system");
  assert.match(system.content, /You are an expert recommender for an online beauty store/);
  assert.match(system.content, /semantic ID \(SID\)/);
  assert.equal(user.role, "user");
  // Every candidate by SID, with its text, in one message with the history.
  for (const c of list.candidates) {
    const sid = context.sidOf(c);
    assert.ok(user.content.includes(itemLine(dataset.catalogue.items[c]!, sid, null)), `candidate ${c} line`);
  }
  // The history in order, oldest first, numbered.
  let at = 0;
  list.history.forEach((h, j) => {
    const line = `${j + 1}. ${itemLine(dataset.catalogue.items[h]!, context.sidOf(h), null)}`;
    const found = user.content.indexOf(line, at);
    assert.ok(found >= 0, `history item ${j + 1}`);
    at = found;
  });
  assert.match(user.content, /Domain knowledge: .*conditioner after shampoo/);
  assert.match(user.content, /1\. Pattern recognition.*\n2\. Complementary and category matching.*\n3\. Selection/);
  assert.match(user.content, /"recommendations"/);
  assert.deepEqual(p.candidateSids, list.candidates.map(context.sidOf));
  assert.deepEqual(p.shownOrder, list.candidates.map((_, i) => i));
  assert.deepEqual(p.history, list.history);
  assert.equal(p.historyOmitted, 0);
  assert.ok(!user.content.includes("actually bought"), "the student's prompt never reveals the target");
});

test("mined complement hints from the train split are shown, relevant ones first", async () => {
  const p = await buildRerankPrompt(context, long, { format: "json", maxHints: 3 });
  assert.ok(p.hints.length > 0 && p.hints.length <= 3);
  for (const h of p.hints) assert.ok(p.messages[1]!.content.includes(`- ${h.from} → ${h.to}`));
  const historyCats = new Set(long.history.map((i) => dataset.catalogue.items[i]!.categories.join(" > ")));
  for (const h of p.hints) assert.ok(historyCats.has(h.from), "hints start from a category the user bought");
});

test("compact format and the reveal for targeted teachers", async () => {
  const list = lists[1]!;
  const p = await buildRerankPrompt(context, list, { format: "compact" });
  assert.match(p.messages[1]!.content, /"Ranking: " followed by all 10 candidate SIDs/);
  const t = await buildRerankPrompt(context, list, { format: "json", revealTarget: list.target });
  assert.ok(t.messages[1]!.content.includes(`The customer actually bought ${context.sidOf(list.target)} next`));
});

test("maxHistory keeps the most recent items and says how many were left out", async () => {
  const p = await buildRerankPrompt(context, long, { format: "json", maxHistory: 3 });
  assert.deepEqual(p.history, long.history.slice(-3));
  assert.equal(p.historyOmitted, long.history.length - 3);
  assert.match(p.messages[1]!.content, new RegExp(`the last 3 of ${long.history.length} purchases`));
});

test("a token budget is respected: oldest history first, then shorter titles, else a clear error", async () => {
  const tok = tokenizer();
  const measure = async (messages: { role: "system" | "user" | "assistant"; content: string }[]) => (await renderChat(messages, tok, { addGenerationPrompt: true })).ids.length;
  const whole = await buildRerankPrompt(context, long, { format: "json" });
  const wholeTokens = await measure(whole.messages);

  const roomy = await buildRerankPrompt(context, long, { format: "json", budget: { maxTokens: wholeTokens, tokenizer: tok } });
  assert.equal(roomy.tokens, wholeTokens);
  assert.equal(roomy.historyOmitted, 0);

  // Somewhat tighter: only history is cut, from the oldest end, and as little as possible.
  const tight = await buildRerankPrompt(context, long, { format: "json", budget: { maxTokens: wholeTokens - 60, tokenizer: tok } });
  assert.ok(tight.tokens! <= wholeTokens - 60);
  assert.equal(tight.tokens, await measure(tight.messages));
  assert.ok(tight.historyOmitted > 0);
  assert.deepEqual(tight.history, long.history.slice(long.history.length - tight.history.length));
  assert.equal(tight.titleWords, null);
  const oneMore = await buildRerankPrompt(context, { ...long, history: long.history.slice(-(tight.history.length + 1)) }, { format: "json" });
  assert.ok((await measure(oneMore.messages)) > wholeTokens - 60, "one more history item would not fit");

  // Tighter than one history item allows: titles are shortened; every candidate is still there.
  const two = await buildRerankPrompt(context, { ...long, history: long.history.slice(-2) }, { format: "json" });
  const one = await buildRerankPrompt(context, long, { format: "json", budget: { maxTokens: (await measure(two.messages)) - 1, tokenizer: tok } });
  assert.equal(one.history.length, 1);
  assert.equal(one.titleWords, null);
  const short = await buildRerankPrompt(context, long, { format: "json", budget: { maxTokens: one.tokens! - 20, tokenizer: tok, minTitleWords: 2 } });
  assert.ok(short.tokens! <= one.tokens! - 20);
  assert.equal(short.history.length, 1);
  assert.ok(short.titleWords !== null && short.titleWords >= 2);
  for (const sid of short.candidateSids) assert.ok(short.messages[1]!.content.includes(sid));
  const cut = long.candidates.map((c) => dataset.catalogue.items[c]!.title).filter((t) => t.split(" ").length > short.titleWords!);
  assert.ok(cut.length > 0 && cut.every((t) => !short.messages[1]!.content.includes(t)), "long titles were cut");

  await assert.rejects(buildRerankPrompt(context, long, { format: "json", budget: { maxTokens: 100, tokenizer: tok } }), (e: unknown) => {
    assert.ok(e instanceof PromptBudgetError);
    assert.match(e.message, /needs at least \d+ tokens .* budget is 100/);
    return true;
  });
});

test("shortenTitle cuts to whole words", () => {
  assert.equal(shortenTitle("Eldo Matte Shampoo 500 ml", 3), "Eldo Matte Shampoo");
  assert.equal(shortenTitle("Eldo Matte", 3), "Eldo Matte");
  assert.equal(shortenTitle("Eldo Matte Shampoo", null), "Eldo Matte Shampoo");
});

test("shuffling is seeded, shows candidates in the recorded order, and answers map back to upstream indices", async () => {
  const list = lists[2]!;
  const seed = listSeed(5, list.user, list.split);
  const a = await buildRerankPrompt(context, list, { format: "json", shuffleSeed: seed });
  const b = await buildRerankPrompt(context, list, { format: "json", shuffleSeed: seed });
  assert.deepEqual(a.shownOrder, b.shownOrder);
  assert.deepEqual([...a.shownOrder].sort((x, y) => x - y), list.candidates.map((_, i) => i));
  assert.notDeepEqual(a.shownOrder, list.candidates.map((_, i) => i), "this seed moves something");
  const others = await Promise.all([1, 2, 3].map((s) => buildRerankPrompt(context, list, { format: "json", shuffleSeed: listSeed(s, list.user, list.split) })));
  assert.ok(others.some((o) => o.shownOrder.join() !== a.shownOrder.join()), "seeds differ");
  // The candidate lines appear in shown order.
  const text = a.messages[1]!.content;
  const positions = a.shownOrder.map((u) => text.indexOf(`- ${context.sidOf(list.candidates[u]!)}`));
  assert.ok(positions.every((p, j) => p >= 0 && (j === 0 || p > positions[j - 1]!)));
  // So do the SIDs listed back to back ahead of the lines (what the answer copies from).
  const sidLine = a.shownOrder.map((u) => context.sidOf(list.candidates[u]!)).join("");
  assert.ok(text.includes(`Candidates (${list.candidates.length}): ${sidLine}\n- `), "the shown order's SIDs back to back");
  // candidateSids stay in upstream order; an answer that copies the shown order parses to shownOrder.
  assert.deepEqual(a.candidateSids, list.candidates.map(context.sidOf));
  const answer = formatOutput("json", "copying the shown order", a.shownOrder.map((u) => a.candidateSids[u]!));
  const parsed = parseRerankOutput(answer, { format: "json", candidateSids: a.candidateSids });
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.ranking, a.shownOrder);
});

test("labels: candidate lines are lettered in the order shown, the direct layout too, and a copy of the letters parses to shownOrder", async () => {
  const list = lists[2]!;
  const p = await buildRerankPrompt(context, list, { format: "labels", shuffleSeed: listSeed(5, list.user, list.split) });
  const text = p.messages[1]!.content;
  p.shownOrder.forEach((u, j) => assert.ok(text.includes(`\n- ${context.sidOf(list.candidates[u]!)} ${"ABCDEFGHIJ"[j]}: `), `line ${j} lettered`));
  assert.match(text, /"Ranking:" followed by the letters of all 10 candidates/);
  assert.ok(!text.includes(`Candidates (10): <|sid_begin|>`), "no SIDs line: the answer copies letters, not SIDs");
  p.shownOrder.forEach((u, j) => assert.equal(p.candidateNames[u], "ABCDEFGHIJ"[j]));
  const parsed = parseRerankOutput(formatOutput("labels", "", [..."ABCDEFGHIJ"]), { format: "labels", candidateSids: p.candidateSids, candidateNames: p.candidateNames });
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.ranking, p.shownOrder);
  const d = await buildRerankPrompt(context, list, { format: "labels", layout: "sids" });
  assert.ok(d.messages[1]!.content.includes(`Candidates: A${context.sidOf(list.candidates[0]!)} B${context.sidOf(list.candidates[1]!)}`));
  assert.match(d.messages[1]!.content, /Answer "Ranking:" and all 10 letters/);
});

test("brief layout: the SIDs-only prompt with the format's reasoning instruction, no hints, layout recorded", async () => {
  const list = lists[2]!;
  const d = await buildRerankPrompt(context, list, { format: "labels", layout: "sids" });
  const b = await buildRerankPrompt(context, list, { format: "labels", layout: "brief" });
  assert.equal(b.layout, "brief");
  assert.equal(d.layout, "sids");
  assert.equal(b.messages[0]!.content, d.messages[0]!.content);
  const [dHistory, dCandidates] = d.messages[1]!.content.split("\n");
  const lines = b.messages[1]!.content.split("\n");
  // The same history and candidate lines as the direct policy's prompt; only the instruction asks for reasoning.
  assert.deepEqual(lines.slice(0, 2), [dHistory, dCandidates]);
  assert.match(lines[2]!, /one line of reasons citing letters, then "Ranking:" and all 10 letters/);
  assert.match(d.messages[1]!.content.split("\n")[2]!, /^Answer "Ranking:" and all 10 letters, likeliest first\.$/);
  assert.equal(b.hints.length, 0);
  assert.equal(lines.length, 3);
});

test("listSeed separates its parts", () => {
  assert.notEqual(listSeed(0, "ab", "c"), listSeed(0, "a", "bc"));
  assert.notEqual(listSeed(0, "u1"), listSeed(1, "u1"));
  assert.equal(listSeed(3, "u1", "valid"), listSeed(3, "u1", "valid"));
});
