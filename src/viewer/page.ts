/**
 * The viewer's one page: HTML with inline CSS and JS, nothing loaded from elsewhere (the
 * machines it runs on may have no internet, and the CSP forbids it anyway).
 *
 * Escaping: the page builds every node with createElement and sets text with textContent or
 * attributes with setAttribute, never innerHTML, so titles holding `<script>`, quotes or HTML
 * entities are shown literally. The server embeds no data in this HTML; it comes from the API.
 */

const CSS = String.raw`
:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2430; --mute:#637083; --line:#dde2e8; --acc:#2563eb;
  --ok:#15803d; --okbg:#dcfce7; --bad:#b91c1c; --badbg:#fee2e2; --tgt:#fef3c7; --tgtline:#d97706; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--ink); background:var(--bg); }
header { padding:10px 16px; background:#111827; color:#f9fafb; display:flex; flex-wrap:wrap; gap:6px 18px; align-items:baseline; }
header h1 { font-size:16px; margin:0 8px 0 0; }
.stat b { font-variant-numeric:tabular-nums; }
.stat { color:#d1d5db; } .stat b { color:#fff; }
.filters { padding:8px 16px; display:flex; gap:6px; flex-wrap:wrap; border-bottom:1px solid var(--line); background:var(--card); align-items:center; }
.filters button { border:1px solid var(--line); background:#fff; border-radius:14px; padding:3px 12px; cursor:pointer; font:inherit; }
.filters button[aria-pressed="true"] { background:var(--acc); border-color:var(--acc); color:#fff; }
.filters .note { color:var(--mute); margin-left:8px; }
main { display:grid; grid-template-columns:300px 1fr; height:calc(100vh - 96px); }
#list { margin:0; padding:0; list-style:none; }
#list li { padding:7px 12px; border-bottom:1px solid var(--line); cursor:pointer; display:flex; justify-content:space-between; gap:6px; align-items:center; }
#list li:hover { background:#eef2ff; }
#list li[aria-selected="true"] { background:#dbeafe; }
#list .who { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
#list .sub { color:var(--mute); font-size:12px; }
#more { margin:10px 12px; }
#detail { overflow:auto; padding:14px 18px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px; margin-bottom:12px; }
.card h2 { font-size:13px; text-transform:uppercase; letter-spacing:.04em; color:var(--mute); margin:0 0 6px; }
h3.user { margin:0 0 8px; font-size:18px; display:flex; gap:8px; align-items:center; flex-wrap:wrap; }
.badge { display:inline-block; font-size:11px; font-weight:600; border-radius:10px; padding:1px 8px; white-space:nowrap; }
.badge.ok { background:var(--okbg); color:var(--ok); } .badge.bad { background:var(--badbg); color:var(--bad); }
.badge.neutral { background:#e5e7eb; color:#374151; }
ol.items { margin:0; padding-left:28px; } ol.items li { padding:1px 0; }
.target { background:var(--tgt); outline:1px solid var(--tgtline); border-radius:4px; padding:0 4px; }
.id { color:var(--mute); font-size:12px; margin-left:6px; }
.pos { color:var(--mute); font-size:12px; margin-left:6px; }
.reasoning { white-space:pre-wrap; }
.chip { display:inline-block; font:12px ui-monospace,"DejaVu Sans Mono",monospace; background:#e0e7ff; color:#3730a3; border-radius:10px; padding:0 7px; margin:0 1px; cursor:help; }
.chip.tgt { background:var(--tgt); color:#92400e; outline:1px solid var(--tgtline); }
.chip.unknown { background:#e5e7eb; color:#374151; }
.rankings { display:grid; grid-template-columns:1fr 1fr; gap:12px; }
.muted { color:var(--mute); }
pre.raw { white-space:pre-wrap; background:#f3f4f6; padding:8px; border-radius:6px; font-size:12px; }
`;

