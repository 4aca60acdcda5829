/**
 * The engine benchmark: a fixed reference model and workload, timed on our engine. Its peer,
 * bench/pytorch_engine.py, runs the same model and workload in PyTorch eager; bench/engine.sh
 * runs both alternately and prints the ratios.
 *
 * Reference (issue defaults): d_model 256, 4 layers, 8 query heads, 2 KV heads, SwiGLU 704,
 * vocab 8192, tied embeddings, RMSNorm eps 1e-6, RoPE θ 10000. Training: batch 8 × 256 tokens,
 * AdamW (lr 3e-4, wd 0.1), 2 warm-up + 10 timed steps. Decoding: batch 16, a random 128-token
 * prompt, 64 new tokens sampled at temperature 1 with the KV cache.
 */
import { AdamW, arange, autocast, bf16Support, getNumThreads, libtorchVersion, threadPoolSettings, manualSeed, randint, tidy } from "../torch/index.js";
import { makeConfig } from "../lm/config.js";
import { DecoderLM } from "../lm/model.js";
import { generate } from "../lm/generate.js";

export interface EngineBenchOptions {
  dModel: number;
  layers: number;
  heads: number;
  kvHeads: number;
  hidden: number;
  vocab: number;
  batch: number;
  seq: number;
  /** Tokens at the end of each row that carry the loss (0 = every position, pre-training's step; a few = an SFT or reading step's answer after its prompt). */
  answer: number;
  warmup: number;
  steps: number;
  decodeBatch: number;
  prompt: number;
  newTokens: number;
  dtype: "fp32" | "bf16";
  seed: number;
  device: string;
}

export const ENGINE_BENCH_DEFAULTS: EngineBenchOptions = {
  dModel: 256,
  layers: 4,
  heads: 8,
  kvHeads: 2,
  hidden: 704,
  vocab: 8192,
  batch: 8,
  seq: 256,
  answer: 0,
  warmup: 2,
  steps: 10,
  decodeBatch: 16,
  prompt: 128,
  newTokens: 64,
  dtype: "fp32",
  seed: 0,
  device: "cpu",
};

export interface EngineBenchResult {
  impl: "gr2";
  libtorch: string;
  threads: number;
  /** How idle pool threads wait (OMP_WAIT_POLICY, OPENBLAS_THREAD_TIMEOUT): they change a step's time. */
  thread_pools: Record<string, string>;
  device: string;
  params: number;
  dtype: "fp32" | "bf16";
  /** Whether this device runs bf16 matmuls in hardware (`bf16Support`); the bench autocasts either way, to measure it. */
  bf16_hardware: boolean;
  /** Tokens at the end of each row that carried the loss (0 = every position). */
  answer_tokens: number;
  loss: number;
  train_tokens_per_s: number;
  decode_tokens_per_s: number;
}

export function benchEngine(o: EngineBenchOptions = ENGINE_BENCH_DEFAULTS): EngineBenchResult {
  manualSeed(o.seed);
  const config = makeConfig({
    vocabSize: o.vocab,
    hiddenSize: o.dModel,
    numLayers: o.layers,
    numHeads: o.heads,
    numKvHeads: o.kvHeads,
    intermediateSize: o.hidden,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    tieWordEmbeddings: true,
    maxPositions: Math.max(o.seq, o.prompt + o.newTokens),
  });
  const model = new DecoderLM(config, o.device);
  // One group with decay on every parameter, exactly as the peer's torch.optim.AdamW(model.parameters()).
  const opt = new AdamW(model.parameters(), { lr: 3e-4, weightDecay: 0.1 });
  let loss = 0;
  const step = () =>
    tidy(() => {
      const ids = randint(0, o.vocab, [o.batch, o.seq + 1], { device: o.device });
      const next = ids.narrow(1, 1, o.seq);
      // An answer of N tokens: the targets before the last N of each row are -100 (no loss).
      const targets = o.answer > 0 ? next.maskedFill(arange(0, o.seq, 1, { device: o.device }).lt(o.seq - o.answer).view(1, o.seq), -100) : next;
      const forward = () => model.loss(ids.narrow(1, 0, o.seq), targets);
      const l = o.dtype === "bf16" ? autocast(forward, { device: o.device }) : forward();
      l.backward();
      opt.step();
      opt.zeroGrad();
      loss = l.item();
    });
  for (let i = 0; i < o.warmup; i++) step();
  let t0 = performance.now();
  for (let i = 0; i < o.steps; i++) step();
  const trainSeconds = (performance.now() - t0) / 1000;
  opt.dispose();

  model.eval();
  const prompts = () => tidy(() => {
    const p = randint(0, o.vocab, [o.decodeBatch, o.prompt]);
    const flat = p.toArray();
    return Array.from({ length: o.decodeBatch }, (_, b) => flat.slice(b * o.prompt, (b + 1) * o.prompt));
  });
  generate(model, prompts(), { maxNewTokens: o.newTokens, temperature: 1 }); // warm-up
  const timedPrompts = prompts();
  t0 = performance.now();
  generate(model, timedPrompts, { maxNewTokens: o.newTokens, temperature: 1 });
  const decodeSeconds = (performance.now() - t0) / 1000;
  const params = model.numParams();
  model.dispose();
  return {
    impl: "gr2",
    libtorch: libtorchVersion(),
    threads: getNumThreads(),
    thread_pools: threadPoolSettings(),
    device: o.device,
    params,
    dtype: o.dtype,
    bf16_hardware: bf16Support(o.device).hardware,
    answer_tokens: o.answer,
    loss: Number(loss.toFixed(4)),
    train_tokens_per_s: Number(((o.steps * o.batch * o.seq) / trainSeconds).toFixed(1)),
    decode_tokens_per_s: Number(((o.decodeBatch * o.newTokens) / decodeSeconds).toFixed(1)),
  };
}

