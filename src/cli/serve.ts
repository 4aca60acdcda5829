/**
 * `gr2 serve --model DIR [--sids FILE] [--host 127.0.0.1] [--port N] [--max-batch N]
 *            [--max-queue N] [--timeout-ms N] …`
 * Serves a checkpoint over HTTP (src/serve/): rerank (Cohere v2, Jina/vLLM v1), OpenAI chat
 * completions, models, health and Prometheus metrics. DIR is a run folder (the newest finished
 * stage's model is served, and its direct policy, if it has one, answers direct-mode reranks)
 * or a Hugging Face folder. SIGTERM/SIGINT shut down gracefully.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { OUTPUT_FORMATS } from "../prompt/output-format.js";
import { Gr2Server, SERVER_DEFAULTS } from "../serve/server.js";
import { ModelSession } from "../serve/session.js";
import { decodeThreads, getNumThreads, setNumThreads } from "../torch/index.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, integerFlag, runCommand, UsageError } from "./args.js";

const USAGE = `usage: gr2 serve --model DIR [--sids FILE|DIR] [--host 127.0.0.1] [--port 8000]
                 [--max-batch 8] [--max-queue 64] [--timeout-ms 60000] [--batch-wait-ms 2]
                 [--max-body-bytes 1048576] [--max-candidates 100] [--served-model-name NAME]
                 [--allocator-cache-mb 256]
                 [--format json|compact (default: the run's)] [--mode direct|reasoning] [--max-reasoning-tokens 256]
                 [--max-history N (default: the run's, else 20)] [--max-tokens 256] [--decoder jump|generate]
                 [--precision fp32|bf16] [--threads N (default: half the cores)] [--device cpu|cuda] [--single-model]
                 [--dataset NAME [--data-dir DIR] [--users N --items N --seed S]] [--json]

  DIR: a run folder (serves its newest finished stage's model) or a Hugging Face folder.
  A run's direct policy (gr2 pipeline's "direct" stage: SIDs-only prompt, no reasoning) answers
  direct-mode reranks that name catalogue items; --single-model serves the main model alone.
  --sids: the SID map (default: the stage's recorded map, or DIR/sid_map.json).
  --dataset: a catalogue whose item text the rerank prompts show (titles, brands, categories).
  Endpoints: POST /v2/rerank, /v1/rerank, /v1/chat/completions; GET /v1/models, /health, /metrics.`;

export async function serveCommand(args: string[]): Promise<number> {
  return runCommand("serve", USAGE, async () => {
    const { values } = parseArgs({
      args,
      options: {
        ...DATASET_OPTIONS,
        model: { type: "string" },
        sids: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        "max-batch": { type: "string" },
        "max-queue": { type: "string" },
        "timeout-ms": { type: "string" },
        "batch-wait-ms": { type: "string" },
        "max-body-bytes": { type: "string" },
        "allocator-cache-mb": { type: "string" },
        "max-candidates": { type: "string" },
        "served-model-name": { type: "string" },
        format: { type: "string" },
        mode: { type: "string" },
        "max-reasoning-tokens": { type: "string" },
        "max-history": { type: "string" },
        "max-tokens": { type: "string" },
        decoder: { type: "string" },
        precision: { type: "string" },
        threads: { type: "string" },
        device: { type: "string" },
        json: { type: "boolean" },
        "single-model": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE + "\n");
      return 0;
    }
    if (!values.model) throw new UsageError("--model DIR is required");
    // Serving is decoding: by default it runs with generation's thread count (decodeThreads:
    // half the cores), not every core, unless --threads or GR2_THREADS says otherwise.
    const threads = integerFlag(values, "threads", 1) ?? (process.env.GR2_THREADS ? undefined : decodeThreads());
    if (threads !== undefined) setNumThreads(threads);
    const maxCandidates = integerFlag(values, "max-candidates", 1);
    const sessionOptions = {
      model: values.model,
      sids: values.sids,
      name: values["served-model-name"],
      device: values.device ?? "cpu",
      // Absent: what the run trained with (its manifest), else json.
      format: values.format === undefined ? undefined : choiceFlag(values, "format", OUTPUT_FORMATS, "json"),
      mode: choiceFlag(values, "mode", ["direct", "reasoning"] as const, "direct"),
      maxReasoningTokens: integerFlag(values, "max-reasoning-tokens", 0),
      maxHistory: integerFlag(values, "max-history", 1),
      maxTokens: integerFlag(values, "max-tokens", 1),
      decoder: choiceFlag(values, "decoder", ["jump", "generate"] as const, "jump"),
      precision: choiceFlag(values, "precision", ["fp32", "bf16"] as const, "fp32"),
      dataset: values.dataset ? datasetFlags(values) : undefined,
      limits: maxCandidates !== undefined ? { maxCandidates } : undefined,
    };
    const session = await ModelSession.load(sessionOptions);
    const directResolved = values["single-model"] ? undefined : session.resolved.direct;
    let direct: ModelSession | null = null;
    try {
      // Its own history cap (from its stage), not a --max-history meant for the main model.
      if (directResolved) direct = await ModelSession.load({ ...sessionOptions, resolved: directResolved, maxHistory: undefined, mode: "direct" });
    } catch (e) {
      session.dispose();
      throw e;
    }
    const disposeAll = () => {
      session.dispose();
      direct?.dispose();
    };
    const server = new Gr2Server(session, {
      host: values.host ?? SERVER_DEFAULTS.host,
      port: integerFlag(values, "port", 0) ?? SERVER_DEFAULTS.port,
      maxBatch: integerFlag(values, "max-batch", 1),
      maxQueue: integerFlag(values, "max-queue", 1),
      timeoutMs: integerFlag(values, "timeout-ms", 1),
      maxWaitMs: integerFlag(values, "batch-wait-ms", 0),
      maxBodyBytes: integerFlag(values, "max-body-bytes", 1),
      allocatorCacheMb: integerFlag(values, "allocator-cache-mb", 0),
    }, direct);
    let address: Awaited<ReturnType<Gr2Server["listen"]>>;
    try {
      address = await server.listen();
    } catch (e) {
      disposeAll();
      throw new Error(`cannot listen on ${server.options.host}:${server.options.port} (${(e as Error).message})`);
    }
    const info = {
      url: address.url,
      host: address.host,
      port: address.port,
      model: session.name,
      model_dir: session.resolved.modelDir,
      stage: session.resolved.stage ?? null,
      direct_policy: direct ? { model_dir: direct.resolved.modelDir, stage: direct.resolved.stage ?? null } : null,
      sid_map: session.resolved.sidMapPath ?? null,
      rerank: session.canRerank,
      parameters: session.model.numParams(),
      threads: getNumThreads(),
      pid: process.pid,
    };
    if (values.json) process.stdout.write(JSON.stringify({ event: "listening", ...info }) + "\n");
    else {
      process.stdout.write(`gr2 serve: ${info.model} (${info.parameters.toLocaleString()} parameters${info.stage ? `, stage ${info.stage}` : ""}) on ${info.url}\n`);
      if (direct) process.stdout.write(`gr2 serve: direct-mode reranks use the direct policy (stage ${direct.resolved.stage})\n`);
      if (!info.rerank) process.stdout.write(`gr2 serve: this model has no SID tokens: /v1/rerank and /v2/rerank answer 501\n`);
    }
    await new Promise<void>((resolve) => {
      let signals = 0;
      const stop = (sig: NodeJS.Signals) => {
        if (++signals > 1) {
          process.stderr.write(`gr2 serve: second ${sig}, exiting now\n`);
          process.exit(130);
        }
        process.stderr.write(`gr2 serve: ${sig}: finishing requests in progress, then exiting\n`);
        void server.shutdown().then(resolve);
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
    });
    disposeAll();
    if (values.json) process.stdout.write(JSON.stringify({ event: "stopped", requests: server.metrics.requests.total() }) + "\n");
    else process.stdout.write(`gr2 serve: stopped after ${server.metrics.requests.total()} requests\n`);
    return 0;
  });
}

// Runnable on its own (`node dist/src/cli/serve.js --model DIR`), which the serving benchmark uses.
function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isMain()) {
  serveCommand(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
