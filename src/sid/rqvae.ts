/**
 * The RQ-VAE quantiser family: `registerQuantiser("rqvae", …)` in build.ts points here, so
 * `gr2 sid build --method rqvae` trains one.
 *
 * This module only validates options; training (rqvae-train.ts) is loaded on the first `fit`,
 * because it needs the libtorch addon and RQ-KMeans builds must keep working without it.
 */
import type { Matrix } from "./matrix.js";
import type { Quantiser } from "./quantiser.js";
import { type ResolvedRqVaeOptions, type RqVaeOptions, resolveRqVaeOptions } from "./rqvae-options.js";
import type { RqVaeFit } from "./rqvae-train.js";

export class RqVae implements Quantiser {
  readonly method = "rqvae";
  readonly options: ResolvedRqVaeOptions;

  constructor(opts: RqVaeOptions = {}) {
    this.options = resolveRqVaeOptions(opts);
  }

  async fit(x: Matrix): Promise<RqVaeFit> {
    const { trainRqVae } = await import("./rqvae-train.js");
    return trainRqVae(x, this.options);
  }
}

export type { RqVaeOptions, RqVaeProgress } from "./rqvae-options.js";
export type { RqVaeFit, RqVaeStats } from "./rqvae-train.js";
export { RqVaeModel } from "./rqvae-model.js";
