/**
 * The HTTP server (node:http): routing, body limits, JSON errors, metrics, the batching queue
 * and graceful shutdown. Endpoints are in routes.ts, the model in session.ts.
 *
 * Every request ends in a JSON answer or a JSON error `{"error": {"message", "type", "param"?}}`:
 * unknown paths 404, wrong methods 405 (with Allow), bodies over the limit 413, malformed JSON
 * and bad fields 400, a full queue 429, a missed deadline 504, shutdown 503. A failure inside
 * the server is a 500 that never takes the process down.
 *
 * Shutdown (SIGTERM/SIGINT in `gr2 serve`): stop accepting connections, answer requests that
 * arrive on open keep-alive connections with 503, let every request already in progress —
 * queued, being prepared or in a batch — finish and be answered, then close the sockets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { ApiError, CancelledError, draining, methodNotAllowed, notFound, serverError, tooLarge, badRequest } from "./errors.js";
import { ServerMetrics } from "./metrics.js";
import { trimAllocator } from "../torch/memory.js";
import { BatchQueue } from "./queue.js";
import { newId, ROUTES, type App, type Reply, type Route } from "./routes.js";
import type { ChatOutcome, Job, ModelSession, RerankJob, RerankOutcome } from "./session.js";

export interface ServerOptions {
  host?: string;
  port?: number;
  /** Rows per batched decode call (default 8). */
  maxBatch?: number;
  /** Requests waiting for the model at most; more are answered 429 (default 64). */
  maxQueue?: number;
  /** How long an idle server waits to gather a batch (default 2 ms). */
  maxWaitMs?: number;
  /** Per-request limit from arrival to answer (default 60 s); past it, 504. */
  timeoutMs?: number;
  /** Largest request body (default 1 MiB); larger, 413. */
  maxBodyBytes?: number;
  /** Allocator cache kept between batches, in MiB (default 256); more is returned to the OS. */
  allocatorCacheMb?: number;
}

export const SERVER_DEFAULTS: Required<ServerOptions> = {
  host: "127.0.0.1",
  port: 8000,
  maxBatch: 8,
  maxQueue: 64,
  maxWaitMs: 2,
  timeoutMs: 60_000,
  maxBodyBytes: 1 << 20,
  allocatorCacheMb: 256,
};

const kindOfKey = (key: string): string => key.slice(0, key.indexOf(":") < 0 ? key.length : key.indexOf(":"));
const modeOfKey = (key: string): string => (key.startsWith("rerank:") ? key.split(":")[1]! : "-");

export class Gr2Server {
  readonly options: Required<ServerOptions>;
  readonly metrics = new ServerMetrics();
  readonly queue: BatchQueue<Job, RerankOutcome | ChatOutcome>;
  readonly http: Server;
  private readonly app: App;
  private shuttingDown: Promise<void> | null = null;
  private inflight = 0;
  /** Requests whose bodies are being read. */
  private reading = 0;
  private inflightWaiters: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();

