/**
 * Constrained batched decoding that jumps over forced tokens ("jump-forward" decoding).
 *
 * The rerank answer is mostly text the constraint fixes: the format's prefix and header, each
 * SID's begin marker, the rest of a SID once its first codes single out one candidate, the
 * separators, the last candidate, the closing text and the stop token. `generate()` (src/lm)
 * spends one model forward per token on all of them. This decoder asks the constraint, before
 * each forward, which rows have exactly one allowed token; those tokens are appended without
 * sampling (log-probability 0, as under generate's constrained distribution), and the model
 * reads them all in one forward together with the last sampled token. A direct-mode answer for
 * K = 10 candidates then costs one prefill (prompt + forced prefix) and about one forward per
 * ranking position, instead of ~130.
 *
 * Semantics match `generate()`: left-padded batch, per-row stop tokens, the same sampling
 * (constraint mask → temperature → top-k / top-p → sample; greedy at temperature 0) and the
 * same recorded log-probabilities. Rows in one forward may feed different numbers of tokens;
 * shorter feeds are left-padded inside the chunk and the padding is masked out of attention
 * (positions count real tokens only), so padding in the middle of a row is harmless.
 *
 * Requirement on the constraint: its mask may depend on the tokens generated so far but not on
 * the logits' values (the probes pass a dummy [B, V] tensor). `permutationConstraint` is such a
 * constraint; a value-dependent one must go through `generate()` instead.
 */
import { int64, mixedPrecision, linear, noGrad, tensor, tidy, zeros, type Tensor } from "../torch/index.js";
import { sampleStep, type GenerateOptions, type GenerateResult } from "../lm/generate.js";
import { KVCache } from "../lm/kv-cache.js";
import type { DecoderLM } from "../lm/model.js";

export interface DecodeStats {
  /** Model forward passes (the prefill included). */
  forwards: number;
  /** Tokens appended because the constraint allowed only one. */
  forced: number;
  /** Tokens chosen by sampling (or argmax). */
  sampled: number;
}

export interface JumpDecodeResult extends GenerateResult {
  stats: DecodeStats;
}

/**
 * Keys and values of a token prefix every prompt of a batch starts with (the rerank prompt's
 * system message and user header), computed once and copied into each row's cache instead of
 * being recomputed per request.
 */
export class PrefixKV {
  private constructor(
    readonly ids: readonly number[],
    private readonly cache: KVCache,
  ) {}

  static compute(model: DecoderLM, ids: readonly number[]): PrefixKV {
    if (ids.length === 0) throw new Error("PrefixKV: empty prefix");
    const cache = new KVCache(model.config, 1, ids.length, { device: model.device });
    try {
      noGrad(() => tidy(() => void model.lastHidden(int64([...ids], [1, ids.length], model.device), { cache })));
    } catch (e) {
      cache.dispose();
      throw e;
    }
    return new PrefixKV([...ids], cache);
  }

  get length(): number {
    return this.ids.length;
  }

  /** True when `prompt` starts with this prefix and has at least one token after it. */
  prefixes(prompt: readonly number[]): boolean {
    if (prompt.length <= this.ids.length) return false;
    for (let i = 0; i < this.ids.length; i++) if (prompt[i] !== this.ids[i]) return false;
    return true;
  }

  /** Copies the prefix into slots [0, length) of every row of `cache` (which must be empty). */
  fill(cache: KVCache): void {
    noGrad(() =>
      tidy(() => {
        for (let l = 0; l < cache.keys.length; l++) {
          cache.keys[l]!.narrow(2, 0, this.length).copy_(this.cache.keys[l]!);
          cache.values[l]!.narrow(2, 0, this.length).copy_(this.cache.values[l]!);
        }
      }),
    );
    cache.length = this.length;
  }

  dispose(): void {
    this.cache.dispose();
  }
}

/** A KV cache plus the key-validity mask, both grown on demand (chunks with padding use extra slots). */
class GrowingCache {
  cache: KVCache;
  /** valid[b * capacity + s]: slot s of row b holds a real token. */
  valid: Uint8Array;

  constructor(private readonly model: DecoderLM, readonly batch: number, capacity: number) {
    this.cache = new KVCache(model.config, batch, capacity, { device: model.device });
    this.valid = new Uint8Array(batch * capacity);
  }

  get capacity(): number {
    return this.cache.capacity;
  }

