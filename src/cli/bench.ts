/**
 * `gr2 bench engine [--dtype fp32|bf16] [--steps N] [...] [--json]`: the engine benchmark
 * (src/bench/engine.ts). bench/engine.sh runs it beside its PyTorch peer and prints ratios.
 * `gr2 bench serve ...`: the serving benchmark (src/cli/bench-serve.ts).
 */
import { parseArgs } from "node:util";
import { benchEngine, ENGINE_BENCH_DEFAULTS, type EngineBenchOptions } from "../bench/engine.js";
import { choiceFlag, numberFlag, runSubcommands } from "./args.js";

const USAGE = `usage: gr2 bench serve [...]   (gr2 bench serve --help)
       gr2 bench engine [--dtype fp32|bf16] [--d-model N] [--layers N] [--heads N] [--kv-heads N]
                       [--hidden N] [--vocab N] [--batch N] [--seq N] [--warmup N] [--steps N]
                       [--decode-batch N] [--prompt N] [--new-tokens N] [--seed N] [--device cpu|cuda] [--json]`;

const NUMERIC: [flag: string, key: keyof EngineBenchOptions][] = [
  ["d-model", "dModel"], ["layers", "layers"], ["heads", "heads"], ["kv-heads", "kvHeads"], ["hidden", "hidden"],
  ["vocab", "vocab"], ["batch", "batch"], ["seq", "seq"], ["warmup", "warmup"], ["steps", "steps"],
  ["decode-batch", "decodeBatch"], ["prompt", "prompt"], ["new-tokens", "newTokens"], ["seed", "seed"],
];

export function benchCommand(args: string[]): Promise<number> {
  return runSubcommands("bench", USAGE, { engine: engineCommand, serve: async (rest) => (await import("./bench-serve.js")).serveBenchCommand(rest) }, args);
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
  o.dtype = choiceFlag(values, "dtype", ["fp32", "bf16"] as const, "fp32");
  o.device = (values.device as string | undefined) ?? "cpu";
  const r = benchEngine(o);
  if (values.json) process.stdout.write(JSON.stringify(r) + "\n");
  else process.stdout.write(`${r.params.toLocaleString()} params, ${r.dtype}, ${r.threads} threads: train ${r.train_tokens_per_s} tok/s, decode ${r.decode_tokens_per_s} tok/s\n`);
  return 0;
}
