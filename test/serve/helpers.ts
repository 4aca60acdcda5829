/** Shared by the serving tests: one tiny checkpoint, servers on loopback, and an HTTP client. */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { writeSyntheticCheckpoint, type SyntheticCheckpoint } from "../../src/serve/checkpoint.js";
import { Gr2Server, type ServerOptions } from "../../src/serve/server.js";
import { ModelSession, type SessionOptions } from "../../src/serve/session.js";

/** A temporary folder, removed when the test process exits. */
export function tempDir(prefix = "gr2-serve-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let checkpoint: Promise<SyntheticCheckpoint> | undefined;
/** A ~30k-parameter model over a 60-item synthetic catalogue, 3 SID levels × 8 codes (one per test file). */
export function tinyCheckpoint(): Promise<SyntheticCheckpoint> {
  if (checkpoint) return checkpoint;
  checkpoint = writeSyntheticCheckpoint(tempDir("gr2-serve-ckpt-"), {
    users: 40,
    items: 60,
    seed: 7,
    vocabSize: 400,
    levels: 3,
    codebookSize: 8,
    model: { hiddenSize: 32, numLayers: 2, numHeads: 2, numKvHeads: 1, intermediateSize: 64, maxPositions: 4096 },
  });
  return checkpoint;
}

export interface Running {
  server: Gr2Server;
  session: ModelSession;
  url: string;
  port: number;
  ckpt: SyntheticCheckpoint;
  /** Shuts the server down and frees the model (idempotent; register it with t.after). */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}, session: Partial<SessionOptions> = {}): Promise<Running> {
  const ckpt = await tinyCheckpoint();
  const s = await ModelSession.load({ model: ckpt.dir, ...session });
  const server = new Gr2Server(s, { host: "127.0.0.1", port: 0, ...options });
  const { url, port } = await server.listen();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.shutdown();
    s.dispose();
  };
  return { server, session: s, url, port, ckpt, close };
}

export const agent = new Agent({ keepAlive: true, maxSockets: 64 });
after(() => agent.destroy());

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One HTTP request to 127.0.0.1 (body: an object is sent as JSON, a string or Buffer as is). */
export function call(port: number, method: string, path: string, body?: unknown, o: { headers?: Record<string, string>; agent?: Agent | false } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = request(
      { host: "127.0.0.1", port, method, path, agent: o.agent === undefined ? agent : o.agent, headers: { ...(payload !== undefined ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) } : {}), ...o.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown = undefined;
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON (metrics, SSE) */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export const post = (port: number, path: string, body: unknown) => call(port, "POST", path, body);
export const get = (port: number, path: string) => call(port, "GET", path);

/** True when `xs` is a permutation of 0..k-1. */
export function isPermutation(xs: readonly number[], k: number): boolean {
  return xs.length === k && new Set(xs).size === k && xs.every((x) => Number.isInteger(x) && x >= 0 && x < k);
}

/** A metric's value from Prometheus text (sum over the series matching every given label). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
