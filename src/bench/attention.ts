/**
 * The attention benchmark: forward and backward through `layers` attention calls kept alive
 * together (as a model's backward keeps them), on a training-shaped float batch, with the tiled
 * kernel (native/flash_f32.cc, float on CPU), the query-blocked kernel it replaced there
 * (native/attention.cc, `GR2_ATTN_TILED=0`; what bf16 and other devices run), or the plain
 * composition that holds every [T, S] score matrix. Its peers are the other kernels in the same
 * run: `gr2 bench attention` runs each in a fresh process (peak resident memory is per process)
 * and prints the ratios.
 */
import { attention, getNumThreads, manualSeed, randn, tidy } from "../torch/index.js";
import { trimAllocator } from "../torch/memory.js";

export interface AttentionBenchOptions {
  batch: number;
  heads: number;
  kvHeads: number;
  seq: number;
  headDim: number;
  layers: number;
  steps: number;
  device: string;
}

/** The demo's SFT batch: 8 sequences of ~1,100 tokens, the demo model's 8 query heads of 32 over 2 KV heads, 4 layers. */
export const ATTENTION_BENCH_DEFAULTS: AttentionBenchOptions = { batch: 8, heads: 8, kvHeads: 2, seq: 1100, headDim: 32, layers: 4, steps: 3, device: "cpu" };

export const ATTENTION_KERNELS = ["tiled", "blocked", "plain"] as const;
export type AttentionKernel = (typeof ATTENTION_KERNELS)[number];

export interface AttentionBenchResult {
  kernel: AttentionKernel;
  threads: number;
  /** Seconds per forward + backward of all layers (mean over the timed steps, after one warm-up). */
  seconds: number;
  /** The process's peak resident memory, MB. */
  peak_rss_mb: number;
}

export function benchAttention(o: AttentionBenchOptions, kernel: AttentionKernel): AttentionBenchResult {
  // The addon reads GR2_ATTN_TILED at every call; this process runs one kernel only.
  if (kernel === "blocked") process.env.GR2_ATTN_TILED = "0";
  manualSeed(0);
  const opts = { device: o.device };
  const q = randn([o.batch, o.heads, o.seq, o.headDim], opts).requiresGrad_();
  const k = randn([o.batch, o.kvHeads, o.seq, o.headDim], opts).requiresGrad_();
  const v = randn([o.batch, o.kvHeads, o.seq, o.headDim], opts).requiresGrad_();
  const step = () =>
    tidy(() => {
      const outs = Array.from({ length: o.layers }, () => attention(q, k, v, { causal: true, plain: kernel === "plain" }));
      outs.reduce((sum, out) => sum.add(out.square().mean()), outs[0]!.sum().mul(0)).backward();
    });
  step();
  const t0 = performance.now();
  for (let i = 0; i < o.steps; i++) step();
  const seconds = (performance.now() - t0) / 1000 / o.steps;
  for (const t of [q, k, v]) t.dispose();
  trimAllocator(0);
  return { kernel, threads: getNumThreads(), seconds: Math.round(seconds * 1000) / 1000, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
}
