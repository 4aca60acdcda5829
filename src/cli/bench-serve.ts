/**
 * `gr2 bench serve [...] [--json]`: the serving benchmark (src/bench/serve.ts): `gr2 serve` in a
 * child process driven over loopback, direct and reasoning latency, resident memory over
 * 10,000 requests, and the generate()-decoded server as the peer.
 */
import { parseArgs } from "node:util";
import { benchServe, SERVE_BENCH_DEFAULTS, type LatencyStats, type ServeBenchOptions } from "../bench/serve.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, integerFlag, runCommand, UsageError, type DatasetFlags } from "./args.js";

const USAGE = `usage: gr2 bench serve [--model DIR [--sids FILE] [--dataset NAME [--data-dir DIR] [--users N --items N --seed S]]]
                      [--preset demo|tiny|beauty] [--k 10] [--history 10]
                      [--requests 200] [--reasoning-requests 40] [--warmup 10] [--concurrency 1]
                      [--rss-requests 10000] [--rss-concurrency 8] [--max-reasoning-tokens 64] [--max-batch 8]
                      [--threads N] [--decoder jump|generate] [--precision fp32|bf16] [--no-peer]
                      [--request-seed S] [--json]
--seed S seeds the synthetic catalogue, as in every gr2 command, and the requests; --request-seed S
seeds the requests alone (default: --seed, else 1). --dataset-seed S, the old spelling of the
catalogue's seed, is deprecated but still read: it seeds the catalogue alone, and --seed then seeds
only the requests.`;

/** The dataset flags as `gr2 serve` reads them (exported for tests). */
export function serveDatasetArgs(f: DatasetFlags): string[] {
  const pairs: [string, string | number | undefined][] = [["dataset", f.name], ["data-dir", f.dataDir], ["users", f.users], ["items", f.items], ["seed", f.seed]];
  return pairs.flatMap(([flag, value]) => (value === undefined ? [] : [`--${flag}`, String(value)]));
}

export async function serveBenchCommand(args: string[]): Promise<number> {
  return runCommand("bench serve", USAGE, async () => {
    const { values } = parseArgs({
      args,
      options: {
        model: { type: "string" },
        sids: { type: "string" },
        ...DATASET_OPTIONS,
        /** Deprecated: the catalogue's seed under its old spelling (see USAGE). */
        "dataset-seed": { type: "string" },
        "request-seed": { type: "string" },
        preset: { type: "string" },
        k: { type: "string" },
        history: { type: "string" },
        requests: { type: "string" },
        "reasoning-requests": { type: "string" },
        warmup: { type: "string" },
        concurrency: { type: "string" },
        "rss-requests": { type: "string" },
        "rss-concurrency": { type: "string" },
        "max-reasoning-tokens": { type: "string" },
        "max-batch": { type: "string" },
        threads: { type: "string" },
        decoder: { type: "string" },
        precision: { type: "string" },
        "no-peer": { type: "boolean" },
        json: { type: "boolean" },
      },
    });
    const d = SERVE_BENCH_DEFAULTS;
    const int = (flag: string, fallback: number, min: number) => integerFlag(values, flag, min) ?? fallback;
    const o: ServeBenchOptions = {
      model: values.model,
      sids: values.sids,
      datasetArgs: values.dataset
        ? serveDatasetArgs(datasetFlags(values, { seedAlias: "dataset-seed", warn: (text) => process.stderr.write(`gr2 bench serve: ${text}\n`) }))
        : undefined,
      preset: choiceFlag(values, "preset", ["tiny", "demo", "beauty"] as const, d.preset),
      k: int("k", d.k, 2),
      history: int("history", d.history, 0),
      requests: int("requests", d.requests, 1),
      reasoningRequests: int("reasoning-requests", d.reasoningRequests, 1),
      warmup: int("warmup", d.warmup, 1),
      concurrency: int("concurrency", d.concurrency, 1),
      rssRequests: int("rss-requests", d.rssRequests, 1),
      rssConcurrency: int("rss-concurrency", d.rssConcurrency, 1),
      maxReasoningTokens: int("max-reasoning-tokens", d.maxReasoningTokens, 1),
      maxBatch: int("max-batch", d.maxBatch, 1),
      threads: integerFlag(values, "threads", 1),
      decoder: choiceFlag(values, "decoder", ["jump", "generate"] as const, d.decoder),
      precision: choiceFlag(values, "precision", ["fp32", "bf16"] as const, d.precision),
      comparePeers: !values["no-peer"],
      seed: integerFlag(values, "request-seed", 0) ?? integerFlag(values, "seed", 0) ?? d.seed,
      log: (line) => process.stderr.write(`bench serve: ${line}\n`),
    };
    if ((values.sids || values.dataset) && !values.model) throw new UsageError("--sids and --dataset go with --model");
    const r = await benchServe(o);
    if (values.json) process.stdout.write(JSON.stringify(r) + "\n");
    else {
      const row = (name: string, s: LatencyStats) => `${name.padEnd(16)} p50 ${s.p50_ms} ms   p99 ${s.p99_ms} ms   ${s.rps} req/s   (${s.prompt_tokens} prompt + ${s.completion_tokens} answer tokens)\n`;
      process.stdout.write(`K = ${r.k}, history ${r.history}, concurrency ${r.concurrency}, ${r.model.parameters.toLocaleString()} parameters, ${r.machine.cpus} cpus (load ${r.machine.loadavg_1m_before})\n`);
      process.stdout.write(row("direct", r.direct) + (r.reasoning ? row("reasoning", r.reasoning) : "reasoning        (a direct policy: no reasoning mode)\n") + (r.direct_generate ? row("direct/generate", r.direct_generate) : ""));
      if (r.direct_speedup_vs_generate) process.stdout.write(`jump-forward decoding vs generate(): ${r.direct_speedup_vs_generate}× at p50\n`);
      process.stdout.write(`resident memory: ${r.rss_start_mb} → ${r.rss_end_mb} MB over ${r.rss_requests} requests (${r.rss_growth_mb >= 0 ? "+" : ""}${r.rss_growth_mb} MB)\n`);
    }
    return 0;
  });
}
