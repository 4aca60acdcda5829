import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { viewTracesCommand } from "../../src/cli/viewer.js";
import { startViewerServer, type ViewerServer } from "../../src/viewer/server.js";
import { loadViewerData } from "../../src/viewer/viewer-data.js";
import type { TraceView } from "../../src/viewer/view-model.js";
import { EVIL_TITLE, ITEMS, makeRun, REASONING_TEXT } from "./fixture.js";

async function withServer(o: { outputs?: boolean; titles?: boolean }, body: (s: ViewerServer) => Promise<void>): Promise<void> {
  const fx = makeRun();
  const data = await loadViewerData({ runDir: fx.runDir, items: o.titles === false ? undefined : ITEMS, outputs: o.outputs ? fx.outputs : undefined });
  const server = await startViewerServer(data);
  try {
    await body(server);
  } finally {
    await server.close();
    rmSync(fx.runDir, { recursive: true, force: true });
  }
}

// The API's JSON, loosely typed: the assertions below check its shape.
const getJson = async (url: URL | string): Promise<any> => (await fetch(url)).json();

const users = (page: { traces: TraceView[] }) => page.traces.map((t) => t.user).sort();

test("API: summary counts both trace files, acceptance per mode, and correctness by the teacher", async () => {
  await withServer({}, async (s) => {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const sum = await getJson(new URL("/api/summary", s.url));
    assert.equal(sum.lists, 4);
    assert.equal(sum.accepted, 2);
    assert.deepEqual(sum.by_mode, { targeted: { lists: 2, accepted: 2, acceptance_rate: 1 }, rejection: { lists: 2, accepted: 0, acceptance_rate: 0 } });
    assert.equal(sum.correctness_by, "teacher");
    assert.equal(sum.hit, 1, "u1 only: u2's target was moved to the top, not found by the teacher");
    assert.equal(sum.has_history, true);
    assert.equal(sum.has_model, false);
  });
});

test("API: filters and paging", async () => {
  await withServer({}, async (s) => {
    const get = async (q: string) => getJson(new URL(`/api/traces?${q}`, s.url));
    assert.deepEqual(users(await get("filter=accepted")), ["u1", "u2"]);
    assert.deepEqual(users(await get("filter=rejected")), ["u3", "u4"]);
    assert.deepEqual(users(await get("filter=hit")), ["u1"]);
    assert.deepEqual(users(await get("filter=miss")), ["u2", "u3", "u4"]);
    const page = await get("filter=all&offset=1&limit=2");
    assert.equal(page.total, 4);
    assert.equal(page.traces.length, 2);
    for (const bad of ["filter=nope", "offset=-1", "limit=0", "limit=abc"]) {
      const r = await fetch(new URL(`/api/traces?${bad}`, s.url));
      assert.equal(r.status, 400, bad);
    }
    assert.equal((await fetch(new URL("/nope", s.url))).status, 404);
    assert.equal((await fetch(new URL("/api/summary", s.url), { method: "POST" })).status, 405);
  });
});

test("API: a trace joins history, shown order, target, SID chips and rankings", async () => {
  await withServer({}, async (s) => {
    const { traces } = await getJson(new URL("/api/traces?filter=hit", s.url));
    const t = traces[0] as TraceView;
    assert.deepEqual(t.history?.map((h) => h.title), ["Product number 1", "Product number 2"]);
    assert.deepEqual(t.candidates.map((c) => c.upstream), [2, 0, 3, 1], "shown order");
    assert.deepEqual(t.candidates.filter((c) => c.isTarget).map((c) => c.id), ["it3"]);
    assert.equal(t.target.title, EVIL_TITLE);
    const chips = t.reasoning!.filter((x) => "sid" in x);
    assert.equal(chips.length, 3);
    assert.deepEqual(chips.map((c) => ("sid" in c ? c.item?.id ?? null : "")), ["it3", null, null], "history SIDs are unknown without a SID map");
    assert.ok(t.reasoning!.some((x) => "text" in x && x.text.includes(REASONING_TEXT)));
    assert.deepEqual(t.teacherRanking, { ranking: [0, 1, 2, 3], targetRank: 1, hit: true });
    assert.equal(t.model, null);
  });
});

