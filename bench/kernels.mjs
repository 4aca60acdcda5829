// The fused CPU kernels beside the ATen compositions they replace, at the demo model's training
// shapes, alternating fused and composed round by round, and the prompt prefill in fp32 and
// bf16; prints one JSON line of medians (ms) and ratios.
//   node bench/kernels.mjs [--rounds 5]
// Attention: native/attention.cc with its row kernels (softmax_rows.cc) against the same blocked
// kernel on ATen ops (GR2_ATTN_COMPOSED=1, the path other devices take); SwiGLU: native/swiglu.cc
// against silu(g)·u; prefill: DecoderLM.hidden over 16 prompts of 300 tokens, the way generate()
// prefills (fp32 with the decoding threads, or bf16 autocast with every thread).
import * as torch from "../dist/src/torch/index.js";
import { DecoderLM } from "../dist/src/lm/model.js";
import { presetConfig } from "../dist/src/lm/presets.js";

const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const rounds = Number(flag("--rounds") ?? 5) || 5;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function time(fn, reps = 3) {
  fn(); // warm-up: allocator, oneDNN kernels
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps;
}

torch.manualSeed(0);
// Demo preset: 8 query heads, 2 key/value heads, head dim 32; 16 sequences of 250 tokens.
const [B, H, KV, T, D, I] = [16, 8, 2, 250, 32, 704];
const q = torch.randn([B, H, T, D]).to("bfloat16").keep();
const k = torch.randn([B, KV, T, D]).to("bfloat16").keep();
const v = torch.randn([B, KV, T, D]).to("bfloat16").keep();
const g = torch.randn([B, T, I]).to("bfloat16").keep();
const u = torch.randn([B, T, I]).to("bfloat16").keep();

const attention = () =>
  torch.tidy(() => {
    const [qq, kk, vv] = [q, k, v].map((x) => x.detach().requiresGrad_());
    torch.attention(qq, kk, vv, { causal: true }).sum().backward();
  });
const swiglu = (fused) => () =>
  torch.tidy(() => {
    const [gg, uu] = [g, u].map((x) => x.detach().requiresGrad_());
    (fused ? torch.swiglu(gg, uu) : gg.silu().mul(uu)).sum().backward();
  });

const model = new DecoderLM(presetConfig("demo", 4300));
model.eval();
const ids = torch.int64(Array.from({ length: 16 * 300 }, (_, i) => (i * 7919) % 4300), [16, 300]).keep();
const prefill = (bf16) => () =>
  torch.noGrad(() =>
    torch.tidy(() => {
      const run = () => model.hidden(ids);
      return bf16 ? torch.autocast(run) : torch.withThreads(torch.decodeThreads(), run);
    }),
  );

const runs = { attention_fused: [], attention_composed: [], swiglu_fused: [], swiglu_composed: [], prefill_fp32: [], prefill_bf16: [] };
for (let r = 0; r < rounds; r++) {
  runs.attention_fused.push(time(attention));
  process.env.GR2_ATTN_COMPOSED = "1";
  runs.attention_composed.push(time(attention));
  delete process.env.GR2_ATTN_COMPOSED;
  runs.swiglu_fused.push(time(swiglu(true)));
  runs.swiglu_composed.push(time(swiglu(false)));
  runs.prefill_fp32.push(time(prefill(false)));
  runs.prefill_bf16.push(time(prefill(true)));
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}
const ms = Object.fromEntries(Object.entries(runs).map(([name, xs]) => [name, Number(median(xs).toFixed(2))]));
const ratio = (a, b) => Number((ms[a] / ms[b]).toFixed(2));
console.log(
  JSON.stringify({
    bench: "kernels",
    threads: torch.getNumThreads(),
    shapes: { attention: [B, H, KV, T, D], swiglu: [B, T, I], prefill: [16, 300] },
    median_ms: ms,
    speedup: { attention_fwd_bwd: ratio("attention_composed", "attention_fused"), swiglu_fwd_bwd: ratio("swiglu_composed", "swiglu_fused"), prefill_bf16_vs_fp32: ratio("prefill_fp32", "prefill_bf16") },
  }),
);
