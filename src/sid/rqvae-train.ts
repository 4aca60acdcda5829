/**
 * Training the RQ-VAE on the engine (TIGER-style; Rajput et al. 2023, with the GR2 paper's
 * codebook-utilisation techniques). One step, on a batch of item embeddings x:
 *
 *   z = encoder(x);  r₀ = z
 *   for each learned level l:  c_l = argmin_k ‖r_l − e_k‖²,  q_l = e_{c_l},  r_{l+1} = r_l − q_l
 *   ẑ = Σ q_l;  z_q = z + sg(ẑ − z)          ← straight-through: forward ẑ, gradient to z
 *   x̂ = decoder(z_q)
 *   loss = ‖x̂ − x‖²  + β Σ‖r_l − sg(q_l)‖²  (+ Σ‖sg(r_l) − q_l‖² for gradient codebooks)
 *          − λ_div · H(batch-mean softmax(−distance/τ))  + λ_nce · InfoNCE(co-interacted pairs)
 *
 * (squared norms are element means). Then EMA codebooks take their online k-means step and
 * codes idle for τ batches are reset to the residuals of the worst-reconstructed samples.
 * The random last levels take no part in training: their codes are drawn at encode time.
 *
 * Every step runs in tidy(), so live tensors stay flat; everything made here is disposed
 * before returning (the trained model is typed arrays), and the engine's global RNG state
 * and thread count are restored, so a fit has no side effects on the caller's engine.
 */
import {
  AdamW, arange, crossEntropy, getNumThreads, getRngState, int64, manualSeed, noGrad, setNumThreads, setRngState, tensor, tidy,
  warmupCosineLr, type Tensor,
} from "../torch/index.js";
import { type Matrix, rowSlice, zeros } from "./matrix.js";
import { Rng } from "./rng.js";
import { RqKMeans, type RqKMeansModel } from "./rqkmeans.js";
import type { QuantiserFit } from "./quantiser.js";
import { type ResolvedRqVaeOptions, type RqVaeProgress, learnedLevels } from "./rqvae-options.js";
import { RqVaeNet } from "./rqvae-net.js";
import { Codebook } from "./rqvae-codebook.js";
import { RqVaeModel } from "./rqvae-model.js";
import { type ItemPairs, coInteractionPairs, samplePairs } from "./rqvae-pairs.js";

export interface RqVaeStats {
  steps: number;
  /** Dead-code resets per learned level over the whole run. */
  resets: number[];
  /** The last epoch's mean losses (null when trained for 0 epochs). */
  last: RqVaeProgress | null;
  seconds: number;
}

export interface RqVaeFit extends QuantiserFit {
  model: RqVaeModel;
  stats: RqVaeStats;
}

/** Per-step loss values, read back as numbers. */
type StepLosses = Omit<RqVaeProgress, "epoch" | "epochs" | "step">;

export function trainRqVae(x: Matrix, o: ResolvedRqVaeOptions): RqVaeFit {
  if (x.rows === 0) throw new Error("rqvae: no rows to fit");
  const started = performance.now();
  const savedRng = getRngState().keep();
  const savedThreads = getNumThreads();
  if (o.threads > 0) setNumThreads(o.threads);
  manualSeed(o.seed);
  const rng = new Rng(o.seed);
  const net = new RqVaeNet(x.cols, o.hiddenDims, o.latentDim);
  const X = tensor(Float32Array.from(x.data), [x.rows, x.cols]).keep();
  const codebooks: Codebook[] = [];
  let optimiser: AdamW | null = null;
  try {
    initialCodebooks(net, X, o, rng, codebooks);
    optimiser = new AdamW([...net.parameters(), ...codebooks.filter((c) => c.trainable).map((c) => c.vectors)], {
      lr: o.learningRate,
      weightDecay: 0,
    });
    const pairs = o.contrastive > 0 ? coInteractionPairs(o.trainSequences!, x.rows, o.contrastiveWindow) : null;
    if (pairs && pairs.a.length === 0) throw new Error("rqvae: the contrastive loss found no co-interacted pairs in the train sequences");
    const trainer = new Trainer(net, codebooks, optimiser, X, o, rng, pairs);
    const last = trainer.run();
    const model = new RqVaeModel(
      net.encoder.toDense(),
      net.decoder.toDense(),
      [...codebooks.map((c) => c.toMatrix()), ...Array.from({ length: o.randomLastLevels }, () => zeros(o.codebookSize, o.latentDim))],
      o.randomLastLevels,
      o.seed,
      o.chunkRows,
    );
    const codes = model.encode(x);
    return {
      model,
      codes,
      residualMse: latentResidualMse(model, x, codes),
      iterations: Array.from({ length: o.levels }, (_, l) => (l < learnedLevels(o) ? trainer.steps : 0)),
      stats: { steps: trainer.steps, resets: trainer.resets, last, seconds: (performance.now() - started) / 1000 },
    };
  } finally {
    optimiser?.dispose();
    for (const c of codebooks) c.dispose();
    net.dispose();
    X.dispose();
    setRngState(savedRng);
    savedRng.dispose();
    setNumThreads(savedThreads);
  }
}

