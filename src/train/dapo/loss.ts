/**
 * DAPO's objective (Yu et al. 2025, "DAPO: an open-source LLM reinforcement learning system
 * at scale", eq. 8), as GR2 uses it:
 *
 *   J(θ) = E[ 1/Σ_i|o_i| · Σ_i Σ_t min( r_{i,t}(θ) Â_i , clip(r_{i,t}(θ), 1−ε_low, 1+ε_high) Â_i ) ]
 *   r_{i,t}(θ) = π_θ(o_{i,t} | q, o_{i,<t}) / π_old(o_{i,t} | q, o_{i,<t})
 *   Â_i = (R_i − mean({R_j})) / std({R_j})          over the G samples of the same prompt
 *
 * Token-level: the sum runs over every response token of the batch and is divided by the
 * total token count, so long responses weigh by their length (not one vote per sample).
 * Clip-higher: ε_high > ε_low lets unlikely tokens grow, against entropy collapse.
 */
import { tidy, type Tensor } from "../../torch/index.js";

export interface ClipConfig {
  eps_low: number;
  eps_high: number;
}

export const DAPO_CLIP: ClipConfig = { eps_low: 0.2, eps_high: 0.28 };

export interface PolicyLossResult {
  /** The loss to minimise (−J). */
  loss: Tensor;
  /** Share of response tokens clipped at 1−ε_low (with Â < 0) and at 1+ε_high (with Â > 0). */
  clipFracLow: number;
  clipFracHigh: number;
}

/**
 * logp, oldLogp, mask: [N, T] (mask 1 on response tokens); advantages: [N] or [N, T].
 * Returns −J, normalised by the number of response tokens in the batch (`tokenCount`,
 * which callers pass when a batch is split into mini-batches that share one normaliser).
 */
export function dapoPolicyLoss(logp: Tensor, oldLogp: Tensor, advantages: Tensor, mask: Tensor, clip: ClipConfig = DAPO_CLIP, tokenCount?: number): PolicyLossResult {
  let clipFracLow = 0;
  let clipFracHigh = 0;
  const loss = tidy(() => {
    const A = advantages.ndim === 1 ? advantages.unsqueeze(1) : advantages;
    const ratio = logp.sub(oldLogp).exp();
    const unclipped = ratio.mul(A);
    const clipped = ratio.clamp(1 - clip.eps_low, 1 + clip.eps_high).mul(A);
    const objective = unclipped.minimum(clipped).mul(mask);
    const tokens = tokenCount ?? Math.max(1, mask.sum().item());
    // Diagnostics (no grad needed): where the clip bound was the active term.
    const m = mask.detach();
    clipFracLow = ratio.detach().lt(1 - clip.eps_low).logicalAnd(A.lt(0).expand(...ratio.shape)).mul(m).sum().item() / tokens;
    clipFracHigh = ratio.detach().gt(1 + clip.eps_high).logicalAnd(A.gt(0).expand(...ratio.shape)).mul(m).sum().item() / tokens;
    return objective.sum().div(tokens).neg();
  });
  return { loss, clipFracLow, clipFracHigh };
}

/**
 * The k3 estimator of KL(π_θ ‖ π_ref) per token (Schulman 2020): exp(ref − logp) − (ref − logp) − 1,
 * unbiased and always ≥ 0. DAPO drops the KL term by default; it is here for the optional
 * frozen-reference penalty.
 */
export function k3KL(logp: Tensor, refLogp: Tensor): Tensor {
  return tidy(() => {
    const d = refLogp.sub(logp);
    return d.exp().sub(d).sub(1);
  });
}

/**
 * On-policy distillation's anchor (GR2 technical report §OPD, Eq. 4): at every position of the
 * student's own sample, the reverse KL from the student to a frozen teacher, exact over the
 * vocabulary:
 *
 *   KL_t = Σ_v π_θ(v | q, o_<t) · ( log π_θ(v | q, o_<t) − log π_T(v | q, o_<t) )
 *
 * logProbs, teacherLogProbs: [N, L, V] log-softmaxed; returns [N, L]. Reverse KL is mode-seeking:
 * the student is pushed off tokens the teacher finds unlikely rather than made to cover all
 * of the teacher's mass, which suits a smaller student. The teacher gives log-probabilities,
 * never labels. (`k3KL(logp, teacherLogp)` on the sampled token is the one-sample estimate.)
 */
