/**
 * A trained RQ-VAE, as plain typed arrays: encoder MLP → residual quantisation of the latent →
 * decoder MLP. Training needs the libtorch engine (rqvae-train.ts); using the result does not,
 * so a SID map's codebooks can be read back and applied anywhere the RQ-KMeans ones can, and
 * the model holds no native tensors that someone would have to dispose.
 *
 * The latent quantiser *is* an RQ-KMeans model over the latent space: the learned codebooks
 * plus all-zero codebooks for the random last levels, whose codes are hash(seed, row, level)
 * exactly as in RQ-KMeans. Encoding, decoding the code sum and ranking codes for collision
 * resolution are therefore shared with rqkmeans.ts rather than written twice.
 */
import { type Matrix, matmulTransB, rowSlice, zeros } from "./matrix.js";
import { RqKMeansModel } from "./rqkmeans.js";
import { type CodeTable, type QuantiserModel, codeTable } from "./quantiser.js";

/** y = x Wᵀ + b with W [out, in] (the PyTorch layout, as trained). */
export interface DenseLayer {
  weight: Matrix;
  bias: Float32Array;
}

/** SiLU between layers, none after the last: the MLP the trainer builds (rqvae-net.ts). */
export function mlpForward(layers: readonly DenseLayer[], x: Matrix): Matrix {
  let h = x;
  layers.forEach((layer, i) => {
    const { weight: w, bias } = layer;
    if (h.cols !== w.cols) throw new Error(`rqvae: layer ${i} expects ${w.cols} inputs, got ${h.cols}`);
    const out = matmulTransB(h, w, zeros(h.rows, w.rows));
    const last = i === layers.length - 1;
    const d = w.rows;
    for (let r = 0; r < out.rows; r++) {
      for (let j = 0; j < d; j++) {
        const v = out.data[r * d + j]! + bias[j]!;
        out.data[r * d + j] = last ? v : v / (1 + Math.exp(-v)); // silu(v) = v·σ(v)
      }
    }
    h = out;
  });
  return h;
}

export class RqVaeModel implements QuantiserModel {
  readonly method = "rqvae";
  readonly levels: number;
  readonly codebookSize: number;
  readonly dim: number;
  readonly latentDim: number;
  /** Residual quantisation of the latent (learned codebooks + random last levels). */
  readonly latent: RqKMeansModel;

  constructor(
    readonly encoder: readonly DenseLayer[],
    readonly decoder: readonly DenseLayer[],
    /** One K×latent matrix per level; all zeros for the random last levels. */
    codebooks: readonly Matrix[],
    readonly randomLastLevels: number,
    readonly seed: number,
    readonly chunkRows = 4096,
  ) {
    if (encoder.length === 0 || decoder.length === 0) throw new Error("rqvae: encoder and decoder need at least one layer");
    this.latent = new RqKMeansModel(codebooks, randomLastLevels, seed, chunkRows);
    this.levels = this.latent.levels;
    this.codebookSize = this.latent.codebookSize;
    this.latentDim = this.latent.dim;
    this.dim = encoder[0]!.weight.cols;
    const encOut = encoder[encoder.length - 1]!.weight.rows, decIn = decoder[0]!.weight.cols, decOut = decoder[decoder.length - 1]!.weight.rows;
    if (encOut !== this.latentDim || decIn !== this.latentDim || decOut !== this.dim) {
      throw new Error(`rqvae: shapes disagree (encoder ${this.dim}→${encOut}, codebooks ${this.latentDim}, decoder ${decIn}→${decOut})`);
    }
  }

  /** The encoder's latent for the rows of x (chunked by the caller when x is large). */
  encodeLatent(x: Matrix): Matrix {
    if (x.cols !== this.dim) throw new Error(`rqvae: input has ${x.cols} columns, the encoder expects ${this.dim}`);
    return mlpForward(this.encoder, x);
  }

  encode(x: Matrix, opts: { rowOffset?: number } = {}): CodeTable {
    const rowOffset = opts.rowOffset ?? 0;
    const out = codeTable(x.rows, this.levels, this.codebookSize);
    // Chunks bound memory to O(chunkRows · widest layer) whatever the catalogue size.
    for (let start = 0; start < x.rows; start += this.chunkRows) {
      const end = Math.min(x.rows, start + this.chunkRows);
      const codes = this.latent.encode(this.encodeLatent(rowSlice(x, start, end)), { rowOffset: rowOffset + start });
      out.codes.set(codes.codes, start * this.levels);
    }
    return out;
  }

  decode(t: CodeTable): Matrix {
    const out = zeros(t.n, this.dim);
    for (let start = 0; start < t.n; start += this.chunkRows) {
      const end = Math.min(t.n, start + this.chunkRows);
      const part = { ...t, n: end - start, codes: t.codes.subarray(start * t.levels, end * t.levels) };
      out.data.set(mlpForward(this.decoder, this.latent.decode(part)).data, start * this.dim);
    }
    return out;
  }

  rankCodes(x: Float32Array, prefix: ArrayLike<number>, level: number): Int32Array | null {
    const z = this.encodeLatent({ rows: 1, cols: x.length, data: x });
    return this.latent.rankCodes(z.data, prefix, level);
  }

  tensors(): ReturnType<QuantiserModel["tensors"]> {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    const put = (name: string, layers: readonly DenseLayer[]) =>
      layers.forEach((l, i) => {
        tensors[`${name}.${i}.weight`] = { shape: [l.weight.rows, l.weight.cols], data: l.weight.data };
        tensors[`${name}.${i}.bias`] = { shape: [l.bias.length], data: l.bias };
      });
    put("encoder", this.encoder);
    put("decoder", this.decoder);
    this.latent.centroids.forEach((c, l) => (tensors[`codebook.${l}`] = { shape: [c.rows, c.cols], data: c.data }));
    return {
      tensors,
      metadata: {
        method: this.method,
        levels: String(this.levels),
        codebook_size: String(this.codebookSize),
        latent_dim: String(this.latentDim),
        encoder_layers: String(this.encoder.length),
        decoder_layers: String(this.decoder.length),
        activation: "silu",
        random_last_levels: String(this.randomLastLevels),
        seed: String(this.seed),
      },
    };
  }

  /** Rebuild a model from what `tensors()` produced (e.g. read back from codebooks.safetensors). */
  static fromTensors(tensors: Record<string, { shape: number[]; data: Float32Array }>, metadata: Record<string, string>): RqVaeModel {
    if (metadata.method !== "rqvae") throw new Error(`not RQ-VAE codebooks (method "${metadata.method}")`);
    const matrix = (name: string): Matrix => {
      const t = tensors[name];
      if (!t || t.shape.length !== 2) throw new Error(`rqvae codebooks: missing or malformed tensor "${name}"`);
      return { rows: t.shape[0]!, cols: t.shape[1]!, data: t.data };
    };
    const layers = (name: string, count: number): DenseLayer[] =>
      Array.from({ length: count }, (_, i) => {
        const bias = tensors[`${name}.${i}.bias`];
        if (!bias || bias.shape.length !== 1) throw new Error(`rqvae codebooks: missing or malformed tensor "${name}.${i}.bias"`);
        return { weight: matrix(`${name}.${i}.weight`), bias: bias.data };
      });
    const levels = Number(metadata.levels);
    return new RqVaeModel(
      layers("encoder", Number(metadata.encoder_layers)),
      layers("decoder", Number(metadata.decoder_layers)),
      Array.from({ length: levels }, (_, l) => matrix(`codebook.${l}`)),
      Number(metadata.random_last_levels ?? 0),
      Number(metadata.seed ?? 0),
    );
  }
}