test("API: escaping — a <script> title with quotes reaches the client as inert JSON, and the page never uses innerHTML", async () => {
  await withServer({}, async (s) => {
    const r = await fetch(new URL("/api/traces", s.url));
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    const raw = await r.text();
    assert.ok(!raw.includes("<script>") && !raw.includes("</script>"), "no raw markup in JSON");
    assert.ok(raw.includes("\\u003cscript\\u003e"));
    assert.equal((JSON.parse(raw).traces[0] as TraceView).target.title, EVIL_TITLE, "the title round-trips exactly");
    const page = await fetch(s.url);
    const html = await page.text();
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(html), "the page only sets text");
    assert.ok(!/https?:\/\/(?!viewer)/.test(html.replace(/http:\/\/www\.w3\.org[^"]*/g, "")), "no external URLs");
  });
});

test("API: requests addressed to another host name are refused (DNS rebinding)", async () => {
  await withServer({}, async (s) => {
    const { request } = await import("node:http");
    const status = await new Promise<number>((ok, fail) => {
      const u = new URL(s.url);
      request({ host: u.hostname, port: u.port, path: "/api/summary", headers: { host: "evil.example:80" } }, (res) => {
        res.resume();
        ok(res.statusCode ?? 0);
      })
        .on("error", fail)
        .end();
    });
    assert.equal(status, 403);
  });
});

test("API: model outputs give the model's ranking (indices or text) and decide hit/miss", async () => {
  await withServer({ outputs: true }, async (s) => {
    const sum = await getJson(new URL("/api/summary", s.url));
    assert.equal(sum.correctness_by, "model");
    assert.equal(sum.unmatched_outputs, 1);
    const { traces } = (await getJson(new URL("/api/traces?limit=10", s.url))) as { traces: TraceView[] };
    const by = new Map(traces.map((t) => [t.user, t]));
    assert.deepEqual(by.get("u1")!.model!.ranking, { ranking: [1, 0, 2, 3], targetRank: 2, hit: false });
    assert.deepEqual(by.get("u2")!.model!.ranking, { ranking: [0, 1, 2, 3], targetRank: 1, hit: true });
    assert.equal(by.get("u3")!.model!.ranking, null);
    assert.ok(by.get("u3")!.model!.error);
    assert.equal(by.get("u4")!.model, null);
    const hits = (await getJson(new URL("/api/traces?filter=hit", s.url))).traces.map((t: TraceView) => t.user);
    assert.deepEqual(hits, ["u2"]);
  });
});

test("CLI: gr2 traces view RUN --open-only prints the URL and exits; a missing RUN is a usage error", async () => {
  const fx = makeRun();
  try {
    let out = "";
    let err = "";
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
    assert.equal(await viewTracesCommand([fx.runDir, "--open-only", "--outputs", fx.outputs], io), 0, err);
    assert.match(out, /trace viewer: http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(out, /4 lists \(2 accepted\) from 2 file\(s\); no --dataset/);
    assert.match(err, /1 model outputs match no trace/);
    err = "";
    assert.equal(await viewTracesCommand([], io), 2);
    assert.match(err, /missing RUN/);
    err = "";
    const empty = mkdtempSync(join(tmpdir(), "gr2-viewer-empty-"));
    assert.equal(await viewTracesCommand([empty, "--open-only"], io), 2);
    assert.match(err, /pass --file/);
    rmSync(empty, { recursive: true, force: true });
    // Stops when asked (SIGINT/SIGTERM in real use).
    let release!: () => void;
    const stop = new Promise<void>((ok) => (release = ok));
    let url = "";
    const running = viewTracesCommand([fx.runDir, "--file", join(fx.runDir, "traces", "evidence-rejection.jsonl")], io, { stop, onListening: (u) => (url = u) });
    while (!url) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await getJson(new URL("/api/summary", url))).lists, 2);
    release();
    assert.equal(await running, 0);
  } finally {
    rmSync(fx.runDir, { recursive: true, force: true });
  }
});

// ---- Browser test: headless Debian Chromium via playwright-core, skipped when either is missing.

const CHROMIUM = "/usr/bin/chromium";

/**
 * The slice of playwright-core's API this test uses, typed here so that the project compiles
 * without the package (it is only needed to run this test).
 */
interface Locator {
  first(): Locator;
  textContent(): Promise<string | null>;
  isVisible(): Promise<boolean>;
  getAttribute(name: string): Promise<string | null>;
  count(): Promise<number>;
}
interface Page {
  on(event: "request", f: (r: { url(): string }) => void): void;
  on(event: "pageerror", f: (e: Error) => void): void;
  goto(url: string): Promise<unknown>;
  waitForSelector(sel: string): Promise<unknown>;
  waitForFunction(expr: string): Promise<unknown>;
  click(sel: string): Promise<void>;
  locator(sel: string, o?: { hasText: string }): Locator;
  evaluate(expr: string): Promise<unknown>;
  screenshot(o: { path: string; fullPage: boolean }): Promise<Buffer>;
}
interface Playwright {
  chromium: {
    launchPersistentContext(dir: string, o: Record<string, unknown>): Promise<{ pages(): Page[]; newPage(): Promise<Page>; close(): Promise<void> }>;
  };
}

async function loadPlaywright(): Promise<Playwright | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  try {
    // A variable specifier: playwright-core is an optional devDependency, so tsc must not require it.
    const name = "playwright-core";
    return (await import(name)) as Playwright;
  } catch {
    return "playwright-core is not installed (npm install playwright-core)";
  }
}
const pw = await loadPlaywright();

/** PNG size and whether its pixels vary: inflate the IDAT stream and count distinct bytes. */
function pngInfo(png: Buffer): { width: number; height: number; distinctBytes: number } {
  assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    if (png.subarray(off + 4, off + 8).toString("latin1") === "IDAT") idat.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const pixels = inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (let i = 0; i < pixels.length && seen.size < 256; i += 7) seen.add(pixels[i]!);
  return { width, height, distinctBytes: seen.size };
}

test("browser: the page renders the data, filters, and shows hostile titles as text", { skip: typeof pw === "string" ? `skipped: ${pw}` : false, timeout: 120_000 }, async () => {
  const { chromium } = pw as Exclude<typeof pw, string>;
  const profile = mkdtempSync(join(tmpdir(), "gr2-viewer-chromium-"));
  await withServer({ outputs: true }, async (s) => {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1280, height: 900 },
      // The test's own probes (waitForFunction/evaluate with strings) run in the page's world,
      // which the viewer's strict CSP (no eval) would block; the page itself is unaffected.
      bypassCSP: true,
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      // Only the viewer's own origin may be contacted.
      const origin = new URL(s.url).origin;
      const foreign: string[] = [];
      page.on("request", (r) => void (r.url().startsWith(origin) || r.url().startsWith("data:") || foreign.push(r.url())));
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(s.url);
      await page.waitForSelector("body[data-ready=true]");
      await page.click('button[data-filter="accepted"]');
      await page.waitForFunction('document.querySelectorAll("#list li").length === 2');
      await page.click("#list li >> nth=0");
      const target = page.locator(".card .target").first();
      assert.equal(await target.textContent(), EVIL_TITLE);
      assert.ok(await target.isVisible(), "the target's title is visible");
      const reasoning = page.locator('[data-testid="reasoning"]');
      assert.ok(await reasoning.isVisible());
      assert.match((await reasoning.textContent()) ?? "", new RegExp(REASONING_TEXT));
      const chip = page.locator(".chip.tgt").first();
      assert.equal(await chip.getAttribute("title"), `${EVIL_TITLE} (id it3)`, "the SID chip names the item on hover");
      assert.ok(await page.locator("#detail h2", { hasText: "Model's ranking" }).isVisible());
      assert.equal(await page.evaluate("window.__pwned"), undefined, "the <script> title did not run");
      assert.equal(await page.locator("#detail script").count(), 0);
      await page.click('button[data-filter="rejected"]');
      await page.waitForFunction('document.querySelector("#list li .who")?.textContent?.includes("u3") === true');
      const shot = join(process.env.GR2_VIEWER_SCREENSHOT_DIR ?? tmpdir(), "gr2-viewer.png");
      await page.click('button[data-filter="accepted"]');
      await page.waitForFunction('document.querySelectorAll("#list li").length === 2');
      const png = await page.screenshot({ path: shot, fullPage: false });
      const info = pngInfo(png);
      assert.equal(info.width, 1280);
      assert.equal(info.height, 900);
      assert.ok(info.distinctBytes > 32, `the screenshot is not one colour (${info.distinctBytes} distinct bytes)`);
      assert.ok(png.length > 20_000, `a rendered page, not a blank one (${png.length} bytes)`);
      assert.deepEqual(errors, []);
      assert.deepEqual(foreign, []);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
