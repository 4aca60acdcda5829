/**
 * `gr2 bench engine [--dtype fp32|bf16] [--steps N] [...] [--json]`: the engine benchmark
 * (src/bench/engine.ts). bench/engine.sh runs it beside its PyTorch peer and prints ratios.
 * `gr2 bench serve ...`: the serving benchmark (src/cli/bench-serve.ts).
 * `gr2 bench attention [...] [--json]`: the tiled attention kernel (float on CPU), the blocked
 * one and the plain composition, each in a fresh process (src/bench/attention.ts).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ATTENTION_BENCH_DEFAULTS, ATTENTION_KERNELS, benchAttention, type AttentionBenchOptions, type AttentionBenchResult } from "../bench/attention.js";
import { benchEngine, ENGINE_BENCH_DEFAULTS, type EngineBenchOptions } from "../bench/engine.js";
import { choiceFlag, integerFlag, numberFlag, runSubcommands, UsageError } from "./args.js";

const USAGE = `usage: gr2 bench serve [...]   (gr2 bench serve --help)
       gr2 bench engine [--dtype fp32|bf16] [--d-model N] [--layers N] [--heads N] [--kv-heads N]
                       [--hidden N] [--vocab N] [--batch N] [--seq N] [--answer N] [--warmup N] [--steps N]
                       [--decode-batch N] [--prompt N] [--new-tokens N] [--seed N] [--device cpu|cuda] [--json]
         --answer N: only the last N tokens of each row carry the loss (an SFT or reading step's
         answer after its prompt; default 0, every position)
       gr2 bench attention [--batch 8] [--heads 8] [--kv-heads 2] [--seq 1100] [--head-dim 32] [--layers 4]
                       [--steps 3] [--device cpu|cuda] [--json]
         forward + backward of causal attention, the tiled kernel (float on CPU), the blocked kernel
         and the plain composition each in a fresh process: seconds, peak resident memory, ratios`;

const NUMERIC: [flag: string, key: keyof EngineBenchOptions][] = [
  ["d-model", "dModel"], ["layers", "layers"], ["heads", "heads"], ["kv-heads", "kvHeads"], ["hidden", "hidden"],
  ["vocab", "vocab"], ["batch", "batch"], ["seq", "seq"], ["answer", "answer"], ["warmup", "warmup"], ["steps", "steps"],
  ["decode-batch", "decodeBatch"], ["prompt", "prompt"], ["new-tokens", "newTokens"], ["seed", "seed"],
];

export function benchCommand(args: string[]): Promise<number> {
  return runSubcommands("bench", USAGE, { engine: engineCommand, attention: attentionCommand, serve: async (rest) => (await import("./bench-serve.js")).serveBenchCommand(rest) }, args);
}

function engineCommand(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(NUMERIC.map(([f]) => [f, { type: "string" as const }])),
      dtype: { type: "string" },
      device: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const o: EngineBenchOptions = { ...ENGINE_BENCH_DEFAULTS };
  for (const [flag, key] of NUMERIC) (o as unknown as Record<string, number>)[key] = numberFlag(values, flag, o[key] as number);
  if (!(Number.isInteger(o.answer) && o.answer >= 0 && o.answer <= o.seq)) throw new UsageError(`--answer expects an integer from 0 (every position) to --seq (${o.seq}), got ${o.answer}`);
  o.dtype = choiceFlag(values, "dtype", ["fp32", "bf16"] as const, "fp32");
  o.device = (values.device as string | undefined) ?? "cpu";
  const r = benchEngine(o);
  if (values.json) process.stdout.write(JSON.stringify(r) + "\n");
  else process.stdout.write(`${r.params.toLocaleString()} params, ${r.dtype}, ${r.threads} threads: train ${r.train_tokens_per_s} tok/s, decode ${r.decode_tokens_per_s} tok/s\n`);
  return 0;
}

const ATTENTION_NUMERIC: [flag: string, key: keyof AttentionBenchOptions][] = [
  ["batch", "batch"], ["heads", "heads"], ["kv-heads", "kvHeads"], ["seq", "seq"], ["head-dim", "headDim"], ["layers", "layers"], ["steps", "steps"],
];

function attentionCommand(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(ATTENTION_NUMERIC.map(([f]) => [f, { type: "string" as const }])),
      device: { type: "string" },
      kernel: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const o: AttentionBenchOptions = { ...ATTENTION_BENCH_DEFAULTS };
  for (const [flag, key] of ATTENTION_NUMERIC) (o as unknown as Record<string, number>)[key] = integerFlag(values, flag, 1) ?? (o[key] as number);
  o.device = (values.device as string | undefined) ?? "cpu";
  // One kernel: the child process each half of the comparison runs in.
  if (values.kernel !== undefined) {
    process.stdout.write(JSON.stringify(benchAttention(o, choiceFlag(values, "kernel", ATTENTION_KERNELS, "tiled"))) + "\n");
    return 0;
  }
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const run = (kernel: string): AttentionBenchResult => {
    const r = spawnSync(process.execPath, [main, "bench", "attention", ...args.filter((a) => a !== "--json"), "--kernel", kernel], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`gr2 bench attention --kernel ${kernel} failed (exit ${r.status}): ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as AttentionBenchResult;
  };
  const [tiled, blocked, plain] = ATTENTION_KERNELS.map(run) as [AttentionBenchResult, AttentionBenchResult, AttentionBenchResult];
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const ratios = {
    seconds_tiled_over_blocked: ratio(tiled.seconds, blocked.seconds),
    peak_rss_tiled_over_blocked: ratio(tiled.peak_rss_mb, blocked.peak_rss_mb),
    seconds_blocked_over_plain: ratio(blocked.seconds, plain.seconds),
    peak_rss_blocked_over_plain: ratio(blocked.peak_rss_mb, plain.peak_rss_mb),
  };
  if (values.json) process.stdout.write(JSON.stringify({ options: o, tiled, blocked, plain, ...ratios }) + "\n");
  else {
    const line = (r: AttentionBenchResult) => `${r.kernel} ${r.seconds} s, ${r.peak_rss_mb} MB`;
    process.stdout.write(`attention fwd+bwd, ${o.layers} layers of [${o.batch}, ${o.heads}, ${o.seq}, ${o.headDim}]: ${[tiled, blocked, plain].map(line).join("; ")} (tiled/blocked time ×${ratios.seconds_tiled_over_blocked}, memory ×${ratios.peak_rss_tiled_over_blocked}; blocked/plain time ×${ratios.seconds_blocked_over_plain}, memory ×${ratios.peak_rss_blocked_over_plain})\n`);
  }
  return 0;
}
