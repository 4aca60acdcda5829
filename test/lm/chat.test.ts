import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { generateSynthetic, itemText } from "../../src/data/index.js";
import { CHATML, LLAMA3, type ChatMessage, type ChatTemplate, renderChat, renderChatText, stopTokenIds, toJinja } from "../../src/lm/chat.js";
import { TextTokenizer } from "../../src/lm/tokenizer.js";

const corpus = generateSynthetic({ users: 20, items: 300, seed: 11 }).catalogue.items.map(itemText);
const tok = TextTokenizer.train(corpus, { vocabSize: 512 });
tok.addSidTokens({ levels: 4, codebookSize: 256 });

const SID = "<|sid_begin|><s_a_97><s_b_168><s_c_137><s_d_135><|sid_end|>";
const conversation: ChatMessage[] = [
  { role: "system", content: "You are an expert beauty shopper." },
  { role: "user", content: `History: ${SID} Eldo Matte Shampoo 500 ml.\nRank the candidates.` },
  { role: "assistant", content: `{"explanation": "shampoo → conditioner", "recommendations": ["${SID}"]}` },
  { role: "user", content: "Why? Answer in one line — s'il vous plaît 🙂" },
  { role: "assistant", content: "Because they're used together." },
];

/** Decodes the ids where mask is 1, run by run. */
async function maskedRuns(ids: number[], mask: number[]): Promise<string[]> {
  const runs: string[] = [];
  for (let i = 0; i < ids.length; ) {
    if (!mask[i]) {
      i++;
      continue;
    }
    const start = i;
    while (i < ids.length && mask[i]) i++;
    runs.push(await tok.decode(ids.slice(start, i)));
  }
  return runs;
}

test("ChatML renders exactly the expected string", () => {
  const expected =
    "<|im_start|>system\nYou are an expert beauty shopper.<|im_end|>\n" +
    `<|im_start|>user\nHistory: ${SID} Eldo Matte Shampoo 500 ml.\nRank the candidates.<|im_end|>\n` +
    `<|im_start|>assistant\n{"explanation": "shampoo → conditioner", "recommendations": ["${SID}"]}<|im_end|>\n` +
    "<|im_start|>user\nWhy? Answer in one line — s'il vous plaît 🙂<|im_end|>\n" +
    "<|im_start|>assistant\nBecause they're used together.<|im_end|>\n";
  assert.equal(renderChatText(conversation), expected);
  assert.equal(renderChatText(conversation.slice(0, 2), { addGenerationPrompt: true }), expected.split("<|im_start|>assistant")[0] + "<|im_start|>assistant\n");
});

test("piecewise ids equal tokenizing the whole ChatML string", async () => {
  for (const addGenerationPrompt of [false, true]) {
    for (let n = 1; n <= conversation.length; n++) {
      const r = await renderChat(conversation.slice(0, n), tok, { addGenerationPrompt });
      assert.equal(r.text, renderChatText(conversation.slice(0, n), { addGenerationPrompt }));
      assert.deepEqual(r.ids, await tok.encode(r.text), `${n} messages, generation prompt ${addGenerationPrompt}`);
      assert.equal(await tok.decode(r.ids), r.text);
    }
  }
});

test("content starting with a line break may tokenise differently piecewise, but spells the same text", async () => {
  const msgs: ChatMessage[] = [{ role: "user", content: "\n\nShampoo" }];
  const r = await renderChat(msgs, tok);
  assert.equal(await tok.decode(r.ids), renderChatText(msgs));
  assert.deepEqual(r.ids.slice(r.contentSpans[0]!.start, r.contentSpans[0]!.end), await tok.encode("\n\nShampoo"));
});

test("the assistant mask covers exactly the assistant contents and their <|im_end|>", async () => {
  const r = await renderChat(conversation, tok);
  assert.equal(r.assistantMask.length, r.ids.length);
  assert.deepEqual(await maskedRuns(r.ids, r.assistantMask), [conversation[2]!.content + "<|im_end|>", conversation[4]!.content + "<|im_end|>"]);
  // The masked ids are exactly the content's own tokens followed by the end token.
  const end = tok.requireId("<|im_end|>");
  const masked = r.ids.filter((_, i) => r.assistantMask[i] === 1);
  assert.deepEqual(masked, [...(await tok.encode(conversation[2]!.content)), end, ...(await tok.encode(conversation[4]!.content)), end]);
  // Headers, separators, system and user turns are never trained.
  const start = tok.requireId("<|im_start|>");
  r.ids.forEach((id, i) => {
    if (id === start) assert.equal(r.assistantMask[i], 0);
  });
  // The SID inside the assistant's answer is single ids, in the mask.
  const sidIds = tok.sidTokenIds([97, 168, 137, 135]);
  const span = r.contentSpans[2]!;
  assert.equal(span.role, "assistant");
  const content = r.ids.slice(span.start, span.end);
  const at = content.indexOf(sidIds[0]!);
  assert.deepEqual(content.slice(at, at + 6), sidIds);
});