const JS = String.raw`
"use strict";
const state = { filter: "all", offset: 0, limit: 50, total: 0, summary: null, selected: null, items: [] };

// Builds an element; text is always set with textContent (never parsed as HTML).
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function badge(ok, yes, no) { return el("span", "badge " + (ok ? "ok" : "bad"), ok ? yes : no); }
const pct = (x) => (100 * x).toFixed(1) + "%";
const label = (it) => it.title !== null ? it.title : it.id;
// "<|sid_begin|><s_a_12><s_b_3><|sid_end|>" -> "a12·b3"
const shortSid = (sid) => Array.from(sid.matchAll(/<s_([a-z])_(\d+)>/g), (m) => m[1] + m[2]).join("·");

async function api(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function itemLine(it, t, extra) {
  const li = el("li");
  const name = el("span", it.id === t.target.id ? "target" : "", label(it));
  name.title = (it.title !== null ? it.title + "\n" : "") + "id " + it.id + (it.sid ? "\n" + it.sid : "");
  li.append(name);
  if (it.title !== null) li.append(el("span", "id", it.id));
  if (extra) li.append(el("span", "pos", extra));
  return li;
}

function renderSummary(s) {
  const bar = document.getElementById("summary");
  bar.replaceChildren();
  const stat = (k, v) => { const d = el("span", "stat", k + " "); d.append(el("b", "", v)); bar.append(d); };
  bar.append(el("h1", "", "GR2 traces · " + s.run));
  stat("lists", s.lists);
  stat("accepted", s.accepted);
  stat("rejected", s.rejected);
  for (const [mode, m] of Object.entries(s.by_mode)) stat(mode + " acceptance", pct(m.acceptance_rate) + " (" + m.accepted + "/" + m.lists + ")");
  stat(s.correctness_by + " hit@1", s.lists ? pct(s.hit / s.lists) : "–");
  if (!s.has_titles) bar.append(el("span", "stat", "(no dataset: ids shown)"));
  if (s.unmatched_outputs) bar.append(el("span", "stat", s.unmatched_outputs + " model outputs matched no trace"));
  const counts = { all: s.lists, accepted: s.accepted, rejected: s.rejected, hit: s.hit, miss: s.miss };
  for (const b of document.querySelectorAll(".filters button")) b.textContent = b.dataset.label + " (" + counts[b.dataset.filter] + ")";
  document.getElementById("hitnote").textContent = "hit/miss: the " + s.correctness_by + "'s ranking puts the target first";
}

function renderList(append) {
  const list = document.getElementById("list");
  if (!append) list.replaceChildren();
  for (const t of state.items.slice(append ? list.children.length : 0)) {
    const li = el("li");
    li.dataset.key = t.key;
    li.setAttribute("role", "option");
    const who = el("div", "who");
    who.append(el("div", "", "user " + t.user), el("div", "sub", t.split + " · " + t.mode + " · " + t.attempts + " attempt" + (t.attempts === 1 ? "" : "s")));
    const badges = el("div");
    badges.append(badge(t.accepted, "acc", "rej"));
    const r = t.model ? t.model.ranking : t.teacherRanking;
    badges.append(document.createTextNode(" "), badge(!!(r && r.hit), "hit", "miss"));
    li.append(who, badges);
    li.addEventListener("click", () => select(t.key));
    list.append(li);
  }
  document.getElementById("more").hidden = state.items.length >= state.total;
  document.getElementById("empty").hidden = state.total > 0;
}

function rankingCard(title, t, r, missing) {
  const card = el("section", "card");
  card.append(el("h2", "", title));
  if (!r) { card.append(el("div", "muted", missing)); return card; }
  const head = el("div");
  head.append(badge(r.hit, "hit", "miss"), el("span", "pos", "target at #" + r.targetRank));
  card.append(head);
  const ol = el("ol", "items");
  const byUp = new Map(t.candidates.map((c) => [c.upstream, c]));
  for (const u of r.ranking) ol.append(itemLine(byUp.get(u), t, "upstream #" + (u + 1)));
  card.append(ol);
  return card;
}

function renderDetail(t) {
  const d = document.getElementById("detail");
  d.replaceChildren();
  if (!t) return;
  const h = el("h3", "user", "user " + t.user);
  h.append(el("span", "badge neutral", t.split), el("span", "badge neutral", t.mode + " · " + t.teacher),
    badge(t.accepted, "accepted", "rejected"));
  if (t.reordered) h.append(el("span", "badge neutral", "target moved to top"));
  d.append(h);
  d.append(el("div", "muted", t.file + " · " + t.attempts + " attempt(s), " + t.samples + " sample(s)" +
    (Object.keys(t.failures).length ? " · parse failures: " + Object.entries(t.failures).map(([k, v]) => k + "×" + v).join(", ") : "")));

  const tgt = el("section", "card");
  tgt.append(el("h2", "", "Target"));
  const tl = el("div");
  tl.append(el("span", "target", label(t.target)), el("span", "id", t.target.id), el("span", "pos", "upstream rank " + t.rankPre));
  tgt.append(tl);
  d.append(tgt);

  const hist = el("section", "card");
  hist.append(el("h2", "", "History" + (t.history ? " (" + t.history.length + ", oldest first)" : "")));
  if (t.history) { const ol = el("ol", "items"); for (const it of t.history) ol.append(itemLine(it, t)); hist.append(ol); }
  else hist.append(el("div", "muted", "unknown (no candidate files in the run and no --dataset)"));
  d.append(hist);

  const cands = el("section", "card");
  cands.append(el("h2", "", "Candidates, in the order shown"));
  const ol = el("ol", "items");
  for (const c of t.candidates) ol.append(itemLine(c, t, "upstream #" + (c.upstream + 1) + (c.isTarget ? " · target (rank_pre " + t.rankPre + ")" : "")));
  cands.append(ol);
  d.append(cands);

  const rs = el("section", "card");
  rs.append(el("h2", "", "Reasoning"));
  if (t.reasoning) {
    const p = el("div", "reasoning");
    p.dataset.testid = "reasoning";
    for (const s of t.reasoning) {
      if ("text" in s) { p.append(document.createTextNode(s.text)); continue; }
      const chip = el("span", "chip" + (s.item ? (s.item.id === t.target.id ? " tgt" : "") : " unknown"), shortSid(s.sid));
      chip.title = s.item ? label(s.item) + " (id " + s.item.id + ")" : "unknown SID " + s.sid;
      p.append(chip);
    }
    rs.append(p);
  } else rs.append(el("div", "muted", "no valid answer"));
  if (t.rawResponse) { rs.append(el("h2", "", "Teacher's last raw answer")); rs.append(el("pre", "raw", t.rawResponse)); }
  d.append(rs);

  const grid = el("div", "rankings");
  grid.append(rankingCard("Teacher's ranking", t, t.teacherRanking, "no valid ranking"));
  if (state.summary.has_model) {
    const card = rankingCard("Model's ranking", t, t.model && t.model.ranking, t.model ? "invalid output: " + (t.model.error || "") : "no output for this list");
    if (t.model && !t.model.ranking && t.model.text) card.append(el("pre", "raw", t.model.text));
    grid.append(card);
  }
  d.append(grid);
}

function select(key) {
  state.selected = key;
  for (const li of document.querySelectorAll("#list li")) li.setAttribute("aria-selected", String(li.dataset.key === key));
  renderDetail(state.items.find((t) => t.key === key));
}

async function load(append) {
  if (!append) { state.offset = 0; state.items = []; }
  const page = await api("/api/traces?filter=" + encodeURIComponent(state.filter) + "&offset=" + state.items.length + "&limit=" + state.limit);
  state.total = page.total;
  state.items = state.items.concat(page.traces);
  renderList(append);
  if (!append) select(state.items.length ? state.items[0].key : null);
}

function showError(e) { document.getElementById("detail").replaceChildren(el("div", "card", "Error: " + e.message)); }

async function main() {
  for (const b of document.querySelectorAll(".filters button")) {
    b.addEventListener("click", () => {
      state.filter = b.dataset.filter;
      for (const o of document.querySelectorAll(".filters button")) o.setAttribute("aria-pressed", String(o === b));
      load(false).catch(showError);
    });
  }
  document.getElementById("more").addEventListener("click", () => load(true).catch(showError));
  state.summary = await api("/api/summary");
  renderSummary(state.summary);
  await load(false);
  document.body.dataset.ready = "true";
}
main().catch(showError);
`;

const FILTER_BUTTONS: [string, string][] = [
  ["all", "All"],
  ["accepted", "Accepted"],
  ["rejected", "Rejected"],
  ["hit", "Hit"],
  ["miss", "Miss"],
];

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GR2 trace viewer</title>
<style>${CSS}</style>
</head>
<body>
<header id="summary"><h1>GR2 traces</h1><span class="stat">loading…</span></header>
<nav class="filters" aria-label="filters">
${FILTER_BUTTONS.map(([f, l]) => `<button type="button" data-filter="${f}" data-label="${l}" aria-pressed="${f === "all"}">${l}</button>`).join("\n")}
<span class="note" id="hitnote"></span>
</nav>
<main>
<div style="overflow:auto;background:var(--card);border-right:1px solid var(--line)">
<ul id="list" role="listbox" aria-label="users"></ul>
<div id="empty" class="muted" style="padding:10px 12px" hidden>no lists match this filter</div>
<button type="button" id="more" hidden>Load more</button>
</div>
<section id="detail" aria-live="polite"></section>
</main>
<script>${JS}</script>
</body>
</html>
`;