  /** `direct`: a run's direct policy, which answers direct-mode rerank requests (see routes.ts). */
  constructor(
    readonly session: ModelSession,
    options: ServerOptions = {},
    readonly direct: ModelSession | null = null,
  ) {
    this.options = { ...SERVER_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<ServerOptions>;
    const m = this.metrics;
    this.queue = new BatchQueue<Job, RerankOutcome | ChatOutcome>(
      { maxBatch: this.options.maxBatch, maxQueue: this.options.maxQueue, maxWaitMs: this.options.maxWaitMs },
      async (key, jobs) => {
        const kind = kindOfKey(key);
        const results = kind === "rerank" ? await this.rerankSession(jobs as RerankJob[]).runRerankBatch(jobs as never) : session.runChatBatch(jobs as never);
        const forwards = kind === "rerank" ? ((results[0] as RerankOutcome | undefined)?.stats.forwards ?? 0) : 0;
        if (forwards) m.forwards.inc({ kind }, forwards);
        for (const j of jobs) m.promptLength.observe(j.ids.length, { kind });
        if (trimAllocator(this.options.allocatorCacheMb * 1024 * 1024)) m.allocatorTrims.inc();
        return results;
      },
      {
        // Requests still being read or prepared may join the batch; with none, a lone job starts at once.
        moreComing: () => this.app.preparing.count > 0 || this.reading > 0,
        onDepth: (d) => m.queueDepth.set(d),
        onWait: (s) => m.queueWait.observe(s),
        onBatch: (info, s) => {
          const labels = { kind: kindOfKey(info.key), mode: modeOfKey(info.key) };
          m.batches.inc(labels);
          m.batchSize.observe(info.rows, { kind: labels.kind });
          m.batchRequests.observe(info.jobs, { kind: labels.kind });
          m.batchSeconds.observe(s, { kind: labels.kind });
        },
        onTimeout: (stage) => m.timeouts.inc({ stage }),
        onRejected: () => m.rejected.inc(),
      },
    );
    this.app = { session, direct, queue: this.queue, metrics: m, draining: () => this.shuttingDown !== null, preparing: { count: 0 } };
    this.http = createServer({ keepAlive: true }, (req, res) => void this.handle(req, res));
    this.http.keepAliveTimeout = 5_000;
    this.http.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    // Malformed HTTP (bad request line, oversized headers): answer 400 if the socket still can, never throw.
    this.http.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
      m.requests.inc({ route: "other", method: "-", status: err.code === "HPE_HEADER_OVERFLOW" ? "431" : "400" });
      if (socket.writable && !socket.destroyed) {
        const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
        const body = JSON.stringify({ error: { message: `malformed HTTP request (${err.code ?? "error"})`, type: "invalid_request_error" } });
        socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      } else socket.destroy();
    });
  }

  /** The model a rerank batch was prepared for: the direct policy's jobs carry its layout. */
  private rerankSession(jobs: readonly RerankJob[]): ModelSession {
    return this.direct && jobs[0]?.layout === this.direct.layout && this.direct.layout !== this.session.layout ? this.direct : this.session;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.http.once("error", onError);
      this.http.listen(this.options.port, this.options.host, () => {
        this.http.off("error", onError);
        const a = this.http.address() as AddressInfo;
        const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
        resolve({ host: a.address, port: a.port, url: `http://${host}:${a.port}` });
      });
    });
  }

  get draining(): boolean {
    return this.shuttingDown !== null;
  }

  /**
   * Graceful shutdown: stops accepting, finishes and answers every request in progress, then
   * closes the remaining (idle) connections. Idempotent. Does not dispose the model session.
   */
  shutdown(): Promise<void> {
    if (this.shuttingDown) return this.shuttingDown;
    this.shuttingDown = (async () => {
      const closed = new Promise<void>((r) => this.http.close(() => r()));
      this.http.closeIdleConnections();
      await this.allAnswered();
      await this.queue.idle();
      this.http.closeIdleConnections();
      // Connections still open are idle keep-alive ones (every response was sent with Connection: close).
      for (const s of this.sockets) if (!s.destroyed) s.end();
      const force = setTimeout(() => this.http.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(force);
    })();
    return this.shuttingDown;
  }

  private allAnswered(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((r) => this.inflightWaiters.push(r));
  }

  private requestDone(): void {
    this.inflight--;
    this.metrics.inflight.set(this.inflight);
    if (this.inflight === 0) {
      const w = this.inflightWaiters;
      this.inflightWaiters = [];
      for (const r of w) r();
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.inflight++;
    this.metrics.inflight.set(this.inflight);
    const requestId = newId("gr2");
    let label = "other";
    const method = req.method ?? "GET";
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    let status = 500;
    try {
      let reply: Reply;
      try {
        if (this.shuttingDown) throw draining();
        let path: string;
        try {
          path = new URL(req.url ?? "/", "http://localhost").pathname;
        } catch {
          throw badRequest(undefined, "malformed request URL");
        }
        if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
        const methods = Object.prototype.hasOwnProperty.call(ROUTES, path) ? ROUTES[path]! : undefined;
        if (!methods) throw notFound(`no route ${method} ${path.length > 100 ? path.slice(0, 100) + "…" : path}`);
        const allowed = Object.keys(methods);
        const route: Route | undefined = methods[method] ?? (method === "HEAD" ? methods.GET : undefined);
        label = (methods[allowed[0]!] as Route).label;
        if (!route) throw methodNotAllowed(method, path, allowed);
        let body: unknown;
        if (route.body) {
          this.reading++;
          try {
            body = await this.readJson(req);
          } finally {
            this.reading--;
          }
        }
        reply = await route.handler(this.app, {
          body,
          deadline: started + this.options.timeoutMs,
          timeoutMs: this.options.timeoutMs,
          signal: abort.signal,
          requestId,
        });
      } catch (e) {
        if (e instanceof CancelledError || abort.signal.aborted) {
          status = 499;
          return;
        }
        const err = e instanceof ApiError ? e : serverError(`internal error: ${e instanceof Error ? e.message : String(e)}`);
        if (!(e instanceof ApiError)) process.stderr.write(`gr2 serve: ${requestId}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        this.metrics.errors.inc({ type: err.type });
        reply = { status: err.status, json: err.toJSON(), headers: err.headers };
        // An unread body (413) or a refused request leaves the connection in an unknown state: close it.
        if (err.status === 413) res.setHeader("Connection", "close");
      }
      status = reply.status;
      this.send(req, res, reply, requestId);
    } finally {
      this.metrics.requests.inc({ route: label, method: ROUTE_METHODS.has(method) ? method : "other", status: String(status) });
      this.metrics.latency.observe((performance.now() - started) / 1000, { route: label });
      if (res.writableFinished || res.destroyed) this.requestDone();
      else {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          this.requestDone();
        };
        res.once("finish", finish);
        res.once("close", finish);
      }
    }
  }

  private send(req: IncomingMessage, res: ServerResponse, reply: Reply, requestId: string): void {
    if (res.headersSent || res.destroyed) return;
    res.setHeader("X-Request-Id", requestId);
    if (this.shuttingDown) res.setHeader("Connection", "close");
    const head = req.method === "HEAD";
    if ("events" in reply) {
      res.writeHead(reply.status, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      for (const e of reply.events) res.write(`data: ${JSON.stringify(e)}\n\n`);
      res.end("data: [DONE]\n\n");
      return;
    }
    const [text, type] = "text" in reply ? [reply.text, reply.contentType] : [JSON.stringify(reply.json), "application/json"];
    const headers: Record<string, string | number> = { "Content-Type": type, "Content-Length": Buffer.byteLength(text), ...("headers" in reply ? reply.headers : {}) };
    res.writeHead(reply.status, headers);
    res.end(head ? undefined : text);
  }

  /** Reads the body up to the limit and parses it as JSON. */
  private readJson(req: IncomingMessage): Promise<unknown> {
    const limit = this.options.maxBodyBytes;
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume(); // drain without keeping
      return Promise.reject(tooLarge(limit));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      req.on("data", (c: Buffer) => {
        if (failed) return;
        size += c.length;
        if (size > limit) {
          failed = true;
          chunks.length = 0;
          reject(tooLarge(limit));
          return;
        }
        chunks.push(c);
      });
      req.on("error", (e) => {
        if (!failed) {
          failed = true;
          reject(new CancelledError());
        }
        void e;
      });
      req.on("aborted", () => {
        if (!failed) {
          failed = true;
          reject(new CancelledError());
        }
      });
      req.on("end", () => {
        if (failed) return;
        const text = Buffer.concat(chunks).toString("utf8");
        if (text.trim() === "") return reject(badRequest(undefined, "the request body is empty; send a JSON object"));
        try {
          resolve(JSON.parse(text));
        } catch (e) {
          reject(badRequest(undefined, `the request body is not valid JSON (${(e as Error).message})`, "invalid_json"));
        }
      });
    });
  }
}

const ROUTE_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);
