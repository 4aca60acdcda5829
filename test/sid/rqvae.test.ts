/**
 * The RQ-VAE quantiser on small planted data: it must find the planted structure, its
 * codebook-utilisation techniques must do what they are for on setups built to need them,
 * and training must be deterministic and leave no live tensors behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { liveTensors } from "../../src/torch/index.js";
import { type Matrix, zeros } from "../../src/sid/matrix.js";
import { Rng } from "../../src/sid/rng.js";
import { uniqueness } from "../../src/sid/collisions.js";
import { categoryAlignment, levelStats, reconstructionError } from "../../src/sid/report.js";
import { parseSafetensors } from "../../src/sid/safetensors.js";
import { readSidMap } from "../../src/sid/sidmap.js";
import { RqVae, RqVaeModel, type RqVaeFit, type RqVaeOptions } from "../../src/sid/rqvae.js";
import { coInteractionPairs } from "../../src/sid/rqvae-pairs.js";
import { rqvaeOptionsFromFlags } from "../../src/sid/rqvae-flags.js";
import { run, tempDir } from "./helpers.js";

/**
 * 16 coarse × 16 fine planted centres, one item per (a, b): x = A_a + 0.35·B_b + small noise.
 * A quantiser that reads the structure separates all 256 items with its first two levels.
 */
function plantedHierarchy(seed = 1): { x: Matrix; coarse: number[] } {
  const A = 16, B = 16, dim = 16, rng = new Rng(seed);
  const centres = (n: number) => Array.from({ length: n }, () => Array.from({ length: dim }, () => rng.normal()));
  const ca = centres(A), cb = centres(B);
  const x = zeros(A * B, dim);
  const coarse: number[] = [];
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) {
      const i = a * B + b;
      for (let j = 0; j < dim; j++) x.data[i * dim + j] = ca[a]![j]! + 0.35 * cb[b]![j]! + 0.02 * rng.normal();
      coarse.push(a);
    }
  }
  return { x, coarse };
}

/** A small RQ-VAE that trains in well under a second. */
const SMALL: RqVaeOptions = { levels: 3, codebookSize: 16, hiddenDims: [32], latentDim: 8, epochs: 60, batchSize: 64, seed: 0 };

const fit = (x: Matrix, o: RqVaeOptions) => new RqVae({ ...SMALL, ...o }).fit(x);
const meanPerplexity = (f: RqVaeFit, levels: number) =>
  Array.from({ length: levels }, (_, l) => levelStats(f.codes, l).perplexity).reduce((a, b) => a + b, 0) / levels;
const usedCodes = (f: RqVaeFit) => Array.from({ length: f.codes.levels }, (_, l) => levelStats(f.codes, l).used_codes);

test("RQ-VAE with EMA + random last level separates planted items and reconstructs far better than the mean", async () => {
  const { x, coarse } = plantedHierarchy();
  const f = await fit(x, { levels: 4, ema: true, gamma: 0.95, randomLastLevels: 1, epochs: 100, learningRate: 3e-3 });
  assert.equal(f.codes.n, 256);
  assert.ok(uniqueness(f.codes) >= 0.98, `natural uniqueness ${uniqueness(f.codes)}`);
  // The trivial baseline (every item reconstructed as the mean vector) scores 1.
  const recon = reconstructionError(x, f.model.decode(f.codes)).relative;
  assert.ok(recon < 0.25, `relative reconstruction error ${recon}`);
  const nmi = categoryAlignment(f.codes, coarse.map((a) => [String(a)]))[0]!.nmi;
  assert.ok(nmi > 0.9, `the first code should recover the coarse clusters (NMI ${nmi})`);
  assert.deepEqual(f.iterations.map((i) => i > 0), [true, true, true, false], "the random level is not trained");
  assert.equal(f.residualMse.length, 4);
});

