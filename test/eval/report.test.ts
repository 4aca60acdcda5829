import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { inflateSync } from "node:zlib";
import { evaluateRanks, fullRankingIntervals } from "../../src/eval/evaluate.js";
import { crc32, sceneToPng } from "../../src/eval/png.js";
import { machineInfo, reportCharts, writeReport, type EvalReport } from "../../src/eval/report.js";
import { niceTicks } from "../../src/eval/scene.js";
import { escapeXml, sceneToSvg } from "../../src/eval/svg.js";
import type { CandidateList } from "../../src/rank/candidates.js";
import { tempDir } from "../rank/helpers.js";

function sampleReport(): EvalReport {
  const lists: CandidateList[] = Array.from({ length: 40 }, (_, u) => ({
    user: `u${u}`,
    split: "test",
    history: [1],
    candidates: [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
    target: 10 + (u % 10),
    rankPre: 1 + (u % 10),
    scores: null,
  }));
  const incoming = Int32Array.from(lists, (l) => l.rankPre);
  const better = Int32Array.from(lists, (l) => Math.max(1, l.rankPre - 3));
  return {
    title: "A test report <with> \"markup\" & ampersands",
    dataset: `syn<"&">`,
    createdAt: "2026-01-01T00:00:00.000Z",
    machine: machineInfo(),
    seeds: { train: 0, bootstrap: 0 },
    upstream: { ranker: "sasrec", split: "test", users: 40, metrics: fullRankingIntervals(Int32Array.from(lists, (_, u) => 1 + u), { samples: 100 }), reference: { source: "paper", metrics: { "recall@10": 0.06 } } },
    candidates: { source: "test", negatives: "top", rankPre: { test: [4, 4, 4, 4, 4, 4, 4, 4, 4, 4] } },
    rerank: evaluateRanks(lists, [{ name: "incoming", ranks: incoming }, { name: "better", ranks: better }], { samples: 200, seed: 3 }),
    notes: ["a note"],
    commands: ["gr2 eval baselines --dataset synthetic"],
  };
}

/**
 * A strict-enough XML well-formedness check for our SVGs: one root, every tag closed in order,
 * attributes quoted, no raw '<' or stray '&' in text.
 */
function assertWellFormedXml(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let pos = 0;
  while (pos < body.length) {
    token.lastIndex = pos;
    const m = token.exec(body);
    assert.ok(m, `malformed XML near: ${body.slice(pos, pos + 60)}`);
    pos = token.lastIndex;
    const [, close, name, , selfClose, text] = m;
    if (text !== undefined) {
      assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(text), `unescaped & in text: ${text.slice(0, 60)}`);
      if (stack.length === 0) assert.equal(text.trim(), "", "text outside the root element");
      continue;
    }
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  assert.deepEqual(stack, [], "unclosed elements");
  assert.equal(roots, 1, "exactly one root element");
}

test("the report folder has JSON, Markdown, well-formed SVGs and valid PNGs", () => {
  const dir = tempDir("gr2-report-");
  const report = sampleReport();
  const files = writeReport(dir, report);
  for (const name of ["report.json", "report.md", "metrics.svg", "differences.svg", "positions.svg", "metrics.png", "differences.png", "positions.png"]) {
    assert.ok(existsSync(join(dir, name)), `${name} is written`);
    assert.ok(files.includes(join(dir, name)));
  }
  const json = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as EvalReport;
  assert.equal(json.rerank.users, 40);
  assert.equal(json.rerank.methods[1]!.name, "better");
  assert.ok(json.rerank.methods[1]!.vsIncoming["recall@1"].lo > 0);

  const md = readFileSync(join(dir, "report.md"), "utf8");
  assert.match(md, /\| method \| recall@1 \| recall@3 \| recall@5 \| ndcg@3 \| ndcg@5 \| ndcg@10 \| mrr \|/);
  assert.match(md, /\| better \| \+0\.\d{4} \[\+0\.\d{4}, \+0\.\d{4}\]▲/);
  assert.match(md, /!\[positions\]\(positions\.svg\)/);
  assert.match(md, /ratio \(ours \/ reference\)/);
  assert.doesNotMatch(md, /Graded NDCG@5/, "no graded section without grades");

  for (const name of ["metrics.svg", "differences.svg", "positions.svg"]) {
    const svg = readFileSync(join(dir, name), "utf8");
    assertWellFormedXml(svg);
    assert.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  }
  assert.match(readFileSync(join(dir, "metrics.svg"), "utf8"), /syn&lt;&quot;&amp;&quot;&gt;/);
  // Bars exist: one per method per metric (plus legend swatches).
  const scene = reportCharts(report).metrics;
  assert.ok(scene.shapes.filter((s) => s.kind === "rect").length >= 2 * 7);

  const png = readFileSync(join(dir, "positions.png"));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  assert.equal(png.subarray(12, 16).toString("ascii"), "IHDR");
  assert.equal(png.readUInt32BE(29), crc32(png.subarray(12, 29)), "IHDR CRC");
  const idatLength = png.readUInt32BE(33);
  const raw = inflateSync(png.subarray(41, 41 + idatLength));
  assert.equal(raw.length, (width * 4 + 1) * height);
});

test("graded lists add a graded NDCG@5 section to report.md", () => {
  const dir = tempDir("gr2-report-");
  const report = sampleReport();
  const lists: CandidateList[] = Array.from({ length: 40 }, (_, u) => {
    const candidates = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    const t = u % 10;
    return { user: `u${u}`, split: "test", history: [1], candidates, target: candidates[t]!, rankPre: t + 1, scores: null, grades: candidates.map((_, i) => (i === t ? 2 : i === 9 && t !== 9 ? 1 : 0)) };
  });
  const identity = lists.map((l) => l.candidates.map((_, i) => i));
  const best = lists.map((l) => [...l.candidates.keys()].sort((a, b) => l.grades![b]! - l.grades![a]! || a - b));
  report.rerank = evaluateRanks(lists, [{ name: "incoming", ranks: Int32Array.from(lists, (l) => l.rankPre), orders: identity }, { name: "oracle", ranks: new Int32Array(40).fill(1), orders: best }], { samples: 200, seed: 3 });
  writeReport(dir, report);
  const md = readFileSync(join(dir, "report.md"), "utf8");
  assert.match(md, /## Graded NDCG@5 \(several positives\)/);
  assert.match(md, /40 of 40 lists carry grades, 1\.9 positives a list/);
  assert.match(md, /\| oracle \| 1\.0000 \[1\.0000, 1\.0000\] \| \+0\.\d{4} \[\+0\.\d{4}, \+0\.\d{4}\]▲ \|/);
});

test("SVG/PNG building blocks: escaping, ticks, CRC", () => {
  assert.equal(escapeXml(`a<b & "c" 'd'>`), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  assert.deepEqual(niceTicks(0, 0.73, 5), [0, 0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(-0.05, 0.1, 3), [-0.05, 0, 0.05, 0.1]);
  assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926); // the standard check value
  const tiny = { width: 4, height: 3, background: "#ffffff", title: "t", shapes: [{ kind: "rect" as const, x: 0, y: 0, w: 2, h: 3, fill: "#ff0000" }] };
  const raw = inflateSync(sceneToPng(tiny).subarray(41, 41 + sceneToPng(tiny).readUInt32BE(33)));
  assert.deepEqual([...raw.subarray(1, 9)], [255, 0, 0, 255, 255, 0, 0, 255]);
  assert.deepEqual([...raw.subarray(9, 13)], [255, 255, 255, 255]);
  assertWellFormedXml(sceneToSvg(tiny));
});
