// Runs the engine benchmark beside its PyTorch-eager peer, alternating them round by round so
// both see the same machine conditions, and prints one JSON line with medians and ratios.
//   node bench/engine-compare.mjs [--rounds 3] [--threads N]
// --threads sets both sides' intra-op threads (default: every core); use 1 on a busy machine,
// where spinning worker threads make multi-threaded timings meaningless.
// Needs Debian's python3-torch (the same libtorch 1.13 underneath); bench/engine.sh installs it.
import { spawnSync } from "node:child_process";

const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const rounds = Number(flag("--rounds") ?? 3) || 3;
const threads = flag("--threads");
const python = process.env.GR2_BENCH_PYTHON ?? "/usr/bin/python3";

function run(cmd, args) {
  const env = { ...process.env, GR2_QUIET: "1", ...(threads ? { GR2_THREADS: threads, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads } : {}) };
  const r = spawnSync(cmd, args, { encoding: "utf8", env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}
const ours = (dtype) => run(process.execPath, ["dist/src/cli/main.js", "bench", "engine", "--json", "--dtype", dtype]);
const peer = (dtype) => run(python, ["bench/pytorch_engine.py", "--dtype", dtype, ...(threads ? ["--threads", threads] : [])]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const runs = { gr2_fp32: [], torch_fp32: [], gr2_bf16: [], torch_bf16: [] };
for (let i = 0; i < rounds; i++) {
  runs.gr2_fp32.push(ours("fp32"));
  runs.torch_fp32.push(peer("fp32"));
  runs.gr2_bf16.push(ours("bf16"));
  runs.torch_bf16.push(peer("bf16"));
  process.stderr.write(`round ${i + 1}/${rounds} done\n`);
}
const med = (k, field) => median(runs[k].map((r) => r[field]));
const summary = {};
for (const k of Object.keys(runs)) summary[k] = { train_tokens_per_s: med(k, "train_tokens_per_s"), decode_tokens_per_s: med(k, "decode_tokens_per_s") };
const ratio = (a, b) => Number((a / b).toFixed(2));
console.log(JSON.stringify({
  rounds,
  params: runs.gr2_fp32[0].params,
  threads: runs.gr2_fp32[0].threads,
  ...summary,
  ratios: {
    train_fp32_vs_torch_fp32: ratio(summary.gr2_fp32.train_tokens_per_s, summary.torch_fp32.train_tokens_per_s),
    decode_vs_torch: ratio(summary.gr2_fp32.decode_tokens_per_s, summary.torch_fp32.decode_tokens_per_s),
    train_bf16_vs_torch_fp32: ratio(summary.gr2_bf16.train_tokens_per_s, summary.torch_fp32.train_tokens_per_s),
    train_bf16_vs_torch_bf16: ratio(summary.gr2_bf16.train_tokens_per_s, summary.torch_bf16.train_tokens_per_s),
  },
  targets: { train_fp32_vs_torch_fp32: 1.0, decode_vs_torch: 2.0, train_bf16_vs_torch_fp32: 2.5 },
}));