test("EMA codebooks use more codes than gradient codebooks when the codebooks start clumped", async () => {
  // All codes start near the origin: gradient codebooks only move the few codes that win,
  // the rest never get a residual (collapse); EMA codes chase their residuals' mean.
  const { x } = plantedHierarchy();
  const clumped: RqVaeOptions = { codebookInit: "random", randomInitStd: 0.05 };
  const gradient = await fit(x, clumped);
  const ema = await fit(x, { ...clumped, ema: true, gamma: 0.95 });
  const [pg, pe] = [meanPerplexity(gradient, 3), meanPerplexity(ema, 3)];
  assert.ok(pe > pg + 2, `mean perplexity: EMA ${pe.toFixed(2)} vs gradient ${pg.toFixed(2)}`);
  assert.ok(uniqueness(ema.codes) > uniqueness(gradient.codes) + 0.3, `uniqueness: EMA ${uniqueness(ema.codes)} vs gradient ${uniqueness(gradient.codes)}`);
});

test("dead-code reset revives codes that start far from every residual", async () => {
  const { x } = plantedHierarchy();
  const far: RqVaeOptions = { codebookInit: "random", randomInitStd: 5 };
  const without = await fit(x, far);
  const withReset = await fit(x, { ...far, deadCodeTau: 4 });
  assert.ok(usedCodes(without).every((u) => u <= 8), `without reset most codes stay dead: ${usedCodes(without)}`);
  assert.ok(usedCodes(withReset).every((u) => u >= 14), `with reset nearly every code is used: ${usedCodes(withReset)}`);
  assert.ok(withReset.stats.resets.every((r) => r > 0), `resets per level ${withReset.stats.resets}`);
  assert.deepEqual(without.stats.resets, [0, 0, 0]);
  assert.ok(uniqueness(withReset.codes) > uniqueness(without.codes) + 0.4);
});

test("the straight-through estimator carries the reconstruction gradient into the encoder", async () => {
  // β = 0 and no auxiliary losses: the only path from the loss to the encoder is z + sg(ẑ − z).
  const { x } = plantedHierarchy();
  const untrained = await fit(x, { epochs: 0, beta: 0 });
  const trained = await fit(x, { epochs: 1, beta: 0 });
  for (const [i, layer] of untrained.model.encoder.entries()) {
    const after = trained.model.encoder[i]!;
    let moved = 0;
    for (let j = 0; j < layer.weight.data.length; j++) moved = Math.max(moved, Math.abs(after.weight.data[j]! - layer.weight.data[j]!));
    assert.ok(moved > 1e-4, `encoder layer ${i} weights moved by at most ${moved}`);
  }
});

test("training is deterministic for a seed, differs across seeds, and leaves no live tensors", async () => {
  const { x } = plantedHierarchy();
  const sequences = Array.from({ length: 64 }, (_, u) => Array.from({ length: 6 }, (_, k) => (u * 7 + k * 16) % 256));
  // Every technique on, so every code path runs.
  const all: RqVaeOptions = { ema: true, randomLastLevels: 1, diversity: 0.1, deadCodeTau: 3, contrastive: 0.1, trainSequences: sequences, epochs: 8 };
  const before = liveTensors();
  const a = await fit(x, all);
  assert.equal(liveTensors(), before, "every tensor made while training is freed");
  const b = await fit(x, all);
  const c = await fit(x, { ...all, seed: 1 });
  assert.equal(liveTensors(), before);
  assert.deepEqual(a.codes.codes, b.codes.codes);
  const ta = a.model.tensors().tensors, tb = b.model.tensors().tensors;
  for (const name of Object.keys(ta)) assert.deepEqual(ta[name]!.data, tb[name]!.data, name);
  assert.equal(a.stats.last!.loss, b.stats.last!.loss);
  assert.notDeepEqual(a.codes.codes, c.codes.codes);
});

