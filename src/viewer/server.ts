/**
 * The viewer's HTTP server (node:http, no framework): the page at `/` and a small read-only
 * JSON API over the data loaded at start.
 *
 *   GET /api/summary                                   counts, acceptance per mode, what exists
 *   GET /api/traces?filter=all|accepted|rejected|hit|miss&offset=0&limit=50
 *
 * It binds 127.0.0.1 by default and answers only requests addressed to a loopback name or the
 * bound host, so a web page elsewhere cannot read traces through DNS rebinding. JSON has `<`,
 * `>` and `&` escaped as \u003c… so no response can be read as markup, and the page's CSP
 * forbids every load except its own inline code and same-origin fetches.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { PAGE_HTML } from "./page.js";
import { FILTERS, type Filter } from "./view-model.js";
import { pageOf, type ViewerData } from "./viewer-data.js";

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
  "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
};

/** JSON that stays inert even if a browser were to sniff it as HTML. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

class BadRequest extends Error {}

function intParam(q: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const v = q.get(name);
  if (v === null || v === "") return fallback;
  if (!/^\d+$/.test(v)) throw new BadRequest(`${name} must be an integer ≥ ${min}, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new BadRequest(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

function hostAllowed(req: IncomingMessage, boundHost: string): boolean {
  const host = req.headers.host;
  if (!host) return false;
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
  return LOOPBACK.has(name.toLowerCase()) || name === boundHost;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), ...SECURITY_HEADERS });
  res.end(body);
}

export interface ViewerServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export function handle(data: ViewerData, boundHost: string, req: IncomingMessage, res: ServerResponse): void {
  const json = (status: number, value: unknown) => send(res, status, "application/json; charset=utf-8", safeJson(value));
  if (!hostAllowed(req, boundHost)) return json(403, { error: "requests must be addressed to the viewer's loopback address" });
  if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: "only GET" });
  const url = new URL(req.url ?? "/", "http://viewer.invalid");
  try {
    switch (url.pathname) {
      case "/":
      case "/index.html":
        return send(res, 200, "text/html; charset=utf-8", PAGE_HTML);
      case "/api/summary":
        return json(200, data.summary);
      case "/api/traces": {
        const filter = url.searchParams.get("filter") ?? "all";
        if (!FILTERS.includes(filter as Filter)) throw new BadRequest(`filter must be one of ${FILTERS.join(", ")}, got "${filter}"`);
        const offset = intParam(url.searchParams, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(url.searchParams, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT);
        return json(200, { filter, ...pageOf(data, filter as Filter, offset, limit) });
      }
      default:
        return json(404, { error: `no such path: ${url.pathname}` });
    }
  } catch (e) {
    if (e instanceof BadRequest) return json(400, { error: e.message });
    return json(500, { error: e instanceof Error ? e.message : String(e) });
  }
}

/** Starts the server; port 0 picks a free port (the URL says which). */
export async function startViewerServer(data: ViewerData, o: { host?: string; port?: number } = {}): Promise<ViewerServer> {
  const host = o.host ?? "127.0.0.1";
  const server = createServer((req, res) => handle(data, host, req, res));
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(o.port ?? 0, host, () => {
      server.off("error", fail);
      ok();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        // Browsers keep connections alive; without this, close() would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}