/**
 * Codebooks for the learned levels. "kmeans": encode the first batch(es) with the untrained
 * encoder and run k-means level by level on the residuals (RQ-KMeans, one level at a time),
 * so every code starts on data and none is dead from step one. "random": N(0, σ²) vectors,
 * the collapse-prone start the tests use. Pushed into `out` one by one, so that the caller
 * disposes whatever was made if a later level fails.
 */
function initialCodebooks(net: RqVaeNet, X: Tensor, o: ResolvedRqVaeOptions, rng: Rng, out: Codebook[]): void {
  const L = learnedLevels(o), K = o.codebookSize, D = o.latentDim;
  const ema = o.ema ? { gamma: o.gamma, epsilon: o.emaEpsilon } : null;
  if (o.codebookInit === "random") {
    for (let l = 0; l < L; l++) {
      const init = zeros(K, D);
      for (let i = 0; i < init.data.length; i++) init.data[i] = o.randomInitStd * rng.normal();
      out.push(new Codebook(init, ema));
    }
    return;
  }
  const n = X.size(0);
  const rows = Array.from(rng.sample(n, Math.min(n, o.kmeansInitRows)));
  const residual: Matrix = { rows: rows.length, cols: D, data: new Float32Array(rows.length * D) };
  tidy(() => noGrad(() => residual.data.set(net.encoder.forward(X.indexSelect(0, int64(rows))).toFloat32Array())));
  for (let l = 0; l < L; l++) {
    const fit = new RqKMeans({ levels: 1, codebookSize: K, randomLastLevels: 0, balanced: false, maxIterations: 20, seed: o.seed + l }).fit(residual);
    const centroids = (fit.model as RqKMeansModel).centroids[0]!;
    const recon = fit.model.decode(fit.codes);
    for (let i = 0; i < residual.data.length; i++) residual.data[i] -= recon.data[i]!;
    out.push(new Codebook(centroids, ema));
  }
}

class Trainer {
  steps = 0;
  readonly resets: number[];
  readonly #totalSteps: number;
  readonly #batchesPerEpoch: number;

  constructor(
    readonly net: RqVaeNet,
    readonly codebooks: readonly Codebook[],
    readonly optimiser: AdamW,
    readonly X: Tensor,
    readonly o: ResolvedRqVaeOptions,
    readonly rng: Rng,
    readonly pairs: ItemPairs | null,
  ) {
    this.resets = codebooks.map(() => 0);
    this.#batchesPerEpoch = Math.ceil(X.size(0) / Math.min(o.batchSize, X.size(0)));
    this.#totalSteps = o.epochs * this.#batchesPerEpoch;
  }