test("the trained model is torch-free: round-trips through tensors() and encodes the same in chunks", async () => {
  const { x } = plantedHierarchy();
  const f = await fit(x, { ema: true, randomLastLevels: 1, epochs: 5 });
  const { tensors, metadata } = f.model.tensors();
  const back = RqVaeModel.fromTensors(tensors, metadata);
  assert.deepEqual(back.encode(x).codes, f.codes.codes);
  const chunked = new RqVaeModel(f.model.encoder, f.model.decoder, f.model.latent.centroids, 1, SMALL.seed!, 50);
  assert.deepEqual(chunked.encode(x).codes, f.codes.codes);
  const tail = { rows: 56, cols: x.cols, data: x.data.subarray(200 * x.cols) };
  assert.deepEqual(f.model.encode(tail, { rowOffset: 200 }).codes, f.codes.codes.subarray(200 * 3));
  assert.deepEqual(f.model.decode(f.codes).data, back.decode(f.codes).data);
  assert.equal(f.model.rankCodes(x.data.subarray(0, x.cols), [], 2), null, "random levels have no ranking");
  const ranked = f.model.rankCodes(x.data.subarray(0, x.cols), [], 0)!;
  assert.equal(ranked[0], f.codes.codes[0], "the best-ranked first code is the one encode chose");
});

test("co-interaction pairs: within the window, from train sequences, without self-pairs", () => {
  const p = coInteractionPairs([[0, 1, 2, 3], [4, 4, 5], []], 6, 2);
  const pairs = Array.from(p.a, (a, i) => `${a}-${p.b[i]}`);
  assert.deepEqual(pairs, ["0-1", "0-2", "1-2", "1-3", "2-3", "4-5", "4-5"]);
  assert.throws(() => coInteractionPairs([[0, 9]], 6, 1), /item index 9, outside \[0, 6\)/);
});

test("options and flags are validated with messages that name the problem", () => {
  assert.throws(() => new RqVae({ levels: 2, randomLastLevels: 2 }), /randomLastLevels \(2\) must be < levels \(2\)/);
  assert.throws(() => new RqVae({ gamma: 1 }), /gamma must be in \[0\.5, 1\)/);
  assert.throws(() => new RqVae({ contrastive: 0.1 }), /contrastive loss needs the train split's sequences/);
  assert.throws(() => new RqVae({ hiddenDims: [0] }), /hiddenDims must be a list of integers ≥ 1/);
  assert.throws(() => rqvaeOptionsFromFlags({ epochs: "1.5" }), /--epochs expects an integer ≥ 0, got "1.5"/);
  assert.throws(() => rqvaeOptionsFromFlags({ "codebook-init": "zeros" }), /--codebook-init expects kmeans or random/);
  assert.deepEqual(rqvaeOptionsFromFlags({ ema: true, "dead-reset": "20", hidden: "64,32" }).hiddenDims, [64, 32]);
});

test("gr2 sid build --method rqvae writes a bijective SID map and the RQ-VAE weights", async () => {
  const dir = tempDir();
  const r = await run([
    "build", "--dataset", "synthetic", "--users", "150", "--items", "200", "--out", dir, "--json",
    "--method", "rqvae", "--levels", "3", "--codebook-size", "16", "--ema", "--random-last", "1",
    "--epochs", "10", "--batch-size", "64", "--hidden", "32", "--latent-dim", "8", "--contrastive", "0.1",
  ]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.method, "rqvae");
  assert.equal(s.items, 200);
  assert.equal(s.final_uniqueness, 1);
  assert.ok(s.natural_uniqueness > 0.8, `natural uniqueness ${s.natural_uniqueness}`);
  const map = await readSidMap(join(dir, "sid_map.json"));
  assert.equal(map.method, "rqvae");
  assert.equal((map.extra.quantiser as { ema: boolean }).ema, true);
  assert.ok(existsSync(join(dir, "codebooks.safetensors")));
  const file = parseSafetensors(await readFile(join(dir, "codebooks.safetensors")), "codebooks.safetensors");
  assert.equal(file.metadata.method, "rqvae");
  const model = RqVaeModel.fromTensors(Object.fromEntries([...file.infos.keys()].map((k) => [k, file.read(k)])), file.metadata);
  assert.equal(model.levels, 3);
  assert.equal(model.latentDim, 8);
});
