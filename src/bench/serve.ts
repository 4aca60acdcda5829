/**
 * The serving benchmark (`gr2 bench serve`): starts `gr2 serve` in a child process on a
 * checkpoint (by default a demo-size model made on the spot: synthetic catalogue, BPE with SID
 * tokens, random weights, a SID map), drives it from this process over loopback with node's
 * http client and keep-alive connections, and reports for K-candidate rerank requests:
 *
 *   direct / reasoning: p50_ms, p99_ms (client-side, request sent → response read), rps
 *   rss_growth_mb: the server's resident memory after `rssRequests` more requests minus before
 *   (medians of the last and first samples), and rss_trend_mb_per_10k, its slope over the second
 *   half scaled to 10,000 requests (a leak is a steady slope; the heap reaching its high-water
 *   mark is not). The server's /metrics also shows engine tensors alive and allocator bytes.
 *
 * Latencies are measured with `concurrency` requests in flight (default 1: the latency one
 * request sees); the memory phase uses `rssConcurrency` so it finishes sooner. With
 * `comparePeers` (the default), direct mode is measured a second time on a server decoding
 * with src/lm generate() instead of jump-forward decoding, as the peer in the same run, and
 * `direct_speedup_vs_generate` is the ratio of their p50s. When the model is a run with a
 * direct policy (its SIDs-only, no-reasoning stage answers direct mode), a second peer serves
 * direct mode from the main model alone (`--single-model`, the full prompt), and
 * `direct_policy_speedup` is the ratio of the p50s.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PresetName } from "../lm/presets.js";
import { writeSyntheticCheckpoint } from "../serve/checkpoint.js";
import { resolveModel } from "../serve/load.js";
import { isDirectPolicy } from "../prompt/prompt-file.js";
import { readSidMap } from "../sid/sidmap.js";
import { Rng } from "../util/rng.js";

export interface ServeBenchOptions {
  /** Checkpoint to serve (run or HF folder); default: a fresh synthetic one of `preset` size. */
  model?: string;
  sids?: string;
  /** `--dataset …` flags passed on to the server with `model` (item text for the prompts). */
  datasetArgs?: string[];
  preset: PresetName;
  /** Candidates per request. */
  k: number;
  /** History items per request. */
  history: number;
  /** Measured requests per mode. */
  requests: number;
  reasoningRequests: number;
  warmup: number;
  concurrency: number;
  /** Requests over which resident memory growth is measured. */
  rssRequests: number;
  rssConcurrency: number;
  maxReasoningTokens: number;
  maxBatch: number;
  threads?: number;
  decoder: "jump" | "generate";
  precision: "fp32" | "bf16";
  comparePeers: boolean;
  seed: number;
  /** Progress lines (stderr). */
  log?: (line: string) => void;
}

export const SERVE_BENCH_DEFAULTS: ServeBenchOptions = {
  preset: "demo",
  k: 10,
  history: 10,
  requests: 200,
  reasoningRequests: 40,
  warmup: 10,
  concurrency: 1,
  rssRequests: 10_000,
  rssConcurrency: 8,
  maxReasoningTokens: 64,
  maxBatch: 8,
  decoder: "jump",
  precision: "fp32",
  comparePeers: true,
  seed: 1,
};

