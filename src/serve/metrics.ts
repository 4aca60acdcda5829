/**
 * Prometheus metrics in the text exposition format (version 0.0.4), without a client library:
 * counters, gauges and histograms with labels, rendered on demand by `GET /metrics`.
 *
 * Label values come only from the server's own vocabulary (route templates, status codes, error
 * types), never from request text, so a flood of odd requests cannot grow the series count.
 */

import { allocatorCachedBytes, liveTensors } from "../torch/memory.js";

type Labels = Record<string, string>;

const keyOf = (labels: Labels): string =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k]!)}"`)
    .join(",");

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

const fmt = (x: number): string => (Number.isFinite(x) ? String(x) : x > 0 ? "+Inf" : x < 0 ? "-Inf" : "NaN");

interface Metric {
  readonly name: string;
  readonly help: string;
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels)) ?? 0;
  }
  /** Sum over every label set. */
  total(): number {
    let s = 0;
    for (const v of this.values.values()) s += v;
    return s;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) out.push(`${this.name}${k ? `{${k}}` : ""} ${fmt(v)}`);
    return out;
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, private readonly collect?: () => number) {}
  set(value: number, labels: Labels = {}): void {
    this.values.set(keyOf(labels), value);
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }
  get(labels: Labels = {}): number {
    if (this.collect && Object.keys(labels).length === 0) return this.collect();
    return this.values.get(keyOf(labels)) ?? 0;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    if (this.collect) out.push(`${this.name} ${fmt(this.collect())}`);
    else for (const [k, v] of this.values) out.push(`${this.name}${k ? `{${k}}` : ""} ${fmt(v)}`);
    return out;
  }
}

interface HistogramSeries {
  buckets: number[];
  sum: number;
  count: number;
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; s: HistogramSeries }>();
  constructor(readonly name: string, readonly help: string, readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`histogram ${name}: bucket bounds must increase`);
  }
  observe(value: number, labels: Labels = {}): void {
    const k = keyOf(labels);
    let e = this.series.get(k);
    if (!e) this.series.set(k, (e = { labels, s: { buckets: new Array(this.bounds.length).fill(0), sum: 0, count: 0 } }));
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) e.s.buckets[i]!++;
    e.s.sum += value;
    e.s.count++;
  }
  /** Observations so far (over every label set, or one). */
  count(labels?: Labels): number {
    if (labels) return this.series.get(keyOf(labels))?.s.count ?? 0;
    let n = 0;
    for (const e of this.series.values()) n += e.s.count;
    return n;
  }
  sum(labels?: Labels): number {
    if (labels) return this.series.get(keyOf(labels))?.s.sum ?? 0;
    let n = 0;
    for (const e of this.series.values()) n += e.s.sum;
    return n;
  }
  /** Observations ≤ `bound` (a bucket bound), over every label set. */
  countAtMost(bound: number): number {
    const i = this.bounds.indexOf(bound);
    if (i < 0) throw new Error(`histogram ${this.name}: ${bound} is not a bucket bound`);
    let n = 0;
    for (const e of this.series.values()) n += e.s.buckets[i]!;
    return n;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, s } of this.series.values()) {
      const k = keyOf(labels);
      const pre = k ? `${k},` : "";
      this.bounds.forEach((b, i) => out.push(`${this.name}_bucket{${pre}le="${fmt(b)}"} ${s.buckets[i]}`));
      out.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ""} ${fmt(s.sum)}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ""} ${s.count}`);
    }
    return out;
  }
}

const LATENCY_BOUNDS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60];
const BATCH_BOUNDS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64];
const TOKEN_BOUNDS = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/** Every metric the server exports. */
export class ServerMetrics {
  readonly started = Date.now();
  readonly requests = new Counter("gr2_http_requests_total", "HTTP requests answered, by route, method and status code.");
  readonly latency = new Histogram("gr2_http_request_duration_seconds", "Time from request arrival to the end of the response, by route.", LATENCY_BOUNDS);
  readonly errors = new Counter("gr2_errors_total", "Error responses, by error type.");
  readonly promptTokens = new Counter("gr2_prompt_tokens_total", "Prompt tokens processed, by kind (rerank, chat).");
  readonly generatedTokens = new Counter("gr2_generated_tokens_total", "Tokens generated, by kind (rerank, chat).");
  readonly forwards = new Counter("gr2_model_forwards_total", "Model forward passes run by the decoder, by kind.");
  readonly batches = new Counter("gr2_batches_total", "Batches run, by kind (rerank, chat) and mode.");
  readonly batchSize = new Histogram("gr2_batch_size", "Rows per batched decode call, by kind.", BATCH_BOUNDS);
  readonly batchRequests = new Histogram("gr2_batch_requests", "Requests per batched decode call, by kind.", BATCH_BOUNDS);
  readonly batchSeconds = new Histogram("gr2_batch_duration_seconds", "Wall time of one batched decode call, by kind.", LATENCY_BOUNDS);
  readonly queueWait = new Histogram("gr2_queue_wait_seconds", "Time requests waited in the batching queue.", LATENCY_BOUNDS);
  readonly promptLength = new Histogram("gr2_prompt_length_tokens", "Prompt length in tokens, by kind.", TOKEN_BOUNDS);
  readonly queueDepth = new Gauge("gr2_queue_depth", "Requests waiting in the batching queue.");
  readonly inflight = new Gauge("gr2_inflight_requests", "HTTP requests being handled.");
  readonly rejected = new Counter("gr2_queue_rejected_total", "Requests refused because the queue was full.");
  readonly timeouts = new Counter("gr2_timeouts_total", "Requests that exceeded their time limit, by stage (queued, running).");
  readonly rerankRepairs = new Counter("gr2_rerank_repairs_total", "Rerank answers that needed repair to be a permutation (should stay 0), by reason.");
  readonly liveTensors = new Gauge("gr2_live_tensors", "Engine tensors alive (flat between requests unless something leaks).", () => liveTensors());
  readonly allocatorCached = new Gauge("gr2_allocator_cached_bytes", "Bytes the engine's caching allocator keeps for reuse.", () => allocatorCachedBytes());
  readonly allocatorTrims = new Counter("gr2_allocator_trims_total", "Times the allocator cache was returned to the OS (over the server's budget).");
  readonly rss = new Gauge("process_resident_memory_bytes", "Resident memory of the server process.", () => process.memoryUsage.rss());
  readonly heap = new Gauge("nodejs_heap_used_bytes", "V8 heap in use.", () => process.memoryUsage().heapUsed);
  readonly uptime = new Gauge("process_uptime_seconds", "Seconds since the server started.", () => (Date.now() - this.started) / 1000);

  private all(): Metric[] {
    return Object.values(this).filter((m): m is Metric => m instanceof Counter || m instanceof Gauge || m instanceof Histogram);
  }

  render(): string {
    return this.all()
      .flatMap((m) => m.render())
      .join("\n") + "\n";
  }
}
