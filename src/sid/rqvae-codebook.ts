/**
 * One level of the RQ-VAE's residual quantiser on the engine: K code vectors and how they learn.
 *
 * - Gradient codebooks (the plain VQ-VAE): the vectors are parameters, pulled towards the
 *   residuals assigned to them by the codebook loss ‖sg(r) − q‖². A code no residual picks
 *   gets no gradient and stays where it is: dead.
 * - EMA codebooks (van den Oord et al. 2017, appendix; the paper's biggest uniqueness lever):
 *   each code is the exponential moving average (decay γ) of the residuals assigned to it,
 *   N_k ← γN_k + (1−γ)n_k, m_k ← γm_k + (1−γ)Σ r, e_k = m_k / Ñ_k, with Laplace smoothing
 *   Ñ_k = (N_k + ε)/(ΣN + Kε)·ΣN so a rarely used code never divides by zero. This is an
 *   online k-means step, so codes track the encoder's drifting output instead of lagging
 *   behind it. The vectors then get no gradient at all.
 *
 * It also counts, per code, how many consecutive batches have not used it (dead-code reset).
 */
import { arange, embedding, noGrad, ones, tensor, withTemp, type Tensor } from "../torch/index.js";
import type { Matrix } from "./matrix.js";

export interface EmaSettings {
  /** Decay γ. */
  gamma: number;
  /** Laplace smoothing ε. */
  epsilon: number;
}

export class Codebook {
  /** [K, D]; a trainable parameter unless EMA-updated. */
  readonly vectors: Tensor;
  readonly size: number;
  readonly dim: number;
  readonly #ema: (EmaSettings & { clusterSize: Tensor; embedSum: Tensor }) | null;
  /** Consecutive batches without a single assignment, per code. */
  readonly #unusedFor: Int32Array;

  constructor(init: Matrix, ema: EmaSettings | null) {
    this.size = init.rows;
    this.dim = init.cols;
    this.vectors = tensor(Float32Array.from(init.data), [init.rows, init.cols]).keep();
    if (ema) {
      // Start as if each code had been assigned one residual equal to itself.
      this.#ema = { ...ema, clusterSize: ones([this.size]).keep(), embedSum: this.vectors.clone().keep() };
    } else {
      this.#ema = null;
      this.vectors.requiresGrad_(true);
    }
    this.#unusedFor = new Int32Array(this.size);
  }

  /** True when the vectors learn by gradient (they belong in the optimiser). */
  get trainable(): boolean {
    return this.#ema === null;
  }

  /** Squared Euclidean distances [B, K] of residuals r [B, D] to every code: ‖r‖² − 2 r·e + ‖e‖². */
  distances(r: Tensor): Tensor {
    const rr = r.square().sum(1, true);
    const ee = this.vectors.square().sum(1).unsqueeze(0);
    return rr.sub(r.matmul(this.vectors.T).mul(2)).add(ee);
  }

  /** The code vectors of int64 codes [B] → [B, D]. */
  lookup(codes: Tensor): Tensor {
    return embedding(this.vectors, codes);
  }

  /** One EMA step from a batch's residuals (detached) and their codes. No-op for gradient codebooks. */
  emaUpdate(residuals: Tensor, codes: Tensor): void {
    const ema = this.#ema;
    if (!ema) return;
    noGrad(() => {
      const K = this.size;
      const oneHot = codes.unsqueeze(1).eq(arange(0, K).unsqueeze(0)).to("float32"); // [B, K]
      ema.clusterSize.mul_(ema.gamma).add_(oneHot.sum(0), 1 - ema.gamma);
      ema.embedSum.mul_(ema.gamma).add_(oneHot.T.matmul(residuals), 1 - ema.gamma);
      const total = ema.clusterSize.sum();
      const smoothed = ema.clusterSize.add(ema.epsilon).div(total.add(K * ema.epsilon)).mul(total);
      this.vectors.copy_(ema.embedSum.div(smoothed.unsqueeze(1)));
    });
  }

  /**
   * Records which codes a batch used and returns those now unused for at least `tau`
   * consecutive batches (ascending), or [] when tau is 0 (dead-code reset off).
   */
  trackUsage(codes: ArrayLike<number>, tau: number): number[] {
    const used = new Uint8Array(this.size);
    for (let i = 0; i < codes.length; i++) used[codes[i]!] = 1;
    const dead: number[] = [];
    for (let k = 0; k < this.size; k++) {
      this.#unusedFor[k] = used[k] ? 0 : this.#unusedFor[k]! + 1;
      if (tau > 0 && this.#unusedFor[k]! >= tau) dead.push(k);
    }
    return dead;
  }

  /**
   * Moves codes to new vectors [m, D] (dead-code reset) and restarts their EMA statistics and
   * idle counters. An optimiser's moments for those rows are left as they are: they decay
   * within a few dozen steps, and the reset vector sits on a real residual either way.
   */
  reset(codeIds: readonly number[], rows: Tensor): void {
    noGrad(() => {
      const idx = tensor(BigInt64Array.from(codeIds, BigInt), [codeIds.length], { dtype: "int64" });
      this.vectors.indexCopy_(0, idx, rows);
      if (this.#ema) {
        this.#ema.clusterSize.indexCopy_(0, idx, ones([codeIds.length]));
        this.#ema.embedSum.indexCopy_(0, idx, rows);
      }
    });
    for (const k of codeIds) this.#unusedFor[k] = 0;
  }

  /** The current vectors as a typed-array matrix (for the trained model). */
  toMatrix(): Matrix {
    return { rows: this.size, cols: this.dim, data: withTemp(this.vectors.detach(), (v) => Float32Array.from(v.toFloat32Array())) };
  }

  dispose(): void {
    this.vectors.dispose();
    this.#ema?.clusterSize.dispose();
    this.#ema?.embedSum.dispose();
  }
}