test("content spans locate every message; the generation prompt is not trained", async () => {
  const r = await renderChat(conversation.slice(0, 2), tok, { addGenerationPrompt: true });
  assert.equal(r.contentSpans.length, 2);
  assert.equal(await tok.decode(r.ids.slice(r.contentSpans[1]!.start, r.contentSpans[1]!.end)), conversation[1]!.content);
  assert.ok(r.assistantMask.every((m) => m === 0));
  const tail = await tok.encode("<|im_start|>assistant\n");
  assert.deepEqual(r.ids.slice(-tail.length), tail);
  // An empty assistant turn still trains its end token.
  const empty = await renderChat([{ role: "user", content: "hi" }, { role: "assistant", content: "" }], tok);
  assert.deepEqual(empty.contentSpans.map((s) => s.end - s.start), [(await tok.encode("hi")).length, 0]);
  assert.deepEqual(empty.ids.filter((_, i) => empty.assistantMask[i]), [tok.requireId("<|im_end|>")]);
  assert.deepEqual(stopTokenIds(tok), [tok.requireId("<|im_end|>")]);
});

test("a configurable template: Llama 3 layout with its own tokens", async () => {
  const llamaTok = TextTokenizer.train(corpus, { vocabSize: 512, specialTokens: LLAMA3.specialTokens });
  const msgs: ChatMessage[] = [
    { role: "user", content: "Shampoo?" },
    { role: "assistant", content: "Conditioner." },
  ];
  const r = await renderChat(msgs, llamaTok, { template: LLAMA3 });
  assert.equal(
    r.text,
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nShampoo?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nConditioner.<|eot_id|>",
  );
  assert.equal(r.ids[0], llamaTok.requireId("<|begin_of_text|>"));
  const masked = r.ids.filter((_, i) => r.assistantMask[i]);
  assert.equal(await llamaTok.decode(masked), "Conditioner.<|eot_id|>");
  // A custom template is plain data.
  const plain: ChatTemplate = {
    ...CHATML,
    name: "plain",
    roles: {
      system: { prefix: "System: ", suffix: "", separator: "\n" },
      user: { prefix: "User: ", suffix: "", separator: "\n" },
      assistant: { prefix: "Assistant: ", suffix: "<|endoftext|>", separator: "\n" },
    },
    generationPrompt: "Assistant: ",
    specialTokens: ["<|endoftext|>"],
    stopTokens: ["<|endoftext|>"],
  };
  assert.equal(renderChatText(msgs, { template: plain, addGenerationPrompt: true }), "User: Shampoo?\nAssistant: Conditioner.<|endoftext|>\nAssistant: ");
});

test("errors: unknown roles, and template tokens missing from the vocabulary", async () => {
  assert.throws(() => renderChatText([{ role: "tool" as "user", content: "x" }]), /message 0 has unknown role "tool"/);
  await assert.rejects(renderChat(conversation, tok, { template: LLAMA3 }), /template "llama3" needs the token "<\|begin_of_text\|>"/);
});

test("toJinja renders the same text in Jinja as renderChatText (when python3 + jinja2 are present)", (t) => {
  const script = [
    "import json, sys",
    "from jinja2.sandbox import ImmutableSandboxedEnvironment",
    "def raise_exception(m): raise Exception(m)",
    "d = json.load(sys.stdin)",
    "env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)",
    "env.globals['raise_exception'] = raise_exception",
    "out = [env.from_string(c['template']).render(messages=c['messages'], add_generation_prompt=c['gen']) for c in d]",
    "sys.stdout.write(json.dumps(out))",
  ].join("\n");
  const cases = [
    { template: toJinja(CHATML), messages: conversation, gen: false },
    { template: toJinja(CHATML), messages: conversation.slice(0, 2), gen: true },
    { template: toJinja(LLAMA3), messages: conversation, gen: true },
  ];
  const r = spawnSync("python3", ["-c", script], { input: JSON.stringify(cases), encoding: "utf8" });
  if (r.status !== 0) {
    t.skip(`python3 with jinja2 unavailable: ${(r.error?.message ?? r.stderr).split("\n").filter(Boolean).at(-1)}`);
    return;
  }
  assert.deepEqual(JSON.parse(r.stdout), [
    renderChatText(conversation),
    renderChatText(conversation.slice(0, 2), { addGenerationPrompt: true }),
    renderChatText(conversation, { template: LLAMA3, addGenerationPrompt: true }),
  ]);
});
