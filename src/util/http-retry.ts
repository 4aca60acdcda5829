/**
 * POSTing JSON to OpenAI-compatible servers with retries: the one implementation behind the
 * chat client (src/teacher/openai-client.ts) and the embeddings client (src/sid/embed-remote.ts).
 *
 * Rate limits (429), server failures (5xx), network errors and timeouts are retried with
 * full-jitter exponential back-off, honouring `Retry-After`; any other 4xx fails at once with
 * the server's own message, since retrying a bad request only burns quota.
 */

/** A failed exchange. `status` 0 means no HTTP answer (network error or timeout). */
export class HttpFailure extends Error {
  /** Attempts made when this failure ended the retries. */
  attempts = 1;
  constructor(message: string, readonly status: number, readonly retryAfterMs: number | null) {
    super(message);
  }
}

export const retryableStatus = (status: number): boolean => status === 0 || status === 429 || status >= 500;

/** Retry-After as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === "") return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** The most useful part of an error body: OpenAI's {error: {message}}, {message}, {detail}, or the text. */
export function serverMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: { message?: string } | string; message?: string; detail?: unknown };
    const m = typeof j.error === "string" ? j.error : j.error?.message ?? j.message ?? (typeof j.detail === "string" ? j.detail : undefined);
    if (typeof m === "string") return m;
  } catch {
    // not JSON: the raw text below
  }
  return body.slice(0, 500).trim() || "(empty body)";
}

/**
 * POSTs `body` as JSON and returns the response text of a 2xx answer; anything else is an
 * `HttpFailure`. One timeout covers the whole exchange, so a server that sends its headers and
 * then stalls also times out.
 */
export async function postJson(url: string, body: unknown, o: { apiKey?: string; timeoutMs: number }): Promise<string> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  let res: Response;
  let text: string;
  try {
    const signal = AbortSignal.timeout(o.timeoutMs);
    res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), signal });
    text = await res.text();
  } catch (e) {
    const err = e as Error;
    const why = err.name === "TimeoutError" || err.name === "AbortError" ? `timed out after ${o.timeoutMs} ms` : ((err.cause as Error | undefined)?.message ?? err.message);
    throw new HttpFailure(`POST ${url}: ${why}`, 0, null);
  }
  if (!res.ok) throw new HttpFailure(`POST ${url}: HTTP ${res.status}: ${serverMessage(text)}`, res.status, retryAfterMs(res.headers.get("retry-after")));
  return text;
}

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First back-off delay; doubles per retry. */
  initialBackoffMs: number;
  /** Cap on one delay (also caps Retry-After). */
  maxBackoffMs: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called before each attempt (for request counters). */
  onAttempt?: (attempt: number) => void;
  /** Called before each retry's wait. */
  onRetry?: (failure: HttpFailure, waitMs: number) => void;
}

/**
 * Runs `once` until it succeeds, fails with a status not worth retrying, or the retries run
 * out; the last `HttpFailure` is rethrown with `attempts` set. Other errors pass through at once.
 */
export async function withRetries<T>(once: () => Promise<T>, p: RetryPolicy): Promise<T> {
  const sleep = p.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      p.onAttempt?.(attempt);
      return await once();
    } catch (e) {
      if (!(e instanceof HttpFailure)) throw e;
      e.attempts = attempt + 1;
      if (attempt >= p.maxRetries || !retryableStatus(e.status)) throw e;
      // Full jitter: clients throttled together do not retry together.
      const ceiling = Math.min(p.maxBackoffMs, p.initialBackoffMs * 2 ** attempt);
      const wait = e.retryAfterMs !== null ? Math.min(p.maxBackoffMs, e.retryAfterMs) : ceiling / 2 + Math.random() * (ceiling / 2);
      p.onRetry?.(e, wait);
      await sleep(wait);
    }
  }
}
