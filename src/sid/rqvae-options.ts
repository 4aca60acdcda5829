/**
 * RQ-VAE options, their defaults and validation. Torch-free, so that `build.ts` can register
 * the method (and the CLI can reject bad flags) without loading the libtorch addon.
 *
 * The defaults are the plain RQ-VAE of the paper's ablation ("none"): gradient-trained
 * codebooks with k-means initialisation and every codebook-utilisation technique off. Each
 * technique is switched on by its own option:
 *
 * | option                 | technique                                                        |
 * |------------------------|------------------------------------------------------------------|
 * | `ema` (+ `gamma`)      | EMA codebook updates with Laplace smoothing (no codebook gradient) |
 * | `randomLastLevels`     | the last M levels are assigned uniformly at random               |
 * | `diversity` (+ `diversityTau`) | loss on the entropy of the batch's soft code usage       |
 * | `deadCodeTau`          | a code unused for τ consecutive batches is reset                 |
 * | `contrastive` (+ `contrastiveTau`, `contrastiveWindow`) | InfoNCE over co-interacted items |
 */

export interface RqVaeProgress {
  epoch: number;
  epochs: number;
  step: number;
  /** Means over the epoch's batches. */
  loss: number;
  reconstruction: number;
  commitment: number;
  diversity: number;
  contrastive: number;
  /** Codes reset by dead-code reset during the epoch (all levels). */
  resets: number;
}

export interface RqVaeOptions {
  /** Code levels L (learned + random). Default 4. */
  levels?: number;
  /** Codes per level K. Default 256. */
  codebookSize?: number;
  /** Encoder hidden widths; the decoder mirrors them. Default [256, 128]. */
  hiddenDims?: number[];
  /** Latent (codebook vector) dimension. Default 32. */
  latentDim?: number;
  /** Passes over the items. Default 150 (≈ 1,800 steps on Beauty's 12,101 items). */
  epochs?: number;
  /** Items per batch. Default 1024. */
  batchSize?: number;
  /** AdamW peak learning rate (warm-up, then cosine decay to a tenth). Default 1e-3. */
  learningRate?: number;
  /** Commitment loss weight β: pulls the encoder output towards its codes. Default 0.25. */
  beta?: number;
  /** EMA codebook updates instead of a codebook loss. Default false. */
  ema?: boolean;
  /** EMA decay γ, in [0.95, 0.99] per the paper. Default 0.99. */
  gamma?: number;
  /** Laplace smoothing ε of the EMA cluster sizes (keeps unused codes finite). Default 1e-5. */
  emaEpsilon?: number;
  /** The last M levels pick codes uniformly at random (no codebook). Default 0. */
  randomLastLevels?: number;
  /** Weight λ of the diversity loss (0 = off). Default 0. */
  diversity?: number;
  /** Temperature τ of the soft assignment softmax(−distance/τ), relative to the batch's mean distance. Default 0.1. */
  diversityTau?: number;
  /** Reset a code unused for τ consecutive batches (0 = off). Default 0. */
  deadCodeTau?: number;
  /** Weight λ of the InfoNCE contrastive loss over co-interacted items (0 = off). Default 0. */
  contrastive?: number;
  /** InfoNCE temperature τ over cosine similarities. Default 0.1. */
  contrastiveTau?: number;
  /** Items at most this many positions apart in a train sequence form a pair. Default 3. */
  contrastiveWindow?: number;
  /** The TRAIN split's sequences (item indices): where co-interacted pairs come from. */
  trainSequences?: readonly (readonly number[])[];
  /** How codebooks start: k-means on the first batches' residuals, or N(0, σ²) draws. Default "kmeans". */
  codebookInit?: "kmeans" | "random";
  /** σ of the "random" initialisation. Default 1. */
  randomInitStd?: number;
  /** Rows the k-means initialisation sees ("the first batches"). Default max(batchSize, 16·K). */
  kmeansInitRows?: number;
  /** Seeds weights, shuffles, pair sampling and the random levels. Default 0. */
  seed?: number;
  /**
   * libtorch intra-op threads while training (restored afterwards; 0 = leave the engine's
   * setting). Default 1: the matrices are small (1024 × 256), so splitting them costs more in
   * synchronisation than it gains, and on a loaded machine spinning worker threads are ruinous —
   * measured on the shared 2-core box at load ≈ 12: 0.45 s per Beauty epoch with 1 thread,
   * 5–6 s with 2.
   */
  threads?: number;
  /** Rows per block when encoding with the trained model. Default 4096. */
  chunkRows?: number;
  /** Called after each epoch. */
  onProgress?: (p: RqVaeProgress) => void;
}

