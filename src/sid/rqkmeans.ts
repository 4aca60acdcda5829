/**
 * Residual-quantisation k-means (RQ-KMeans): L codebooks of K centroids; level l clusters the
 * residuals left by levels 0..l-1, so the code tuple reads coarse-to-fine, and items that share
 * a prefix are similar — which is what lets a language model generalise over SID tokens.
 *
 * Per level: k-means++ seeding on the residuals (seeded), then Lloyd iterations. Distances use
 * ‖x‖² − 2·x·c + ‖c‖², so the work is one blocked X·Cᵀ product (matrix.ts) per block of rows
 * instead of N·K separate subtractions.
 *
 * Two options target SID uniqueness rather than reconstruction:
 * - `balanced`: capacity-constrained assignment (each code takes at most ⌈N/K⌉·(1+slack)
 *   items). Plain k-means puts dense regions into few codes; capping them spreads items over
 *   the codebook, raising utilisation and lowering collisions.
 * - `randomLastLevels`: the last M levels pick codes uniformly at random instead of by
 *   distance. By then the residual is mostly noise, so distance-based codes add little meaning
 *   but cluster near-duplicates (same product, different size) onto the same tuple; random
 *   codes separate them. The GR2 paper reports every ≥ 99%-unique configuration used it.
 *   The random code of row r at level l is hash(seed, r, l): reproducible and independent of
 *   chunking. Random levels have all-zero centroids, so they do not change the residual.
 */
import { type Matrix, zeros, matmulTransB, rowSqNorms, rowSlice } from "./matrix.js";
import { Rng, hashInt } from "./rng.js";
import {
  type CodeTable, type Quantiser, type QuantiserFit, type QuantiserModel, codeTable,
} from "./quantiser.js";

export interface RqKMeansOptions {
  /** Code levels L. Default 4. */
  levels?: number;
  /** Codes per level K. Default 256. */
  codebookSize?: number;
  /** Lloyd iterations per level at most. Default 25. */
  maxIterations?: number;
  /** Stop a level when at most this fraction of rows changed code in an iteration. Default 1e-3. */
  tolerance?: number;
  /** Capacity-constrained assignment. Default true (measured on Beauty: perplexity ≈ K at every level). */
  balanced?: boolean;
  /** Extra capacity over ⌈N/K⌉ when balanced (0.1 = 10%). Default 0.1. */
  balanceSlack?: number;
  /** How many of the last levels are assigned at random. Default 1 when levels > 1, else 0. */
  randomLastLevels?: number;
  /**
   * Train the codebooks on at most this many rows (a seeded sample). Beyond it, every row is
   * encoded by nearest centroid afterwards, so balancing applies to the sample only. Default 200,000.
   */
  trainSample?: number;
  /**
   * k-means++ seeds from at most this many rows (it costs O(rows · K · trials · d), more than
   * ten Lloyd iterations on all rows). Default max(4096, 16·K): on Beauty, seeding from 4,096
   * rows instead of all 12,101 saved ≈ 4 s and changed the final residual by < 0.5%.
   */
  initSample?: number;
  /** Rows per block when encoding, bounding memory to O(chunkRows · (d + K)). Default 4096. */
  chunkRows?: number;
  seed?: number;
  /** Called after each Lloyd iteration (for progress bars). */
  onProgress?: (e: { level: number; iteration: number; changed: number; rows: number }) => void;
}

type Resolved = Required<Omit<RqKMeansOptions, "onProgress">> & Pick<RqKMeansOptions, "onProgress">;

function resolve(o: RqKMeansOptions): Resolved {
  const levels = o.levels ?? 4;
  const r: Resolved = {
    levels, codebookSize: 256, maxIterations: 25, tolerance: 1e-3, balanced: true, balanceSlack: 0.1,
    randomLastLevels: levels > 1 ? 1 : 0, trainSample: 200_000, initSample: Math.max(4096, 16 * (o.codebookSize ?? 256)),
    chunkRows: 4096, seed: 0,
    // An option given as undefined means "default", not "unset".
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  };
  const int = (name: keyof Resolved, min: number) => {
    const v = r[name] as number;
    if (!Number.isInteger(v) || v < min) throw new Error(`rqkmeans: ${name} must be an integer ≥ ${min}, got ${v}`);
  };
  int("levels", 1);
  int("codebookSize", 1);
  int("maxIterations", 0);
  int("randomLastLevels", 0);
  int("trainSample", 1);
  int("initSample", 1);
  int("chunkRows", 1);
  if (r.randomLastLevels > r.levels) throw new Error(`rqkmeans: randomLastLevels ${r.randomLastLevels} > levels ${r.levels}`);
  if (!(r.balanceSlack >= 0)) throw new Error(`rqkmeans: balanceSlack must be ≥ 0, got ${r.balanceSlack}`);
  return r;
}