  /** Makes room for `slots` more positions. */
  reserve(slots: number): void {
    const need = this.cache.length + slots;
    if (need <= this.cache.capacity) return;
    const capacity = Math.max(need, Math.ceil(this.cache.capacity * 1.5));
    const grown = new KVCache(this.model.config, this.batch, capacity, { device: this.model.device });
    const len = this.cache.length;
    if (len > 0) {
      noGrad(() =>
        tidy(() => {
          for (let l = 0; l < grown.keys.length; l++) {
            grown.keys[l]!.narrow(2, 0, len).copy_(this.cache.keys[l]!.narrow(2, 0, len));
            grown.values[l]!.narrow(2, 0, len).copy_(this.cache.values[l]!.narrow(2, 0, len));
          }
        }),
      );
    }
    grown.length = len;
    const valid = new Uint8Array(this.batch * capacity);
    for (let b = 0; b < this.batch; b++) valid.set(this.valid.subarray(b * this.cache.capacity, b * this.cache.capacity + len), b * capacity);
    this.cache.dispose();
    this.cache = grown;
    this.valid = valid;
  }

  /** The bool key mask [B, S] for the first S slots. */
  keyMask(S: number): Tensor {
    const out = new Uint8Array(this.batch * S);
    const cap = this.cache.capacity;
    for (let b = 0; b < this.batch; b++) out.set(this.valid.subarray(b * cap, b * cap + S), b * S);
    return tensor(out, [this.batch, S], { dtype: "bool", device: this.model.device });
  }

  dispose(): void {
    this.cache.dispose();
  }
}

/**
 * Decodes every prompt (see the file comment). With `prefix`, rows whose prompt starts with it
 * take its keys and values from there and only their remainder is prefilled (used only when
 * every row has it).
 */
export function decodeJumpForward(model: DecoderLM, prompts: readonly (readonly number[])[], o: JumpDecodeOptions, prefix?: PrefixKV): JumpDecodeResult {
  const steps = decodeSteps(model, prompts, o, prefix);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same, giving the event loop a turn (setImmediate) whenever `yieldEveryMs` passed since the
 * last one, so a long batch does not stall sockets and health checks. The tensor work stays on
 * the main thread; the caller must not start other tensor work on the same model meanwhile.
 */
export async function decodeJumpForwardAsync(
  model: DecoderLM,
  prompts: readonly (readonly number[])[],
  o: JumpDecodeOptions & { yieldEveryMs?: number },
  prefix?: PrefixKV,
): Promise<JumpDecodeResult> {
  const every = o.yieldEveryMs ?? 20;
  const steps = decodeSteps(model, prompts, o, prefix);
  let last = performance.now();
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (performance.now() - last >= every) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        last = performance.now();
      }
    }
  } finally {
    steps.return(undefined as never); // frees the caches if a step threw
  }
}

export interface JumpDecodeOptions extends GenerateOptions {
  /** Run the model's forwards under bf16 autocast. */
  bf16?: boolean;
  /** Longest chunk of positions one forward reads (default 512). */
  prefillChunk?: number;
}