export type ResolvedRqVaeOptions = Required<Omit<RqVaeOptions, "onProgress" | "trainSequences">> &
  Pick<RqVaeOptions, "onProgress" | "trainSequences">;

export function resolveRqVaeOptions(o: RqVaeOptions): ResolvedRqVaeOptions {
  const codebookSize = o.codebookSize ?? 256;
  const batchSize = o.batchSize ?? 1024;
  const r: ResolvedRqVaeOptions = {
    levels: 4, codebookSize, hiddenDims: [256, 128], latentDim: 32, epochs: 150, batchSize, learningRate: 1e-3,
    beta: 0.25, ema: false, gamma: 0.99, emaEpsilon: 1e-5, randomLastLevels: 0,
    diversity: 0, diversityTau: 0.1, deadCodeTau: 0, contrastive: 0, contrastiveTau: 0.1, contrastiveWindow: 3,
    codebookInit: "kmeans", randomInitStd: 1, kmeansInitRows: Math.max(batchSize, 16 * codebookSize),
    seed: 0, threads: 1, chunkRows: 4096,
    // An option given as undefined means "default", not "unset".
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  };
  const fail = (what: string): never => {
    throw new Error(`rqvae: ${what}`);
  };
  const int = (name: keyof ResolvedRqVaeOptions, min: number) => {
    const v = r[name] as number;
    if (!Number.isSafeInteger(v) || v < min) fail(`${name} must be an integer ≥ ${min}, got ${v}`);
  };
  const nonNegative = (name: keyof ResolvedRqVaeOptions) => {
    const v = r[name] as number;
    if (!(Number.isFinite(v) && v >= 0)) fail(`${name} must be a number ≥ 0, got ${v}`);
  };
  const positive = (name: keyof ResolvedRqVaeOptions) => {
    const v = r[name] as number;
    if (!(Number.isFinite(v) && v > 0)) fail(`${name} must be a number > 0, got ${v}`);
  };
  int("levels", 1);
  int("codebookSize", 1);
  int("latentDim", 1);
  int("epochs", 0);
  int("batchSize", 1);
  int("randomLastLevels", 0);
  int("deadCodeTau", 0);
  int("contrastiveWindow", 1);
  int("kmeansInitRows", 1);
  int("seed", 0);
  int("chunkRows", 1);
  int("threads", 0);
  positive("learningRate");
  nonNegative("beta");
  nonNegative("diversity");
  positive("diversityTau");
  nonNegative("contrastive");
  positive("contrastiveTau");
  positive("randomInitStd");
  positive("emaEpsilon");
  if (!Array.isArray(r.hiddenDims) || !r.hiddenDims.every((h) => Number.isSafeInteger(h) && h >= 1)) {
    fail(`hiddenDims must be a list of integers ≥ 1, got ${JSON.stringify(r.hiddenDims)}`);
  }
  if (r.randomLastLevels >= r.levels) {
    // With no learned level there is nothing to train: that is RQ-KMeans with random codes.
    fail(`randomLastLevels (${r.randomLastLevels}) must be < levels (${r.levels}): at least one level must be learned`);
  }
  if (!(r.gamma >= 0.5 && r.gamma < 1)) fail(`gamma must be in [0.5, 1) (the paper uses 0.95–0.99), got ${r.gamma}`);
  if (r.codebookInit !== "kmeans" && r.codebookInit !== "random") fail(`codebookInit must be "kmeans" or "random", got "${r.codebookInit}"`);
  if (r.contrastive > 0 && !r.trainSequences) fail("the contrastive loss needs the train split's sequences (trainSequences)");
  return r;
}

/** Learned (non-random) levels: the first L − M. */
export function learnedLevels(o: Pick<ResolvedRqVaeOptions, "levels" | "randomLastLevels">): number {
  return o.levels - o.randomLastLevels;
}