/** The RQ-KMeans quantiser family (options bound at construction). */
export class RqKMeans implements Quantiser {
  readonly method = "rqkmeans";
  private readonly opts: Resolved;

  constructor(opts: RqKMeansOptions = {}) {
    this.opts = resolve(opts);
  }

  fit(x: Matrix): QuantiserFit {
    const o = this.opts;
    const { levels, codebookSize: K } = o;
    if (x.rows === 0) throw new Error("rqkmeans: no rows to fit");
    const rng = new Rng(o.seed);
    // Train on everything when it fits, so the fitted (balanced) codes are the returned codes.
    const sampled = x.rows > o.trainSample;
    const rows = sampled ? Array.from(rng.sample(x.rows, o.trainSample)).sort((a, b) => a - b) : null;
    const residual = rows ? gatherRows(x, rows) : { rows: x.rows, cols: x.cols, data: Float32Array.from(x.data) };
    const n = residual.rows;
    const fitted = codeTable(n, levels, K);
    const centroids: Matrix[] = [];
    const residualMse: number[] = [];
    const iterations: number[] = [];
    const firstRandom = levels - o.randomLastLevels;

    for (let l = 0; l < levels; l++) {
      let codes: Int32Array;
      let c: Matrix;
      if (l >= firstRandom) {
        c = zeros(K, x.cols);
        codes = new Int32Array(n);
        for (let i = 0; i < n; i++) codes[i] = hashInt(o.seed, rows ? rows[i]! : i, l, K);
        iterations.push(0);
      } else {
        c = kmeansPlusPlus(residual, K, rng, o.initSample);
        const r = lloyd(residual, c, o, (iteration, changed) => o.onProgress?.({ level: l, iteration, changed, rows: n }));
        codes = r.codes;
        iterations.push(r.iterations);
      }
      centroids.push(c);
      subtractCentroids(residual, c, codes);
      for (let i = 0; i < n; i++) fitted.codes[i * levels + l] = codes[i]!;
      residualMse.push(meanSq(residual));
    }
    const model = new RqKMeansModel(centroids, o.randomLastLevels, o.seed, o.chunkRows);
    return { model, codes: sampled ? model.encode(x) : fitted, residualMse, iterations };
  }
}

/** Trained RQ-KMeans codebooks: encodes any number of rows in bounded memory. */
export class RqKMeansModel implements QuantiserModel {
  readonly method = "rqkmeans";
  readonly levels: number;
  readonly codebookSize: number;
  readonly dim: number;
  private readonly centroidNorms: Float64Array[];

  constructor(
    /** One K×d matrix per level (all zeros for random levels). */
    readonly centroids: readonly Matrix[],
    readonly randomLastLevels: number,
    readonly seed: number,
    readonly chunkRows = 4096,
  ) {
    if (centroids.length === 0) throw new Error("rqkmeans: a model needs at least one level");
    this.levels = centroids.length;
    this.codebookSize = centroids[0]!.rows;
    this.dim = centroids[0]!.cols;
    for (const c of centroids) {
      if (c.rows !== this.codebookSize || c.cols !== this.dim) {
        throw new Error(`rqkmeans: codebooks differ in shape (${c.rows}×${c.cols} vs ${this.codebookSize}×${this.dim})`);
      }
    }
    this.centroidNorms = centroids.map((c) => rowSqNorms(c));
  }

  private isRandom(level: number): boolean {
    return level >= this.levels - this.randomLastLevels;
  }