export interface LatencyStats {
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  rps: number;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** The run stage that answered (the server's meta.gr2.stage), or null for an HF folder. */
  stage: string | null;
}

export interface ServeBenchResult {
  direct: LatencyStats;
  /** Null when the model is a direct policy alone (it has no reasoning mode to measure). */
  reasoning: LatencyStats | null;
  direct_generate?: LatencyStats;
  /** direct_generate.p50_ms / direct.p50_ms (present with the peer). */
  direct_speedup_vs_generate?: number;
  /** Direct mode answered by the main model alone (present when the run has a direct policy). */
  direct_main_model?: LatencyStats;
  /** direct_main_model.p50_ms / direct.p50_ms. */
  direct_policy_speedup?: number;
  rss_growth_mb: number;
  rss_start_mb: number;
  rss_end_mb: number;
  rss_samples_mb: number[];
  /** Slope of RSS over the second half of the memory phase, in MB per 10,000 requests. */
  rss_trend_mb_per_10k: number;
  rss_requests: number;
  k: number;
  history: number;
  concurrency: number;
  max_reasoning_tokens: number;
  decoder: string;
  precision: string;
  model: { dir: string; parameters: number; synthetic: boolean; preset: string | null };
  machine: { cpus: number; cpu_model: string; loadavg_1m_before: number; loadavg_1m_after: number; threads: number | null; node: string };
}

interface Server {
  child: ChildProcess;
  port: number;
  parameters: number;
  threads: number;
  stop(): Promise<void>;
}

const SERVE_CLI = fileURLToPath(new URL("../cli/serve.js", import.meta.url));

async function startServer(args: string[], env: NodeJS.ProcessEnv): Promise<Server> {
  const child = spawn(process.execPath, [SERVE_CLI, ...args, "--host", "127.0.0.1", "--port", "0", "--json"], { stdio: ["ignore", "pipe", "pipe"], env });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const info = await new Promise<{ port: number; parameters: number; threads: number }>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d) => {
      buf += d;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) {
        try {
          const j = JSON.parse(l);
          if (j.event === "listening") resolve(j);
        } catch {
          /* not ours */
        }
      }
    });
    child.once("exit", (code) => reject(new Error(`gr2 serve exited with ${code} before listening:\n${stderr}`)));
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    ...info,
    stop: async () => {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(t);
    },
  };
}

interface Reply {
  status: number;
  body: string;
}

function send(agent: Agent, port: number, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: "127.0.0.1", port, method, path, agent, headers: payload ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

async function memoryLine(agent: Agent, port: number): Promise<string> {
  const r = await send(agent, port, "GET", "/metrics");
  const num = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(r.body)?.[1] ?? NaN);
  return `RSS ${r1(num("process_resident_memory_bytes") / 2 ** 20)} MB, allocator cache ${r1(num("gr2_allocator_cached_bytes") / 2 ** 20)} MB, ${num("gr2_live_tensors")} live tensors`;
}

async function rssMb(agent: Agent, port: number): Promise<number> {
  const r = await send(agent, port, "GET", "/metrics");
  const m = /^process_resident_memory_bytes (\S+)$/m.exec(r.body);
  if (!m) throw new Error("bench serve: /metrics has no process_resident_memory_bytes");
  return Number(m[1]) / (1024 * 1024);
}

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Sends `n` requests from `concurrency` workers; every answer must be a 200 with a permutation. */
async function drive(agent: Agent, port: number, n: number, concurrency: number, body: (i: number) => Record<string, unknown>): Promise<LatencyStats> {
  const lat: number[] = [];
  let next = 0;
  let prompt = 0;
  let completion = 0;
  let stage: string | null = null;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const b = body(i);
      const s = performance.now();
      const r = await send(agent, port, "POST", "/v2/rerank", b);
      lat.push(performance.now() - s);
      if (r.status !== 200) throw new Error(`bench serve: request ${i} answered ${r.status}: ${r.body.slice(0, 300)}`);
      const j = JSON.parse(r.body) as { meta: { tokens: { input_tokens: number; output_tokens: number }; gr2: { ranking: number[]; stage: string | null } } };
      stage = j.meta.gr2.stage;
      const k = (b.documents as unknown[]).length;
      const rk = j.meta.gr2.ranking;
      if (!(rk.length === k && new Set(rk).size === k && rk.every((x) => x >= 0 && x < k))) throw new Error(`bench serve: request ${i} got a ranking that is not a permutation: ${rk}`);
      prompt += j.meta.tokens.input_tokens;
      completion += j.meta.tokens.output_tokens;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const wall = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return {
    p50_ms: r1(percentile(lat, 50)),
    p99_ms: r1(percentile(lat, 99)),
    mean_ms: r1(lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length)),
    rps: r1(n / wall),
    requests: n,
    prompt_tokens: Math.round(prompt / Math.max(1, n)),
    completion_tokens: Math.round(completion / Math.max(1, n)),
    stage,
  };
}

