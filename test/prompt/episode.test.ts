import assert from "node:assert/strict";
import { test } from "node:test";
import { renderChat } from "../../src/lm/chat.js";
import { TextTokenizer } from "../../src/lm/tokenizer.js";
import { answerConstraint, padTokenId, prepareEpisode, readAnswer } from "../../src/prompt/episode.js";
import { formatOutput } from "../../src/prompt/output-format.js";
import { buildRerankPrompt } from "../../src/prompt/rerank-prompt.js";
import { rankRe } from "../../src/reward/registry.js";
import { makeLists, makeWorld, tokenizer } from "./helpers.js";

const world = makeWorld();
const tok = tokenizer();
const stop = tok.requireId("<|im_end|>");
const lists = makeLists(world.split.test, world.dataset.catalogue.items.length, world.dataset.interactions.userIds, "test").slice(0, 4);

for (const format of ["labels", "compact", "json"] as const) {
  test(`${format}: an answer written in the episode's names reads back to that order and its rank_re`, async () => {
    for (const list of lists) {
      const ep = await prepareEpisode(world.context, list, { tokenizer: tok, format, maxPromptTokens: 2000, shuffleSeed: 5 });
      // The rendered ids are exactly the prompt's messages rendered for generation.
      assert.deepEqual(ep.ids, (await renderChat(ep.prompt.messages, tok, { addGenerationPrompt: true })).ids);
      // shownPosition inverts the prompt's shown order.
      ep.prompt.shownOrder.forEach((up, j) => assert.equal(ep.shownPosition[up], j));
      const order = [...ep.candidateNames.keys()].reverse();
      const tokens = [...(await tok.encode(formatOutput(format, "B looks best.", order.map((i) => ep.candidateNames[i]!)))), stop];
      const a = readAnswer(tok, ep, tokens, [stop]);
      assert.deepEqual(a.order, order);
      assert.ok(!a.text.includes("<|im_end|>"));
      assert.equal(rankRe(a.order, list.rankPre), order.indexOf(list.rankPre - 1) + 1);
    }
  });
}

test("an answer that names a candidate twice reads as invalid, with no order", async () => {
  const ep = await prepareEpisode(world.context, lists[0]!, { tokenizer: tok, format: "labels" });
  const names = [ep.candidateNames[0]!, ...ep.candidateNames.slice(0, -1)];
  const a = readAnswer(tok, ep, await tok.encode(formatOutput("labels", "x", names)));
  assert.equal(a.order, null);
  assert.equal(a.parsed.ok, false);
  assert.equal(rankRe(a.order, 1), null);
});

test("the budget, shuffle and edit reach the prompt the way buildRerankPrompt applies them", async () => {
  const list = lists[1]!;
  const plain = await buildRerankPrompt(world.context, list, { format: "labels", shuffleSeed: 9, budget: { maxTokens: 1600, tokenizer: tok } });
  const ep = await prepareEpisode(world.context, list, { tokenizer: tok, format: "labels", shuffleSeed: 9, maxPromptTokens: 1600, edit: (p) => (p.messages.at(-1)!.content += "\nThe customer's request: gifts") });
  assert.deepEqual(ep.prompt.shownOrder, plain.shownOrder);
  assert.deepEqual(ep.prompt.history, plain.history);
  assert.ok(ep.ids.length > 0);
  assert.match(ep.prompt.messages.at(-1)!.content, /gifts$/);
});

test("the answer constraint covers a batch of episodes, one row each", async () => {
  const eps = await Promise.all(lists.map((l) => prepareEpisode(world.context, l, { tokenizer: tok, format: "labels" })));
  const pc = await answerConstraint(tok, "labels", eps, 0, stop);
  assert.ok(pc.maxNewTokens >= 10);
  // An answer in the grammar has no violation; a repeated letter does.
  const good = await tok.encode(formatOutput("labels", "", eps[0]!.candidateNames));
  assert.equal(pc.firstViolation([...good, stop], 0), null);
});

test("padding is the pad token, else end of sequence, else id 0", () => {
  assert.equal(padTokenId(tok), tok.requireId("<|pad|>"));
  const texts = ["a b c", "b c d"];
  const noPad = TextTokenizer.train(texts, { vocabSize: 300, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] });
  assert.equal(noPad.special.pad, undefined);
  assert.equal(padTokenId(noPad), noPad.requireId("<|endoftext|>"));
  const neither = TextTokenizer.train(texts, { vocabSize: 300, specialTokens: ["<|im_start|>", "<|im_end|>"] });
  assert.equal(padTokenId(neither), 0);
});