  encode(x: Matrix, opts: { rowOffset?: number } = {}): CodeTable {
    if (x.cols !== this.dim) throw new Error(`rqkmeans: input has ${x.cols} columns, codebooks have ${this.dim}`);
    const rowOffset = opts.rowOffset ?? 0;
    const { levels, codebookSize: K } = this;
    const out = codeTable(x.rows, levels, K);
    const chunk = Math.min(this.chunkRows, Math.max(x.rows, 1));
    const residual = zeros(chunk, this.dim);
    const codes = new Int32Array(chunk);
    const dists = new Float64Array(chunk);
    const scratch = new Float32Array(Math.min(chunk, BLOCK_ROWS) * K);
    for (let start = 0; start < x.rows; start += chunk) {
      const end = Math.min(x.rows, start + chunk);
      const r = rowSlice(residual, 0, end - start);
      r.data.set(x.data.subarray(start * this.dim, end * this.dim));
      for (let l = 0; l < levels; l++) {
        const cs = codes.subarray(0, r.rows);
        if (this.isRandom(l)) {
          for (let i = 0; i < r.rows; i++) cs[i] = hashInt(this.seed, rowOffset + start + i, l, K);
        } else {
          assignNearest(r, this.centroids[l]!, this.centroidNorms[l]!, cs, dists, scratch);
          subtractCentroids(r, this.centroids[l]!, cs);
        }
        for (let i = 0; i < r.rows; i++) out.codes[(start + i) * levels + l] = cs[i]!;
      }
    }
    return out;
  }

  decode(t: CodeTable): Matrix {
    if (t.levels !== this.levels) throw new Error(`rqkmeans: ${t.levels}-level codes for a ${this.levels}-level model`);
    const out = zeros(t.n, this.dim);
    const d = this.dim;
    for (let i = 0; i < t.n; i++) {
      for (let l = 0; l < this.levels; l++) {
        const c = t.codes[i * t.levels + l]!;
        const src = this.centroids[l]!.data;
        for (let j = 0; j < d; j++) out.data[i * d + j] += src[c * d + j]!;
      }
    }
    return out;
  }

  rankCodes(x: Float32Array, prefix: ArrayLike<number>, level: number): Int32Array | null {
    if (this.isRandom(level)) return null;
    const d = this.dim;
    const r = Float64Array.from(x);
    for (let l = 0; l < level; l++) {
      const src = this.centroids[l]!.data, c = prefix[l]!;
      for (let j = 0; j < d; j++) r[j] -= src[c * d + j]!;
    }
    const c = this.centroids[level]!;
    const dist = new Float64Array(c.rows);
    for (let k = 0; k < c.rows; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const diff = r[j]! - c.data[k * d + j]!;
        s += diff * diff;
      }
      dist[k] = s;
    }
    return Int32Array.from(dist.keys()).sort((a, b) => dist[a]! - dist[b]! || a - b);
  }

  tensors(): ReturnType<QuantiserModel["tensors"]> {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    this.centroids.forEach((c, l) => (tensors[`codebook.${l}`] = { shape: [c.rows, c.cols], data: c.data }));
    return {
      tensors,
      metadata: {
        method: this.method,
        levels: String(this.levels),
        codebook_size: String(this.codebookSize),
        random_last_levels: String(this.randomLastLevels),
        seed: String(this.seed),
      },
    };
  }

  /** Rebuild a model from what `tensors()` produced (e.g. read back from codebooks.safetensors). */
  static fromTensors(
    tensors: Record<string, { shape: number[]; data: Float32Array }>,
    metadata: Record<string, string>,
  ): RqKMeansModel {
    if (metadata.method !== "rqkmeans") throw new Error(`not RQ-KMeans codebooks (method "${metadata.method}")`);
    const levels = Number(metadata.levels);
    const centroids: Matrix[] = [];
    for (let l = 0; l < levels; l++) {
      const t = tensors[`codebook.${l}`];
      if (!t || t.shape.length !== 2) throw new Error(`codebooks: missing or malformed tensor "codebook.${l}"`);
      centroids.push({ rows: t.shape[0]!, cols: t.shape[1]!, data: t.data });
    }
    return new RqKMeansModel(centroids, Number(metadata.random_last_levels ?? 0), Number(metadata.seed ?? 0));
  }
}

/** Rows per X·Cᵀ block: 256 rows × 256 codes × 4 B = 256 KiB of scores, L2-resident. */
const BLOCK_ROWS = 256;

/**
 * Nearest centroid (squared Euclidean) for every row of x, into codes/dists.
 * `scratch` holds at least min(rows, BLOCK_ROWS)·K floats.
 */
