/**
 * USE-Lite's tokenizer (src/sid/use-lite/tokenizer.ts) against the reference implementation in
 * `@tensorflow-models/universal-sentence-encoder` (dist/tokenizer, a devDependency): the same
 * ids for every text. Kept apart from the TF.js parity test because the reference tokenizer
 * module loads its own (older) tfjs-core.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { loadDataset } from "../../src/data/load.js";
import { itemText } from "../../src/data/text.js";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { readTokenizer } from "../../src/sid/embed-use.js";
import { locateUseLite } from "../../src/sid/use-lite/package.js";
import { UseTokenizer, parseVocabulary } from "../../src/sid/use-lite/tokenizer.js";

interface ReferenceTokenizer {
  encode(text: string): number[];
}
const require = createRequire(import.meta.url);
const { Tokenizer } = require("@tensorflow-models/universal-sentence-encoder/dist/tokenizer") as {
  Tokenizer: new (vocabulary: unknown) => ReferenceTokenizer;
};

const files = locateUseLite();
const reference = new Tokenizer(JSON.parse(readFileSync(files.vocabJson, "utf8")));
const ours = readTokenizer(files);

/** Texts that exercise the quirks: unknown characters, NFKC, non-space whitespace, astral code points, null-score pieces. */
const ODD_TEXTS = [
  "", " ", "   ", "\t", "\n\n", "a  b", " leading space", "trailing space ", "tab\tinside", "line\nbreak",
  "héllo wörld", "Ünïcödé", "ﬁne ligature ① ２ｘ", "日本語のテキスト", "中文 English mix", "Ελληνικά", "Русский текст",
  "emoji 😀👍🏽 test", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters", "\uFFFD replacement", "a\u0000b", "\u200B zero width",
  "http://example.com/path :) :( :-) a:b", "50% off!!! $19.99 (2-pack) #1 @home & more...", "--- ??? ;;;",
  "x".repeat(600), "word ".repeat(300), "Shampoo & Conditioner 2-in-1, 12 fl. oz.",
];

test("the shipped vocabulary has the seven null-score pieces the tokenizer reads as 0", () => {
  const raw = JSON.parse(readFileSync(files.vocabJson, "utf8")) as [string, number | null][];
  const nulls = raw.filter(([, s]) => s === null).map(([p]) => p);
  assert.deepEqual(nulls.sort(), [":", "://", "):", "▁:", "▁:(", "▁:)", "▁:-)"].sort());
  assert.equal(raw.length, 8000);
});

test("odd texts tokenize to the reference's ids", () => {
  for (const text of ODD_TEXTS) assert.deepEqual(ours.encode(text), reference.encode(text), JSON.stringify(text));
  assert.deepEqual(ours.encode(""), []);
  assert.ok(ours.encode("日本語のテキスト").includes(0), "unknown characters map to id 0");
  // Runs of unknowns collapse to one id 0, as the reference does.
  const ids = ours.encode("ꙮꙮꙮ");
  assert.deepEqual(ids, reference.encode("ꙮꙮꙮ"));
  assert.ok(!ids.some((id, i) => id === 0 && ids[i + 1] === 0), `no two unknowns in a row: ${ids}`);
});

test("a synthetic catalogue's item texts tokenize to the reference's ids", () => {
  const ds = generateSynthetic({ users: 50, items: 300, seed: 3, descriptionWords: 40 });
  for (const item of ds.catalogue.items) {
    const text = itemText(item);
    assert.deepEqual(ours.encode(text), reference.encode(text), text);
  }
});

test("a tiny hand-made vocabulary: longest-scoring path, unknowns, reserved ids never matched", () => {
  const vocab = parseVocabulary(
    [["<unk>", 0], ["<s>", 0], ["</s>", 0], ["x1", 0], ["x2", 0], ["x3", 0], ["▁ab", -1], ["▁a", -2], ["b", -2], ["▁", -3], ["c", -1], ["<s>", -0.5]],
    "test vocab",
  );
  const t = new UseTokenizer(vocab);
  const r = new Tokenizer(vocab);
  for (const text of ["ab", "a b", "abc", "zz", "ab zz c", "<s>", ""]) assert.deepEqual(t.encode(text), r.encode(text), text);
  assert.deepEqual(t.encode("ab"), [6]); // "▁ab" (−1) beats "▁a" + "b" (−4)

  // The reference works in UTF-16 units (an emoji piece is two), and steps back over an unknown
  // by the length of entry 0's text ("<unk>": 5 here, "\uFFFD": 1 in USE-Lite's vocabulary).
  const astral = parseVocabulary([["<unk>", 0], ["<s>", 0], ["</s>", 0], ["x1", 0], ["x2", 0], ["x3", 0], ["▁a", -1], ["😀", -1], ["b", -1], ["▁", -2], ["a", -3]], "astral");
  const ta = new UseTokenizer(astral), ra = new Tokenizer(astral);
  for (const text of ["a😀b", "😀", "a 😀 b", "😀😀", "b😀a"]) assert.deepEqual(ta.encode(text), ra.encode(text), text);
  assert.deepEqual(ta.encode("a😀b"), [0, 8]);
  assert.throws(() => parseVocabulary([["a", "x"]], "bad.json"), /bad\.json: entry 0 is not a \[piece, score\] pair/);
  assert.throws(() => parseVocabulary({}, "bad.json"), /bad\.json: expected a non-empty JSON array/);
});

const DATA_DIR = process.env.GR2_DATA_DIR ?? "/work/shared/datasets";
const beauty = ["", "amazon-beauty-2014"].some((sub) => existsSync(join(DATA_DIR, sub, "Beauty.txt")));

test("Amazon Beauty: all 12,101 item texts tokenize to the reference's ids", async (t) => {
  if (!beauty) {
    t.skip(`Amazon Beauty not found under ${DATA_DIR} (set GR2_DATA_DIR to the folder holding amazon-beauty-2014/)`);
    return;
  }
  const ds = await loadDataset({ name: "amazon-beauty", dataDir: DATA_DIR });
  const texts = ds.catalogue.items.map(itemText);
  assert.equal(texts.length, 12101);
  let differ = 0;
  for (const text of texts) {
    const a = ours.encode(text), b = reference.encode(text);
    if (a.length !== b.length || a.some((id, i) => id !== b[i])) assert.fail(`${++differ}: ${text}\nours ${a}\nreference ${b}`);
  }
});
