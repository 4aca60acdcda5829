/**
 * AdamW with parameter groups, global-norm gradient clipping and the warm-up + cosine
 * learning-rate schedule. The update itself runs in C++ (native/nn_ops.cc, one call per
 * group); the moment tensors live here so checkpoints can save and restore them exactly.
 */
import { native } from "./native.js";
import { zerosLike } from "./create.js";
import type { Tensor } from "./tensor.js";

export interface ParamGroup {
  params: Tensor[];
  /** Overrides the optimiser's weight decay (0 for norms, biases and embeddings, as configured). */
  weightDecay?: number;
  /** Multiplies the scheduled learning rate for this group. */
  lrScale?: number;
}

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

interface GroupState {
  params: Tensor[];
  handles: number[];
  expAvg: Tensor[];
  expAvgSq: Tensor[];
  expAvgH: number[];
  expAvgSqH: number[];
  weightDecay: number;
  lrScale: number;
}

export class AdamW {
  /** The learning rate for the next step (a schedule sets it each step). */
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  /** Steps taken so far (bias correction uses stepCount after increment). */
  stepCount = 0;
  readonly #groups: GroupState[];

  constructor(params: Tensor[] | ParamGroup[], o: AdamWOptions) {
    this.lr = o.lr;
    this.betas = o.betas ?? [0.9, 0.999];
    this.eps = o.eps ?? 1e-8;
    const groups: ParamGroup[] = params.length > 0 && "params" in (params[0] as object) ? (params as ParamGroup[]) : [{ params: params as Tensor[] }];
    this.#groups = groups.map((g) => {
      const expAvg = g.params.map((p) => zerosLike(p).keep());
      const expAvgSq = g.params.map((p) => zerosLike(p).keep());
      return {
        params: g.params,
        handles: g.params.map((p) => p.handle),
        expAvg,
        expAvgSq,
        expAvgH: expAvg.map((t) => t.handle),
        expAvgSqH: expAvgSq.map((t) => t.handle),
        weightDecay: g.weightDecay ?? o.weightDecay ?? 0.01,
        lrScale: g.lrScale ?? 1,
      };
    });
  }

  get params(): Tensor[] {
    return this.#groups.flatMap((g) => g.params);
  }

  /** One AdamW update from the parameters' current .grad (parameters without grads are skipped). */
  step(): void {
    this.stepCount += 1;
    const [b1, b2] = this.betas;
    for (const g of this.#groups) {
      native.adamwStep(g.handles, g.expAvgH, g.expAvgSqH, this.lr * g.lrScale, b1, b2, this.eps, g.weightDecay, this.stepCount);
    }
  }

  zeroGrad(): void {
    for (const g of this.#groups) native.zeroGrad(g.handles);
  }

  /** Moment tensors by a stable name, for checkpoints. */
  stateTensors(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.#groups.forEach((g, gi) =>
      g.params.forEach((_, pi) => {
        out[`optim.${gi}.${pi}.exp_avg`] = g.expAvg[pi]!;
        out[`optim.${gi}.${pi}.exp_avg_sq`] = g.expAvgSq[pi]!;
      }),
    );
    return out;
  }

  /** Restores moments saved by stateTensors() (copied in place) and the step count. */
  loadState(tensors: Record<string, Tensor>, stepCount: number): void {
    for (const [name, dst] of Object.entries(this.stateTensors())) {
      const src = tensors[name];
      if (!src) throw new Error(`optimiser state is missing "${name}" (was the checkpoint written for another model?)`);
      dst.copy_(src);
    }
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const g of this.#groups) for (const t of [...g.expAvg, ...g.expAvgSq]) t.dispose();
  }
}

/** Global L2 norm of the grads; scales them down to maxNorm when above it. Returns the norm before clipping. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  return native.clipGradNorm(params.map((p) => p.handle), maxNorm) as number;
}

export interface CosineSchedule {
  maxLr: number;
  minLr?: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Linear warm-up to maxLr over warmupSteps, then cosine decay to minLr at totalSteps. `step` counts from 0. */
export function warmupCosineLr(step: number, s: CosineSchedule): number {
  const minLr = s.minLr ?? s.maxLr * 0.1;
  if (step < s.warmupSteps) return (s.maxLr * (step + 1)) / s.warmupSteps;
  if (step >= s.totalSteps) return minLr;
  const progress = (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
  return minLr + 0.5 * (s.maxLr - minLr) * (1 + Math.cos(Math.PI * progress));
}