function assignNearest(
  x: Matrix, c: Matrix, cNorms: Float64Array, codes: Int32Array, dists: Float64Array, scratch: Float32Array,
): void {
  const K = c.rows, d = x.cols;
  for (let start = 0; start < x.rows; start += BLOCK_ROWS) {
    const end = Math.min(x.rows, start + BLOCK_ROWS);
    const dots = { rows: end - start, cols: K, data: scratch.subarray(0, (end - start) * K) };
    matmulTransB(rowSlice(x, start, end), c, dots);
    for (let i = start; i < end; i++) {
      let xx = 0;
      for (let j = 0; j < d; j++) xx += x.data[i * d + j]! * x.data[i * d + j]!;
      const o = (i - start) * K;
      let best = 0, bestD = Infinity;
      for (let k = 0; k < K; k++) {
        const v = cNorms[k]! - 2 * dots.data[o + k]!;
        if (v < bestD) {
          bestD = v;
          best = k;
        }
      }
      codes[i] = best;
      dists[i] = Math.max(0, xx + bestD); // round-off can dip a hair below zero
    }
  }
}

/**
 * Capacity-constrained assignment, greedy by distance: rows closest to their nearest centroid
 * choose first; a row whose nearest code is full takes its nearest code with room. Only those
 * bumped rows need their full distance row, so memory stays O(N) and the extra work is small.
 */
function assignBalanced(
  x: Matrix, c: Matrix, cNorms: Float64Array, codes: Int32Array, dists: Float64Array, scratch: Float32Array,
  slack: number,
): void {
  const K = c.rows, d = x.cols, n = x.rows;
  assignNearest(x, c, cNorms, codes, dists, scratch);
  const capacity = Math.max(1, Math.ceil((n / K) * (1 + slack)));
  const order = Int32Array.from(dists.keys()).sort((a, b) => dists[a]! - dists[b]! || a - b);
  const load = new Int32Array(K);
  const full = new Float64Array(K);
  for (const i of order) {
    if (load[codes[i]!]! < capacity) {
      load[codes[i]!]++;
      continue;
    }
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const diff = x.data[i * d + j]! - c.data[k * d + j]!;
        s += diff * diff;
      }
      full[k] = s;
    }
    let best = -1;
    for (let k = 0; k < K; k++) if (load[k]! < capacity && (best < 0 || full[k]! < full[best]!)) best = k;
    codes[i] = best; // capacity·K ≥ n, so some code always has room
    dists[i] = full[best]!;
    load[best]++;
  }
}

/**
 * Lloyd's algorithm from the given centroids (updated in place). Stops when at most
 * `tolerance`·N rows changed code, so the returned codes are the assignment to the returned
 * centroids.
 */
function lloyd(
  x: Matrix, c: Matrix, o: Resolved, progress: (iteration: number, changed: number) => void,
): { codes: Int32Array; iterations: number } {
  const n = x.rows, K = c.rows;
  const codes = new Int32Array(n).fill(-1);
  const next = new Int32Array(n);
  const dists = new Float64Array(n);
  const scratch = new Float32Array(Math.min(n, BLOCK_ROWS) * K);
  let it = 0;
  for (;; it++) {
    const norms = rowSqNorms(c);
    if (o.balanced) assignBalanced(x, c, norms, next, dists, scratch, o.balanceSlack);
    else assignNearest(x, c, norms, next, dists, scratch);
    let changed = 0;
    for (let i = 0; i < n; i++) if (next[i] !== codes[i]) changed++;
    codes.set(next);
    progress(it, changed);
    if ((it > 0 && changed <= o.tolerance * n) || it >= o.maxIterations) break;
    updateCentroids(x, c, codes, dists);
  }
  return { codes, iterations: it };
}

/**
 * Centroid = mean of its rows. An empty code is re-seeded at the row currently farthest from
 * its centroid: a dead code helps neither reconstruction nor uniqueness.
 */
function updateCentroids(x: Matrix, c: Matrix, codes: Int32Array, dists: Float64Array): void {
  const K = c.rows, d = x.cols, n = x.rows;
  const sums = new Float64Array(K * d);
  const counts = new Int32Array(K);
  for (let i = 0; i < n; i++) {
    const k = codes[i]!;
    counts[k]++;
    for (let j = 0; j < d; j++) sums[k * d + j] += x.data[i * d + j]!;
  }
  let farthest: Int32Array | null = null;
  let nextFar = 0;
  for (let k = 0; k < K; k++) {
    if (counts[k]! > 0) {
      for (let j = 0; j < d; j++) c.data[k * d + j] = sums[k * d + j]! / counts[k]!;
      continue;
    }
    farthest ??= Int32Array.from(dists.keys()).sort((a, b) => dists[b]! - dists[a]! || a - b);
    if (nextFar >= n) continue; // more codes than rows: leave the rest where they are
    const i = farthest[nextFar++]!;
    c.data.set(x.data.subarray(i * d, (i + 1) * d), k * d);
  }
}

