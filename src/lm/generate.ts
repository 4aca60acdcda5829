/**
 * Batched sampling with a pre-allocated KV cache.
 *
 * Prompts of different lengths are left-padded to a common length and the padding is masked
 * out of attention, so every row's next token comes from the same step. Each step:
 *   logits (fp32) → constraint hook (mask forbidden tokens) → temperature → top-k / top-p →
 *   sample → record log p(token) under the temperature-scaled, constrained distribution.
 * The recorded log-probabilities are what RL (DAPO) needs as the old policy's values.
 */
import { autocast, bf16Support, cat, decodeThreads, getNumThreads, int64, linear, noGrad, sampleCategorical, tensor, tidy, withThreads, type Tensor } from "../torch/index.js";
import { KVCache } from "./kv-cache.js";
import type { DecoderLM } from "./model.js";

/**
 * Called before sampling each step with the fp32 logits [B, V] and each row's tokens generated
 * so far; returns a bool mask [B, V] of allowed tokens (or null to allow all). Used to force
 * valid semantic IDs and valid permutations.
 */
export type LogitConstraint = (step: number, generated: readonly number[][], logits: Tensor) => Tensor | null;

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Generation of a row stops after it emits one of these. */
  stopTokens?: readonly number[];
  /** Token used to left-pad shorter prompts (never attended to). */
  padToken?: number;
  constraint?: LogitConstraint;
  /** Bytes one prefill attention's scores may take before rows are prefilled in slices (default 256 MiB). */
  prefillScoreBytes?: number;
  /**
   * The prompt's forward pass: "fp32" (default) with the decoding threads, or "bf16": under
   * bf16 autocast with every intra-op thread. A batch prefill is a few large matmuls, unlike
   * the per-token steps: on 2 cores bf16 with both threads prefilled 16 demo prompts 2.4× faster
   * than fp32 with one (202 against 480 ms; fp32 with two: 587 ms). The decode steps and the
   * logits stay fp32; the KV cache holds the bf16 forward's keys and values.
   */
  prefill?: "fp32" | "bf16";
}

export interface GenerateResult {
  /** Generated tokens per row (including the stop token when one was emitted). */
  tokens: number[][];
  /** log p of each generated token under the sampling distribution. */
  logprobs: number[][];
  /** Why each row ended. */
  finish: ("stop" | "length")[];
}

/** Bytes one prefill attention's scores may take; larger batches are prefilled in row slices. */
const PREFILL_SCORE_BYTES = 256 * 2 ** 20;

/** Decodes every prompt (left-padded batch, KV cache), with the decoding thread count (`decodeThreads`). */
export function generate(model: DecoderLM, prompts: readonly (readonly number[])[], o: GenerateOptions): GenerateResult {
  const allThreads = getNumThreads();
  return withThreads(decodeThreads(), () => generateBatch(model, prompts, o, allThreads));
}