export function reverseKL(logProbs: Tensor, teacherLogProbs: Tensor): Tensor {
  return tidy(() => logProbs.exp().mul(logProbs.sub(teacherLogProbs)).sum(-1));
}

/** Group-normalised advantages Â_i = (R_i − mean_g) / (std_g + eps), groups of `groupSize` consecutive rewards. */
export function groupAdvantages(rewards: readonly number[], groupSize: number, eps = 1e-6): number[] {
  if (rewards.length % groupSize !== 0) throw new Error(`groupAdvantages: ${rewards.length} rewards do not split into groups of ${groupSize}`);
  const out: number[] = [];
  for (let g = 0; g < rewards.length; g += groupSize) {
    const group = rewards.slice(g, g + groupSize);
    const { mean, std } = meanStd(group);
    for (const r of group) out.push((r - mean) / (std + eps));
  }
  return out;
}

/**
 * Â of an answer scoring `r`, measured against a group's rewards with `groupAdvantages`'
 * normalisation, or null when the group's rewards do not vary (DAPO drops such a group).
 *
 * The reward ablation asks it of the copy of the incoming order on a list whose target is not
 * first: a positive value says this reward, at this policy, pays a copy more than the policy's
 * own samples, so the update pulls toward copying (the paper's naive-reward hacking). Â is
 * normalised within the group, so the naive reward's α, paid to every valid answer, cancels
 * among valid answers; the conditional reward pays α only to answers that promote the target,
 * which lowers the copy's standing by about α × (share of promoting samples) / std.
 */
export function advantageAgainst(r: number, group: readonly number[], eps = 1e-6): number | null {
  const { mean, std } = meanStd(group);
  return std > 1e-9 ? (r - mean) / (std + eps) : null;
}

/** A group's mean reward and (population) standard deviation: the normalisation of Â. */
function meanStd(group: readonly number[]): { mean: number; std: number } {
  const mean = group.reduce((a, b) => a + b, 0) / group.length;
  return { mean, std: Math.sqrt(group.reduce((a, b) => a + (b - mean) ** 2, 0) / group.length) };
}

/**
 * Per-token advantages when invalid answers are credited at their first error only (DAPO
 * option `formatCredit: "first_error"`): row n is Â_n on every token, except that an answer
 * with `errorAt[n] = t` carries Â_n on token t and 0 elsewhere. Row-major [N, L] with
 * L = max(1, lengths) (the tail past an answer's length is masked by the caller), or null when
 * no answer has an error position, so the caller keeps one Â per answer.
 */
export function firstErrorAdvantages(A: readonly number[], lengths: readonly number[], errorAt: readonly (number | null)[]): number[] | null {
  if (errorAt.every((e) => e === null)) return null;
  const L = Math.max(1, ...lengths);
  const rows = new Array<number>(A.length * L).fill(0);
  A.forEach((a, n) => {
    const e = errorAt[n];
    if (e === null || e === undefined) rows.fill(a, n * L, (n + 1) * L);
    else {
      if (!(Number.isInteger(e) && e >= 0 && e < lengths[n]!)) throw new RangeError(`firstErrorAdvantages: answer ${n} has ${lengths[n]} tokens, so no error at token ${e}`);
      rows[n * L + e] = a;
    }
  });
  return rows;
}

/**
 * DAPO's overlong reward shaping (eq. 13): no penalty up to L_max − L_cache tokens, a linear
 * penalty down to −1 inside the cache buffer, −1 beyond L_max. Scaled by `factor`.
 */
export function overlongPenalty(length: number, maxLength: number, cacheLength: number, factor = 1): number {
  const soft = maxLength - cacheLength;
  if (length <= soft) return 0;
  if (length <= maxLength) return (factor * (soft - length)) / cacheLength;
  return -factor;
}

/**
 * Dynamic sampling: keep only groups whose filter metric varies (a group where every sample
 * got the same outcome has zero advantage and no gradient). Returns the kept group indices.
 */
export function groupsWithSignal(metric: readonly number[], groupSize: number, tol = 1e-9): number[] {
  const kept: number[] = [];
  for (let g = 0; g * groupSize < metric.length; g++) {
    const group = metric.slice(g * groupSize, (g + 1) * groupSize);
    if (Math.max(...group) - Math.min(...group) > tol) kept.push(g);
  }
  return kept;
}