/**
 * Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; the greedy variant scikit-learn
 * uses): each new centroid is the best of ~2 + ⌊ln K⌋ rows drawn with probability ∝ squared
 * distance to the nearest centroid so far, "best" meaning it lowers the total squared distance
 * most. Plain k-means++ (one draw) lands in a bad local optimum noticeably often — measured on
 * planted 16×16 structures, about one seed in four merged two clusters — while the greedy
 * draws make that rare. Candidate distances are one blocked X·Cᵀ product per step. Runs on a
 * sample of at most `sampleSize` rows. If every row is already a centroid (fewer distinct rows
 * than K), the remaining centroids are duplicates.
 */
function kmeansPlusPlus(x: Matrix, K: number, rng: Rng, sampleSize: number): Matrix {
  const d = x.cols;
  const s = x.rows > sampleSize ? gatherRows(x, Array.from(rng.sample(x.rows, sampleSize))) : x;
  const m = s.rows;
  const sNorms = rowSqNorms(s);
  // 2 + ⌊ln K⌋ candidates as in scikit-learn, rounded up to a multiple of 4: the 2×4-tiled
  // distance kernel computes the extra candidates for free.
  const trials = Math.ceil((2 + Math.floor(Math.log(K))) / 4) * 4;
  const c = zeros(K, d);
  const minD = new Float64Array(m).fill(Infinity);
  const cumulative = new Float64Array(m);
  const cand = zeros(trials, d);
  const dots = zeros(m, trials);
  const candRows = new Int32Array(trials);

  /** Squared distance of sample row i to candidate t, from the dot products. */
  const dist = (i: number, t: number, cNorm: number) => Math.max(0, sNorms[i]! + cNorm - 2 * dots.data[i * trials + t]!);

  for (let k = 0; k < K; k++) {
    let total = 0;
    for (let i = 0; i < m; i++) cumulative[i] = total += minD[i]!;
    let t = 0;
    if (k === 0 || !(total > 0) || !Number.isFinite(total)) {
      candRows[0] = rng.int(m); // first centroid, or every row already is one: uniform
      t = 1;
    } else {
      for (; t < trials; t++) candRows[t] = upperBound(cumulative, rng.next() * total);
    }
    for (let j = 0; j < t; j++) cand.data.set(s.data.subarray(candRows[j]! * d, (candRows[j]! + 1) * d), j * d);
    matmulTransB(s, cand, dots);
    const candNorms = rowSqNorms(cand);
    let best = 0, bestPotential = Infinity;
    for (let j = 0; j < t; j++) {
      let potential = 0;
      for (let i = 0; i < m; i++) potential += Math.min(minD[i]!, dist(i, j, candNorms[j]!));
      if (potential < bestPotential) (bestPotential = potential), (best = j);
    }
    c.data.set(cand.data.subarray(best * d, (best + 1) * d), k * d);
    for (let i = 0; i < m; i++) minD[i] = Math.min(minD[i]!, dist(i, best, candNorms[best]!));
  }
  return c;
}

/** The first index whose cumulative value exceeds r (binary search; clamps to the last index). */
function upperBound(cumulative: Float64Array, r: number): number {
  let lo = 0, hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** residual[i] -= C[codes[i]] for every row. */
function subtractCentroids(r: Matrix, c: Matrix, codes: Int32Array): void {
  const d = r.cols;
  for (let i = 0; i < r.rows; i++) {
    const o = codes[i]! * d;
    for (let j = 0; j < d; j++) r.data[i * d + j] -= c.data[o + j]!;
  }
}

/** Mean over rows of the squared row norm. */
function meanSq(m: Matrix): number {
  let s = 0;
  for (let i = 0; i < m.data.length; i++) s += m.data[i]! * m.data[i]!;
  return m.rows === 0 ? 0 : s / m.rows;
}

function gatherRows(x: Matrix, rows: readonly number[]): Matrix {
  const out = zeros(rows.length, x.cols);
  rows.forEach((r, i) => out.data.set(x.data.subarray(r * x.cols, (r + 1) * x.cols), i * x.cols));
  return out;
}
