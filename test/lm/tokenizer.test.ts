import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type * as HF from "tokenizers";
import { generateSynthetic, itemText } from "../../src/data/index.js";
import { byteAlphabet, countWords, preTokenize, toByteLevel, trainBpe, trainBpeFromWords } from "../../src/lm/bpe-trainer.js";
import { CHATML, toJinja } from "../../src/lm/chat.js";
import { DEFAULT_SPECIAL_TOKENS, TextTokenizer } from "../../src/lm/tokenizer.js";

const hf = createRequire(import.meta.url)("tokenizers") as typeof HF;

const tmp = mkdtempSync(join(tmpdir(), "gr2-tokenizer-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A small product catalogue's text (titles, brands, categories, prices). */
const corpus = generateSynthetic({ users: 20, items: 300, seed: 7 }).catalogue.items.map(itemText);
const tok = TextTokenizer.train(corpus, { vocabSize: 512 });

const ROUND_TRIP = [
  "Eldo Matte Shampoo 500 ml | brand: Eldo",
  "Crème brûlée café — naïve façade, Ünïcödé",
  "emoji 🙂👍🏽 and flags 🇫🇷, CJK 洗发水, Arabic شامبو",
  "combining e\u0301 vs precomposed é (no normalisation)",
  "  leading and trailing spaces  ",
  "tabs\tand\nnewlines\n\n\r\nand   runs   of spaces\u00a0nbsp",
  "I'll say it's 'quoted' & <b>tagged</b> {json: [1, 2.5e-3]}",
  "",
];

test("byte alphabet: 256 distinct printable symbols in GPT-2 order, space → Ġ, newline → Ċ", () => {
  const { byteOfSymbol, charOfByte } = byteAlphabet();
  assert.equal(new Set(charOfByte).size, 256);
  assert.deepEqual([...byteOfSymbol].sort((a, b) => a - b), Array.from({ length: 256 }, (_, i) => i));
  assert.equal(byteOfSymbol[0], "!".charCodeAt(0));
  assert.equal(charOfByte[32], "Ġ");
  assert.equal(charOfByte[10], "Ċ");
  assert.equal(toByteLevel(" é"), "ĠÃ©");
});

test("JS pre-tokeniser splits like GPT-2/Qwen and agrees with HF's on this tokenizer.json", () => {
  assert.deepEqual(preTokenize("I'll buy 250ml shampoo!!\n\nNow"), ["I", "'ll", "Ġbuy", "Ġ", "2", "5", "0", "ml", "Ġshampoo", "!!ĊĊ", "Now"]);
  const hfPre = tok.hf.getPreTokenizer()!;
  for (const text of ROUND_TRIP) {
    assert.deepEqual(preTokenize(text), hfPre.preTokenizeString(text).map(([piece]) => piece), JSON.stringify(text));
  }
});

test("trainer: a frequent word becomes one token; rare pairs are not merged below minFrequency", () => {
  const texts = [...Array(50).fill("shampoo and conditioner"), "zq"];
  const bpe = trainBpe(texts, { vocabSize: 1000, minFrequency: 2 });
  assert.ok(bpe.vocab.includes("shampoo"));
  assert.ok(bpe.vocab.includes("Ġand"));
  assert.ok(bpe.vocab.includes("Ġconditioner"));
  assert.ok(!bpe.vocab.includes("zq"), "a pair seen once is not merged at minFrequency 2");
  // Training stops when no pair is frequent enough, below the requested size.
  assert.ok(bpe.vocab.length < 1000);
  assert.equal(bpe.vocab.length, 256 + new Set(bpe.merges.map(([a, b]) => a + b)).size);
});

test("trainer: merges follow counts, ties broken by smaller pair ids, and training is deterministic", () => {
  // "ab" ×3 beats "cd" ×2; "xy" and "uv" tie at 2: (u, v) has the smaller ids, so it comes first.
  const words = new Map([["ab", 3], ["cd", 2], ["xy", 2], ["uv", 2]]);
  const { merges } = trainBpeFromWords(words, { vocabSize: 300, minFrequency: 1 });
  assert.deepEqual(merges, [["a", "b"], ["c", "d"], ["u", "v"], ["x", "y"]]);
  const again = trainBpe(corpus, { vocabSize: 500 });
  assert.deepEqual(again, trainBpe(corpus, { vocabSize: 500 }));
  // Overlapping occurrences merge left to right: "aaa" → "aa" + "a".
  const aaa = trainBpeFromWords(new Map([["aaa", 5]]), { vocabSize: 300, minFrequency: 1 });
  assert.deepEqual(aaa.merges, [["a", "a"], ["aa", "a"]]);
});

test("trainer reproduces HF tokenizers' own BpeTrainer merge for merge", () => {
  // The binding's train() takes no options (vocab 30k, min frequency 0, alphabet = chars seen),
  // so both train to exhaustion on the same lines; our byte ids are in code-point order, like
  // HF's alphabet, so even the tie-breaks agree.
  const lines = corpus.slice(0, 120).map((t, i) => (i % 7 === 0 ? `${t} — café 🙂\n` : `${t}\n`));
  const file = join(tmp, "corpus.txt");
  writeFileSync(file, lines.join(""));
  const json = JSON.parse(readFileSync(tok.save(join(tmp, "for-hf-train")), "utf8"));
  json.model.vocab = {};
  json.model.merges = [];
  json.added_tokens = [];
  const reference = hf.Tokenizer.fromString(JSON.stringify(json));
  reference.train([file]);
  reference.save(join(tmp, "hf-trained.json"));
  const theirs = (JSON.parse(readFileSync(join(tmp, "hf-trained.json"), "utf8")).model.merges as (string | string[])[]).map((m) =>
    Array.isArray(m) ? m.join(" ") : m,
  );
  const hfPre = tok.hf.getPreTokenizer()!;
  const words = countWords(lines, { preTokenize: (t) => hfPre.preTokenizeString(t).map(([p]) => p) });
  const ours = trainBpeFromWords(words, { vocabSize: 100_000, minFrequency: 1 }).merges.map((m) => m.join(" "));
  assert.ok(theirs.length > 300);
  assert.deepEqual(ours, theirs);
});

test("trainer rejects impossible sizes", () => {
  assert.throws(() => trainBpe(["x"], { vocabSize: 100 }), /vocabSize must be an integer ≥ 256/);
  assert.throws(() => TextTokenizer.train(["x"], { vocabSize: 258 }), /≥ 256 \+ 4 special tokens/);
});

test("trained tokenizer: specials after the BPE vocabulary, vocabSize counts them, frequent words are single tokens", async () => {
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.hf.getVocabSize(true), 512);
  DEFAULT_SPECIAL_TOKENS.forEach((t, i) => assert.equal(tok.tokenToId(t), 508 + i));
  assert.equal(tok.idToToken(0), "!");
  assert.equal((await tok.encode(" Shampoo")).length, 1);
  assert.equal((await tok.encode(" Hair Care")).length, 2);
  assert.deepEqual(tok.special, { eos: "<|endoftext|>", pad: "<|pad|>", bos: undefined });
});

test("round trip decode(encode(x)) == x for ASCII, Unicode and whitespace", async () => {
  for (const text of ROUND_TRIP) {
    const ids = await tok.encode(text);
    assert.equal(await tok.decode(ids), text);
    assert.equal(tok.decodeSync(ids), text);
  }
  // Untrained characters still encode, byte by byte: "洗" is 3 bytes, 3 ids.
  assert.equal((await tok.encode("洗")).length, 3);
});

test("special tokens are never split, and skipSpecial drops them", async () => {
  const text = "<|im_start|>user\nhello<|im_end|>\n<|endoftext|>";
  const ids = await tok.encode(text);
  const start = tok.requireId("<|im_start|>");
  const end = tok.requireId("<|im_end|>");
  assert.equal(ids[0], start);
  assert.equal(ids.filter((id) => id === end).length, 1);
  assert.equal(ids.at(-1), tok.requireId("<|endoftext|>"));
  assert.equal(await tok.decode(ids), text);
  assert.equal(await tok.decode(ids, { skipSpecial: true }), "user\nhello\n");
  assert.equal(tok.decodeSync(ids, { skipSpecial: true }), "user\nhello\n");
  assert.ok(tok.isSpecial(end) && !tok.isSpecial(ids[1]!));
  // A glued-on neighbour does not change the special token's id.
  assert.deepEqual((await tok.encode("x<|im_end|>x")).slice(1, -1), [end]);
});

test("encodeBatch equals encode one by one; the cache answers synchronously and copies out", async () => {
  const fresh = TextTokenizer.train(corpus, { vocabSize: 512 });
  const texts = [...ROUND_TRIP, ROUND_TRIP[0]!, "<|im_start|>assistant\n"];
  const batch = await fresh.encodeBatch(texts);
  assert.equal(batch.length, texts.length);
  for (let i = 0; i < texts.length; i++) assert.deepEqual(batch[i], (await fresh.hf.encode(texts[i]!, null, { addSpecialTokens: false })).getIds());
  assert.equal(fresh.cacheSize, texts.length - 1); // the repeated text is encoded once
  assert.deepEqual(fresh.encodeCached(texts[0]!), batch[0]);
  assert.equal(fresh.encodeCached("never seen"), undefined);
  fresh.encodeCached(texts[0]!)!.push(-1); // callers own their arrays
  assert.deepEqual(await fresh.encode(texts[0]!), batch[0]);
  const off = TextTokenizer.train(corpus, { vocabSize: 512 }, { cacheSize: 0 });
  assert.deepEqual(await off.encodeBatch(texts), batch);
  assert.equal(off.cacheSize, 0);
});

test("SID tokens: one id each, contiguous, never merged with neighbours, idempotent", async () => {
  const t = TextTokenizer.train(corpus, { vocabSize: 512 });
  const before = await t.encode("a<s_a_97>b");
  const sid = t.addSidTokens({ levels: 4, codebookSize: 256 });
  assert.equal(sid.begin, 512);
  assert.equal(sid.end, 513);
  assert.deepEqual(sid.levelRanges[0], { level: 0, first: 514, last: 769 });
  assert.deepEqual(sid.levelRanges[3], { level: 3, first: 514 + 768, last: 514 + 1023 });
  assert.ok(sid.contiguous);
  assert.equal(t.vocabSize, 512 + 2 + 1024);
  // The cache was cleared: the same text now encodes with the SID token.
  assert.ok(before.length > 3);
  assert.deepEqual(await t.encode("a<s_a_97>b"), [...(await t.encode("a")), 514 + 97, ...(await t.encode("b"))]);

  const codes = [97, 168, 137, 135];
  const ids = t.sidTokenIds(codes);
  assert.deepEqual(ids, [512, 514 + 97, 514 + 256 + 168, 514 + 512 + 137, 514 + 768 + 135, 513]);
  const text = "<|sid_begin|><s_a_97><s_b_168><s_c_137><s_d_135><|sid_end|>";
  assert.deepEqual(await t.encode(text), ids);
  assert.deepEqual(await t.encode(` Shampoo${text}Shampoo `), [...(await t.encode(" Shampoo")), ...ids, ...(await t.encode("Shampoo "))]);
  assert.deepEqual(t.sidCodes(ids), codes);
  assert.deepEqual(t.sidCodeOf(514 + 256 + 168), { level: 1, code: 168 });
  assert.equal(t.sidCodeOf(5), undefined);
  // Not special: decoded model output keeps its SIDs.
  assert.equal(await t.decode(ids, { skipSpecial: true }), text);
  assert.equal(t.decodeSync(ids, { skipSpecial: true }), text);

  assert.deepEqual(t.addSidTokens({ levels: 4, codebookSize: 256 }), sid);
  assert.equal(t.vocabSize, 1538);

  assert.throws(() => t.sidTokenIds([1, 2, 3]), /3 codes, expected 4/);
  assert.throws(() => t.sidTokenIds([1, 2, 3, 256]), /code 256 at level 3/);
  assert.throws(() => t.sidCodes([512, 514 + 256, 514 + 256, 514, 514, 513]), /not a level-0 code token/);
  assert.throws(() => t.sidCodes(ids.slice(1)), /expected 6 ids/);
  assert.throws(() => tok.sidTokenIds(codes), /no SID tokens; call addSidTokens/);
});

test("save writes tokenizer.json atomically; HF fromFile and TextTokenizer.load give identical ids", async () => {
  const t = TextTokenizer.train(corpus, { vocabSize: 512 });
  t.addSidTokens({ levels: 3, codebookSize: 16 });
  const dir = join(tmp, "saved");
  const file = t.save(dir);
  assert.deepEqual(readdirSync(dir).sort(), ["tokenizer.json", "tokenizer_config.json"]);
  const json = JSON.parse(readFileSync(file, "utf8"));
  assert.equal(json.model.type, "BPE");
  assert.equal(json.pre_tokenizer.pretokenizers[1].type, "ByteLevel");
  assert.equal(json.decoder.type, "ByteLevel");
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  assert.equal(config.eos_token, "<|endoftext|>");
  assert.equal(config.chat_template, toJinja(CHATML));

  const viaHf = hf.Tokenizer.fromFile(file);
  const loaded = TextTokenizer.load(dir);
  const texts = [...ROUND_TRIP, "<|im_start|>user\n<|sid_begin|><s_a_3><s_b_15><s_c_0><|sid_end|><|im_end|>"];
  for (const text of texts) {
    const ids = await t.encode(text);
    assert.deepEqual((await viaHf.encode(text, null, { addSpecialTokens: false })).getIds(), ids);
    assert.deepEqual(await loaded.encode(text), ids);
  }
  // The loaded tokenizer finds its SID tokens without being told.
  assert.deepEqual(loaded.sid, t.sid);
  assert.deepEqual(loaded.sidTokenIds([3, 15, 0]), t.sidTokenIds([3, 15, 0]));
  assert.equal(loaded.vocabSize, t.vocabSize);
  assert.ok(loaded.isSpecial(loaded.requireId("<|im_end|>")));
  // Loading the file path directly works too, and saving again keeps config fields.
  assert.equal(TextTokenizer.load(file).vocabSize, t.vocabSize);
  loaded.save(dir, { chatTemplate: "{{ messages }}" });
  assert.equal(JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")).chat_template, "{{ messages }}");
  assert.equal(JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")).tokenizer_class, "PreTrainedTokenizerFast");
});

test("loading a missing or invalid tokenizer.json names the file", () => {
  const missing = join(tmp, "nope", "tokenizer.json");
  assert.throws(() => TextTokenizer.load(missing), (e: Error) => e.message.includes(missing) && /cannot read/.test(e.message));
  const emptyDir = mkdtempSync(join(tmp, "empty-"));
  assert.throws(() => TextTokenizer.load(emptyDir), (e: Error) => e.message.includes(join(emptyDir, "tokenizer.json")));
  const bad = join(tmp, "bad.json");
  writeFileSync(bad, "{not json");
  assert.throws(() => TextTokenizer.load(bad), (e: Error) => e.message.includes(bad) && /not a valid tokenizer.json/.test(e.message));
  const wrong = join(tmp, "wrong.json");
  writeFileSync(wrong, JSON.stringify({ version: "1.0", model: { type: "Nope" } }));
  assert.throws(() => TextTokenizer.load(wrong), (e: Error) => e.message.includes(wrong));
  assert.throws(() => tok.requireId("<|nope|>"), /"<\|nope\|>" is not in the vocabulary/);
});
