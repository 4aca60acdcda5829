/**
 * The dynamic batching queue. Requests that can share one decode call (same batch key: same
 * kind, mode and sampling settings) are gathered and run together:
 *
 *  - when the model is idle, the first arrival waits at most `maxWaitMs` for company (or until
 *    `maxBatch` rows are queued) — only if more requests are on their way (being read or
 *    prepared), else it starts at once; while a batch runs, arrivals simply accumulate and the
 *    next batch starts as soon as the current one ends;
 *  - a batch takes the oldest job and then every queued job with its key, oldest first, up to
 *    `maxBatch` rows (a job can be several rows, e.g. chat `n`); a job bigger than `maxBatch`
 *    runs alone;
 *  - at most `maxQueue` jobs wait; the next one is refused at once (429) instead of queueing
 *    without bound;
 *  - each job has a deadline: past it while queued, it leaves the queue with a timeout (504);
 *    past it when its batch ends, the result is dropped for a timeout too (the tensor work of a
 *    batch is synchronous and cannot be interrupted);
 *  - a job whose client went away leaves the queue unrun;
 *  - between batches control returns to the event loop (setImmediate), so sockets, health
 *    checks and new arrivals are served between two batches.
 *
 * The runner does the tensor work on the main thread (libtorch is synchronous); the queue
 * never runs two batches at once.
 */
import { CancelledError, queueFull, timedOut } from "./errors.js";

export interface QueueOptions {
  /** Rows per batch at most. */
  maxBatch: number;
  /** Jobs waiting at most (running ones not counted); more are refused. */
  maxQueue: number;
  /** How long an idle queue waits after the first arrival to gather a batch. */
  maxWaitMs: number;
}

export interface SubmitOptions {
  /** Batch key: only jobs with equal keys share a batch. */
  key: string;
  /** Rows this job adds to a batch (default 1). */
  rows?: number;
  /** Absolute deadline (performance.now() clock) and the limit it came from, for the message. */
  deadline?: number;
  timeoutMs?: number;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
}

export interface BatchInfo {
  key: string;
  /** Rows in the batch. */
  rows: number;
  /** Jobs in the batch. */
  jobs: number;
}

/** Runs one batch; returns one result per input, in order (or throws to fail them all). */
export type BatchRunner<I, O> = (key: string, inputs: I[], info: BatchInfo) => Promise<O[]> | O[];

interface Job<I, O> {
  input: I;
  key: string;
  rows: number;
  enqueuedAt: number;
  deadline: number;
  timeoutMs: number;
  resolve: (o: { result: O; waitedMs: number; batch: BatchInfo }) => void;
  reject: (e: unknown) => void;
  timer?: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
  state: "queued" | "running" | "settled";
}

export interface QueueHooks {
  /**
   * Whether more jobs are on their way (requests being read or prepared). An idle queue only
   * waits `maxWaitMs` for company when this says so; otherwise a lone job starts at once.
   */
  moreComing?: () => boolean;
  onDepth?: (depth: number) => void;
  onBatch?: (info: BatchInfo, seconds: number) => void;
  onWait?: (seconds: number) => void;
  onTimeout?: (stage: "queued" | "running") => void;
  onRejected?: () => void;
}

export class BatchQueue<I, O> {
  private readonly waiting: Job<I, O>[] = [];
  private running = false;
  private gatherTimer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  private batchesRun = 0;

  constructor(
    readonly options: QueueOptions,
    private readonly run: BatchRunner<I, O>,
    private readonly hooks: QueueHooks = {},
  ) {
    if (!(options.maxBatch >= 1)) throw new RangeError(`maxBatch must be ≥ 1, got ${options.maxBatch}`);
    if (!(options.maxQueue >= 1)) throw new RangeError(`maxQueue must be ≥ 1, got ${options.maxQueue}`);
  }

  /** Jobs waiting (not running). */
  get depth(): number {
    return this.waiting.length;
  }

  get busy(): boolean {
    return this.running;
  }

  get batches(): number {
    return this.batchesRun;
  }