function generateBatch(model: DecoderLM, prompts: readonly (readonly number[])[], o: GenerateOptions, allThreads: number): GenerateResult {
  if (prompts.length === 0) return { tokens: [], logprobs: [], finish: [] };
  if (prompts.some((p) => p.length === 0)) throw new Error("generate: every prompt needs at least one token");
  const B = prompts.length;
  const P = Math.max(...prompts.map((p) => p.length));
  const capacity = P + o.maxNewTokens;
  if (capacity > model.config.maxPositions) throw new Error(`generate: prompt (${P}) + maxNewTokens (${o.maxNewTokens}) exceeds maxPositions (${model.config.maxPositions})`);
  const stop = new Set(o.stopTokens ?? []);
  const pad = o.padToken ?? 0;
  const temperature = o.temperature ?? 1;

  const tokens: number[][] = prompts.map(() => []);
  const logprobs: number[][] = prompts.map(() => []);
  const finish: ("stop" | "length")[] = prompts.map(() => "length");
  const done = new Array<boolean>(B).fill(false);

  const cache = new KVCache(model.config, B, capacity, { device: model.device });
  // Fused projections for the duration of this call, unless the caller prepared them (serving).
  const ownFusion = !model.inferencePrepared;
  if (ownFusion) model.prepareInference();
  // keyValid[b][s]: position s of row b holds a real token. Left padding makes positions differ per row.
  const padLen = prompts.map((p) => P - p.length);
  const keyValid = tensor(Uint8Array.from({ length: B * capacity }, (_, i) => (i % capacity >= padLen[Math.floor(i / capacity)]! ? 1 : 0)), [B, capacity], { dtype: "bool", device: model.device }).keep();
  try {
    noGrad(() => {
      // Prefill: positions count real tokens only, so a padded row starts at position 0.
      // In slices of rows: one attention's scores are rows × heads × P² floats (50 prompts of
      // 1,000 tokens would hold 1.6 GB per layer at once). Only the last position's logits are
      // computed; [B, P, V] would be another ~1 GB.
      const rowsPerSlice = Math.max(1, Math.floor((o.prefillScoreBytes ?? PREFILL_SCORE_BYTES) / (4 * model.config.numHeads * P * P)));
      const slices: Tensor[] = [];
      for (let r0 = 0; r0 < B; r0 += rowsPerSlice) {
        const n = Math.min(rowsPerSlice, B - r0);
        const view = n === B ? cache : cache.rows(model.config, r0, n);
        try {
          slices.push(
            tidy(() => {
              const rows = prompts.slice(r0, r0 + n);
              const ids = int64(rows.flatMap((p, i) => [...new Array(padLen[r0 + i]!).fill(pad), ...p]), [n, P], model.device);
              const pos = int64(rows.flatMap((_, i) => Array.from({ length: P }, (_, t) => Math.max(0, t - padLen[r0 + i]!))), [n, P], model.device);
              const forward = () => model.lastHidden(ids, { positions: pos, cache: view, keyMask: keyValid.narrow(0, r0, n).narrow(1, 0, P) });
              // Without hardware bf16 the prefill stays fp32 on the decoding threads, which is faster there.
              const h = o.prefill === "bf16" && bf16Support(model.device).hardware ? withThreads(allThreads, () => autocast(forward, { device: model.device })) : forward();
              return linear(h.to("float32"), model.outputWeight).keep();
            }),
          );
        } finally {
          if (view !== cache) view.dispose();
        }
      }
      cache.length = P;
      let next = slices.length === 1 ? slices[0]! : tidy(() => cat(slices, 0).keep());
      if (slices.length > 1) for (const t of slices) t.dispose();
      for (let step = 0; step < o.maxNewTokens; step++) {
        const [ids, lps] = tidy(() => {
          const [tok, lp] = sampleStep(next, step, tokens, temperature, o);
          return [tok.data<"int64">(), lp.toFloat32Array()] as const;
        });
        next.dispose();
        for (let b = 0; b < B; b++) {
          if (done[b]) continue;
          const t = Number(ids[b]);
          tokens[b]!.push(t);
          logprobs[b]!.push(lps[b]!);
          if (stop.has(t)) {
            done[b] = true;
            finish[b] = "stop";
          }
        }
        if (done.every(Boolean) || step === o.maxNewTokens - 1) break;
        next = tidy(() => {
          const ids1 = int64(Array.from(ids, (x, b) => (done[b] ? pad : Number(x))), [B, 1], model.device);
          const pos = int64(prompts.map((p) => p.length + step), [B, 1], model.device);
          const logits = model.forward(ids1, { positions: pos, cache, keyMask: keyValid.narrow(1, 0, cache.length + 1) });
          return logits.select(1, 0).keep();
        });
      }
    });
  } finally {
    if (ownFusion) model.releaseInference();
    cache.dispose();
    keyValid.dispose();
  }
  return { tokens, logprobs, finish };
}

/**
 * One sampling step (constraint mask → temperature → top-k / top-p → sample; argmax at
 * temperature 0): returns (token [B] int64, log-prob [B] fp32). Shared with the server's
 * jump-forward decoder so both sample identically.
 */
export function sampleStep(logitsIn: Tensor, step: number, generated: readonly number[][], temperature: number, o: GenerateOptions): [Tensor, Tensor] {
  let logits = logitsIn.to("float32");
  const allowed = o.constraint?.(step, generated, logits) ?? null;
  if (allowed) logits = logits.maskedFill(allowed.logicalNot(), -Infinity);
  if (temperature <= 0) {
    const tok = logits.argmax(-1);
    const lp = logits.logSoftmax(-1).gather(1, tok.unsqueeze(1)).squeeze(1);
    return [tok, lp];
  }
  const scaled = logits.div(temperature);
  const logp = scaled.logSoftmax(-1);
  let filtered = scaled;
  if (o.topK && o.topK > 0 && o.topK < scaled.size(-1)) {
    const kth = scaled.topk(o.topK, -1).values.narrow(-1, o.topK - 1, 1);
    filtered = filtered.maskedFill(filtered.lt(kth), -Infinity);
  }
  if (o.topP !== undefined && o.topP < 1) {
    // Keep the smallest set of tokens whose probability reaches topP (always at least one).
    const { values, indices } = filtered.sort(-1, true);
    const probs = values.softmax(-1);
    const before = probs.cumsum(-1).sub(probs); // mass strictly before each token
    const dropSorted = before.ge(o.topP);
    const drop = dropSorted.scatter(-1, indices, dropSorted);
    filtered = filtered.maskedFill(drop, -Infinity);
  }
  const tok = sampleCategorical(filtered.softmax(-1));
  const lp = logp.gather(1, tok.unsqueeze(1)).squeeze(1);
  return [tok, lp];
}