/** The decoding loop as a generator that pauses after every forward. */
function* decodeSteps(model: DecoderLM, prompts: readonly (readonly number[])[], o: JumpDecodeOptions, prefix?: PrefixKV): Generator<void, JumpDecodeResult, void> {
  const stats: DecodeStats = { forwards: 0, forced: 0, sampled: 0 };
  if (prompts.length === 0) return { tokens: [], logprobs: [], finish: [], stats };
  if (prompts.some((p) => p.length === 0)) throw new Error("decode: every prompt needs at least one token");
  const B = prompts.length;
  const maxPrompt = Math.max(...prompts.map((p) => p.length));
  if (maxPrompt + o.maxNewTokens > model.config.maxPositions) {
    throw new Error(`decode: prompt (${maxPrompt}) + maxNewTokens (${o.maxNewTokens}) exceeds maxPositions (${model.config.maxPositions})`);
  }
  const stop = new Set(o.stopTokens ?? []);
  const pad = o.padToken ?? 0;
  const temperature = o.temperature ?? 1;
  const V = model.config.vocabSize;

  const tokens: number[][] = prompts.map(() => []);
  const logprobs: number[][] = prompts.map(() => []);
  const finish: ("stop" | "length")[] = prompts.map(() => "length");
  const done = new Array<boolean>(B).fill(false);
  /** Real tokens each row has fed so far (its next position). */
  const realLen = new Array<number>(B).fill(0);
  /** What each row feeds in the next forward. */
  const feed: number[][] = prompts.map((p) => [...p]);

  const store = new GrowingCache(model, B, maxPrompt + o.maxNewTokens + 8);
  const shared = prefix && prompts.every((p) => prefix.prefixes(p)) ? prefix : undefined;
  if (shared) {
    shared.fill(store.cache);
    for (let b = 0; b < B; b++) {
      store.valid.fill(1, b * store.capacity, b * store.capacity + shared.length);
      realLen[b] = shared.length;
      feed[b] = prompts[b]!.slice(shared.length);
    }
  }
  const ownFusion = !model.inferencePrepared;
  if (ownFusion) model.prepareInference();
  const dummy = o.constraint ? zeros([B, V], { device: model.device }).keep() : null;
  /** Whether any cache slot holds padding (left padding, uneven feeds): only then is a key mask needed. */
  let padded = false;
  let step = 0;

  const push = (b: number, t: number, lp: number): void => {
    tokens[b]!.push(t);
    logprobs[b]!.push(lp);
    feed[b]!.push(t);
    if (stop.has(t)) {
      done[b] = true;
      finish[b] = "stop";
    } else if (tokens[b]!.length >= o.maxNewTokens) done[b] = true;
    // A finished row needs no more logits: nothing of it is fed again.
    if (done[b]) feed[b] = [];
  };

  /** Appends every token the constraint forces, row by row, until each row has a real choice. */
  const jump = (): void => {
    if (!o.constraint) return;
    for (;;) {
      if (done.every(Boolean)) return;
      const allowed = tidy(() => o.constraint!(step, tokens, dummy!)?.data<"bool">() ?? null);
      step++;
      if (!allowed) return;
      let progressed = false;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        let only = -1;
        let count = 0;
        for (let v = b * V, end = v + V; v < end && count < 2; v++) {
          if (allowed[v]) {
            count++;
            only = v - b * V;
          }
        }
        if (count === 0) throw new Error(`decode: the constraint allows no token for row ${b}`);
        if (count === 1) {
          push(b, only, 0);
          stats.forced++;
          progressed = true;
        }
      }
      if (!progressed) return;
    }
  };

  /**
   * One forward over every row's pending feed; returns the logits [B, V] after each row's last
   * fed token. Long feeds (the prefill) go through the model in chunks of at most `prefillChunk`
   * positions, which bounds attention's [T, S] temporaries and gives the event loop a turn
   * between chunks; every chunk has at least 2 positions, so a row that is all padding in a
   * chunk takes attention's masked-row path (zeros, never NaN).
   */
  function* forward(): Generator<void, Tensor | null, void> {
    const T = Math.max(...feed.map((f) => f.length));
    if (T === 0) return null;
    store.reserve(T);
    const S0 = store.cache.length;
    const cap = store.capacity;
    const ids: number[] = [];
    const pos: number[] = [];
    for (let b = 0; b < B; b++) {
      const f = feed[b]!;
      const padN = T - f.length;
      for (let t = 0; t < T; t++) {
        const real = t >= padN;
        ids.push(real ? f[t - padN]! : pad);
        pos.push(real ? realLen[b]! + (t - padN) : 0);
        store.valid[b * cap + S0 + t] = real ? 1 : 0;
        if (!real) padded = true;
      }
      realLen[b] = realLen[b]! + f.length;
      feed[b] = [];
    }
    const chunk = Math.max(2, o.prefillChunk ?? 512);
    const bounds: number[] = [0];
    while (T - bounds[bounds.length - 1]! > chunk) bounds.push(bounds[bounds.length - 1]! + chunk);
    if (bounds.length > 1 && T - bounds[bounds.length - 1]! < 2) bounds.pop(); // no 1-token tail chunk
    bounds.push(T);
    let logits: Tensor | null = null;
    for (let c = 0; c + 1 < bounds.length; c++) {
      const [a, e] = [bounds[c]!, bounds[c + 1]!];
      const last = c + 2 === bounds.length;
      const n = e - a;
      const slice = (xs: number[]) => Array.from({ length: B * n }, (_, i) => xs[Math.floor(i / n) * T + a + (i % n)]!);
      stats.forwards++;
      const run = () =>
        tidy(() => {
          // Only the last position's logits are needed (one row per sequence, not T), and of a
          // chunk before the last only its keys and values: the last layer runs at one position.
          const h = model.lastHidden(int64(slice(ids), [B, n], model.device), {
            positions: int64(slice(pos), [B, n], model.device),
            cache: store.cache,
            // Without any padding so far, causal attention needs no key mask (and skips its passes).
            keyMask: padded ? store.keyMask(S0 + e) : undefined,
          });
          return last ? linear(h, model.outputWeight).to("float32").keep() : null;
        });
      logits = noGrad(() => (o.bf16 ? mixedPrecision(run, { device: model.device }) : run()));
      if (!last) yield;
    }
    return logits;
  }

  try {
    jump(); // forced prefix: read with the prompt in the prefill
    for (;;) {
      if (done.every(Boolean)) break;
      const next = yield* forward();
      if (!next) break;
      const [ids, lps] = tidy(() => {
        const [tok, lp] = sampleStep(next, step, tokens, temperature, o);
        return [tok.data<"int64">(), lp.toFloat32Array()] as const;
      });
      step++;
      next.dispose();
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        push(b, Number(ids[b]), lps[b]!);
        stats.sampled++;
      }
      jump();
      yield;
    }
  } finally {
    if (ownFusion) model.releaseInference();
    dummy?.dispose();
    store.dispose();
  }
  return { tokens, logprobs, finish, stats };
}