export async function benchServe(o: ServeBenchOptions): Promise<ServeBenchResult> {
  const log = o.log ?? (() => {});
  const load0 = loadavg()[0]!;
  let tmp: string | null = null;
  let modelDir = o.model;
  let itemIds: string[];
  let datasetArgs: string[] = [];
  let hasDirectPolicy = false;
  let directOnly = false;
  try {
    if (!modelDir) {
      tmp = mkdtempSync(join(tmpdir(), "gr2-bench-serve-"));
      log(`making a ${o.preset}-size synthetic checkpoint in ${tmp}`);
      const ck = await writeSyntheticCheckpoint(tmp, { preset: o.preset, users: 200, items: 1000, seed: 42 });
      modelDir = ck.dir;
      itemIds = ck.itemIds;
      datasetArgs = ["--dataset", "synthetic", "--users", String(ck.dataset.users), "--items", String(ck.dataset.items), "--seed", String(ck.dataset.seed)];
    } else {
      datasetArgs = o.datasetArgs ?? [];
      const resolved = resolveModel(modelDir, o.sids);
      if (!resolved.sidMapPath) throw new Error(`bench serve: ${modelDir} has no SID map; pass --sids`);
      itemIds = [...(await readSidMap(resolved.sidMapPath)).ids];
      hasDirectPolicy = resolved.direct !== undefined;
      // A direct policy's own folder answers direct mode only (the server refuses reasoning).
      directOnly = !hasDirectPolicy && isDirectPolicy(resolved.prompt);
    }
    const served: string = modelDir;
    if (itemIds.length < o.k + o.history) throw new Error(`bench serve: the catalogue has ${itemIds.length} items, fewer than history + K`);
    const rng = new Rng(o.seed);
    const lists = Array.from({ length: 512 }, () => {
      const picked = rng.sample(itemIds.length, o.history + o.k);
      const ids = Array.from(picked, (i) => itemIds[i]!);
      return { history: ids.slice(0, o.history), documents: ids.slice(o.history) };
    });
    const body = (mode: "direct" | "reasoning") => (i: number) => {
      const l = lists[i % lists.length]!;
      // Reasoning is sampled (temperature 1): a random-weight model decoding greedily tends to close its
      // rationale at once, which would make reasoning look as cheap as direct mode.
      return { query: { history: l.history }, documents: l.documents, mode, ...(mode === "reasoning" ? { max_reasoning_tokens: o.maxReasoningTokens, temperature: 1, return_reasoning: true } : {}) };
    };
    const env = { ...process.env, ...(o.threads !== undefined ? { GR2_THREADS: String(o.threads) } : {}) };
    const serverArgs = (decoder: string) => [
      "--model", served, ...(o.sids ? ["--sids", o.sids] : []), ...datasetArgs,
      "--max-batch", String(o.maxBatch), "--max-queue", String(Math.max(64, o.rssConcurrency * 4)),
      "--decoder", decoder, "--precision", o.precision, "--max-candidates", String(Math.max(100, o.k)),
    ];

    log(`starting gr2 serve (${o.decoder} decoder)`);
    const server = await startServer(serverArgs(o.decoder), env);
    const agent = new Agent({ keepAlive: true, maxSockets: Math.max(o.concurrency, o.rssConcurrency) });
    let direct: LatencyStats, rss0: number, rss1: number;
    let reasoning: LatencyStats | null = null;
    let samples: number[] = [];
    let slope = 0;
    try {
      log(`warm-up: ${o.warmup} requests per mode`);
      await drive(agent, server.port, o.warmup, 1, body("direct"));
      if (!directOnly) await drive(agent, server.port, Math.max(1, Math.ceil(o.warmup / 2)), 1, body("reasoning"));
      log(`direct: ${o.requests} requests at concurrency ${o.concurrency}`);
      direct = await drive(agent, server.port, o.requests, o.concurrency, body("direct"));
      log(`  p50 ${direct.p50_ms} ms, p99 ${direct.p99_ms} ms, ${direct.rps} req/s`);
      if (directOnly) log("reasoning: skipped (the model is a direct policy; pass its run folder to measure both)");
      else {
        log(`reasoning: ${o.reasoningRequests} requests at concurrency ${o.concurrency}`);
        reasoning = await drive(agent, server.port, o.reasoningRequests, o.concurrency, body("reasoning"));
        log(`  p50 ${reasoning.p50_ms} ms, p99 ${reasoning.p99_ms} ms, ${reasoning.rps} req/s`);
      }
      // The engine's caching allocator keeps freed blocks for reuse: fill it at the memory phase's
      // concurrency first, so that the growth measured next is what requests leave behind.
      const settle = Math.max(50, Math.ceil(o.rssRequests / 10));
      log(`memory: ${settle} requests at concurrency ${o.rssConcurrency} to settle the allocator (RSS ${r1(await rssMb(agent, server.port))} MB)`);
      await drive(agent, server.port, settle, o.rssConcurrency, body("direct"));
      const first = await rssMb(agent, server.port);
      log(`memory: ${o.rssRequests} direct requests at concurrency ${o.rssConcurrency} (RSS ${r1(first)} MB)`);
      // RSS is sampled 20 times; the heap's size wobbles with the shapes of the last batches, so
      // growth is the median of the last 5 samples minus the median of the first 5 (the start included).
      samples = [first];
      const chunk = Math.max(1, Math.ceil(o.rssRequests / 20));
      for (let done = 0; done < o.rssRequests; done += chunk) {
        await drive(agent, server.port, Math.min(chunk, o.rssRequests - done), o.rssConcurrency, (i) => body("direct")(done + i));
        samples.push(await rssMb(agent, server.port));
        log(`  ${Math.min(done + chunk, o.rssRequests)} requests, ${await memoryLine(agent, server.port)}`);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
      const k = Math.min(5, Math.ceil(samples.length / 2));
      rss0 = median(samples.slice(0, k));
      rss1 = median(samples.slice(samples.length - k));
      // The trend over the second half (least squares), scaled to 10,000 requests: a leak shows as a
      // steady slope, the heap settling at its high-water mark does not.
      const half = samples.slice(Math.floor(samples.length / 2));
      const xs = half.map((_, i) => (Math.floor(samples.length / 2) + i) * chunk);
      const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
      const my = half.reduce((a, b) => a + b, 0) / half.length;
      const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
      slope = sxx > 0 ? (xs.reduce((a, x, i) => a + (x - mx) * (half[i]! - my), 0) / sxx) * 10_000 : 0;
    } finally {
      agent.destroy();
      await server.stop();
    }
    const peerDirect = async (what: string, args: string[]): Promise<LatencyStats> => {
      log(`peer: direct mode ${what}`);
      const peer = await startServer(args, env);
      const a = new Agent({ keepAlive: true, maxSockets: o.concurrency });
      try {
        await drive(a, peer.port, o.warmup, 1, body("direct"));
        const r = await drive(a, peer.port, o.requests, o.concurrency, body("direct"));
        log(`  p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ${r.rps} req/s`);
        return r;
      } finally {
        a.destroy();
        await peer.stop();
      }
    };
    const directGenerate = o.comparePeers && o.decoder !== "generate" ? await peerDirect("decoded by generate()", serverArgs("generate")) : undefined;
    const directMain = o.comparePeers && hasDirectPolicy ? await peerDirect("answered by the main model (--single-model, full prompt)", [...serverArgs(o.decoder), "--single-model"]) : undefined;
    return {
      direct,
      reasoning,
      ...(directGenerate ? { direct_generate: directGenerate, direct_speedup_vs_generate: Math.round((directGenerate.p50_ms / direct.p50_ms) * 100) / 100 } : {}),
      ...(directMain ? { direct_main_model: directMain, direct_policy_speedup: Math.round((directMain.p50_ms / direct.p50_ms) * 100) / 100 } : {}),
      rss_growth_mb: r1(rss1 - rss0),
      rss_start_mb: r1(rss0),
      rss_end_mb: r1(rss1),
      rss_samples_mb: samples.map(r1),
      rss_trend_mb_per_10k: r1(slope),
      rss_requests: o.rssRequests,
      k: o.k,
      history: o.history,
      concurrency: o.concurrency,
      max_reasoning_tokens: o.maxReasoningTokens,
      decoder: o.decoder,
      precision: o.precision,
      model: { dir: o.model ?? "(synthetic, removed)", parameters: server.parameters, synthetic: !o.model, preset: o.model ? null : o.preset },
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", loadavg_1m_before: r1(load0), loadavg_1m_after: r1(loadavg()[0]!), threads: server.threads, node: process.version },
    };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
