import assert from "node:assert/strict";
import { test } from "node:test";
import { renderChat, stopTokenIds } from "../../src/lm/chat.js";
import { formatOutput, GRAMMARS } from "../../src/prompt/output-format.js";
import { buildRerankPrompt } from "../../src/prompt/rerank-prompt.js";
import { SFT_WEIGHTS, sftExample, sftExamples, splitAnswer } from "../../src/train/sft.js";
import { makeLists, makeWorld, tokenizer } from "../prompt/helpers.js";

const world = makeWorld();
const tok = tokenizer();
const list = makeLists(world.split.valid, world.dataset.catalogue.items.length, world.dataset.interactions.userIds, "valid")[0]!;
const rationale = "The customer bought two cleansers and a toner; C completes that routine, so it goes first, then A and B.";

for (const format of ["labels", "compact", "json"] as const) {
  test(`${format}: SFT weighs the rationale tokens λ_r, the ranking and end of turn λ_o, and the prompt 0`, async () => {
    const prompt = await buildRerankPrompt(world.context, list, { format });
    const names = [2, 0, 1, 3, 4, 5, 6, 7, 8, 9].map((i) => prompt.candidateNames[i]!);
    const response = formatOutput(format, rationale, names);
    const w = { lambda_r: 0.3, lambda_o: 1.7 };
    const ex = await sftExample({ messages: prompt.messages, response, format, accepted: true }, tok, w);
    const promptIds = (await renderChat(prompt.messages, tok, { addGenerationPrompt: true })).ids;
    const [rPart, oPart] = splitAnswer(response, format);
    const r = await tok.encode(rPart);
    const o = [...(await tok.encode(oPart)), stopTokenIds(tok)[0]!];
    assert.deepEqual(ex.ids, [...promptIds, ...r, ...o]);
    // Position t predicts ids[t + 1]: the tokens predicted with each weight are exactly the parts.
    const predicted = (weight: number) => ex.ids.filter((_, t) => t > 0 && ex.weights[t - 1] === weight);
    assert.deepEqual(predicted(w.lambda_r), r);
    assert.deepEqual(predicted(w.lambda_o), o);
    assert.ok(tok.decodeSync(predicted(w.lambda_r)).includes("C completes that routine"), "the rationale is weighted λ_r");
    assert.ok(tok.decodeSync(predicted(w.lambda_o)).includes(GRAMMARS[format].header.trim()), "the ranking header is weighted λ_o");
    // Prompt positions carry no loss and no target; the last position predicts nothing.
    for (let t = 0; t < promptIds.length - 1; t++) assert.deepEqual([ex.targets[t], ex.weights[t]], [-100, 0]);
    assert.deepEqual([ex.targets.at(-1), ex.weights.at(-1)], [-100, 0]);
    ex.targets.forEach((y, t) => y !== -100 && assert.equal(y, ex.ids[t + 1]));
  });
}

test("an answer without the format's ranking header is refused with the header it expected", async () => {
  const prompt = await buildRerankPrompt(world.context, list, { format: "labels" });
  await assert.rejects(sftExample({ messages: prompt.messages, response: "C is best. A B C", format: "labels", accepted: true }, tok), /does not contain the labels ranking header/);
});

test("traces that move the incoming head are repeated movedRepeat times; too-long ones are skipped and counted", async () => {
  const prompt = await buildRerankPrompt(world.context, list, { format: "labels", layout: "brief" });
  const trace = (ranking: number[]) => ({ messages: prompt.messages, response: formatOutput("labels", rationale, ranking.map((i) => prompt.candidateNames[i]!)), format: "labels" as const, accepted: true, ranking });
  const keeps = trace([0, 2, 1, 3, 4, 5, 6, 7, 8, 9]);
  const moves = trace([2, 0, 1, 3, 4, 5, 6, 7, 8, 9]);
  const unknown = { ...moves, ranking: undefined };
  const o = { weights: SFT_WEIGHTS, maxPositions: 4096 };
  const once = await sftExamples([keeps, moves, unknown], tok, o);
  assert.equal(once.examples.length, 3);
  const thrice = await sftExamples([keeps, moves, unknown], tok, { ...o, movedRepeat: 3 });
  assert.equal(thrice.examples.length, 5, "the head-moving trace thrice; a trace without a recorded ranking once");
  assert.equal(thrice.examples.filter((e) => e === thrice.examples[1]).length, 3);
  const short = await sftExamples([keeps, moves], tok, { ...o, maxPositions: once.examples[0]!.ids.length - 1, movedRepeat: 3 });
  assert.deepEqual([short.examples.length, short.tooLong], [0, 2]);
});