  /**
   * Queues one job; resolves with its result, how long it waited and the batch it ran in.
   * Rejects with ApiError 429 (queue full), 504 (deadline) or CancelledError (signal).
   */
  submit(input: I, o: SubmitOptions): Promise<{ result: O; waitedMs: number; batch: BatchInfo }> {
    if (o.signal?.aborted) return Promise.reject(new CancelledError());
    if (this.waiting.length >= this.options.maxQueue) {
      this.hooks.onRejected?.();
      return Promise.reject(queueFull(this.waiting.length));
    }
    return new Promise((resolve, reject) => {
      const now = performance.now();
      const job: Job<I, O> = {
        input,
        key: o.key,
        rows: Math.max(1, o.rows ?? 1),
        enqueuedAt: now,
        deadline: o.deadline ?? Infinity,
        timeoutMs: o.timeoutMs ?? 0,
        resolve,
        reject,
        signal: o.signal,
        state: "queued",
      };
      if (Number.isFinite(job.deadline)) {
        job.timer = setTimeout(() => this.expire(job), Math.max(0, job.deadline - now));
      }
      if (o.signal) {
        job.onAbort = () => this.cancel(job);
        o.signal.addEventListener("abort", job.onAbort, { once: true });
      }
      this.waiting.push(job);
      this.hooks.onDepth?.(this.waiting.length);
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or running (for graceful shutdown). */
  idle(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private settle(job: Job<I, O>): void {
    job.state = "settled";
    if (job.timer) clearTimeout(job.timer);
    if (job.signal && job.onAbort) job.signal.removeEventListener("abort", job.onAbort);
  }

  private remove(job: Job<I, O>): void {
    const i = this.waiting.indexOf(job);
    if (i >= 0) this.waiting.splice(i, 1);
    this.hooks.onDepth?.(this.waiting.length);
  }

  private expire(job: Job<I, O>): void {
    // A running job's timer cannot fire mid-batch (the batch is synchronous); it is judged when the batch ends.
    if (job.state !== "queued") return;
    this.remove(job);
    this.settle(job);
    this.hooks.onTimeout?.("queued");
    job.reject(timedOut(job.timeoutMs));
    this.checkIdle();
  }

  private cancel(job: Job<I, O>): void {
    if (job.state !== "queued") return;
    this.remove(job);
    this.settle(job);
    job.reject(new CancelledError());
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.running || this.waiting.length > 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }

  private queuedRows(): number {
    let n = 0;
    for (const j of this.waiting) n += j.rows;
    return n;
  }

  /** Starts a batch now (enough rows, or the model just finished) or after the gathering window. */
  private schedule(): void {
    if (this.running || this.waiting.length === 0) return;
    const alone = this.hooks.moreComing ? !this.hooks.moreComing() : false;
    if (alone || this.queuedRows() >= this.options.maxBatch || this.options.maxWaitMs <= 0) {
      if (this.gatherTimer) {
        clearTimeout(this.gatherTimer);
        this.gatherTimer = null;
      }
      this.startSoon();
      return;
    }
    if (!this.gatherTimer) {
      this.gatherTimer = setTimeout(() => {
        this.gatherTimer = null;
        this.startSoon();
      }, this.options.maxWaitMs);
    }
  }

  private startSoon(): void {
    if (this.running) return;
    this.running = true;
    // setImmediate: let pending I/O (new requests, health checks, finished responses) run first.
    setImmediate(() => void this.runBatch());
  }

  /** The oldest job and the queued jobs sharing its key, up to maxBatch rows. */
  private take(): Job<I, O>[] {
    const first = this.waiting[0]!;
    const picked = [first];
    let rows = first.rows;
    for (let i = 1; i < this.waiting.length && rows < this.options.maxBatch; i++) {
      const j = this.waiting[i]!;
      if (j.key === first.key && rows + j.rows <= this.options.maxBatch) {
        picked.push(j);
        rows += j.rows;
      }
    }
    for (const j of picked) this.waiting.splice(this.waiting.indexOf(j), 1);
    this.hooks.onDepth?.(this.waiting.length);
    return picked;
  }

  private async runBatch(): Promise<void> {
    if (this.waiting.length === 0) {
      this.running = false;
      this.checkIdle();
      return;
    }
    const jobs = this.take();
    const start = performance.now();
    for (const j of jobs) {
      j.state = "running";
      this.hooks.onWait?.((start - j.enqueuedAt) / 1000);
    }
    const info: BatchInfo = { key: jobs[0]!.key, rows: jobs.reduce((a, j) => a + j.rows, 0), jobs: jobs.length };
    let results: O[] | null = null;
    let failure: unknown = null;
    try {
      results = await this.run(info.key, jobs.map((j) => j.input), info);
      if (results.length !== jobs.length) throw new Error(`batch runner returned ${results.length} results for ${jobs.length} jobs`);
    } catch (e) {
      failure = e;
    }
    const end = performance.now();
    this.batchesRun++;
    this.hooks.onBatch?.(info, (end - start) / 1000);
    jobs.forEach((j, i) => {
      this.settle(j);
      if (failure !== null) j.reject(failure);
      else if (end > j.deadline) {
        this.hooks.onTimeout?.("running");
        j.reject(timedOut(j.timeoutMs));
      } else j.resolve({ result: results![i]!, waitedMs: start - j.enqueuedAt, batch: info });
    });
    this.running = false;
    if (this.waiting.length > 0) {
      // The model is free and work is waiting: start at once (after the event loop's turn).
      this.startSoon();
    } else this.checkIdle();
  }
}