  run(): RqVaeProgress | null {
    const n = this.X.size(0), B = Math.min(this.o.batchSize, n);
    let last: RqVaeProgress | null = null;
    for (let epoch = 0; epoch < this.o.epochs; epoch++) {
      const order = this.rng.sample(n, n);
      const sums: StepLosses = { loss: 0, reconstruction: 0, commitment: 0, diversity: 0, contrastive: 0, resets: 0 };
      for (let start = 0; start < n; start += B) {
        const rows = Array.from(order.subarray(start, Math.min(n, start + B)));
        const losses = tidy(() => this.step(rows));
        for (const k of Object.keys(sums) as (keyof StepLosses)[]) sums[k] += losses[k];
      }
      const mean = (k: keyof StepLosses) => (k === "resets" ? sums[k] : sums[k] / this.#batchesPerEpoch);
      last = {
        epoch, epochs: this.o.epochs, step: this.steps,
        loss: mean("loss"), reconstruction: mean("reconstruction"), commitment: mean("commitment"),
        diversity: mean("diversity"), contrastive: mean("contrastive"), resets: mean("resets"),
      };
      this.o.onProgress?.(last);
    }
    return last;
  }

  /** One optimisation step on the items `rows`; runs inside tidy(). */
  step(rows: number[]): StepLosses {
    const { o, net, codebooks } = this;
    const xb = this.X.indexSelect(0, int64(rows));
    const z = net.encoder.forward(xb);

    let r = z;
    let zHat: Tensor | null = null;
    const commitment: Tensor[] = [], codebookLoss: Tensor[] = [], entropy: Tensor[] = [];
    const levelInputs: Tensor[] = [], levelCodes: Tensor[] = [];
    for (const cb of codebooks) {
      // Distances need a graph only when the diversity loss differentiates through them.
      const dist = o.diversity > 0 ? cb.distances(r) : noGrad(() => cb.distances(r));
      const nearest = dist.detach().min(1).indices;
      const q = cb.lookup(nearest);
      commitment.push(r.sub(q.detach()).square().mean());
      if (cb.trainable) codebookLoss.push(r.detach().sub(q).square().mean());
      if (o.diversity > 0) entropy.push(softUsageEntropy(dist, o.diversityTau));
      levelInputs.push(r.detach());
      levelCodes.push(nearest);
      zHat = zHat ? zHat.add(q) : q;
      r = r.sub(q.detach());
    }
    const zq = z.add(zHat!.sub(z).detach()); // straight-through estimator
    const xHat = net.decoder.forward(zq);
    const sampleError = xHat.sub(xb).square().mean(1); // [B], ranks samples for dead-code reset
    const reconstruction = sampleError.mean();

    const sum = (ts: Tensor[]) => ts.reduce((a, b) => a.add(b));
    let loss = reconstruction.add(sum(commitment).mul(o.beta));
    if (codebookLoss.length > 0) loss = loss.add(sum(codebookLoss));
    const diversity = entropy.length > 0 ? sum(entropy).div(entropy.length) : null;
    if (diversity) loss = loss.sub(diversity.mul(o.diversity));
    const contrastive = this.pairs ? this.infoNce(rows.length) : null;
    if (contrastive) loss = loss.add(contrastive.mul(o.contrastive));

    this.optimiser.lr = warmupCosineLr(this.steps, {
      maxLr: o.learningRate,
      warmupSteps: Math.min(100, Math.ceil(0.05 * this.#totalSteps)),
      totalSteps: this.#totalSteps,
    });
    loss.backward();
    this.optimiser.step();
    this.optimiser.zeroGrad();
    this.steps++;

    let resets = 0;
    codebooks.forEach((cb, l) => {
      cb.emaUpdate(levelInputs[l]!, levelCodes[l]!);
      const dead = cb.trackUsage(levelCodes[l]!.toArray(), o.deadCodeTau);
      if (dead.length > 0) {
        cb.reset(dead, levelInputs[l]!.indexSelect(0, int64(worstSamples(sampleError, dead.length))));
        this.resets[l]! += dead.length;
        resets += dead.length;
      }
    });
    return {
      loss: loss.item(),
      reconstruction: reconstruction.item(),
      commitment: sum(commitment).item(),
      diversity: diversity ? diversity.item() : 0,
      contrastive: contrastive ? contrastive.item() : 0,
      resets,
    };
  }

  /**
   * Symmetric InfoNCE over `size` co-interacted pairs: the cosine similarity of a pair's two
   * latents should beat that of the item with every other pair's partner (in-batch negatives).
   */
  infoNce(size: number): Tensor {
    const { a, b } = samplePairs(this.pairs!, size, this.rng);
    const unit = (items: number[]) => {
      const z = this.net.encoder.forward(this.X.indexSelect(0, int64(items)));
      return z.div(z.square().sum(1, true).add(1e-12).sqrt());
    };
    const logits = unit(a).matmul(unit(b).T).div(this.o.contrastiveTau);
    const targets = arange(0, size);
    return crossEntropy(logits, targets).add(crossEntropy(logits.T.contiguous(), targets)).div(2);
  }
}

/**
 * Normalised entropy H(p̄)/ln K of the batch-mean soft assignment p̄ = mean_i softmax(−d_i/τ'),
 * in [0, 1]; 1 when the batch spreads evenly over the codebook. τ' = τ · mean distance, so one
 * τ works whatever the latent's scale (which drifts during training).
 */
function softUsageEntropy(dist: Tensor, tau: number): Tensor {
  const K = dist.size(1);
  const scale = dist.detach().mean().mul(tau).add(1e-12);
  const usage = dist.neg().div(scale).softmax(1).mean(0);
  return usage.mul(usage.clamp(1e-12).log()).sum().neg().div(Math.log(K));
}

/** Indices of the `m` samples with the largest reconstruction error, worst first (cycled if m > B). */
function worstSamples(sampleError: Tensor, m: number): number[] {
  const err = sampleError.detach().toFloat32Array();
  const order = Array.from(err.keys()).sort((i, j) => err[j]! - err[i]! || i - j);
  return Array.from({ length: m }, (_, i) => order[i % order.length]!);
}

/** Mean squared latent residual after each level (random levels leave it unchanged). */
function latentResidualMse(model: RqVaeModel, x: Matrix, codes: { codes: Int32Array; levels: number }): number[] {
  const L = model.levels, D = model.latentDim;
  const sums = new Float64Array(L);
  for (let start = 0; start < x.rows; start += model.chunkRows) {
    const end = Math.min(x.rows, start + model.chunkRows);
    const r = model.encodeLatent(rowSlice(x, start, end));
    for (let i = 0; i < r.rows; i++) {
      for (let l = 0; l < L; l++) {
        const c = model.latent.centroids[l]!.data, k = codes.codes[(start + i) * L + l]!;
        let s = 0;
        for (let j = 0; j < D; j++) {
          const v = (r.data[i * D + j] -= c[k * D + j]!);
          s += v * v;
        }
        sums[l] += s;
      }
    }
  }
  return Array.from(sums, (s) => s / x.rows);
}
