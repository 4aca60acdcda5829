/**
 * USE-Lite on our engine against the reference: the same TF.js graph (the package's model.json
 * and shards) executed by pure-JS `@tensorflow/tfjs` (a devDependency, never used by src/),
 * fed exactly as `@tensorflow-models/universal-sentence-encoder` feeds it (sparse indices +
 * token ids). Every text's embedding must match with cosine ≥ 0.9999.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UseLiteModel } from "../../src/sid/embed-use.js";

let model: UseLiteModel;
let graph: tf.GraphModel;

before(async () => {
  model = await UseLiteModel.load();
  // The package's own files, handed to TF.js from memory (its file:// loader lives in tfjs-node).
  const dir = model.files.dir;
  const json = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const shards = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))));
  const weightData = shards.buffer.slice(shards.byteOffset, shards.byteOffset + shards.byteLength) as ArrayBuffer;
  graph = await tf.loadGraphModel({ load: async () => ({ modelTopology: json.modelTopology, weightSpecs, weightData, format: "graph-model" }) });
});
after(() => model?.dispose());

/**
 * The reference, one text at a time (pure-JS TF.js pads a batch to its longest text, and a long
 * text would make every short one cost 128 positions). A text without tokens goes first in a
 * pair: the graph sizes its batch from the largest row index it is given.
 */
async function referenceEmbeddings(texts: readonly string[]): Promise<Float32Array> {
  const out = new Float32Array(texts.length * 512);
  for (const [i, t] of texts.entries()) {
    const row = model.tokenizer.encode(t).length > 0 ? await referenceBatch([t]) : await referenceBatch([t, "a"]);
    out.set(row.subarray(0, 512), i * 512);
  }
  return out;
}

/** The reference's `embed`: rows of [text, position] indices and the token ids, through the graph. */
async function referenceBatch(texts: readonly string[]): Promise<Float32Array> {
  const ids = texts.map((t) => model.tokenizer.encode(t));
  const indices: number[][] = [];
  ids.forEach((row, i) => row.forEach((_, j) => indices.push([i, j])));
  const out = (await graph.executeAsync({
    indices: tf.tensor2d(indices, [indices.length, 2], "int32"),
    values: tf.tensor1d(ids.flat(), "int32"),
  })) as tf.Tensor;
  assert.deepEqual(out.shape, [texts.length, 512]);
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}

function cosine(a: Float32Array, b: Float32Array, i: number, d = 512): number {
  let dot = 0, na = 0, nb = 0;
  for (let j = 0; j < d; j++) {
    const x = a[i * d + j]!, y = b[i * d + j]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

/** A few dozen texts: product lines, short words, odd characters, long texts past the 128-token limit, near-empty ones. */
const TEXTS = [
  "Xtreme Brite Brightening Gel 1oz. | brand: Xtreme Brite | category: Beauty > Hair Care > Styling Products | price: 19.99",
  "Prada Candy By Prada Eau De Parfum Spray 1.7 Oz For Women | brand: Prada | category: Beauty > Fragrance > Women's",
  "WAWO 15 Color Professionl Makeup Eyeshadow Camouflage Facial Concealer Neutral Palette | brand: COKA",
  "moisturizing shampoo for dry hair", "hair conditioner", "nail file", "a cat", "a kitten", "the stock market fell today",
  "How old are you?", "What is your age?", "I like my phone", "Your cellphone looks great.",
  "", " ", ".", "?", "a", "   spaced   out   ", "\t\n", "line one\nline two",
  "日本語のテキスト", "emoji 😀👍🏽 and symbols ©®™", "Ünïcödé àccents façade naïve", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters", "ﬁne ligatures ① ２",
  "http://example.com :) :( :-) 50% off!!! $19.99 (2-pack) #1",
  "word ".repeat(300), // 301 tokens: the graph reads the first 128
  "Long description: ".concat("This gentle daily cleanser removes makeup and impurities without stripping skin. ".repeat(12)),
  "a".repeat(400),
  "Shampoo & Conditioner 2-in-1, 12 fl. oz. | brand: Suave | category: Beauty > Hair Care > Shampoo Plus Conditioner",
  "OPI Nail Lacquer, Big Apple Red | brand: OPI | category: Beauty > Makeup > Nails > Nail Polish",
];

test("USE-Lite on the engine matches TF.js on the package's graph: cosine ≥ 0.9999 per text", async () => {
  assert.ok(TEXTS.length >= 30);
  const ref = await referenceEmbeddings(TEXTS);
  // Small batches, so texts of different lengths share a padded batch and padding is exercised.
  const ours = model.embed(TEXTS, { batchTokens: 256 });
  assert.equal(ours.embeddings.rows, TEXTS.length);
  assert.equal(ours.embeddings.cols, 512);
  assert.ok(ours.batches > 1, `several batches (${ours.batches})`);
  assert.ok(ours.truncatedTexts >= 2, `${ours.truncatedTexts} texts past the 128-token limit`);
  const worst = TEXTS.map((t, i) => ({ t, c: cosine(ours.embeddings.data, ref, i) })).sort((a, b) => a.c - b.c);
  for (const { t, c } of worst) assert.ok(c >= 0.9999, `cosine ${c} for ${JSON.stringify(t.slice(0, 60))}`);
  // Unit vectors, as the graph's l2_normalize makes them.
  for (let i = 0; i < TEXTS.length; i++) assert.ok(Math.abs(cosine(ours.embeddings.data, ours.embeddings.data, i) - 1) < 1e-5);
  let n0 = 0;
  for (let j = 0; j < 512; j++) n0 += ours.embeddings.data[j]! ** 2;
  assert.ok(Math.abs(n0 - 1) < 1e-4, `row 0 has squared norm ${n0}`);
});

test("an empty text in the middle of a reference batch embeds as it does alone", async () => {
  // The graph's own batching: row 1 has no tokens, rows 0 and 2 do.
  const ref = await referenceBatch(["a cat", "", "a kitten"]);
  const ours = model.embed(["a cat", "", "a kitten"]).embeddings.data;
  for (let i = 0; i < 3; i++) assert.ok(cosine(ours, ref, i) >= 0.9999, `row ${i}: cosine ${cosine(ours, ref, i)}`);
});

test("batching does not change a text's embedding (padding is masked out)", () => {
  const alone = model.embed([TEXTS[0]!]).embeddings.data;
  const mixed = model.embed([TEXTS[27]!, TEXTS[0]!, "", TEXTS[3]!], { batchTokens: 100_000 });
  assert.equal(mixed.batches, 1);
  let maxDiff = 0;
  for (let j = 0; j < 512; j++) maxDiff = Math.max(maxDiff, Math.abs(alone[j]! - mixed.embeddings.data[512 + j]!));
  assert.ok(maxDiff < 1e-5, `max difference ${maxDiff}`);
});
