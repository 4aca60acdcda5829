#!/usr/bin/env node
/**
 * `gr2`: the command line. Each subcommand lives in its own module and only parses flags,
 * calls the library and prints; this file only dispatches.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<(args: string[]) => Promise<number>> }> = {
  data: { summary: "dataset statistics and downloads", load: async () => (await import("./data.js")).dataCommand },
  sid: { summary: "build and inspect semantic IDs", load: async () => (await import("./sid.js")).sidCommand },
  rank: { summary: "train the upstream ranker and write candidate lists", load: async () => (await import("./rank.js")).rankCommand },
  eval: { summary: "evaluate baselines, generative retrieval or re-rankers", load: async () => (await import("./eval.js")).evalCommand },
  pretrain: { summary: "pre-train the embedded LM on catalogue text", load: async () => (await import("./pretrain.js")).pretrainCommand },
  midtrain: { summary: "mid-train the LM on semantic IDs (four tasks)", load: async () => (await import("./midtrain.js")).midtrainCommand },
  traces: { summary: "reasoning traces from a teacher (evidence or OpenAI-compatible)", load: async () => (await import("./traces.js")).tracesCommand },
  pipeline: { summary: "run every stage end to end (resumable)", load: async () => (await import("./pipeline.js")).pipelineCommand },
  distill: { summary: "on-policy distillation from a teacher model (technical report)", load: async () => (await import("./distill.js")).distillCommand },
  ablate: { summary: "ablations (rewards by name: naive vs conditional, …)", load: async () => (await import("./ablate.js")).ablateCommand },
  lm: { summary: "inspect a model folder (logits for given token ids)", load: async () => (await import("./lm.js")).lmCommand },
  export: { summary: "export a trained model as a Hugging Face folder", load: async () => (await import("./lm.js")).exportCommand },
  import: { summary: "import a Hugging Face checkpoint into a run", load: async () => (await import("./lm.js")).importCommand },
  serve: { summary: "serve a checkpoint over HTTP (rerank, chat completions, metrics)", load: async () => (await import("./serve.js")).serveCommand },
  bench: { summary: "benchmarks (engine, serve) printing JSON", load: async () => (await import("./bench.js")).benchCommand },
  demo: { summary: "run the end-to-end demo", load: async () => (await import("./demo.js")).demoCommand },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `usage: gr2 <command> [options]   (gr2 <command> --help for its options)\n\ncommands:\n${Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join("\n")}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
    process.stdout.write(usage());
    return cmd === undefined ? 2 : 0;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    process.stderr.write(`gr2: unknown command "${cmd}"\n${usage()}`);
    return 2;
  }
  return (await entry.load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`gr2: ${err instanceof Error ? (process.env.GR2_DEBUG ? err.stack : err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
