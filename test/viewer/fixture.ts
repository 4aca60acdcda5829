/**
 * A small run folder for the viewer tests: two trace files (targeted, rejection), candidate
 * files with histories, and items whose titles are hostile (`<script>`, quotes, entities) so
 * escaping is exercised end to end.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatOutput } from "../../src/prompt/output-format.js";
import type { Item } from "../../src/data/types.js";
import type { TraceRecord } from "../../src/teacher/traces.js";

export const EVIL_TITLE = `<script>window.__pwned=1</script> "Quoted" & 'single' &amp; shampoo`;
export const REASONING_TEXT = "Complements the conditioner bought last";

const sid = (i: number) => `<|sid_begin|><s_a_${i}><s_b_${i % 7}><|sid_end|>`;

export const ITEMS: Item[] = Array.from({ length: 12 }, (_, i) => ({
  index: i,
  id: `it${i}`,
  title: i === 3 ? EVIL_TITLE : `Product number ${i}`,
  categories: ["Beauty"],
}));

function trace(user: string, mode: "targeted" | "rejection", accepted: boolean, ranking: number[] | null, reordered = false): TraceRecord {
  const candidates = ["it3", "it4", "it5", "it6"];
  const target = 0; // it3, the hostile title
  return {
    user,
    split: "valid",
    mode,
    teacher: "evidence",
    format: "compact",
    attempts: accepted ? 1 : 4,
    samples: accepted ? 1 : 4,
    accepted,
    candidates,
    candidate_sids: candidates.map((c) => sid(Number(c.slice(2)))),
    target: candidates[target]!,
    rank_pre: target + 1,
    shown_order: [2, 0, 3, 1],
    messages: [{ role: "user", content: "prompt" }],
    response: ranking ? "x" : null,
    raw_response: ranking ? "x" : "not an answer",
    explanation: ranking ? `${REASONING_TEXT} ${sid(3)}; history item ${sid(1)} and an unknown ${"<|sid_begin|><s_a_99><|sid_end|>"}.` : null,
    ranking,
    ranking_ids: ranking ? ranking.map((u) => candidates[u]!) : null,
    rank_re: ranking ? ranking.indexOf(target) + 1 : null,
    ...(mode === "targeted" ? { reordered } : {}),
    failures: accepted ? {} : { unknown_sid: 1 },
  };
}

export interface Fixture {
  runDir: string;
  outputs: string;
}

/** Users u1 (targeted, hit), u2 (targeted, reordered → miss), u3 (rejection, rejected, ranked), u4 (rejection, no valid answer). */
export function makeRun(): Fixture {
  const runDir = mkdtempSync(join(tmpdir(), "gr2-viewer-"));
  mkdirSync(join(runDir, "traces"));
  mkdirSync(join(runDir, "candidates"));
  const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  writeFileSync(join(runDir, "traces", "evidence-targeted.jsonl"), jsonl([trace("u1", "targeted", true, [0, 1, 2, 3]), trace("u2", "targeted", true, [0, 2, 1, 3], true)]));
  writeFileSync(join(runDir, "traces", "evidence-rejection.jsonl"), jsonl([trace("u3", "rejection", false, [1, 0, 2, 3]), trace("u4", "rejection", false, null)]));
  writeFileSync(
    join(runDir, "candidates", "valid.jsonl"),
    jsonl(["u1", "u2", "u3", "u4"].map((user) => ({ user, split: "valid", history: ["it1", "it2"], candidates: ["it3", "it4", "it5", "it6"], target: "it3", rank_pre: 1 }))),
  );
  const stage = (outputs: Record<string, string>, config: Record<string, unknown> = {}) => ({ status: "done", outputs, metrics: {}, config });
  writeFileSync(
    join(runDir, "run.json"),
    JSON.stringify({
      version: 1,
      stages: {
        prerank: stage({ valid: "candidates/valid.jsonl" }),
        traces: stage({ traces: "traces/evidence-targeted.jsonl" }),
        "traces-rejection": stage({ traces: "traces/evidence-rejection.jsonl" }, { candidates: join(runDir, "candidates", "valid.jsonl") }),
      },
    }),
  );
  const outputs = join(runDir, "model-outputs.jsonl");
  writeFileSync(
    outputs,
    jsonl([
      { user: "u1", split: "valid", ranking: [1, 0, 2, 3] },
      { user: "u2", split: "valid", text: formatOutput("compact", "model says", [sid(3), sid(4), sid(5), sid(6)]) },
      { user: "u3", split: "valid", text: "garbage" },
      { user: "nobody", split: "valid", ranking: [0, 1, 2, 3] },
    ]),
  );
  return { runDir, outputs };
}
