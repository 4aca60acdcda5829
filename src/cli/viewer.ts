/**
 * `gr2 traces view RUN`: serves the trace viewer (src/viewer) on a local port. Thin: parses
 * flags, loads the dataset for titles when asked, starts the server, prints the URL and waits
 * for SIGINT/SIGTERM. Errors become one stderr line and exit code 2, like the other
 * `gr2 traces` subcommands.
 */
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { startViewerServer } from "../viewer/server.js";
import { loadViewerData } from "../viewer/viewer-data.js";
import { DATASET_OPTIONS, datasetFlags, integerFlag, PROCESS_OUTPUT, runCommand, UsageError, type Output } from "./args.js";

export const VIEW_USAGE = `usage:
  gr2 traces view RUN [--file TRACES.jsonl ...] [--dataset NAME [--data-dir DIR] [--users N --items N --seed S]]
      [--outputs FILE] [--host 127.0.0.1] [--port 0] [--open-only]
Serves a local page with each list's history, candidates, reasoning, the teacher's ranking and,
with --outputs (JSONL of {user, split, ranking | text}), the model's. Without --dataset, items
are shown by id. Trace files default to the run's traces stages (run.json). --open-only starts
the server, prints the URL and the summary, and exits (a check that the run can be viewed).`;

export interface ViewOptions {
  /** Called with the URL once the server listens (tests use it to connect). */
  onListening?: (url: string) => void;
  /** Resolves when the server should stop (default: SIGINT or SIGTERM). */
  stop?: Promise<void>;
}

function signalled(): Promise<void> {
  return new Promise((ok) => {
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      ok();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}

export async function viewTracesCommand(args: string[], io: Output = PROCESS_OUTPUT, o: ViewOptions = {}): Promise<number> {
  return runCommand(
    "traces",
    VIEW_USAGE,
    async () => {
      const { values: v, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          ...DATASET_OPTIONS,
          file: { type: "string", multiple: true },
          outputs: { type: "string" },
          host: { type: "string" },
          port: { type: "string" },
          "open-only": { type: "boolean" },
          help: { type: "boolean", short: "h" },
        },
      });
      if (v.help) {
        io.out(`${VIEW_USAGE}\n`);
        return 0;
      }
      if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "missing RUN (the run folder)" : `expected one RUN, got ${positionals.length}`);
      const runDir = positionals[0]!;
      // Only load a dataset when asked: the synthetic default would show made-up titles.
      const dataset = v.dataset === undefined ? undefined : await loadDataset(datasetFlags(v));
      const data = await loadViewerData({
        runDir,
        files: v.file,
        items: dataset?.catalogue.items,
        interactions: dataset?.interactions,
        outputs: v.outputs,
      });
      const server = await startViewerServer(data, { host: v.host ?? "127.0.0.1", port: integerFlag(v, "port", 0) ?? 0 });
      const s = data.summary;
      io.out(`trace viewer: ${server.url}\n`);
      io.out(`${s.lists} lists (${s.accepted} accepted) from ${s.files.length} file(s)${s.has_titles ? "" : "; no --dataset: items shown by id"}${s.has_model ? `; model outputs: ${v.outputs}` : ""}\n`);
      if (s.unmatched_outputs) io.err(`gr2 traces: warning: ${s.unmatched_outputs} model outputs match no trace (user and split)\n`);
      o.onListening?.(server.url);
      if (v["open-only"]) {
        await server.close();
        return 0;
      }
      io.out("Ctrl-C stops it.\n");
      await (o.stop ?? signalled());
      await server.close();
      return 0;
    },
    { io, oneLine: true },
  );
}
